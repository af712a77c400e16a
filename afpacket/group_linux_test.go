//go:build linux

package afpacket_test

// One relay over a PACKET_FANOUT group (relay.NewGroup): endpoints
// registered once get the frames of every socket of the group.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openGroup opens a fanout group of n sockets on l (afpacket.OpenGroup),
// closed when tb ends.
func openGroup(tb testing.TB, l *netns.Link, cfg afpacket.Config, n int) []*afpacket.Conn {
	tb.Helper()
	var group []*afpacket.Conn
	require.NoError(tb, l.NS.Do(func() error {
		var err error
		group, err = afpacket.OpenGroup(l.Name, cfg, n)
		return err
	}))
	for _, c := range group {
		tb.Cleanup(func() { _ = c.Close() })
	}
	return group
}

// openSide opens the sockets of a side as opt says and puts a relay on
// them; it returns the first socket and the relay.
func openSide(tb testing.TB, l *netns.Link, opt sideOptions) (*afpacket.Conn, *relay.Relay) {
	tb.Helper()
	if opt.sockets <= 1 {
		c := open(tb, l, opt.conn)
		var pio backend.PacketIO = c
		if opt.noDeadline {
			pio = noDeadline{c}
		}
		return c, relay.New(pio, opt.relay)
	}
	group := openGroup(tb, l, opt.conn, opt.sockets)
	if !opt.noDeadline {
		return group[0], relay.NewGroup(group, opt.relay)
	}
	pios := make([]noDeadline, len(group))
	for i, c := range group {
		pios[i] = noDeadline{c}
	}
	return group[0], relay.NewGroup(pios, opt.relay)
}

// noDeadline is an afpacket.Conn without its read deadline: a relay on it
// has no reader-led receive (its loops do all the reading).
type noDeadline struct{ c *afpacket.Conn }

func (n noDeadline) ReadFrame(b []byte) (int, error) { return n.c.ReadFrame(b) }
func (n noDeadline) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	return n.c.ReadFrames(bufs, lens)
}
func (n noDeadline) WriteFrame(f []byte) error            { return n.c.WriteFrame(f) }
func (n noDeadline) WriteFrames(fs [][]byte) (int, error) { return n.c.WriteFrames(fs) }
func (n noDeadline) Stats() backend.Stats                 { return n.c.Stats() }
func (n noDeadline) Close() error                         { return n.c.Close() }

// inputFrames is how many frames each of r's PacketIOs read.
func inputFrames(r *relay.Relay) []uint64 {
	var out []uint64
	for _, in := range r.Inputs() {
		out = append(out, in.FramesIn)
	}
	return out
}

// TestRelayGroupOverVeth: 64 emulated hosts on a fanout group of two
// sockets (flow hash), each registered once, each get every datagram of
// their flow, in order; the kernel spread the flows over both sockets.
func TestRelayGroupOverVeth(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	const hosts, per = 64, 20
	v := netns.NewVeth(t, nil)
	a := newSide(t, v.A, 0, hosts, sideOptions{})
	b := newSide(t, v.B, 1, hosts, sideOptions{conn: afpacket.Config{ReadBufferSize: 4 << 20}, sockets: 2})
	buf := make([]byte, 64)
	for k := range per {
		binary.BigEndian.PutUint32(buf, uint32(k))
		for i, c := range a.conns {
			_, err := c.WriteToUDPAddrPort(buf, b.addrs[i])
			require.NoError(t, err)
		}
	}
	in := make([]byte, 2048)
	for i, c := range b.conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		for k := range per {
			n, from, err := c.ReadFromUDPAddrPort(in)
			require.NoError(t, err, "host %d, datagram %d", i, k)
			require.Equal(t, a.addrs[i], from)
			require.Equal(t, 64, n)
			require.Equal(t, uint32(k), binary.BigEndian.Uint32(in), "host %d: a flow keeps its order", i)
		}
	}
	got := inputFrames(b.r)
	t.Logf("frames per socket: %v", got)
	require.Len(t, got, 2)
	assert.Positive(t, got[0], "the hash put no flow on socket 0")
	assert.Positive(t, got[1], "the hash put no flow on socket 1")
	st := b.r.Stats()
	assert.Equal(t, uint64(hosts*per), got[0]+got[1])
	assert.Equal(t, uint64(hosts*per), st.FramesIn)
	assert.Equal(t, uint64(hosts*per), st.Delivered)
	assert.Equal(t, st.FramesIn, st.Backend.FramesIn, "the sockets' counters summed")
	assert.Zero(t, st.FramesOut, "B sent nothing")
}

