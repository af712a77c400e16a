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
	"testing"
	"time"

	gpafpacket "github.com/gopacket/gopacket/afpacket"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/rudp"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// BenchmarkVethRUDP is (a): rudp.Conn to rudp.Conn through a relay on each
// end of a veth pair. "batch" sends with WriteBatch (64 datagrams a call)
// and reads with ReadBatch; with 1,000 flows there are 1,000 emulated hosts
// on each side, host i sending to host i, and the sender takes the flows in
// turn, one WriteBatch each. "writeto" uses WriteToUDPAddrPort and
// ReadFromUDPAddrPort, one datagram a call. Besides pkts/s and delivered%,
// kdrop% is the share the receiving socket's full queue lost in the kernel
// and qdrop% the share the full queues of the relay or rudp lost.
func BenchmarkVethRUDP(b *testing.B) {
	def := afpacket.Config{ReadBufferSize: benchRcvBuf} // the frame ring
	ring := afpacket.Config{Ring: benchRing()}
	b.Run("batch/flows=1", func(b *testing.B) { benchRUDP(b, 1, true, def) })
	b.Run("batch/flows=1000", func(b *testing.B) { benchRUDP(b, 1000, true, def) })
	b.Run("writeto/flows=1", func(b *testing.B) { benchRUDP(b, 1, false, def) })
	b.Run("ring/batch/flows=1", func(b *testing.B) { benchRUDP(b, 1, true, ring) })
	b.Run("ring/batch/flows=1000", func(b *testing.B) { benchRUDP(b, 1000, true, ring) })
	b.Run("ring/writeto/flows=1", func(b *testing.B) { benchRUDP(b, 1, false, ring) })
}

// benchRUDP measures (a) with flows flows, batch or one datagram a call,
// the receiving end's socket configured as rcv.
func benchRUDP(b *testing.B, flows int, batch bool, rcv afpacket.Config) {
	reader := func(c *rudp.Conn) func() (int, error) {
		if batch {
			return readBatchReader(c)
		}
		return readFromReader(c)
	}
	benchFlows(b, flows, batch, sideOptions{conn: rcv, queueLen: benchQueue}, reader)
}

// benchFlows sends from flows hosts on one end of a veth pair to flows
// hosts on the other, set up as rcv, each read by its own reader, with
// WriteBatch or WriteTo, and reports pkts/s, delivered%, kdrop% and qdrop%.
// It returns the receiving side, for more metrics.
func benchFlows(b *testing.B, flows int, batch bool, rcv sideOptions, reader func(*rudp.Conn) func() (int, error)) *side {
	v := netns.NewVeth(b, nil)
	a := newSide(b, v.A, 0, flows, sideOptions{conn: benchSendConfig, queueLen: benchQueue})
	r := newSide(b, v.B, 1, flows, rcv)

	var cnt counter
	for _, c := range r.conns {
		cnt.start(reader(c))
	}
	defer func() {
		for _, c := range r.conns {
			_ = c.Close()
		}
		cnt.wait()
	}()
	// Each call of send sends from the next flow.
	senders := make([]sendFunc, flows)
	for i, c := range a.conns {
		if batch {
			senders[i] = writeBatchSender(c, r.addrs[i])
		} else {
			senders[i] = writeToSender(c, r.addrs[i])
		}
	}
	flow := 0
	send := func(k int) (int, error) {
		s := senders[flow]
		if flow++; flow == flows {
			flow = 0
		}
		return s(k)
	}
	// Warm up the path (and every flow's queue) outside the measure.
	cnt.warmUp(b, flows, send)
	queueDrops := func() (n uint64) {
		for _, c := range r.conns {
			n += c.Stats().QueueDrops
		}
		return n
	}
	r0, q0 := r.r.Stats(), queueDrops()

	cnt.measure(b, send)
	r1, q1 := r.r.Stats(), queueDrops()
	b.ReportMetric(float64(r1.Backend.Dropped-r0.Backend.Dropped)/float64(b.N)*100, "kdrop%")
	b.ReportMetric(float64(r1.QueueDrops-r0.QueueDrops+q1-q0)/float64(b.N)*100, "qdrop%")
	return r
}

// readFromReader reads c one datagram a ReadFromUDPAddrPort.
func readFromReader(c udpConn) func() (int, error) {
	buf := make([]byte, 2048)
	return func() (int, error) {
		_, _, err := c.ReadFromUDPAddrPort(buf)
		return 1, err
	}
}

// writeToSender sends the benchmark's payload to dst with c, one datagram
// a WriteToUDPAddrPort.
func writeToSender(c udpConn, dst netip.AddrPort) sendFunc {
	return func(int) (int, error) {
		_, err := c.WriteToUDPAddrPort(benchPayloadBytes, dst)
		return 1, err
	}
}

// readBatchReader reads c with ReadBatch, rudp.MaxBatch datagrams at the
// most a call.
func readBatchReader(c *rudp.Conn) func() (int, error) {
	ms := make([]rudp.Message, rudp.MaxBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, 128)
	}
	return func() (int, error) { return c.ReadBatch(ms) }
}

