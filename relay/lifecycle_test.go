package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

// endRecorder is a Handler that takes nothing and records what
// EndpointEnded is told; List returns it.
type endRecorder struct{ testkit.Errors }

func (h *endRecorder) Handle(*Packet) bool     { return false }
func (h *endRecorder) EndpointEnded(err error) { h.Add(err) }

func TestEndOfInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(*testkit.FakeIO) backend.PacketIO
	}{
		{"single", func(f *testkit.FakeIO) backend.PacketIO { return f }},
		{"batch", func(f *testkit.FakeIO) backend.PacketIO { return f.Batch() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := testkit.NewFakeIO()
			r := New(tt.wrap(f), Config{})
			defer r.Close()
			ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
			rec := &endRecorder{}
			ep.SetHandler(rec)
			idle := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
			def, err := r.RegisterDefault(DefaultEndpointConfig{})
			require.NoError(t, err)
			blocked := popAsync(idle.Read)
			settle()

			for i := range 3 {
				f.Give(seqFrame(macA, macR, nil, etExp1, uint32(i)))
			}
			f.Fail(io.EOF)
			select {
			case <-r.Done():
			case <-time.After(waitLong):
				t.Fatal("Done not closed at the end of input")
			}
			rerr := r.Err()
			assert.ErrorIs(t, rerr, ErrInputEnded)
			assert.ErrorIs(t, rerr, io.EOF)

			// Queued frames first, then the end, on every later Read.
			for i := range 3 {
				p, err := ep.Read()
				require.NoError(t, err)
				assert.Equal(t, uint32(i), seqOf(p))
				p.Release()
			}
			for range 2 {
				_, err := ep.Read()
				assert.ErrorIs(t, err, ErrInputEnded)
				assert.ErrorIs(t, err, io.EOF)
			}
			err = await(t, blocked).err
			assert.ErrorIs(t, err, ErrInputEnded, "a blocked Read returns at the end")
			assert.ErrorIs(t, err, io.EOF)
			_, err = def.Read()
			assert.ErrorIs(t, err, io.EOF)

			errs := rec.List()
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], ErrInputEnded)
			assert.ErrorIs(t, errs[0], io.EOF)

			// An endpoint registered after the end learns it at once.
			late := mustRegister(t, r, EndpointConfig{MAC: macC, EtherTypes: ets(etExp1)})
			_, err = late.Read()
			assert.ErrorIs(t, err, ErrInputEnded)
			lateDef := def
			require.NoError(t, lateDef.Close())
			lateDef, err = r.RegisterDefault(DefaultEndpointConfig{})
			require.NoError(t, err)
			_, err = lateDef.Read()
			assert.ErrorIs(t, err, io.EOF)

			// Sending still works: only the input ended.
			require.NoError(t, ep.Send(seqFrame(macR, macA, nil, etExp1, 9)))
			assert.Len(t, f.TakeWritten(), 1)

			// Close afterwards: readers now see net.ErrClosed, the handler
			// hears about it, Err keeps the cause.
			require.NoError(t, r.Close())
			_, err = ep.Read()
			assert.ErrorIs(t, err, net.ErrClosed)
			errs = rec.List()
			require.Len(t, errs, 2)
			assert.ErrorIs(t, errs[1], net.ErrClosed)
			assert.ErrorIs(t, r.Err(), io.EOF)
		})
	}
}

func TestInputFailure(t *testing.T) {
	f := testkit.NewFakeIO()
	r := New(f, Config{})
	defer r.Close()
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	assert.NoError(t, r.Err(), "nil while running")
	boom := errors.New("interface went away")
	f.Fail(boom)
	_, err := ep.Read()
	assert.ErrorIs(t, err, ErrInputEnded)
	assert.ErrorIs(t, err, boom)
	<-r.Done()
	assert.ErrorIs(t, r.Err(), boom)
}

// consumer is a Handler that takes every UDP packet, optionally keeping it.
type consumer struct {
	keep bool
	mu   sync.Mutex
	got  []*Packet
	n    int
}

