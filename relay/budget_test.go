package relay

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

// jumbo is a frame to dst of the largest size the relay reads.
func jumbo(dst frame.MAC) []byte {
	b := make([]byte, backend.MaxFrameLen)
	frame.PutEthernet(b, dst, macR, nil, etExp1)
	return b
}

func TestQueueBytes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		ep         EndpointConfig
		size       int // frame size sent
		wantQueued int
	}{
		// A jumbo frame pins a 9 KiB buffer: 212,992 / 9,247 is 23.
		{"default, jumbo", Config{}, EndpointConfig{}, backend.MaxFrameLen, DefaultQueueBytes / (backend.MaxFrameLen + 1)},
		// Small frames pin 256 B each: the frame limit comes first.
		{"default, small", Config{}, EndpointConfig{}, 60, DefaultQueueLen},
		{"relay's QueueBytes", Config{QueueBytes: 20000}, EndpointConfig{}, 1500, 20000 / 2048},
		{"endpoint's QueueBytes", Config{}, EndpointConfig{QueueBytes: 10000}, 1500, 10000 / 2048},
		// An empty queue takes one packet whatever its size, as a kernel socket.
		{"one over the limit", Config{}, EndpointConfig{QueueBytes: 100}, backend.MaxFrameLen, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newDirect(t, tc.cfg)
			cfg := tc.ep
			cfg.MAC, cfg.EtherTypes = macA, ets(etExp1)
			ep := mustRegister(t, r, cfg)
			f := jumbo(macA)[:tc.size]
			const sent = 300
			for range sent {
				inject(r, f)
			}
			assert.Equal(t, tc.wantQueued, ep.Queued())
			st := ep.Stats()
			assert.Equal(t, uint64(sent-tc.wantQueued), st.QueueDrops)
			assert.Equal(t, uint64(sent-tc.wantQueued), r.Stats().QueueDrops)
			assert.Zero(t, r.Stats().BudgetDrops)
			popAll(ep)
			assert.Zero(t, r.pinned.Load(), "popping gives the bytes back")
		})
	}
}

// TestQueueSetByteLimit is SO_RCVBUF for a layer's queue.
func TestQueueSetByteLimit(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	q := ep.NewQueue(0)
	assert.Equal(t, DefaultQueueBytes, q.ByteLimit())
	q.SetByteLimit(3 * 2048)
	p, err := copyPacket(jumbo(macA)[:1500])
	require.NoError(t, err)
	defer p.Release()
	for range 3 {
		require.True(t, q.Push(p))
	}
	assert.False(t, q.Push(p), "a fourth 2 KiB buffer is over 6 KiB")
	q.SetByteLimit(0)
	assert.Equal(t, DefaultQueueBytes, q.ByteLimit(), "0 restores the relay's")
	assert.True(t, q.Push(p))
	q.Close()
	assert.Zero(t, r.pinned.Load(), "Close gives the bytes back")
}

// TestBudgetBoundsAllQueues: whatever the number of endpoints, what their
// queues pin together stays under the relay's budget; drops are counted.
func TestBudgetBoundsAllQueues(t *testing.T) {
	const budget = 1 << 20
	r, _ := newDirect(t, Config{Budget: budget})
	var eps []*Endpoint
	for i := range 200 {
		eps = append(eps, mustRegister(t, r, EndpointConfig{MAC: benchMAC(i), EtherTypes: ets(etExp1)}))
	}
	for range 3 {
		for _, ep := range eps {
			inject(r, jumbo(ep.cfg.MAC))
		}
	}
	st := r.Stats()
	held := r.pinned.Load()
	assert.LessOrEqual(t, held, int64(budget))
	assert.Greater(t, held, int64(budget-(backend.MaxFrameLen+1)), "the budget is used up to its last packet")
	assert.Equal(t, uint64(600)-uint64(held/(backend.MaxFrameLen+1)), st.BudgetDrops)
	assert.Equal(t, st.BudgetDrops, st.QueueDrops)
	for _, ep := range eps {
		popAll(ep)
	}
	assert.Zero(t, r.pinned.Load())
}

// TestJumboFloodHeap floods 50,000 endpoints with jumbo frames, three each,
// as a remote sender can; the heap stays under the default relay budget.
// Before budgets in bytes, their queues held every frame (about 1.4 GB).
func TestJumboFloodHeap(t *testing.T) {
	n := 50000
	if testing.Short() || testkit.RaceEnabled {
		n = 5000 // the race detector makes 150,000 jumbo copies slow
	}
	r, _ := newDirect(t, Config{})
	eps := make([]*Endpoint, n)
	for i := range eps {
		eps[i] = mustRegister(t, r, EndpointConfig{MAC: benchMAC(i), EtherTypes: ets(etExp1)})
	}
	f := jumbo(macA)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 3 {
		for _, ep := range eps {
			copy(f, ep.cfg.MAC[:])
			inject(r, f)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d endpoints, %d jumbo frames: heap +%.1f MiB, queues hold %.1f MiB, %d budget drops",
		n, 3*n, float64(grown)/(1<<20), float64(r.pinned.Load())/(1<<20), r.Stats().BudgetDrops)
	assert.LessOrEqual(t, r.pinned.Load(), int64(DefaultBudget))
	assert.Less(t, grown, int64(DefaultBudget)+16<<20, "heap beyond the relay's budget")
	if n == 50000 {
		assert.NotZero(t, r.Stats().BudgetDrops)
	}
}

// TestPausedRelayLosesNothing: frames waiting in the backend before the
// endpoints register are delivered once the relay is started.
func TestPausedRelayLosesNothing(t *testing.T) {
	wire, port := memio.Pipe(memio.Config{})
	defer wire.Close()
	for i := range 10 {
		require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i))))
	}
	r := New(port, Config{Paused: true})
	defer r.Close()
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	// A blocked reader must not read the backend before Start either.
	got := make(chan uint32, 10)
	go func() {
		for range 10 {
			p, err := ep.Read()
			if err != nil {
				close(got)
				return
			}
			got <- seqOf(p)
			p.Release()
		}
	}()
	testkit.Eventually(t, waitLong, func() bool { return r.rx.waiting.Load() == 1 }, "reader parked")
	assert.Zero(t, r.Stats().FramesIn, "read before Start")
	r.Start()
	r.Start() // idempotent
	for i := range 10 {
		assert.Equal(t, uint32(i), <-got)
	}
	assert.Zero(t, r.Stats().Misses)
}

// TestPausedRelayClose: a relay closed before it was started closes.
func TestPausedRelayClose(t *testing.T) {
	f := testkit.NewFakeIO()
	r := New(f, Config{Paused: true})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	require.NoError(t, r.Close())
	<-r.Done()
	_, err := ep.Read()
	assert.ErrorIs(t, err, errClosed)
	r.Start() // after Close: nothing
	assert.Equal(t, 1, f.Closes())
}
