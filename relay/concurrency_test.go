package relay

import (
	"errors"
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