func (c *consumer) Handle(p *Packet) bool {
	if !p.Info.UDP {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.keep {
		p.Retain()
		c.got = append(c.got, p)
	}
	return true
}

func TestHandler(t *testing.T) {
	r, wire := newWire(t, Config{}, memioBig)
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(frame.EtherTypeIPv4, etExp1)})
	h := &consumer{keep: true}
	ep.SetHandler(h)

	// UDP goes to the handler, the rest to the queue.
	var udp [][]byte
	for i := range 20 {
		b := gpFrame(t, macA, macR, nil, frame.EtherTypeIPv4, gpUDP4(bytes.Repeat([]byte{byte(i)}, 10+i))...)
		udp = append(udp, b)
		require.NoError(t, wire.WriteFrame(b))
		require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i))))
	}
	for i := range 20 {
		p := readWithin(t, ep)
		assert.Equal(t, uint32(i), seqOf(p), "only non-UDP frames are queued")
		p.Release()
	}
	assert.Zero(t, ep.Queued())
	st := ep.Stats()
	assert.Equal(t, uint64(40), st.FramesIn, "consumed packets count as delivered")
	assert.Equal(t, uint64(40), r.Stats().Delivered)

	// Retained packets stay intact although the read loop went on reading
	// many frames after them.
	h.mu.Lock()
	kept := h.got
	h.got = nil
	h.mu.Unlock()
	require.Len(t, kept, 20)
	for i, p := range kept {
		assert.Equal(t, udp[i], p.Frame())
		assert.Equal(t, bytes.Repeat([]byte{byte(i)}, 10+i), p.UDPPayload())
		p.Release()
	}

	// Without the handler, UDP is queued again.
	ep.SetHandler(nil)
	require.NoError(t, wire.WriteFrame(udp[0]))
	p := readWithin(t, ep)
	assert.Equal(t, udp[0], p.Frame())
	p.Release()
}

func TestHandlerDirect(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(frame.EtherTypeIPv4)})
	def, err := r.RegisterDefault(DefaultEndpointConfig{Mirror: true})
	require.NoError(t, err)
	h := &consumer{}
	hd := &consumer{}
	ep.SetHandler(h)
	def.SetHandler(hd)
	b := gpFrame(t, macA, macR, nil, frame.EtherTypeIPv4, gpUDP4([]byte("x"))...)
	inject(r, b)
	assert.Equal(t, 1, h.n)
	assert.Equal(t, 1, hd.n, "the default endpoint's handler sees mirrored frames")
	assert.Zero(t, ep.Queued())
	assert.Zero(t, def.Queued())
	assert.Equal(t, uint64(2), r.Stats().Delivered)

	// A consuming handler is not subject to the queue limit.
	small := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(frame.EtherTypeIPv4), QueueLen: 1})
	small.SetHandler(&consumer{})
	for range 5 {
		inject(r, gpFrame(t, macB, macR, nil, frame.EtherTypeIPv4, gpUDP4([]byte("y"))...))
	}
	assert.Zero(t, small.Stats().QueueDrops)
	assert.Equal(t, uint64(5), small.Stats().FramesIn)
}

// TestReadLoopReusesBuffers checks the pool bookkeeping from the outside: a
// packet released by its reader is reused, one still held is not.
func TestReadLoopReusesBuffers(t *testing.T) {
	r, wire := newWire(t, Config{}, memioBig)
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1), QueueLen: 1000})
	const n = 200
	for i := range n {
		require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i))))
	}
	held := make([]*Packet, 0, n)
	for i := range n {
		p := readWithin(t, ep)
		require.Equal(t, uint32(i), seqOf(p))
		held = append(held, p)
	}
	for i, p := range held {
		assert.Equal(t, uint32(i), seqOf(p), "a held packet is never overwritten")
		p.Release()
	}
}

func TestEndpointCloseNotifiesHandler(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	rec := &endRecorder{}
	ep.SetHandler(rec)
	require.NoError(t, ep.Close())
	require.NoError(t, ep.Close())
	require.NoError(t, r.Close())
	errs := rec.List()
	require.Len(t, errs, 1, "once, however often it is closed")
	assert.ErrorIs(t, errs[0], net.ErrClosed)
	assert.NotErrorIs(t, errs[0], ErrInputEnded)
}

