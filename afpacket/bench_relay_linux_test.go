//go:build linux

package afpacket_test

// Throughput and latency of the whole stack on a veth pair, against a bare
// packet ring and against the kernel's own UDP, in one run:
//
//	go test -run '^$' -bench 'Veth' -benchtime 2s ./afpacket/
//
// Every benchmark moves 64-byte UDP payloads (106-byte frames) from one
// namespace to the other through a fresh veth pair. The throughput
// benchmarks send b.N datagrams as fast as the sender can and count what the
// receiver gets: pkts/s is delivered datagrams per second (from the first
// send to the last delivery), delivered% the share of the b.N sent that
// arrived. On a veth the receiving kernel work (up to the receiving socket's
// queue) runs on the sender's CPU, inside its send call; the receiver reads
// from that queue on another CPU, so a receiver slower than the sender shows
// as drops at the queue, not as a slower sender.
//
//	VethRUDP       (a) rudp.Conn -> relay -> afpacket ... afpacket -> relay -> rudp.Conn
//	               (1 flow, 1,000 flows, WriteTo/ReadFrom)
//	VethCeiling    (b) afpacket WriteFrames (sendmmsg) -> gopacket TPACKET_V3 ring reader
//	               ("recvmmsg": the same into a bare afpacket ReadFrames reader)
//	VethKernelUDP  (c) kernel UDP socket -> kernel UDP socket (sendmmsg/recvmmsg, WriteTo)
//	VethRTT        (d) one request/response at a time: rudp echo, kernel echo,
//	               bare afpacket frame echo
//
// The machine's other load moves every number; compare benchmarks of one
// pass (-count 1, repeated) rather than absolute rates across runs.

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/rudp"
	gpafpacket "github.com/gopacket/gopacket/afpacket"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

const (
	benchPayload = 64
	// benchRcvBuf is the receive buffer of every receiving socket (and the
	// size of the TPACKET_V3 ring), so that all receivers can absorb the
	// same burst.
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
)

// benchRing is the ring of the benchmarks' ring variants, as big as the
// other receivers' socket buffers.
func benchRing() *afpacket.RingConfig {
	return &afpacket.RingConfig{BlockSize: benchRingBlock, Blocks: benchRcvBuf / benchRingBlock}
}

// counter is what the receivers of a throughput benchmark share.
type counter struct {
	delivered atomic.Int64
	last      atomic.Int64 // time of the last delivery, UnixNano
}

func (c *counter) add(n int) {
	c.delivered.Add(int64(n))
	c.last.Store(time.Now().UnixNano())
}

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

// report adds the throughput metrics.
func (c *counter) report(b *testing.B, sent int, start, end time.Time) {
	got := c.delivered.Load()
	d := end.Sub(start)
	if got == 0 || d <= 0 {
		b.ReportMetric(0, "pkts/s")
	} else {
		b.ReportMetric(float64(got)/d.Seconds(), "pkts/s")
	}
	b.ReportMetric(float64(got)/float64(sent)*100, "delivered%")
}

// benchPayloadBytes is the payload every benchmark sends.
var benchPayloadBytes = func() []byte {
	p := make([]byte, benchPayload)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}()

// BenchmarkVethRUDP is (a): rudp.Conn to rudp.Conn through a relay on each
// end of a veth pair. "batch" sends with WriteBatch (64 datagrams a call)
// and reads with ReadBatch; with 1,000 flows there are 1,000 emulated hosts
// on each side, host i sending to host i, and the sender takes the flows in
// turn, one WriteBatch each. "writeto" uses WriteToUDPAddrPort and
// ReadFromUDPAddrPort, one datagram a call. Besides pkts/s and delivered%,
// kdrop% is the share the receiving socket's full queue lost in the kernel
// and qdrop% the share the full queues of the relay or rudp lost.
func BenchmarkVethRUDP(b *testing.B) {
	mmsg := afpacket.Config{ReadBufferSize: benchRcvBuf}
	ring := afpacket.Config{Ring: benchRing()}
	b.Run("batch/flows=1", func(b *testing.B) { benchRUDP(b, 1, true, mmsg) })
	b.Run("batch/flows=1000", func(b *testing.B) { benchRUDP(b, 1000, true, mmsg) })
	b.Run("writeto/flows=1", func(b *testing.B) { benchRUDP(b, 1, false, mmsg) })
	b.Run("ring/batch/flows=1", func(b *testing.B) { benchRUDP(b, 1, true, ring) })
	b.Run("ring/batch/flows=1000", func(b *testing.B) { benchRUDP(b, 1000, true, ring) })
	b.Run("ring/writeto/flows=1", func(b *testing.B) { benchRUDP(b, 1, false, ring) })
}