// TestRelayGroupBroadcastOnce: broadcasts spread round robin (FanoutLB)
// over two sockets reach each opted-in endpoint once each.
func TestRelayGroupBroadcastOnce(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	const n = 100
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{})
	group := openGroup(t, v.B, afpacket.Config{Fanout: afpacket.FanoutLB, ReadBufferSize: 1 << 20}, 2)
	r := relay.NewGroup(group, relay.Config{})
	t.Cleanup(func() { _ = r.Close() })
	var eps []*relay.Endpoint
	for i := range 2 {
		ep, err := r.Register(relay.EndpointConfig{MAC: frame.MAC(hostMAC(1, i)), EtherTypes: []uint16{etherTest}, Broadcast: true})
		require.NoError(t, err)
		eps = append(eps, ep)
	}
	frames := make([][]byte, n)
	for k := range frames {
		frames[k] = mkFrame(net.HardwareAddr(frame.BroadcastMAC[:]), v.A.MAC, nil, etherTest, 46, uint32(k))
	}
	writeAll(t, a, frames)
	for i, ep := range eps {
		seen := map[uint32]bool{}
		ep.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range n {
			p, err := ep.Read()
			require.NoError(t, err, "endpoint %d after %d", i, len(seen))
			seq := seqOf(p.Frame())
			require.False(t, seen[seq], "endpoint %d: broadcast %d twice", i, seq)
			seen[seq] = true
			p.Release()
		}
		assert.Zero(t, ep.Queued(), "endpoint %d: nothing more", i)
	}
	assert.Equal(t, []uint64{n / 2, n / 2}, inputFrames(r), "round robin")
	assert.Equal(t, uint64(2*n), r.Stats().Delivered)
}

// TestRelayGroupFragments: with the fragments of every datagram spread
// round robin over two sockets, the relay's one reassembly puts them back
// together.
func TestRelayGroupFragments(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	const n, size = 20, 3000 // three fragments each at the default MTU
	v := netns.NewVeth(t, nil)
	a := newSide(t, v.A, 0, 1, sideOptions{})
	b := newSide(t, v.B, 1, 1, sideOptions{conn: afpacket.Config{Fanout: afpacket.FanoutLB, ReadBufferSize: 1 << 20}, sockets: 2})
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	in := make([]byte, 4096)
	require.NoError(t, b.conns[0].SetReadDeadline(time.Now().Add(5*time.Second)))
	for k := range n {
		binary.BigEndian.PutUint32(msg, uint32(k))
		_, err := a.conns[0].WriteToUDPAddrPort(msg, b.addrs[0])
		require.NoError(t, err)
		got, _, err := b.conns[0].ReadFromUDPAddrPort(in)
		require.NoError(t, err, "datagram %d", k)
		require.Equal(t, msg, in[:got], "datagram %d", k)
	}
	st := b.r.Stats()
	assert.Equal(t, uint64(n), st.Reassembly.Reassembled)
	assert.Equal(t, uint64(3*n), st.Reassembly.Fragments)
	assert.Equal(t, []uint64{3 * n / 2, 3 * n / 2}, inputFrames(b.r))
}

