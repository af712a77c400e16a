//go:build linux

package afpacket_test

// Helpers of the package's tests and benchmarks: frames, Conns opened in a
// veth end's namespace, reads with deadlines, and a flooding writer; then
// the harness of the benchmarks, bench_linux_test.go (a Conn alone) and
// bench_relay_linux_test.go (the whole stack, and references to compare it
// with): the frames and sizes they share, the receivers they measure, and
// the ways they measure them.

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	gpafpacket "github.com/gopacket/gopacket/afpacket"
	"github.com/stretchr/testify/require"
)

// Test EtherTypes from the local experimental range.
const (
	etherTest  = testkit.EtherTypeExp1
	etherOther = testkit.EtherTypeExp2
)

// mkFrame builds a frame of testkit.SeqFrame's: dst, src, tags, EtherType,
// then payload bytes starting with seq (big endian; its first payload bytes
// only when payload is shorter than 4).
func mkFrame(dst, src net.HardwareAddr, tags []testkit.Tag, etype uint16, payload int, seq uint32) []byte {
	n := testkit.HeaderLen(len(tags)) + payload
	return testkit.SeqFrame([6]byte(dst), [6]byte(src), tags, etype, seq, n)[:n]
}

// seqOf is the sequence number mkFrame put at the start of f's payload.
func seqOf(f []byte) uint32 {
	seq, _ := testkit.SeqOf(f)
	return seq
}

// raceEnabled: the race detector makes allocation counts and timings
// meaningless.
const raceEnabled = testkit.RaceEnabled

// seqFrames returns n untagged frames from v.A to v.B of payload bytes
// each, numbered 0 to n-1 (seqOf).
func seqFrames(v *netns.Veth, n, payload int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, payload, uint32(i))
	}
	return frames
}

// writeAll sends frames with one WriteFrames call on c and requires every
// one of them sent.
func writeAll(t testing.TB, c *afpacket.Conn, frames [][]byte) {
	t.Helper()
	n, err := c.WriteFrames(frames)
	require.NoError(t, err)
	require.Equal(t, len(frames), n)
}

// repeat is a batch of n times f.
func repeat(f []byte, n int) [][]byte {
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = f
	}
	return batch
}

// openIn opens a Conn on ifname inside ns.
func openIn(ns *netns.NS, ifname string, cfg afpacket.Config) (*afpacket.Conn, error) {
	var c *afpacket.Conn
	err := ns.Do(func() error {
		var err error
		c, err = afpacket.Open(ifname, cfg)
		return err
	})
	return c, err
}