// writeBatchSender sends the benchmark's payload to dst with c's
// WriteBatch, rudp.MaxBatch datagrams at the most a call.
func writeBatchSender(c *rudp.Conn, dst netip.AddrPort) sendFunc {
	ms := make([]rudp.Message, rudp.MaxBatch)
	for i := range ms {
		ms[i].Buf, ms[i].Addr = benchPayloadBytes, dst
	}
	return func(k int) (int, error) { return c.WriteBatch(ms[:min(len(ms), k)]) }
}

// BenchmarkVethCeiling is (b): the frames of (a), sent with our sendmmsg
// sender (afpacket WriteFrames, 64 a call). "ring" reads them with a bare
// TPACKET_V3 ring reader (gopacket/afpacket: zero copy, no system call per
// batch, no parsing): what the link and the kernel's packet socket can
// deliver to user space on this machine. "recvmmsg" reads them with
// afpacket.Conn.ReadFrames (64 a call) and nothing else: the backend the
// relay uses, without the relay; "afpacket-frames", "-adaptive" (the
// default) and "-ring" read as that does through each of the other
// receive paths. (a) / "recvmmsg" is what relay and rudp cost; "recvmmsg"
// / "ring" what the receive mechanism costs.
func BenchmarkVethCeiling(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		benchCeiling(b, func(b *testing.B, l *netns.Link) benchReader {
			return tpacketReader(b, l, benchRcvBuf/benchRingBlock, 50*time.Millisecond, gpafpacket.TPacketVersion3)
		})
	})
	b.Run("ring-v2", func(b *testing.B) {
		benchCeiling(b, func(b *testing.B, l *netns.Link) benchReader {
			return tpacketReader(b, l, benchRcvBuf/benchRingBlock, 50*time.Millisecond, gpafpacket.TPacketVersion2)
		})
	})
	for _, tc := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"recvmmsg", afpacket.Config{Receive: afpacket.ReceiveSocket, ReadBufferSize: benchRcvBuf}},
		{"afpacket-frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"afpacket-adaptive", afpacket.Config{}},
		{"afpacket-ring", afpacket.Config{Ring: benchRing()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchCeiling(b, func(b *testing.B, l *netns.Link) benchReader {
				return framesReader(open(b, l, tc.cfg))
			})
		})
	}
}