// benchRUDP measures (a) with flows flows, batch or one datagram a call,
// the receiving end's socket configured as rcv.
func benchRUDP(b *testing.B, flows int, batch bool, rcv afpacket.Config) {
	v := netns.NewVeth(b, nil)
	a := newSide(b, v.A, 0, flows, sideOptions{conn: afpacket.Config{WriteBufferSize: 4 << 20}, queueLen: benchQueue})
	r := newSide(b, v.B, 1, flows, sideOptions{conn: rcv, queueLen: benchQueue})

	var cnt counter
	var wg sync.WaitGroup
	for _, c := range r.conns {
		wg.Add(1)
		go func(c *rudp.Conn) {
			defer wg.Done()
			if !batch {
				buf := make([]byte, 2048)
				for {
					if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
					cnt.add(1)
				}
			}
			ms := make([]rudp.Message, rudp.MaxBatch)
			for i := range ms {
				ms[i].Buf = make([]byte, 128)
			}
			for {
				n, err := c.ReadBatch(ms)
				if err != nil {
					return
				}
				cnt.add(n)
			}
		}(c)
	}
	defer func() {
		for _, c := range r.conns {
			_ = c.Close()
		}
		wg.Wait()
	}()
	// Warm up the path (and every flow's queue) outside the measure.
	for i, c := range a.conns {
		_, err := c.WriteToUDPAddrPort(benchPayloadBytes, r.addrs[i])
		require.NoError(b, err)
	}
	cnt.drain(int64(flows))
	cnt.delivered.Store(0)
	r0 := r.r.Stats()
	var q0 uint64
	for _, c := range r.conns {
		q0 += c.Stats().QueueDrops
	}

	ms := make([]rudp.Message, rudp.MaxBatch)
	for i := range ms {
		ms[i].Buf = benchPayloadBytes
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	flow := 0
	for sent := 0; sent < b.N; {
		c, dst := a.conns[flow], r.addrs[flow]
		if flow++; flow == flows {
			flow = 0
		}
		if !batch {
			if _, err := c.WriteToUDPAddrPort(benchPayloadBytes, dst); err != nil {
				b.Fatal(err)
			}
			sent++
			continue
		}
		k := min(rudp.MaxBatch, b.N-sent)
		for i := range ms[:k] {
			ms[i].Addr = dst
		}
		n, err := c.WriteBatch(ms[:k])
		sent += n
		if err != nil {
			b.Fatal(err)
		}
	}
	end := cnt.drain(int64(b.N))
	b.StopTimer()
	cnt.report(b, b.N, start, end)
	r1 := r.r.Stats()
	var q1 uint64
	for _, c := range r.conns {
		q1 += c.Stats().QueueDrops
	}
	b.ReportMetric(float64(r1.Backend.Dropped-r0.Backend.Dropped)/float64(b.N)*100, "kdrop%")
	b.ReportMetric(float64(r1.QueueDrops-r0.QueueDrops+q1-q0)/float64(b.N)*100, "qdrop%")
}

// benchFrame is the frame rudp builds for a 64-byte datagram from host 0 of
// side 0 to host 0 of side 1.
func benchFrame(b *testing.B) []byte { return benchFrameFrom(b, 0, 0) }

// benchFrameFrom is the frame rudp builds for a 64-byte datagram from host i
// of side s to host i of the other side.
func benchFrameFrom(b *testing.B, s, i int) []byte {
	src, dst := hostAddr(s, i), hostAddr(1-s, i)
	hl, il := frame.HeaderLen(0), frame.IPUDPLen(dst.Addr())
	f := make([]byte, hl+il+benchPayload)
	frame.PutEthernet(f, [6]byte(hostMAC(1-s, i)), [6]byte(hostMAC(s, i)), nil, frame.EtherTypeIPv4)
	copy(f[hl+il:], benchPayloadBytes)
	_, err := frame.PutUDP(f[hl:], &frame.UDPHeader{Src: src, Dst: dst}, benchPayload)
	require.NoError(b, err)
	return f
}

// BenchmarkVethCeiling is (b): the frames of (a), sent with our sendmmsg
// sender (afpacket WriteFrames, 64 a call). "ring" reads them with a bare
// TPACKET_V3 ring reader (gopacket/afpacket: zero copy, no system call per
// batch, no parsing): what the link and the kernel's packet socket can
// deliver to user space on this machine. "recvmmsg" reads them with
// afpacket.Conn.ReadFrames (64 a call) and nothing else: the backend the
// relay uses, without the relay. (a) / "recvmmsg" is what relay and rudp
// cost; "recvmmsg" / "ring" what the receive mechanism costs.
func BenchmarkVethCeiling(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		benchCeiling(b, func(b *testing.B, v *netns.Veth, stop *atomic.Bool) ceilingReader {
			var tp *gpafpacket.TPacket
			require.NoError(b, v.B.NS.Do(func() error {
				var err error
				tp, err = gpafpacket.NewTPacket(
					gpafpacket.OptInterface(v.B.Name),
					gpafpacket.OptTPacketVersion(gpafpacket.TPacketVersion3),
					gpafpacket.OptFrameSize(2048),
					gpafpacket.OptBlockSize(1<<20),
					gpafpacket.OptNumBlocks(benchRcvBuf>>20),
					gpafpacket.OptBlockTimeout(time.Millisecond),
					gpafpacket.OptPollTimeout(50*time.Millisecond),
				)
				return err
			}))
			return ceilingReader{
				read: func() (int, error) {
					for {
						_, _, err := tp.ZeroCopyReadPacketData()
						if errors.Is(err, gpafpacket.ErrTimeout) {
							if stop.Load() {
								return 0, net.ErrClosed
							}
							continue
						}
						if err != nil {
							return 0, err
						}
						return 1, nil
					}
				},
				// A TPacket must not be closed under a read: the read
				// times out every 50 ms and then sees stop.
				interrupt: func() {},
				close:     tp.Close,
				drops: func() uint64 {
					_, st, err := tp.SocketStats()
					if err != nil {
						return 0
					}
					return uint64(st.Drops())
				},
			}
		})
	})
	for _, tc := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"recvmmsg", afpacket.Config{ReadBufferSize: benchRcvBuf}},
		{"afpacket-ring", afpacket.Config{Ring: benchRing()}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchCeilingConn(b, tc.cfg) })
	}
}