// TestRelayGroupEnds: a socket closed under the relay leaves the fanout
// group, the kernel moves its flows to the other and the relay goes on;
// the interface going away ends both sockets and then the relay, with
// ErrInputEnded wrapping ENODEV.
func TestRelayGroupEnds(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, nil)
	a := newSide(t, v.A, 0, 1, sideOptions{})
	group := openGroup(t, v.B, afpacket.Config{}, 2)
	r := relay.NewGroup(group, relay.Config{})
	t.Cleanup(func() { _ = r.Close() })
	ep, err := r.Register(relay.EndpointConfig{MAC: frame.MAC(hostMAC(1, 0)), EtherTypes: []uint16{frame.EtherTypeIPv4}})
	require.NoError(t, err)

	require.NoError(t, group[1].Close())
	require.Eventually(t, func() bool { return r.Inputs()[1].Err != nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, r.Inputs()[1].Err, net.ErrClosed)
	// Many flows: with both sockets in the group about half of them would
	// have gone to the closed one.
	for i := range 16 {
		from := netip.AddrPortFrom(a.addrs[0].Addr(), uint16(6000+i))
		f := testkit.UDPFrame([6]byte(hostMAC(1, 0)), [6]byte(hostMAC(0, 0)), nil, from, hostAddr(1, 0), benchPayloadBytes)
		require.NoError(t, a.pio.WriteFrame(f))
		ep.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := ep.Read()
		require.NoError(t, err, "flow %d", i)
		p.Release()
	}
	assert.NoError(t, r.Err())

	v.B.Delete(t)
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not end when its interface went away")
	}
	t.Logf("relay: %v", r.Err())
	assert.ErrorIs(t, r.Err(), relay.ErrInputEnded)
	assert.ErrorIs(t, r.Err(), unix.ENODEV, "the interface went")
	assert.ErrorIs(t, r.Err(), net.ErrClosed, "and a socket was closed before")
	assert.ErrorIs(t, r.Inputs()[0].Err, unix.ENODEV)
	_, err = ep.Read()
	assert.ErrorIs(t, err, relay.ErrInputEnded)
}

// BenchmarkVethGroup measures 1,000 flows into a relay on one socket and
// into one relay on a fanout group of two (flow hash): what a second read
// loop gives on this machine.
//
// "flood" is (a) with batches (benchFlows): the sender's rudp, relay and
// kernel work share the CPUs with the receiver's loops and readers while
// it runs. "drain" takes the sender out of the measure: drainRound frames
// of the 1,000 flows are queued in the sockets (recvmmsg, 256 MiB of
// buffer each: readConfigs[0]) while a fresh receiving relay is paused, then the clock runs from Start
// until its 1,000 readers (ReadBatch) have them all; the one-socket and
// the two-socket receivers take turns, round by round, so that they share
// the machine's moments, and sockets=N-pkts/s is each one's rate (ns/op
// covers a frame of each). sock0% is the share of the frames the kernel
// put on the first socket of two.
func BenchmarkVethGroup(b *testing.B) {
	for _, sockets := range []int{1, 2} {
		b.Run(fmt.Sprintf("flood/flows=1000/sockets=%d", sockets), func(b *testing.B) {
			rcv := sideOptions{conn: afpacket.Config{ReadBufferSize: benchRcvBuf}, queueLen: benchQueue, sockets: sockets}
			r := benchFlows(b, 1000, true, rcv, readBatchReader)
			if in := inputFrames(r.r); len(in) == 2 {
				reportSpread(b, in[0], in[0]+in[1])
			}
		})
	}
	b.Run("drain/flows=1000", func(b *testing.B) { benchGroupDrain(b, 1000, []int{1, 2}) })
}

// reportSpread reports sock0%: first of all frames.
func reportSpread(b *testing.B, first, all uint64) {
	if all > 0 {
		b.ReportMetric(float64(first)/float64(all)*100, "sock0%")
	}
}

// benchGroupDrain is BenchmarkVethGroup's "drain", over receivers of each
// of the socket counts in turn.
func benchGroupDrain(b *testing.B, flows int, sockets []int) {
	w, v := benchWriter(b)
	elapsed := make([]time.Duration, len(sockets))
	var first, all uint64 // frames on the first socket of a group, and in all
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		round := min(drainRound, b.N-done)
		for i, n := range sockets {
			d, in := drainOnce(b, w, v.B, flows, n, round)
			elapsed[i] += d
			if len(in) > 1 {
				first, all = first+in[0], all+in[0]+in[1]
			}
		}
		done += round
	}
	b.StopTimer()
	for i, n := range sockets {
		b.ReportMetric(float64(b.N)/elapsed[i].Seconds(), fmt.Sprintf("sockets=%d-pkts/s", n))
	}
	reportSpread(b, first, all)
}