// benchCeiling sends the frames of (a) with afpacket WriteFrames and counts
// what the reader that mk makes on B gets. kdrop% is the share of the
// frames that the reader's full queue lost in the kernel, read once the
// reader has stopped.
func benchCeiling(b *testing.B, mk func(*testing.B, *netns.Link) benchReader) {
	w, v := benchWriter(b)
	// The frames are for an emulated MAC. A veth filters no destination
	// MAC, so the readers see them without promiscuous mode.
	rd := mk(b, v.B)
	var cnt counter
	cnt.start(rd.read)
	var d0 uint64
	defer func() {
		rd.interrupt()
		cnt.wait()
		if b.N > 1 {
			b.ReportMetric(float64(rd.drops()-d0)/float64(b.N)*100, "kdrop%")
		}
	}()
	batch := repeat(benchFrame(), benchBatch)
	send := func(k int) (int, error) { return w.WriteFrames(batch[:min(len(batch), k)]) }
	cnt.warmUp(b, 1, send)
	d0 = rd.drops()
	cnt.measure(b, send)
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
			send := writeToSender(snd, ra)
			if batch {
				rpc := ipv4.NewPacketConn(rcv)
				rms := make([]ipv4.Message, benchBatch)
				for i := range rms {
					rms[i].Buffers = [][]byte{make([]byte, 128)}
				}
				cnt.start(func() (int, error) { return rpc.ReadBatch(rms, 0) })
				pc := ipv4.NewPacketConn(snd)
				dst := net.UDPAddrFromAddrPort(ra)
				ms := make([]ipv4.Message, benchBatch)
				for i := range ms {
					ms[i].Buffers = [][]byte{benchPayloadBytes}
					ms[i].Addr = dst
				}
				send = func(k int) (int, error) { return pc.WriteBatch(ms[:min(len(ms), k)], 0) }
			} else {
				cnt.start(readFromReader(rcv))
			}
			defer func() {
				_ = rcv.Close()
				cnt.wait()
			}()
			cnt.warmUp(b, 1, send)
			cnt.measure(b, send)
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

// rttMinSamples is the fewest round trips a path of BenchmarkVethRTT makes,
// whatever b.N: enough for a 99th percentile, also when the benchmark runs
// in one go with throughput benchmarks and the default -benchtime (which
// then stops at b.N = 1).
const rttMinSamples = 2000

// BenchmarkVethRTT is (d): one 64-byte request and its echo at a time, with
// a pause between round trips, for rudp (an emulated host on each side, the
// server echoing with ReadFromUDPAddrPort/WriteToUDPAddrPort) and for kernel
// UDP sockets doing the same, rudp with each afpacket receive mode: "rudp"
// the default (the frame ring), "rudp-socket" recvmsg, "rudp-ring" the
// TPACKET_V3 block ring (1 ms block timeout: what its throughput costs a
// lone packet). "afpacket" is the backend alone, with its default and
// socket receive: the same frames as rudp's, read with afpacket ReadFrame
// and answered with a prebuilt frame by WriteFrame, one goroutine a side as
// with kernel sockets; rudp minus afpacket is what the relay and rudp add.
//
// The paths take turns, each on its own veth pair, rttBlock round trips at
// a time, so that they share the machine's moments: on a VM the median of
// one run drifts by more than the differences measured here, and round
// trips alternating path by path would measure cold caches instead.
// <path>-p50-ns and -p99-ns are the median and 99th percentile over b.N
// round trips each (at least rttMinSamples); rudp/kernel-p50 and -p99 are
// the default's ratios to the kernel's. ns/op covers b.N's share of the
// round trips and pauses of every path.
func BenchmarkVethRTT(b *testing.B) {
	kcl, ksv, _, ka := kernelPair(b)
	paths := []*rttPath{
		rudpPath(b, "rudp", afpacket.Config{}),
		{name: "kernel", cl: kcl, sv: ksv, to: ka},
		rudpPath(b, "rudp-frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}),
		rudpPath(b, "rudp-socket", afpacket.Config{Receive: afpacket.ReceiveSocket}),
		rudpPath(b, "rudp-ring", afpacket.Config{Ring: &afpacket.RingConfig{}}),
		rawPath(b, "afpacket", afpacket.Config{}),
		rawPath(b, "afpacket-socket", afpacket.Config{Receive: afpacket.ReceiveSocket}),
	}
	p50, p99 := measureRTT(b, paths)
	b.ReportMetric(p50["rudp"]/p50["kernel"], "rudp/kernel-p50")
	b.ReportMetric(p99["rudp"]/p99["kernel"], "rudp/kernel-p99")
}

// rudpPath is a round-trip path between two emulated hosts on a veth pair
// whose ends receive as cfg says.
func rudpPath(b *testing.B, name string, cfg afpacket.Config) *rttPath {
	v := netns.NewVeth(b, nil)
	opt := sideOptions{conn: cfg}
	cl, sv := newSide(b, v.A, 0, 1, opt), newSide(b, v.B, 1, 1, opt)
	return &rttPath{name: name, cl: cl.conns[0], sv: sv.conns[0], to: sv.addrs[0]}
}

// rawPath is a round-trip path of bare afpacket Conns (rawUDP) on a veth
// pair whose ends receive as cfg says.
func rawPath(b *testing.B, name string, cfg afpacket.Config) *rttPath {
	v := netns.NewVeth(b, nil)
	cl := &rawUDP{c: open(b, v.A, cfg), me: hostAddr(0, 0), out: benchFrame()}
	sv := &rawUDP{c: open(b, v.B, cfg), me: hostAddr(1, 0), out: benchFrameFrom(1, 0)}
	return &rttPath{name: name, cl: cl, sv: sv, to: sv.me}
}

// rttPath is one path of a round-trip benchmark: a client, a server, the
// server's address, and the round trips measured.
type rttPath struct {
	name   string
	cl, sv udpConn
	to     netip.AddrPort
	rtts   []time.Duration
}

// measureRTT runs b.N round trips on each path, echoed by sv, the paths
// taking turns rttBlock round trips at a time with rttGap between round
// trips (see BenchmarkVethRTT), reports each one's <name>-p50-ns and
// -p99-ns, and returns the medians and 99th percentiles by name.
func measureRTT(b *testing.B, paths []*rttPath) (p50, p99 map[string]float64) {
	n := max(b.N, rttMinSamples)
	rts := make([]func() time.Duration, len(paths))
	for i, p := range paths {
		rts[i] = startEcho(b, p.cl, p.sv, p.to)
		p.rtts = make([]time.Duration, 0, n)
	}
	for range 20 { // warm up
		for _, rt := range rts {
			rt()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < n; i += rttBlock {
		for j, p := range paths {
			for range min(rttBlock, n-i) {
				p.rtts = append(p.rtts, rts[j]())
				time.Sleep(rttGap)
			}
		}
	}
	b.StopTimer()
	p50, p99 = map[string]float64{}, map[string]float64{}
	for _, p := range paths {
		slices.Sort(p.rtts)
		p50[p.name] = float64(p.rtts[len(p.rtts)/2].Nanoseconds())
		p99[p.name] = float64(p.rtts[len(p.rtts)*99/100].Nanoseconds())
		b.ReportMetric(p50[p.name], p.name+"-p50-ns")
		b.ReportMetric(p99[p.name], p.name+"-p99-ns")
	}
	return p50, p99
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
