package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

// Reader-led receive (lead.go): a reader blocked on an endpoint of a relay
// whose PacketIO has read deadlines reads the PacketIO itself. memio has
// them, so these tests run without privileges.

// waitLeading waits until a reader holds the read token.
func waitLeading(t *testing.T, r *Relay) {
	t.Helper()
	require.Eventually(t, func() bool { return r.rx.token.Load() == leadReader },
		waitLong, time.Millisecond, "no reader took the read token")
}

// newLeadWire returns a relay on a memio wire with endpoint a at macA, the
// one whose reader the tests watch.
func newLeadWire(t *testing.T, cfg Config) (r *Relay, wire *memio.Port, a *Endpoint) {
	t.Helper()
	r, wire = newWire(t, cfg, memioBig)
	return r, wire, mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
}

// leadRead starts a Read of ep and waits until the reader holds the read
// token.
func leadRead(t *testing.T, r *Relay, ep *Endpoint) <-chan popResult {
	t.Helper()
	res := popAsync(ep.Read)
	waitLeading(t, r)
	return res
}

// readGets writes a frame with seq to macA on the wire and checks that the
// Read res, started on macA's endpoint, returns it.
func readGets(t *testing.T, wire *memio.Port, res <-chan popResult, seq uint32) {
	t.Helper()
	require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, seq)))
	got := await(t, res)
	require.NoError(t, got.err)
	assert.Equal(t, seq, seqOf(got.p))
	got.p.Release()
}

func TestReaderLeads(t *testing.T) {
	r, wire, ep := newLeadWire(t, Config{})
	readGets(t, wire, leadRead(t, r, ep), 7)
	st := r.Stats()
	assert.Equal(t, uint64(1), st.ReaderFrames, "the reader read the frame itself")
	assert.Equal(t, uint64(1), st.Delivered)
}

// TestLeadingReaderWakes covers everything that must end the wait of a
// reader that is reading the PacketIO, not parked on its queue.
func TestLeadingReaderWakes(t *testing.T) {
	cases := []struct {
		name    string
		act     func(t *testing.T, r *Relay, ep *Endpoint, wire *memio.Port)
		wantSeq uint32
		wantErr error
	}{
		{"frame from the wire", func(t *testing.T, _ *Relay, _ *Endpoint, wire *memio.Port) {
			require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, 1)))
		}, 1, nil},
		{"hairpin from a local endpoint", func(t *testing.T, r *Relay, _ *Endpoint, _ *memio.Port) {
			other := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
			require.NoError(t, other.Send(seqFrame(macA, macB, nil, etExp1, 2)))
		}, 2, nil},
		{"deadline moved into the past", func(t *testing.T, _ *Relay, ep *Endpoint, _ *memio.Port) {
			ep.SetReadDeadline(time.Now().Add(-time.Second))
		}, 0, os.ErrDeadlineExceeded},
		{"deadline moved closer", func(t *testing.T, _ *Relay, ep *Endpoint, _ *memio.Port) {
			ep.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		}, 0, os.ErrDeadlineExceeded},
		{"endpoint closed", func(t *testing.T, _ *Relay, ep *Endpoint, _ *memio.Port) {
			require.NoError(t, ep.Close())
		}, 0, net.ErrClosed},
		{"relay closed", func(t *testing.T, r *Relay, _ *Endpoint, _ *memio.Port) {
			require.NoError(t, r.Close())
		}, 0, net.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, wire, ep := newLeadWire(t, Config{Hairpin: true})
			ep.SetReadDeadline(time.Now().Add(time.Hour))
			res := leadRead(t, r, ep)
			start := time.Now()
			tc.act(t, r, ep, wire)
			got := await(t, res)
			assert.Less(t, time.Since(start), time.Second, "the leading reader saw it late")
			if tc.wantErr != nil {
				require.ErrorIs(t, got.err, tc.wantErr)
				return
			}
			require.NoError(t, got.err)
			assert.Equal(t, tc.wantSeq, seqOf(got.p))
			got.p.Release()
		})
	}
}