// drainOnce queues round frames of flows flows with w for a fresh paused
// side of flows hosts on l, on the given number of sockets, starts it and
// returns the time until its readers had them all, and the frames each
// socket took. The clock runs only for that.
func drainOnce(b *testing.B, w *afpacket.Conn, l *netns.Link, flows, sockets, round int) (time.Duration, []uint64) {
	b.StopTimer()
	r := newSide(b, l, 1, flows, sideOptions{conn: readConfigs[0], queueLen: benchQueue, sockets: sockets,
		relay: relay.Config{Paused: true}})
	var cnt counter
	for _, c := range r.conns {
		cnt.start(readBatchReader(c))
	}
	batch := make([][]byte, benchBatch)
	for sent := 0; sent < round; {
		k := min(len(batch), round-sent)
		for j := range batch[:k] {
			batch[j] = benchFrameFrom(0, (sent+j)%flows)
		}
		n, err := w.WriteFrames(batch[:k])
		require.NoError(b, err)
		sent += n
	}
	time.Sleep(20 * time.Millisecond) // the veth's backlog is processed
	b.StartTimer()
	start := time.Now()
	r.r.Start()
	end := cnt.drain(int64(round))
	b.StopTimer()
	if got := cnt.delivered.Load(); got != int64(round) {
		b.Fatalf("round of %d on %d sockets: %d delivered, %+v", round, sockets, got, r.r.Stats())
	}
	in := inputFrames(r.r)
	require.NoError(b, r.r.Close())
	for _, c := range r.conns {
		_ = c.Close()
	}
	cnt.wait()
	b.StartTimer()
	return end.Sub(start), in
}

// BenchmarkVethGroupRTT is (d) for rudp with the server on a fanout group
// of two sockets, its one flow hashed to the first socket ("group-first")
// or to the second ("group-other"), beside the server on one socket with
// reader-led receive ("one") and without it ("one-nolead": the socket's
// read deadline hidden from the relay). Each path has its own veth pair;
// the paths take turns as in BenchmarkVethRTT. With readers leading the
// first socket of a group, a flow hashed to the second took 51–58 µs at the
// median against 38–42 µs with loops only, which is why a relay of several
// PacketIOs has no reader-led receive (relay.NewGroup).
func BenchmarkVethGroupRTT(b *testing.B) {
	measureRTT(b, []*rttPath{
		rttOneFlow(b, "one", sideOptions{}, 0),
		rttOneFlow(b, "one-nolead", sideOptions{noDeadline: true}, 0),
		rttOneFlow(b, "group-first", sideOptions{sockets: 2}, 0),
		rttOneFlow(b, "group-other", sideOptions{sockets: 2}, 1),
	})
}

// rttOneFlow makes a path of BenchmarkVethGroupRTT: a client host and a
// server host, the server's side set up as sv, whose flow the kernel
// hashes to socket sock of the server's group: it tries up to 32 host
// pairs and keeps the first that lands there. The others have no reader.
func rttOneFlow(b *testing.B, name string, sv sideOptions, sock int) *rttPath {
	const tries = 32
	v := netns.NewVeth(b, nil)
	cl := newSide(b, v.A, 0, tries, sideOptions{})
	srv := newSide(b, v.B, 1, tries, sv)
	buf := make([]byte, 2048)
	for i := range tries {
		before := inputFrames(srv.r)
		_, err := cl.conns[i].WriteToUDPAddrPort(benchPayloadBytes, srv.addrs[i])
		require.NoError(b, err)
		require.NoError(b, srv.conns[i].SetReadDeadline(time.Now().Add(2*time.Second)))
		_, _, err = srv.conns[i].ReadFromUDPAddrPort(buf)
		require.NoError(b, err)
		require.NoError(b, srv.conns[i].SetReadDeadline(time.Time{}))
		if inputFrames(srv.r)[sock] > before[sock] {
			return &rttPath{name: name, cl: cl.conns[i], sv: srv.conns[i], to: srv.addrs[i]}
		}
	}
	b.Fatalf("no flow of %d hashed to socket %d", tries, sock)
	return nil
}
