package pcapio_test

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/pcapio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

const (
	replayBenchFrames    = 100_000
	replayBenchEndpoints = 1_000
)

// benchEndpoint is endpoint i of the replay benchmark: its own MAC, one of
// four VLAN stack shapes, and a UDP socket.
type benchEndpoint struct {
	mac   net.HardwareAddr
	vlans frame.VLANs
	addr  netip.AddrPort
}

func benchEndpoints() []benchEndpoint {
	eps := make([]benchEndpoint, replayBenchEndpoints)
	for i := range eps {
		var vlans frame.VLANs
		switch i % 4 {
		case 1:
			vlans = frame.VLANs{{ID: uint16(100 + i%50)}}
		case 2:
			vlans = frame.VLANs{{TPID: frame.TPIDDot1AD, ID: uint16(10 + i%10)}, {ID: uint16(i)}}
		case 3:
			vlans = frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 20}, {ID: 30}, {ID: uint16(i)}}
		}
		eps[i] = benchEndpoint{
			mac:   net.HardwareAddr{0x02, 0xbe, 0, 0, byte(i >> 8), byte(i)},
			vlans: vlans,
			addr:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 7000),
		}
	}
	return eps
}

// writeReplayBenchCapture writes replayBenchFrames UDP/IPv4 frames, round
// robin over the endpoints, with payloads of 18 to 1400 bytes, as a pcap
// file, and returns the number of frame bytes.
func writeReplayBenchCapture(b *testing.B, path string, eps []benchEndpoint) int64 {
	f, err := os.Create(path)
	require.NoError(b, err)
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	require.NoError(b, w.WriteFileHeader(pcapio.MaxSnapLen, layers.LinkTypeEthernet))
	src := [6]byte{0x02, 0xbf, 0, 0, 0, 1}
	from := netip.MustParseAddrPort("198.19.0.1:5000")
	sizes := []int{18, 64, 200, 512, 1400}
	buf := make([]byte, 2048)
	var total int64
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range replayBenchFrames {
		ep := eps[i%len(eps)]
		size := sizes[i%len(sizes)]
		hl := frame.HeaderLen(len(ep.vlans))
		il := frame.IPUDPLen(ep.addr.Addr())
		frame.PutEthernet(buf, [6]byte(ep.mac), src, ep.vlans, frame.EtherTypeIPv4)
		for k := range size {
			buf[hl+il+k] = byte(i + k)
		}
		n, err := frame.PutUDP(buf[hl:], &frame.UDPHeader{Src: from, Dst: ep.addr, ID: uint16(i)}, size)
		require.NoError(b, err)
		fr := buf[:hl+n]
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(fr), Length: len(fr)}
		require.NoError(b, w.WritePacket(ci, fr))
		total += int64(len(fr))
	}
	require.NoError(b, bw.Flush())
	require.NoError(b, f.Close())
	return total
}

// BenchmarkReplayRelay replays a 100,000-frame capture as fast as possible
// into a relay with 1,000 endpoints, each drained by its own goroutine in
// batches: etherconn.Conn endpoints (ReadPackets), or a rudp.Conn on each
// (ReadBatch, which also checks every UDP checksum and copies the payload).
// frames/s counts frames delivered to the readers; allocs/frame is every
// allocation during the replay divided by the frames.
func BenchmarkReplayRelay(b *testing.B) {
	eps := benchEndpoints()
	path := filepath.Join(b.TempDir(), "replay-bench.pcap")
	total := writeReplayBenchCapture(b, path, eps)
	for _, kind := range []string{"etherconn", "rudp"} {
		b.Run(kind+"/endpoints=1000", func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			var delivered, mallocs uint64
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				run := newReplayRun(b, path, eps, kind)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				start := time.Now()
				run.gate.start()
				run.wg.Wait()
				elapsed += time.Since(start)
				b.StopTimer()
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				got := run.received.Load()
				st := run.r.Stats()
				run.close()
				if got != replayBenchFrames || st.QueueDrops != 0 || st.Malformed != 0 {
					b.Fatalf("received %d of %d frames; relay: %+v", got, replayBenchFrames, st)
				}
				delivered += got
				b.StartTimer()
			}
			b.ReportMetric(float64(delivered)/elapsed.Seconds(), "frames/s")
			b.ReportMetric(float64(mallocs)/float64(delivered), "allocs/frame")
		})
	}
}

// replayRun is one replay of the benchmark, set up and waiting at its gate.
type replayRun struct {
	r        *relay.Relay
	gate     *gatedIO
	wg       sync.WaitGroup
	received atomic.Uint64
	closers  []func() error
}

func newReplayRun(b *testing.B, path string, eps []benchEndpoint, kind string) *replayRun {
	off, err := pcapio.OpenOffline(path, pcapio.OfflineConfig{})
	require.NoError(b, err)
	run := &replayRun{gate: gate(off)}
	run.r = relay.New(run.gate, relay.Config{})
	for _, ep := range eps {
		ec, err := etherconn.New(run.r, etherconn.Config{MAC: ep.mac, VLANs: ep.vlans, EtherTypes: []uint16{frame.EtherTypeIPv4}})
		require.NoError(b, err)
		run.closers = append(run.closers, ec.Close)
		run.wg.Add(1)
		if kind == "rudp" {
			c, err := rudp.New(ec, rudp.Config{LocalAddr: ep.addr})
			require.NoError(b, err)
			run.closers = append(run.closers, c.Close)
			// Buffers are made here, not in the reader, so that they are
			// not counted in the timed replay.
			ms := make([]rudp.Message, 16)
			for i := range ms {
				ms[i].Buf = make([]byte, 1500)
			}
			go run.drainUDP(c, ms)
			continue
		}
		go run.drainEther(ec, make([]*relay.Packet, 64))
	}
	return run
}

func (run *replayRun) drainEther(ec *etherconn.Conn, ps []*relay.Packet) {
	defer run.wg.Done()
	for {
		n, err := ec.ReadPackets(ps)
		for _, p := range ps[:n] {
			p.Release()
		}
		if run.count(n, err) {
			return
		}
	}
}

func (run *replayRun) drainUDP(c *rudp.Conn, ms []rudp.Message) {
	defer run.wg.Done()
	for {
		if run.count(c.ReadBatch(ms)) {
			return
		}
	}
}

// count adds the n messages of a read that returned err to the received
// ones and reports whether the reader is done: the replay ended. Any other
// error panics, as the benchmark cannot go on.
func (run *replayRun) count(n int, err error) bool {
	run.received.Add(uint64(n))
	if err != nil && !errors.Is(err, relay.ErrInputEnded) {
		panic(err)
	}
	return err != nil
}

func (run *replayRun) close() {
	for i := len(run.closers) - 1; i >= 0; i-- {
		run.closers[i]()
	}
	run.r.Close()
}
