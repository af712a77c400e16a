package relay

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

// Relays of several PacketIOs (NewGroup, multi.go), on memio pipes: the
// test writes on the far end of each pipe, standing in for a kernel that
// spreads a link's frames over the sockets of a fanout group.

// newGroupWire returns a relay on the near ends of n memio pipes and their
// far ends, the wires.
func newGroupWire(t testing.TB, n int, cfg Config) (*Relay, []*memio.Port) {
	t.Helper()
	wires := make([]*memio.Port, n)
	ports := make([]*memio.Port, n)
	for i := range n {
		wires[i], ports[i] = memio.Pipe(memioBig)
	}
	r := NewGroup(ports, cfg)
	t.Cleanup(func() {
		r.Close()
		for _, w := range wires {
			w.Close()
		}
	})
	return r, wires
}

// waitStats waits until cond holds for the relay's Stats.
func waitStats(t testing.TB, r *Relay, cond func(Stats) bool, what string) {
	t.Helper()
	testkit.Eventually(t, waitLong, func() bool { return cond(r.Stats()) }, "%s", what)
}

// TestNewGroupDelivery: an endpoint registered once gets its frames from every
// PacketIO, a broadcast arriving on one PacketIO reaches each opted-in
// endpoint once, and the counters add up per PacketIO and in all.
func TestNewGroupDelivery(t *testing.T) {
	const inputs, per = 3, 20
	r, wires := newGroupWire(t, inputs, Config{})
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1), Broadcast: true})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1), Broadcast: true})
	for i, w := range wires {
		for k := range per {
			require.NoError(t, w.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i*1000+k))))
		}
		require.NoError(t, w.WriteFrame(seqFrame(bcast, macR, nil, etExp1, uint32(9000+i))))
	}
	total := inputs * (per + 1)
	waitStats(t, r, func(s Stats) bool { return s.FramesIn == uint64(total) }, "frames read")
	got := map[uint32]int{}
	last := map[int]int{} // per input: the last sequence seen, for order
	for range inputs*per + inputs {
		p := readWithin(t, a)
		seq := seqOf(p)
		got[seq]++
		if seq < 9000 {
			in := int(seq / 1000)
			prev, seen := last[in]
			assert.True(t, !seen || int(seq%1000) > prev, "input %d: %d after %d", in, seq%1000, prev)
			last[in] = int(seq % 1000)
		}
		p.Release()
	}
	for i := range inputs {
		for k := range per {
			assert.Equal(t, 1, got[uint32(i*1000+k)], "frame %d of input %d", k, i)
		}
		assert.Equal(t, 1, got[uint32(9000+i)], "broadcast of input %d", i)
	}
	bs := popAll(b)
	assert.Len(t, bs, inputs, "b gets each broadcast once")

	st := r.Stats()
	assert.Equal(t, uint64(inputs*per+2*inputs), st.Delivered)
	assert.Equal(t, uint64(total), st.Backend.FramesIn, "the backends' counters summed")
	in := r.Inputs()
	require.Len(t, in, inputs)
	for i, s := range in {
		assert.Equal(t, uint64(per+1), s.FramesIn, "input %d", i)
		assert.Equal(t, uint64((per+1)*60), s.BytesIn, "input %d", i)
		assert.Equal(t, uint64(per+1), s.Backend.FramesIn, "input %d", i)
		assert.NoError(t, s.Err)
	}
}