// benchCeilingConn is (b) with a bare afpacket.Conn reader configured as
// cfg, reading 64 frames a call.
func benchCeilingConn(b *testing.B, cfg afpacket.Config) {
	benchCeiling(b, func(b *testing.B, v *netns.Veth, _ *atomic.Bool) ceilingReader {
		var c *afpacket.Conn
		require.NoError(b, v.B.NS.Do(func() error {
			var err error
			c, err = afpacket.Open(v.B.Name, cfg)
			return err
		}))
		bufs := make([][]byte, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		lens := make([]int, len(bufs))
		return ceilingReader{
			read:      func() (int, error) { return c.ReadFrames(bufs, lens) },
			interrupt: func() { _ = c.Close() },
			close:     func() {},
			drops:     func() uint64 { return c.Stats().Dropped },
		}
	})
}

// ceilingReader is the receiver of BenchmarkVethCeiling: read returns how
// many frames it got; after interrupt, read fails soon; close frees what the
// reader holds once read has returned for good; drops is the kernel's count
// of frames lost to a full receive queue, from when read last returned.
type ceilingReader struct {
	read             func() (int, error)
	interrupt, close func()
	drops            func() uint64
}

// benchCeiling sends the frames of (a) with afpacket WriteFrames and counts
// what the reader that mkReader makes on B gets.
func benchCeiling(b *testing.B, mkReader func(*testing.B, *netns.Veth, *atomic.Bool) ceilingReader) {
	v := netns.NewVeth(b, nil)
	w := open(b, v.A, afpacket.Config{WriteBufferSize: 4 << 20})
	f := benchFrame(b)
	// The frames are for an emulated MAC. A veth filters no destination
	// MAC, so the readers see them without promiscuous mode.
	var stop atomic.Bool
	rd := mkReader(b, v, &stop)
	var cnt counter
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := rd.read()
			if err != nil {
				return
			}
			cnt.add(n)
		}
	}()
	var d0 uint64
	defer func() {
		stop.Store(true)
		rd.interrupt()
		<-done
		if b.N > 1 {
			b.ReportMetric(float64(rd.drops()-d0)/float64(b.N)*100, "kdrop%")
		}
		rd.close()
	}()
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = f
	}
	_, err := w.WriteFrames(batch[:1])
	require.NoError(b, err)
	cnt.drain(1)
	cnt.delivered.Store(0)
	d0 = rd.drops()

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n, err := w.WriteFrames(batch[:min(len(batch), b.N-sent)])
		sent += n
		if err != nil {
			b.Fatal(err)
		}
	}
	end := cnt.drain(int64(b.N))
	b.StopTimer()
	cnt.report(b, b.N, start, end)
}