func TestLeadingReaderDeadline(t *testing.T) {
	r, wire, ep := newLeadWire(t, Config{})
	other := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	const d = 30 * time.Millisecond
	start := time.Now()
	ep.SetReadDeadline(start.Add(d))
	_, err := ep.Read()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.GreaterOrEqual(t, time.Since(start), d)
	// The reader let go: frames keep flowing to the others.
	require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, 3)))
	p := readWithin(t, other)
	assert.Equal(t, uint32(3), seqOf(p))
	p.Release()
}

// countingHandler takes every packet and counts it.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) Handle(*Packet) bool { h.n.Add(1); return true }

// handlerOnly registers an endpoint read only through a handler: nobody
// ever blocks on it, so only whoever reads the PacketIO delivers to it.
func handlerOnly(t *testing.T, r *Relay, mac frame.MAC) *countingHandler {
	ep := mustRegister(t, r, EndpointConfig{MAC: mac, EtherTypes: ets(etExp1), QueueLen: -1})
	h := &countingHandler{}
	ep.SetHandler(h)
	return h
}

func TestLeaderDeliversToOthers(t *testing.T) {
	r, wire, a := newLeadWire(t, Config{})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	h := handlerOnly(t, r, macC)

	res := leadRead(t, r, a)
	for i := range 10 {
		require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, uint32(i))))
		require.NoError(t, wire.WriteFrame(seqFrame(macC, macR, nil, etExp1, uint32(i))))
	}
	require.Eventually(t, func() bool { return b.Queued() == 10 && h.n.Load() == 10 },
		waitLong, time.Millisecond)
	assert.Equal(t, int32(leadReader), r.rx.token.Load(), "a's reader still leads")
	for i := range 10 {
		p := readWithin(t, b)
		assert.Equal(t, uint32(i), seqOf(p), "order kept")
		p.Release()
	}
	readGets(t, wire, res, 99)
	assert.Equal(t, uint64(21), r.Stats().ReaderFrames)
}

// TestLoopTakesOver: a reader that got its frame and does not come back
// leaves the token; the loop must pick it up so that frames for endpoints
// without a waiting reader still arrive.
func TestLoopTakesOver(t *testing.T) {
	r, wire, a := newLeadWire(t, Config{})
	h := handlerOnly(t, r, macC)
	readGets(t, wire, leadRead(t, r, a), 1)

	start := time.Now()
	require.NoError(t, wire.WriteFrame(seqFrame(macC, macR, nil, etExp1, 2)))
	require.Eventually(t, func() bool { return h.n.Load() == 1 }, waitLong, 100*time.Microsecond)
	t.Logf("handler frame delivered %v after the reader left", time.Since(start))
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, int32(leadLoop), r.rx.token.Load())
}

// TestReaderTakesTokenFromLoop: at a low rate a reader that blocks while the
// loop reads asks it to let go, and then reads itself.
func TestReaderTakesTokenFromLoop(t *testing.T) {
	r, wire, a := newLeadWire(t, Config{})
	require.Eventually(t, func() bool { return r.rx.token.Load() == leadLoop }, waitLong, time.Millisecond)
	readGets(t, wire, leadRead(t, r, a), 5)
	assert.Equal(t, uint64(1), r.Stats().ReaderFrames)
}

// failIO is a memio port that fails for good once it reads a frame of
// EtherType etExp3, as an interface going away would.
type failIO struct {
	*memio.Port
	failed atomic.Bool
}

var errLinkGone = errors.New("link gone")

func (f *failIO) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if f.failed.Load() {
		return 0, errLinkGone
	}
	n, err := f.Port.ReadFrames(bufs, lens)
	for i := 0; i < n; i++ {
		if lens[i] >= 14 && binary.BigEndian.Uint16(bufs[i][12:]) == etExp3 {
			f.failed.Store(true)
			return 0, errLinkGone
		}
	}
	return n, err
}