// TestNewGroupSendsThroughFirst: every send leaves through the first
// PacketIO, in order; the others send nothing.
func TestNewGroupSendsThroughFirst(t *testing.T) {
	r, wires := newGroupWire(t, 2, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	const n = 50
	for k := range n {
		require.NoError(t, ep.Send(seqFrame(macR, macA, nil, etExp1, uint32(k))))
	}
	batch := [][]byte{seqFrame(macR, macA, nil, etExp1, n), seqFrame(macR, macA, nil, etExp1, n+1)}
	sent, err := ep.SendBatch(batch)
	require.NoError(t, err)
	require.Equal(t, 2, sent)
	buf := make([]byte, 2048)
	require.NoError(t, wires[0].SetReadDeadline(time.Now().Add(waitLong)))
	for k := range n + 2 {
		m, err := wires[0].ReadFrame(buf)
		require.NoError(t, err)
		seq, _ := testkit.SeqOf(buf[:m])
		require.Equal(t, uint32(k), seq)
	}
	assert.Zero(t, wires[1].Queued(), "nothing sent through the second PacketIO")
	assert.Equal(t, uint64(n+2), r.Stats().FramesOut)
	assert.Equal(t, uint64(n+2), r.Inputs()[0].Backend.FramesOut)
	assert.Zero(t, r.Inputs()[1].Backend.FramesOut)
}

// TestNewGroupEndsWhenAllEnd: a PacketIO that ends stops its loop only; the
// others keep delivering, and the relay ends, with the first one's error,
// when the last has ended.
func TestNewGroupEndsWhenAllEnd(t *testing.T) {
	f0, f1 := testkit.NewFakeIO(), testkit.NewFakeIO()
	r := NewGroup([]*testkit.FakeIO{f0, f1}, Config{})
	defer r.Close()
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	rec := &endRecorder{}
	ep.SetHandler(rec)

	f0.Fail(io.EOF)
	testkit.Eventually(t, waitLong, func() bool { return r.Inputs()[0].Err != nil }, "first input ended")
	assert.ErrorIs(t, r.Inputs()[0].Err, io.EOF)
	assert.NoError(t, r.Inputs()[1].Err)
	assert.NoError(t, r.Err(), "the relay runs on")
	select {
	case <-r.Done():
		t.Fatal("Done closed while an input runs")
	default:
	}
	f1.Give(seqFrame(macA, macR, nil, etExp1, 1))
	p := readWithin(t, ep)
	assert.Equal(t, uint32(1), seqOf(p))
	p.Release()
	assert.Empty(t, rec.List(), "no end told while an input runs")

	failure := errors.New("link gone")
	f1.Give(seqFrame(macA, macR, nil, etExp1, 2))
	f1.Fail(failure)
	testkit.Await(t, testkit.Go(func() struct{} { <-r.Done(); return struct{}{} }), waitLong, "Done not closed")
	err := r.Err()
	assert.ErrorIs(t, err, ErrInputEnded)
	assert.ErrorIs(t, err, io.EOF, "the first input's end")
	assert.ErrorIs(t, err, failure, "the second's")
	assert.ErrorIs(t, r.Inputs()[1].Err, failure)
	assert.NotErrorIs(t, r.Inputs()[1].Err, io.EOF)
	p = readWithin(t, ep) // what was queued first
	assert.Equal(t, uint32(2), seqOf(p))
	p.Release()
	_, err = ep.Read()
	assert.ErrorIs(t, err, ErrInputEnded)
	assert.Len(t, rec.List(), 1, "the handler is told once")
	assert.Zero(t, f0.Closes()+f1.Closes(), "ended inputs stay open until Close")
	require.NoError(t, r.Close())
	assert.Equal(t, 1, f0.Closes())
	assert.Equal(t, 1, f1.Closes())
}

// TestNewGroupClose: Close closes every PacketIO, unblocks readers with
// net.ErrClosed and leaves Err nil, also on a relay never started.
func TestNewGroupClose(t *testing.T) {
	for _, paused := range []bool{false, true} {
		fs := []*testkit.FakeIO{testkit.NewFakeIO(), testkit.NewFakeIO(), testkit.NewFakeIO()}
		r := NewGroup(fs, Config{Paused: paused})
		ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
		res := popAsync(ep.Read)
		settle()
		require.NoError(t, r.Close())
		assert.ErrorIs(t, await(t, res).err, net.ErrClosed)
		<-r.Done()
		assert.NoError(t, r.Err())
		for i, f := range fs {
			assert.Equal(t, 1, f.Closes(), "paused=%v: input %d", paused, i)
		}
		for _, in := range r.Inputs() {
			assert.NoError(t, in.Err, "Close is no input error")
		}
		require.NoError(t, r.Close())
	}
	assert.Panics(t, func() { NewGroup([]*testkit.FakeIO{}, Config{}) })
}

// TestNewGroupNoReaderLeads: on a relay of several PacketIOs blocked
// readers do not read a PacketIO themselves (memio has deadlines, so on
// one they would); the loops hand them their frames at once.
func TestNewGroupNoReaderLeads(t *testing.T) {
	r, wires := newGroupWire(t, 2, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	for i, w := range wires {
		res := popAsync(ep.Read)
		settle()
		assert.Equal(t, leadLoop, r.rx.token.Load(), "the first loop keeps its token")
		start := time.Now()
		require.NoError(t, w.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i))))
		got := await(t, res)
		require.NoError(t, got.err)
		assert.Equal(t, uint32(i), seqOf(got.p))
		got.p.Release()
		assert.Less(t, time.Since(start), time.Second, "input %d: the reader got it late", i)
	}
	assert.Zero(t, r.Stats().ReaderFrames)
	assert.Zero(t, r.rx.polls.Load(), "the loops never poll")
}