// kernelPair gives both veth ends an address and each other as a permanent
// neighbour, and opens a kernel UDP socket on each: snd in A's namespace,
// rcv in B's, with the receive buffer the other receivers get.
func kernelPair(b *testing.B) (snd, rcv *net.UDPConn, sa, ra netip.AddrPort) {
	v := netns.NewVeth(b, nil)
	sa, ra = netip.AddrPortFrom(netns.IPv4(1), 5000), netip.AddrPortFrom(netns.IPv4(2), 5000)
	v.A.AddAddr(b, netip.PrefixFrom(sa.Addr(), 24))
	v.B.AddAddr(b, netip.PrefixFrom(ra.Addr(), 24))
	v.A.AddNeighbor(b, ra.Addr(), v.B.MAC)
	v.B.AddNeighbor(b, sa.Addr(), v.A.MAC)
	var err error
	snd, err = v.A.NS.ListenUDP("udp4", sa)
	require.NoError(b, err)
	b.Cleanup(func() { _ = snd.Close() })
	rcv, err = v.B.NS.ListenUDP("udp4", ra)
	require.NoError(b, err)
	b.Cleanup(func() { _ = rcv.Close() })
	for _, c := range []*net.UDPConn{snd, rcv} {
		rc, err := c.SyscallConn()
		require.NoError(b, err)
		var serr error
		require.NoError(b, rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, benchRcvBuf)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
			}
		}))
		require.NoError(b, serr)
	}
	return snd, rcv, sa, ra
}

