//go:build linux

package afpacket_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/gopacket/gopacket"
	gpafpacket "github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// benchBatch is the batch size of the batch benchmarks.
const benchBatch = 64

// udpFrame builds an Ethernet/IPv4/UDP frame with a 64-byte payload between
// test addresses.
func udpFrame(tb testing.TB, dst, src net.HardwareAddr) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: netns.IPv4(1).AsSlice(), DstIP: netns.IPv4(2).AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	require.NoError(tb, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	payload := make([]byte, 64)
	for i := range payload {
		payload[i] = byte(i)
	}
	require.NoError(tb, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)))
	return append([]byte(nil), buf.Bytes()...)
}

// benchPair opens a writer on A and a reader on B of a fresh veth pair. The
// frames are for a MAC that is not B's, so B's kernel stack drops them at
// once and only the packet socket takes them.
func benchPair(b *testing.B, reader bool) (w, r *afpacket.Conn, v *netns.Veth, frame []byte) {
	v = netns.NewVeth(b, nil)
	w = open(b, v.A, afpacket.Config{WriteBufferSize: 4 << 20})
	if reader {
		r = open(b, v.B, afpacket.Config{ReadBufferSize: 256 << 20})
	}
	return w, r, v, udpFrame(b, netns.RandomMAC(), v.A.MAC)
}

func reportRate(b *testing.B, frames int, d time.Duration) {
	b.ReportMetric(float64(frames)/d.Seconds(), "pkts/s")
}

func BenchmarkWriteFrame(b *testing.B) {
	w, _, _, frame := benchPair(b, false)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := w.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, time.Since(start))
}

func BenchmarkWriteFrames(b *testing.B) {
	w, _, _, frame := benchPair(b, false)
	batch := make([][]byte, benchBatch)
	for i := range batch {
		batch[i] = frame
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n, err := w.WriteFrames(batch[:min(benchBatch, b.N-sent)])
		if err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	reportRate(b, b.N, time.Since(start))
}

// flood writes frame with WriteFrames from a goroutine until stop is
// closed, the limit of 60 seconds is reached, or a write fails. It returns
// a function that stops it and reports the frames sent.
func flood(w *afpacket.Conn, frame []byte) (stop func() int64) {
	batch := make([][]byte, benchBatch)
	for i := range batch {
		batch[i] = frame
	}
	done := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				return
			default:
			}
			n, err := w.WriteFrames(batch)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	var once sync.Once
	return func() int64 {
		once.Do(func() { close(done); wg.Wait() })
		return sent.Load()
	}
}

// drainRound is how many frames the drain benchmarks queue before reading
// them back; the reader's 256 MiB buffer holds them all.
const drainRound = 16384