func TestLeaderBackendFails(t *testing.T) {
	wire, port := memio.Pipe(memioBig)
	defer wire.Close()
	r := New(&failIO{Port: port}, Config{})
	defer r.Close()
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	res := leadRead(t, r, a)
	require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp3, 1)))
	got := await(t, res)
	require.ErrorIs(t, got.err, ErrInputEnded)
	require.ErrorIs(t, got.err, errLinkGone)
	select {
	case <-r.Done():
	case <-time.After(waitLong):
		t.Fatal("the relay did not stop")
	}
	require.ErrorIs(t, r.Err(), errLinkGone)
}

// TestReadersUnderLoad: many readers, each blocking often, share the token
// with the loop while frames stream in; every frame reaches its endpoint
// once and in order.
func TestReadersUnderLoad(t *testing.T) {
	const readers, each = 16, 500
	r, wire := newWire(t, Config{QueueLen: each}, memio.Config{QueueLen: readers * each})
	eps := make([]*Endpoint, readers)
	for i := range eps {
		eps[i] = mustRegister(t, r, EndpointConfig{MAC: frame.MAC{0x02, 0, 0, 0, 1, byte(i)}, EtherTypes: ets(etExp1)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for _, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep.SetReadDeadline(time.Now().Add(waitLong))
			for want := range uint32(each) {
				p, err := ep.Read()
				if err != nil {
					errs <- err
					return
				}
				if got := seqOf(p); got != want {
					errs <- fmt.Errorf("endpoint %v: got seq %d, want %d", ep.cfg.MAC, got, want)
				}
				p.Release()
			}
		}()
	}
	for seq := range uint32(each) {
		for i := range readers {
			require.NoError(t, wire.WriteFrame(seqFrame(frame.MAC{0x02, 0, 0, 0, 1, byte(i)}, macR, nil, etExp1, seq)))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := r.Stats()
	assert.Equal(t, uint64(readers*each), st.Delivered)
	assert.Zero(t, st.QueueDrops)
	t.Logf("frames read by readers: %d of %d", st.ReaderFrames, st.FramesIn)
}

// TestNoLeadWithoutDeadlines: a PacketIO without SetReadDeadline is read
// by the loop only.
func TestNoLeadWithoutDeadlines(t *testing.T) {
	wire, port := memio.Pipe(memioBig)
	defer wire.Close()
	r := New(testkit.Plain(port), Config{})
	defer r.Close()
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	res := popAsync(a.Read)
	time.Sleep(10 * time.Millisecond)
	readGets(t, wire, res, 1)
	assert.Zero(t, r.Stats().ReaderFrames)
}

// TestLateKickDeadline: a kick's deadline in the past can land on the
// backend just after the holder cleared it for its next read (the kicker
// sets it from another goroutine). Whoever reads must clear it again and go
// on; it once made every later read fail at once, and the relay stalled.
func TestLateKickDeadline(t *testing.T) {
	for _, reader := range []bool{true, false} {
		t.Run(map[bool]string{true: "leading reader", false: "loop"}[reader], func(t *testing.T) {
			wire, port := memio.Pipe(memioBig)
			defer wire.Close()
			r := New(port, Config{})
			defer r.Close()
			a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
			h := handlerOnly(t, r, macC)
			var res <-chan popResult
			if reader {
				res = leadRead(t, r, a)
			} else {
				require.Eventually(t, func() bool { return r.rx.token.Load() == leadLoop }, waitLong, time.Millisecond)
			}
			// The late deadline, without the flag a kick sets first.
			require.NoError(t, port.SetReadDeadline(aLongTimeAgo))
			for i := range 3 {
				require.NoError(t, wire.WriteFrame(seqFrame(macC, macR, nil, etExp1, uint32(i))))
			}
			require.Eventually(t, func() bool { return h.n.Load() == 3 }, waitLong, time.Millisecond,
				"frames after a late kick deadline were not read")
			if reader {
				readGets(t, wire, res, 9)
			}
		})
	}
}