// BenchmarkVethKernelUDP is (c): a kernel UDP socket in one namespace sends
// to a kernel UDP socket in the other over the same kind of veth. "batch"
// uses sendmmsg/recvmmsg (golang.org/x/net/ipv4 WriteBatch/ReadBatch, 64 a
// call), "writeto" WriteToUDPAddrPort/ReadFromUDPAddrPort.
func BenchmarkVethKernelUDP(b *testing.B) {
	for _, batch := range []bool{true, false} {
		name := "batch"
		if !batch {
			name = "writeto"
		}
		b.Run(name, func(b *testing.B) {
			snd, rcv, _, ra := kernelPair(b)
			var cnt counter
			done := make(chan struct{})
			go func() {
				defer close(done)
				if !batch {
					buf := make([]byte, 2048)
					for {
						if _, _, err := rcv.ReadFromUDPAddrPort(buf); err != nil {
							return
						}
						cnt.add(1)
					}
				}
				pc := ipv4.NewPacketConn(rcv)
				ms := make([]ipv4.Message, 64)
				for i := range ms {
					ms[i].Buffers = [][]byte{make([]byte, 128)}
				}
				for {
					n, err := pc.ReadBatch(ms, 0)
					if err != nil {
						return
					}
					cnt.add(n)
				}
			}()
			defer func() {
				_ = rcv.Close()
				<-done
			}()
			_, err := snd.WriteToUDPAddrPort(benchPayloadBytes, ra)
			require.NoError(b, err)
			cnt.drain(1)
			cnt.delivered.Store(0)

			pc := ipv4.NewPacketConn(snd)
			dst := net.UDPAddrFromAddrPort(ra)
			ms := make([]ipv4.Message, 64)
			for i := range ms {
				ms[i].Buffers = [][]byte{benchPayloadBytes}
				ms[i].Addr = dst
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; {
				if !batch {
					if _, err := snd.WriteToUDPAddrPort(benchPayloadBytes, ra); err != nil {
						b.Fatal(err)
					}
					sent++
					continue
				}
				n, err := pc.WriteBatch(ms[:min(len(ms), b.N-sent)], 0)
				sent += n
				if err != nil {
					b.Fatal(err)
				}
			}
			end := cnt.drain(int64(b.N))
			b.StopTimer()
			cnt.report(b, b.N, start, end)
		})
	}
}

// rttGap is the pause between two round trips of BenchmarkVethRTT: the
// rate stays below 1,000 round trips a second and every request finds both
// sides idle. (The runtime sleeps at least a millisecond when nothing else
// runs, whatever shorter pause is asked for.)
const rttGap = time.Millisecond

// rttBlock is how many round trips one path does before the next path's
// turn in BenchmarkVethRTT.
const rttBlock = 50

// BenchmarkVethRTT is (d): one 64-byte request and its echo at a time, with
// a pause between round trips, for rudp (an emulated host on each side, the
// server echoing with ReadFromUDPAddrPort/WriteToUDPAddrPort) and for kernel
// UDP sockets doing the same. "rudp-ring" is rudp with both ends receiving
// through a TPACKET_V3 ring (Config.Ring, 1 ms block timeout): what the
// ring's throughput costs a lone packet. "afpacket" is the backend alone: the same
// frames as rudp's, read with afpacket ReadFrame and answered with a
// prebuilt frame by WriteFrame, one goroutine a side as with kernel sockets;
// rudp minus afpacket is what the relay and rudp add.
//
// The paths take turns, each on its own veth pair, rttBlock round trips at
// a time, so that they share the machine's moments: on a VM the median of
// one run drifts by more than the differences measured here, and round
// trips alternating path by path would measure cold caches instead.
// {rudp,kernel,rudp-ring,afpacket}-p50-ns and -p99-ns are the median and
// 99th percentile over b.N round trips each (-benchtime=2000x gives 2,000
// each); rudp/kernel-p50 is the ratio of the medians. ns/op covers one round
// trip and one pause of every path.
func BenchmarkVethRTT(b *testing.B) {
	type path struct {
		name   string
		cl, sv udpConn
		to     netip.AddrPort
		rtts   []time.Duration
	}
	var paths []*path
	{
		v := netns.NewVeth(b, nil)
		cl := newSide(b, v.A, 0, 1, sideOptions{})
		sv := newSide(b, v.B, 1, 1, sideOptions{})
		paths = append(paths, &path{name: "rudp", cl: cl.conns[0], sv: sv.conns[0], to: sv.addrs[0]})
	}
	{
		cl, sv, _, sa := kernelPair(b)
		paths = append(paths, &path{name: "kernel", cl: cl, sv: sv, to: sa})
	}
	{
		v := netns.NewVeth(b, nil)
		ring := sideOptions{conn: afpacket.Config{Ring: &afpacket.RingConfig{}}}
		cl := newSide(b, v.A, 0, 1, ring)
		sv := newSide(b, v.B, 1, 1, ring)
		paths = append(paths, &path{name: "rudp-ring", cl: cl.conns[0], sv: sv.conns[0], to: sv.addrs[0]})
	}
	{
		v := netns.NewVeth(b, nil)
		cl := &rawUDP{c: open(b, v.A, afpacket.Config{}), me: hostAddr(0, 0)}
		sv := &rawUDP{c: open(b, v.B, afpacket.Config{}), me: hostAddr(1, 0)}
		cl.out = benchFrame(b)
		sv.out = benchFrameFrom(b, 1, 0)
		paths = append(paths, &path{name: "afpacket", cl: cl, sv: sv, to: sv.me})
	}
	rts := make([]func() time.Duration, len(paths))
	for i, p := range paths {
		rts[i] = startEcho(b, p.cl, p.sv, p.to)
		p.rtts = make([]time.Duration, 0, b.N)
	}
	for range 20 { // warm up
		for _, rt := range rts {
			rt()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += rttBlock {
		for j, p := range paths {
			for range min(rttBlock, b.N-i) {
				p.rtts = append(p.rtts, rts[j]())
				time.Sleep(rttGap)
			}
		}
	}
	b.StopTimer()
	p50 := map[string]float64{}
	for _, p := range paths {
		slices.Sort(p.rtts)
		p50[p.name] = float64(p.rtts[len(p.rtts)/2].Nanoseconds())
		b.ReportMetric(p50[p.name], p.name+"-p50-ns")
		b.ReportMetric(float64(p.rtts[len(p.rtts)*99/100].Nanoseconds()), p.name+"-p99-ns")
	}
	b.ReportMetric(p50["rudp"]/p50["kernel"], "rudp/kernel-p50")
}

// startEcho starts a server echoing every datagram on sv until the benchmark
// ends and returns a function doing one timed round trip from cl.
func startEcho(b *testing.B, cl, sv udpConn, svAddr netip.AddrPort) func() time.Duration {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := sv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := sv.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		_ = sv.Close()
		<-done
	})
	buf := make([]byte, 2048)
	return func() time.Duration {
		start := time.Now()
		if _, err := cl.WriteToUDPAddrPort(benchPayloadBytes, svAddr); err != nil {
			b.Fatal(err)
		}
		if err := cl.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			b.Fatal(err)
		}
		n, _, err := cl.ReadFromUDPAddrPort(buf)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if n != benchPayload {
			b.Fatalf("echo of %d bytes", n)
		}
		return d
	}
}