// readBench measures read, which returns how many frames it read, in two
// ways. "drain": frames are queued while the clock is stopped, then read back
// with the clock running, so only the reading is measured. "flood": a
// goroutine writes without pause while the reader reads, the situation of a
// relay on a busy link; the two share the machine's CPUs and the rate is the
// lower of what each side can do.
func readBench(b *testing.B, read func(r *afpacket.Conn) func() (int, error)) {
	b.Run("drain", func(b *testing.B) {
		w, r, _, frame := benchPair(b, true)
		rd := read(r)
		batch := make([][]byte, benchBatch)
		for i := range batch {
			batch[i] = frame
		}
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		b.ResetTimer()
		var elapsed time.Duration
		for done := 0; done < b.N; {
			round := min(drainRound, b.N-done)
			b.StopTimer()
			for sent := 0; sent < round; {
				n, err := w.WriteFrames(batch[:min(benchBatch, round-sent)])
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			require.NoError(b, r.SetReadDeadline(time.Now().Add(10*time.Second)))
			b.StartTimer()
			start := time.Now()
			for got := 0; got < round; {
				n, err := rd()
				if err != nil {
					b.Fatalf("after %d of %d frames (dropped %d): %v", got, round, r.Stats().Dropped, err)
				}
				got += n
			}
			elapsed += time.Since(start)
			done += round
		}
		b.StopTimer()
		reportRate(b, b.N, elapsed)
		if d := r.Stats().Dropped; d > 0 {
			b.Fatalf("%d frames dropped: the drain measure is void", d)
		}
	})
	b.Run("flood", func(b *testing.B) {
		w, r, _, frame := benchPair(b, true)
		rd := read(r)
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		require.NoError(b, r.SetReadDeadline(time.Now().Add(90*time.Second)))
		stop := flood(w, frame)
		defer stop()
		before := r.Stats()
		b.ResetTimer()
		start := time.Now()
		for got := 0; got < b.N; {
			n, err := rd()
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
		elapsed := time.Since(start)
		b.StopTimer()
		sent := stop()
		after := r.Stats()
		reportRate(b, b.N, elapsed)
		if sent > 0 {
			b.ReportMetric(float64(after.Dropped-before.Dropped)/float64(sent)*100, "drop%")
		}
	})
}

func BenchmarkReadFrame(b *testing.B) {
	readBench(b, func(r *afpacket.Conn) func() (int, error) {
		buf := make([]byte, 2048)
		return func() (int, error) {
			_, err := r.ReadFrame(buf)
			return 1, err
		}
	})
}

func BenchmarkReadFrames(b *testing.B) {
	readBench(b, func(r *afpacket.Conn) func() (int, error) {
		bufs := make([][]byte, benchBatch)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		lens := make([]int, benchBatch)
		return func() (int, error) {
			return r.ReadFrames(bufs, lens)
		}
	})
}

// BenchmarkReadTPacketV3 is a reference ceiling: gopacket's TPACKET_V3 ring
// reader (pure Go, no cgo; it blocks its thread in poll(2) instead of using
// the Go network poller, and returns frames without copying them), measured
// like ReadFrames and fed by our sendmmsg writer.
func BenchmarkReadTPacketV3(b *testing.B) {
	setup := func(b *testing.B) (*afpacket.Conn, *gpafpacket.TPacket, []byte, func() int) {
		v := netns.NewVeth(b, nil)
		w := open(b, v.A, afpacket.Config{WriteBufferSize: 4 << 20})
		frame := udpFrame(b, netns.RandomMAC(), v.A.MAC)
		var tp *gpafpacket.TPacket
		require.NoError(b, v.B.NS.Do(func() error {
			var err error
			tp, err = gpafpacket.NewTPacket(
				gpafpacket.OptInterface(v.B.Name),
				gpafpacket.OptTPacketVersion(gpafpacket.TPacketVersion3),
				gpafpacket.OptFrameSize(2048),
				gpafpacket.OptBlockSize(1<<20),
				gpafpacket.OptNumBlocks(64),
				gpafpacket.OptBlockTimeout(time.Millisecond),
				gpafpacket.OptPollTimeout(100*time.Millisecond),
			)
			return err
		}))
		b.Cleanup(tp.Close)
		deadline := time.Now().Add(90 * time.Second)
		read := func() int {
			for {
				_, _, err := tp.ZeroCopyReadPacketData()
				if errors.Is(err, gpafpacket.ErrTimeout) {
					if time.Now().After(deadline) {
						b.Fatal("no more frames")
					}
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				return 1
			}
		}
		return w, tp, frame, read
	}
	b.Run("drain", func(b *testing.B) {
		w, tp, frame, read := setup(b)
		batch := make([][]byte, benchBatch)
		for i := range batch {
			batch[i] = frame
		}
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		b.ResetTimer()
		var elapsed time.Duration
		for done := 0; done < b.N; {
			round := min(drainRound, b.N-done)
			b.StopTimer()
			for sent := 0; sent < round; {
				n, err := w.WriteFrames(batch[:min(benchBatch, round-sent)])
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			b.StartTimer()
			start := time.Now()
			for got := 0; got < round; {
				got += read()
			}
			elapsed += time.Since(start)
			done += round
		}
		b.StopTimer()
		reportRate(b, b.N, elapsed)
		if _, st, err := tp.SocketStats(); err == nil && st.Drops() > 0 {
			b.Fatalf("%d frames dropped: the measure is void", st.Drops())
		}
	})
	b.Run("flood", func(b *testing.B) {
		w, tp, frame, read := setup(b)
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		_ = tp.InitSocketStats()
		stop := flood(w, frame)
		defer stop()
		b.ResetTimer()
		start := time.Now()
		for got := 0; got < b.N; {
			got += read()
		}
		elapsed := time.Since(start)
		b.StopTimer()
		sent := stop()
		reportRate(b, b.N, elapsed)
		if _, st, err := tp.SocketStats(); err == nil && sent > 0 {
			b.ReportMetric(float64(st.Drops())/float64(sent)*100, "drop%")
		}
	})
}