// TestNewGroupReassembly: the fragments of one datagram arriving on different
// PacketIOs meet in the relay's one reassembly.
func TestNewGroupReassembly(t *testing.T) {
	r, wires := newGroupWire(t, 2, Config{})
	for _, v6 := range []bool{false, true} {
		et := frame.EtherTypeIPv4
		if v6 {
			et = frame.EtherTypeIPv6
		}
		ep := mustRegister(t, r, EndpointConfig{MAC: frame.MAC{0x02, 0, 0, 0, 0, 2}, EtherTypes: ets(et)})
		ep.SetHandler(reassembling{ep})
		d := udpDatagram(v6, 3000)
		for i, f := range split(d, 512) {
			require.NoError(t, wires[i%2].WriteFrame(fragFrame(v6, 7, f)))
		}
		p := readWithin(t, ep)
		assert.False(t, p.Info.Fragment)
		assert.Equal(t, d, p.Frame()[p.Info.L4:p.Info.End], "v6=%v", v6)
		p.Release()
		require.NoError(t, ep.Close())
	}
	assert.Equal(t, uint64(2), r.Stats().Reassembly.Reassembled)
}

// reassembling is a Handler that hands fragments to the relay's
// reassembly; whole datagrams go to the queue.
type reassembling struct{ ep *Endpoint }

func (h reassembling) Handle(p *Packet) bool {
	if !p.Info.Fragment {
		return false
	}
	h.ep.Reassemble(p)
	return true
}

// TestNewGroupConcurrent: endpoints with readers, frames spread over four
// PacketIOs, endpoints closed and registered meanwhile; every frame read
// once, each input's order kept (run with -race).
func TestNewGroupConcurrent(t *testing.T) {
	const inputs, eps, per = 4, 16, 200
	r, wires := newGroupWire(t, inputs, Config{QueueLen: inputs * per})
	var wg sync.WaitGroup
	counts := make([]int, eps)
	for e := range eps {
		ep := mustRegister(t, r, EndpointConfig{MAC: benchMAC(e), EtherTypes: ets(etExp1)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := make([]int, inputs)
			for i := range last {
				last[i] = -1
			}
			for counts[e] < inputs*per {
				ep.SetReadDeadline(time.Now().Add(waitLong))
				p, err := ep.Read()
				if !assert.NoError(t, err, "endpoint %d after %d", e, counts[e]) {
					return
				}
				seq := seqOf(p)
				in, k := int(seq>>16), int(seq&0xffff)
				assert.Greater(t, k, last[in], "endpoint %d input %d out of order", e, in)
				last[in] = k
				counts[e]++
				p.Release()
			}
		}()
	}
	// Churn: another endpoint comes and goes.
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ep, err := r.Register(EndpointConfig{MAC: macX, EtherTypes: ets(etExp1)})
			if !assert.NoError(t, err) {
				return
			}
			assert.NoError(t, ep.Close())
			time.Sleep(100 * time.Microsecond)
		}
	}()
	testkit.Parallel(inputs, func(i int) {
		for k := range per {
			for e := range eps {
				if err := wires[i].WriteFrame(seqFrame(benchMAC(e), macR, nil, etExp1, uint32(i<<16|k))); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	waitStats(t, r, func(s Stats) bool { return s.Delivered == inputs*eps*per }, "all delivered")
	close(stop)
	wg.Wait()
	for e, n := range counts {
		assert.Equal(t, inputs*per, n, "endpoint %d", e)
	}
	assert.Zero(t, r.Stats().QueueDrops)
}