// rawUDP answers like a UDP socket with bare frames on an afpacket.Conn:
// it reads frames until one is a UDP datagram for me, and sends out, a
// prebuilt frame with the benchmark's payload, whatever it is asked to send.
type rawUDP struct {
	c   *afpacket.Conn
	me  netip.AddrPort
	out []byte
	buf [2048]byte
	in  frame.Info
}

func (r *rawUDP) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, err := r.c.ReadFrame(r.buf[:])
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		f := r.buf[:n]
		if frame.Parse(f, &r.in) != nil || !r.in.UDP || r.in.DstPort != r.me.Port() {
			continue
		}
		src, _ := netip.AddrFromSlice(r.in.SrcIP(f))
		return copy(b, f[r.in.Payload:r.in.PayloadEnd]), netip.AddrPortFrom(src, r.in.SrcPort), nil
	}
}

func (r *rawUDP) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	if len(b) != benchPayload {
		return 0, errors.New("rawUDP sends only the benchmark's payload")
	}
	return len(b), r.c.WriteFrame(r.out)
}

func (r *rawUDP) SetReadDeadline(t time.Time) error { return r.c.SetReadDeadline(t) }
func (r *rawUDP) Close() error                      { return r.c.Close() }

// udpConn is what rudp.Conn and net.UDPConn have in common.
type udpConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	SetReadDeadline(t time.Time) error
	Close() error
}