// TestLateHandlerLearnsEnd installs handlers after the endpoint stopped
// receiving: an EndNotifier must still learn why, or a protocol layer that
// queues elsewhere (rudp) would block its readers forever.
func TestLateHandlerLearnsEnd(t *testing.T) {
	f := testkit.NewFakeIO()
	r := New(f, Config{})
	defer r.Close()
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	f.Fail(io.EOF)
	<-r.Done()

	rec := &endRecorder{}
	ep.SetHandler(rec)
	errs := rec.List()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInputEnded)
	assert.ErrorIs(t, errs[0], io.EOF)

	late := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	rec2 := &endRecorder{}
	late.SetHandler(rec2)
	require.Len(t, rec2.List(), 1)
	assert.ErrorIs(t, rec2.List()[0], io.EOF)

	require.NoError(t, late.Close())
	rec3 := &endRecorder{}
	late.SetHandler(rec3)
	require.Len(t, rec3.List(), 1)
	assert.ErrorIs(t, rec3.List()[0], net.ErrClosed)
	late.SetHandler(nil) // fine
}

func churnMAC(worker, i int) frame.MAC {
	return frame.MAC{0x02, 0x10, byte(worker), 0, byte(i >> 8), byte(i)}
}

// TestConcurrentChurn registers and closes endpoints from several goroutines
// while frames flow in from the wire and out through the endpoints, with
// hairpin on. It is meant for -race; the end state is checked as well.
func TestConcurrentChurn(t *testing.T) {
	r, wire := newWire(t, Config{Hairpin: true, QueueLen: 8}, memioBig)
	anchor := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(10)}, EtherTypes: ets(etExp1), QueueLen: 4096})

	const workers, rounds, keys = 4, 150, 8
	iters := rounds
	if testkit.RaceEnabled {
		iters = rounds / 2
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup

	// The wire keeps sending to the churning keys, to the anchor, and
	// broadcasts.
	var wireFrames atomic.Uint64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			dst := churnMAC(i%workers, i%keys)
			switch i % 5 {
			case 0:
				dst = bcast
			case 1:
				dst = macA
			}
			if wire.WriteFrame(seqFrame(dst, macR, frame.VLANs{v(10)}, etExp1, uint32(i))) == nil {
				wireFrames.Add(1)
			}
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond) // let the relay keep up
			}
		}
	}()
	// Drain the wire side so that the relay's sends never fill it.
	bg.Add(1)
	go func() {
		defer bg.Done()
		buf := make([]byte, backend.MaxFrameLen)
		for {
			if _, err := wire.ReadFrame(buf); err != nil {
				return
			}
		}
	}()
	// Stats and the default endpoint change hands meanwhile.
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = r.Stats()
			if def, err := r.RegisterDefault(DefaultEndpointConfig{Mirror: true, QueueLen: 4}); err == nil {
				popAll(def)
				def.Close()
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()

	var churn sync.WaitGroup
	for w := range workers {
		churn.Add(1)
		go func() {
			defer churn.Done()
			for i := range iters {
				mac := churnMAC(w, i%keys)
				ep, err := r.Register(EndpointConfig{
					MAC: mac, VLANs: frame.VLANs{v(10)}, EtherTypes: ets(etExp1),
					Broadcast: i%2 == 0, Multicast: i%3 == 0,
				})
				if !assert.NoError(t, err) {
					return
				}
				if i%4 == 0 {
					ep.SetHandler(&consumer{})
				}
				// Talk to a neighbour (hairpin), to the wire and to all.
				_ = ep.Send(seqFrame(churnMAC((w+1)%workers, i%keys), mac, frame.VLANs{v(10)}, etExp1, 1))
				_ = ep.Send(seqFrame(macR, mac, frame.VLANs{v(10)}, etExp1, 2))
				_, _ = ep.SendBatch([][]byte{seqFrame(bcast, mac, frame.VLANs{v(10)}, etExp1, 3)})
				ep.SetReadDeadline(time.Now().Add(200 * time.Microsecond))
				if p, err := ep.Read(); err == nil {
					p.Release()
				} else if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("read: %v", err)
				}
				popAll(ep)
				assert.NoError(t, ep.Close())
			}
		}()
	}
	// The anchor's reader.
	var anchorGot atomic.Uint64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			p, err := anchor.Read()
			if err != nil {
				assert.ErrorIs(t, err, net.ErrClosed)
				return
			}
			anchorGot.Add(1)
			p.Release()
		}
	}()

	churn.Wait()
	close(stop)
	// Every churning key is free again.
	for w := range workers {
		for i := range keys {
			ep, err := r.Register(EndpointConfig{MAC: churnMAC(w, i), VLANs: frame.VLANs{v(10)}, EtherTypes: ets(etExp1)})
			require.NoError(t, err)
			require.NoError(t, ep.Close())
		}
	}
	require.NoError(t, r.Close())
	wire.Close()
	bg.Wait()
	st := r.Stats()
	assert.Zero(t, st.Malformed)
	assert.LessOrEqual(t, st.FramesIn, wireFrames.Load())
	assert.Positive(t, anchorGot.Load())
	assert.Empty(t, r.tab.groups, "every group list emptied as its endpoints closed")
}