// open opens a Conn on l inside its namespace, closed when t ends.
func open(t testing.TB, l *netns.Link, cfg afpacket.Config) *afpacket.Conn {
	t.Helper()
	c, err := openIn(l.NS, l.Name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openErr is the error of opening ifname inside ns, for the tests of what
// Open refuses; a Conn that does open is closed again.
func openErr(ns *netns.NS, ifname string, cfg afpacket.Config) error {
	c, err := openIn(ns, ifname, cfg)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// pair makes a veth pair and opens a Conn on each end.
func pair(t testing.TB, cfgA, cfgB afpacket.Config) (a, b *afpacket.Conn, v *netns.Veth) {
	t.Helper()
	v = netns.NewVeth(t, nil)
	return open(t, v.A, cfgA), open(t, v.B, cfgB), v
}

// read reads one frame with a deadline.
func read(t testing.TB, c *afpacket.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	buf := make([]byte, backend.MaxFrameLen)
	n, err := c.ReadFrame(buf)
	return buf[:n], err
}

// readUntilQuiet reads frames from c, passing each to got, until none
// arrives for quiet.
func readUntilQuiet(t testing.TB, c *afpacket.Conn, quiet time.Duration, got func(f []byte)) {
	t.Helper()
	for {
		f, err := read(t, c, quiet)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		require.NoError(t, err)
		got(f)
	}
}

// readAll reads want frames with ReadFrames, in batches of 8.
func readAll(t testing.TB, c *afpacket.Conn, want int, d time.Duration) [][]byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	bufs := make([][]byte, 8)
	lens := make([]int, 8)
	var out [][]byte
	for len(out) < want {
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		n, err := c.ReadFrames(bufs, lens)
		require.NoError(t, err, "after %d of %d frames", len(out), want)
		require.Positive(t, n)
		for i := 0; i < n; i++ {
			out = append(out, bufs[i][:lens[i]])
		}
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return out
}

// requireArrives sends f from a and checks that b reads it unchanged
// within 2 seconds.
func requireArrives(t testing.TB, a, b *afpacket.Conn, f []byte, msgAndArgs ...any) {
	t.Helper()
	require.NoError(t, a.WriteFrame(f))
	got, err := read(t, b, 2*time.Second)
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, f, got, msgAndArgs...)
}

// expectNothing checks that no frame arrives on c within d.
func expectNothing(t testing.TB, c *afpacket.Conn, d time.Duration) {
	t.Helper()
	f, err := read(t, c, d)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "unexpected frame % x", f)
}

// flooder writes one batch with WriteFrames over and over from a goroutine.
type flooder struct {
	sent atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// startFlood starts writing batch with w until stop is called, limit has
// passed or a write fails. pause, if not nil, runs between two writes.
func startFlood(w *afpacket.Conn, batch [][]byte, limit time.Duration, pause func()) *flooder {
	f := &flooder{done: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			select {
			case <-f.done:
				return
			default:
			}
			n, err := w.WriteFrames(batch)
			f.sent.Add(int64(n))
			if err != nil {
				return
			}
			if pause != nil {
				pause()
			}
		}
	}()
	return f
}

// stop ends the flood, waits for the writer and returns the frames it sent.
// It may be called again.
func (f *flooder) stop() int64 {
	f.once.Do(func() { close(f.done); f.wg.Wait() })
	return f.sent.Load()
}

const (
	// benchBatch is the batch of the batch benchmarks: frames a
	// WriteFrames or ReadFrames call, datagrams a kernel socket's
	// sendmmsg or recvmmsg.
	benchBatch = 64
	// benchPayload is the UDP payload every benchmark sends (a 106-byte
	// frame).
	benchPayload = 64
	// benchRcvBuf is the receive buffer of every receiving socket of the
	// veth benchmarks (and the size of their TPACKET_V3 rings), so that all
	// receivers can absorb the same burst.
	benchRcvBuf = 16 << 20
	// benchRingBlock is the block size of benchRing.
	benchRingBlock = 1 << 20
	// benchQueue is the receive queue of the emulated hosts.
	benchQueue = 4096
	// drainIdle ends a throughput measure: after the sender is done, the
	// receiver counts are final once they stop moving for this long.
	drainIdle = 100 * time.Millisecond
	// drainMax bounds the wait for the receiver after the sender is done.
	drainMax = 10 * time.Second
	// drainRound is how many frames the drain benchmarks queue before
	// reading them back; the reader's 256 MiB buffer holds them all.
	drainRound = 16384
)

// benchSendConfig is the Conn every benchmark sends with.
var benchSendConfig = afpacket.Config{WriteBufferSize: 4 << 20}

// benchRing is the ring of the benchmarks' ring variants, as big as the
// other receivers' socket buffers.
func benchRing() *afpacket.RingConfig {
	return &afpacket.RingConfig{BlockSize: benchRingBlock, Blocks: benchRcvBuf / benchRingBlock}
}

// benchPayloadBytes is the payload every benchmark sends.
var benchPayloadBytes = func() []byte {
	p := make([]byte, benchPayload)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// benchFrame is the frame rudp builds for a 64-byte datagram from host 0 of
// side 0 to host 0 of side 1. Its destination is no veth end's MAC, so the
// receiving kernel stack drops it at once and only packet sockets take it.
func benchFrame() []byte { return benchFrameFrom(0, 0) }

// benchFrameFrom is the frame rudp builds for a 64-byte datagram from host i
// of side s to host i of the other side: testkit.UDPFrame's, which is
// frame.PutUDP's byte for byte.
func benchFrameFrom(s, i int) []byte {
	return testkit.UDPFrame([6]byte(hostMAC(1-s, i)), [6]byte(hostMAC(s, i)), nil, hostAddr(s, i), hostAddr(1-s, i), benchPayloadBytes)
}

// benchWriter makes a fresh veth pair and opens the sending Conn on A.
func benchWriter(b *testing.B) (*afpacket.Conn, *netns.Veth) {
	v := netns.NewVeth(b, nil)
	return open(b, v.A, benchSendConfig), v
}

// writeN sends n frames of batch with w, len(batch) at the most a call.
func writeN(w *afpacket.Conn, batch [][]byte, n int) error {
	for sent := 0; sent < n; {
		k, err := w.WriteFrames(batch[:min(len(batch), n-sent)])
		sent += k
		if err != nil {
			return err
		}
	}
	return nil
}

func reportRate(b *testing.B, frames int, d time.Duration) {
	lastRate = float64(frames) / d.Seconds()
	b.ReportMetric(lastRate, "pkts/s")
}

// lastRate is the pkts/s that reportRate reported last: a benchmark's
// sub-benchmarks' figures, for the ratios their parent reports.
var lastRate float64

// benchReader is the receiving end of a benchmark that reads frames.
type benchReader struct {
	// read blocks until there are frames and returns how many it took.
	read func() (int, error)
	// setDeadline makes read fail once t has passed without frames.
	setDeadline func(t time.Time) error
	// interrupt makes read fail soon, for good.
	interrupt func()
	// drops is the kernel's count of frames lost to a full receive queue
	// since the reader opened.
	drops func() uint64
}

// connReader is a benchReader on c that reads with read.
func connReader(c *afpacket.Conn, read func() (int, error)) benchReader {
	return benchReader{
		read:        read,
		setDeadline: c.SetReadDeadline,
		interrupt:   func() { _ = c.Close() },
		drops:       func() uint64 { return c.Stats().Dropped },
	}
}

// frameReader reads c with ReadFrame, one frame a call.
func frameReader(c *afpacket.Conn) benchReader {
	buf := make([]byte, 2048)
	return connReader(c, func() (int, error) {
		_, err := c.ReadFrame(buf)
		return 1, err
	})
}

// framesReader reads c with ReadFrames, benchBatch frames at the most a
// call.
func framesReader(c *afpacket.Conn) benchReader {
	bufs := make([][]byte, benchBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	lens := make([]int, benchBatch)
	return connReader(c, func() (int, error) { return c.ReadFrames(bufs, lens) })
}

// tpacketReader reads l with gopacket's TPACKET_V3 ring reader (pure Go, no
// cgo; it blocks its thread in poll(2) instead of using the Go network
// poller, and returns frames without copying them), from a ring of blocks
// blocks of 1 MiB retired after 1 ms. A TPacket must not be closed under a
// read: a read gives up its poll(2) every poll, and then sees a deadline or
// an interrupt. It is closed when b ends.
func tpacketReader(b *testing.B, l *netns.Link, blocks int, poll time.Duration, v gpafpacket.OptTPacketVersion) benchReader {
	var tp *gpafpacket.TPacket
	require.NoError(b, l.NS.Do(func() error {
		var err error
		tp, err = gpafpacket.NewTPacket(
			gpafpacket.OptInterface(l.Name),
			v,
			gpafpacket.OptFrameSize(2048),
			gpafpacket.OptBlockSize(1<<20),
			gpafpacket.OptNumBlocks(blocks),
			gpafpacket.OptBlockTimeout(time.Millisecond),
			gpafpacket.OptPollTimeout(poll),
		)
		return err
	}))
	b.Cleanup(tp.Close)
	var stopped atomic.Bool
	var deadline atomic.Int64 // UnixNano; 0: none
	return benchReader{
		read: func() (int, error) {
			for {
				_, _, err := tp.ZeroCopyReadPacketData()
				if errors.Is(err, gpafpacket.ErrTimeout) {
					if stopped.Load() {
						return 0, net.ErrClosed
					}
					if d := deadline.Load(); d != 0 && time.Now().UnixNano() > d {
						return 0, os.ErrDeadlineExceeded
					}
					continue
				}
				if err != nil {
					return 0, err
				}
				return 1, nil
			}
		},
		setDeadline: func(t time.Time) error {
			deadline.Store(t.UnixNano())
			return nil
		},
		interrupt: func() { stopped.Store(true) },
		drops: func() uint64 {
			_, st, err := tp.SocketStats()
			if err != nil {
				return 0
			}
			return uint64(st.Drops())
		},
	}
}

// readBench measures the reader that mk makes on B of a fresh veth pair, fed
// by our sendmmsg writer on A, in two ways. "drain": frames are queued while
// the clock is stopped, then read back with the clock running, so only the
// reading is measured. "flood": a goroutine writes without pause while the
// reader reads, the situation of a relay on a busy link; the two share the
// machine's CPUs and the rate is the lower of what each side can do.
func readBench(b *testing.B, mk func(*testing.B, *netns.Link) benchReader) {
	b.Run("drain", func(b *testing.B) {
		w, v := benchWriter(b)
		benchDrain(b, w, benchFrame(), mk(b, v.B))
	})
	b.Run("flood", func(b *testing.B) {
		w, v := benchWriter(b)
		benchFlood(b, w, benchFrame(), mk(b, v.B))
	})
}

// benchDrain is readBench's "drain".
func benchDrain(b *testing.B, w *afpacket.Conn, frame []byte, rd benchReader) {
	batch := repeat(frame, benchBatch)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	for done := 0; done < b.N; {
		round := min(drainRound, b.N-done)
		b.StopTimer()
		require.NoError(b, writeN(w, batch, round))
		require.NoError(b, rd.setDeadline(time.Now().Add(10*time.Second)))
		b.StartTimer()
		start := time.Now()
		for got := 0; got < round; {
			n, err := rd.read()
			if err != nil {
				b.Fatalf("after %d of %d frames (dropped %d): %v", got, round, rd.drops(), err)
			}
			got += n
		}
		elapsed += time.Since(start)
		done += round
	}
	b.StopTimer()
	reportRate(b, b.N, elapsed)
	if d := rd.drops(); d > 0 {
		b.Fatalf("%d frames dropped: the drain measure is void", d)
	}
}

// benchFlood is readBench's "flood"; drop% is the share of the frames sent
// that the reader's full queue lost in the kernel.
func benchFlood(b *testing.B, w *afpacket.Conn, frame []byte, rd benchReader) {
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	require.NoError(b, rd.setDeadline(time.Now().Add(90*time.Second)))
	d0 := rd.drops()
	flood := startFlood(w, repeat(frame, benchBatch), 60*time.Second, nil)
	defer flood.stop()
	b.ResetTimer()
	start := time.Now()
	for got := 0; got < b.N; {
		n, err := rd.read()
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sent := flood.stop()
	reportRate(b, b.N, elapsed)
	if sent > 0 {
		b.ReportMetric(float64(rd.drops()-d0)/float64(sent)*100, "drop%")
	}
}

// counter is what the receivers of a throughput benchmark share.
type counter struct {
	delivered atomic.Int64
	last      atomic.Int64 // time of the last delivery, UnixNano
	readers   sync.WaitGroup
}

func (c *counter) add(n int) {
	c.delivered.Add(int64(n))
	c.last.Store(time.Now().UnixNano())
}

// start runs read in a goroutine, counting what it returns, until it
// fails. wait waits for all of them.
func (c *counter) start(read func() (int, error)) {
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		for {
			n, err := read()
			if err != nil {
				return
			}
			c.add(n)
		}
	}()
}

func (c *counter) wait() { c.readers.Wait() }

// drain waits, after the sender sent `sent`, until every datagram arrived
// or the count stopped moving, and returns the time of the last delivery.
func (c *counter) drain(sent int64) time.Time {
	deadline := time.Now().Add(drainMax)
	prev, changed := c.delivered.Load(), time.Now()
	for {
		got := c.delivered.Load()
		now := time.Now()
		if got >= sent || now.After(deadline) || (got == prev && now.Sub(changed) > drainIdle) {
			return time.Unix(0, c.last.Load())
		}
		if got != prev {
			prev, changed = got, now
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// sendFunc sends up to k messages (at least one) and returns how many it
// sent.
type sendFunc func(k int) (int, error)

// warmUp sends n messages one at a time outside the measure, waits for
// them, and zeroes the count.
func (c *counter) warmUp(b *testing.B, n int, send sendFunc) {
	for i := 0; i < n; i++ {
		_, err := send(1)
		require.NoError(b, err)
	}
	c.drain(int64(n))
	c.delivered.Store(0)
}

// measure sends b.N messages with send, the clock running, waits for the
// receivers, and reports pkts/s (delivered messages per second, from the
// first send to the last delivery) and delivered% (the share of the b.N
// sent that arrived).
func (c *counter) measure(b *testing.B, send sendFunc) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n, err := send(b.N - sent)
		sent += n
		if err != nil {
			b.Fatal(err)
		}
	}
	end := c.drain(int64(b.N))
	b.StopTimer()
	got := c.delivered.Load()
	if d := end.Sub(start); got == 0 || d <= 0 {
		lastRate = 0
		b.ReportMetric(0, "pkts/s")
	} else {
		reportRate(b, int(got), d)
	}
	b.ReportMetric(float64(got)/float64(b.N)*100, "delivered%")
}