// TestConcurrentSend sends from many goroutines through one endpoint and
// several, and checks that every frame reaches the wire intact, once.
func TestConcurrentSend(t *testing.T) {
	r, wire := newWire(t, Config{}, memio.Config{QueueLen: 8192})
	shared := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	own := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	const senders, per = 8, 250
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep := shared
			if s%2 == 1 {
				ep = own
			}
			src := ep.Config().MAC
			for i := 0; i < per; i += 2 {
				a := seqFrame(macR, src, nil, etExp1, uint32(s<<16|i))
				b := seqFrame(macR, src, nil, etExp1, uint32(s<<16|i+1))
				if i%4 == 0 {
					assert.NoError(t, ep.Send(a))
					assert.NoError(t, ep.Send(b))
				} else {
					n, err := ep.SendBatch([][]byte{a, b})
					assert.NoError(t, err)
					assert.Equal(t, 2, n)
				}
			}
		}()
	}
	wg.Wait()
	seen := make(map[uint32]bool, senders*per)
	buf := make([]byte, 100)
	for range senders * per {
		n, err := wire.ReadFrame(buf)
		require.NoError(t, err)
		require.Equal(t, 60, n)
		seq, _ := testkit.SeqOf(buf[:n])
		assert.False(t, seen[seq], "frame %#x twice", seq)
		seen[seq] = true
		src := frame.MAC(buf[6:12])
		if seq>>16%2 == 1 {
			assert.Equal(t, macB, src)
		} else {
			assert.Equal(t, macA, src)
		}
	}
	assert.Len(t, seen, senders*per)
	assert.Zero(t, wire.Queued())
	st := r.Stats()
	assert.Equal(t, uint64(senders*per), st.FramesOut)
	assert.Equal(t, uint64(senders*per*60), st.BytesOut)
	assert.Equal(t, uint64(senders*per/2), shared.Stats().FramesOut)
	assert.Equal(t, uint64(senders*per/2), own.Stats().FramesOut)
}

// TestCloseRacesEndpointClose closes a relay while its endpoints are being
// closed and read: every reader returns net.ErrClosed and nothing hangs.
func TestCloseRacesEndpointClose(t *testing.T) {
	r, _ := newWire(t, Config{}, memio.Config{})
	const n = 64
	eps := make([]*Endpoint, n)
	recs := make([]*endRecorder, n)
	chs := make([]<-chan popResult, n)
	for i := range eps {
		eps[i] = mustRegister(t, r, EndpointConfig{MAC: churnMAC(0, i), EtherTypes: ets(etExp1), Broadcast: true})
		recs[i] = &endRecorder{}
		eps[i].SetHandler(recs[i])
		chs[i] = popAsync(eps[i].Read)
	}
	settle()
	var wg sync.WaitGroup
	for i := 0; i < n; i += 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, eps[i].Close())
		}()
	}
	require.NoError(t, r.Close())
	wg.Wait()
	for i, ch := range chs {
		assert.ErrorIs(t, await(t, ch).err, net.ErrClosed)
		errs := recs[i].List()
		require.NotEmpty(t, errs)
		for _, err := range errs {
			assert.ErrorIs(t, err, net.ErrClosed)
		}
	}
}
