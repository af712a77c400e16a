package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

type popResult struct {
	p   *Packet
	err error
}

// popAsync starts a Pop and returns where its result arrives.
func popAsync(pop func() (*Packet, error)) <-chan popResult {
	return testkit.Go(func() popResult {
		p, err := pop()
		return popResult{p, err}
	})
}

// settle gives a goroutine just started time to block. The tests below pass
// whether or not it has blocked by then; it only makes the interesting
// interleaving the likely one.
func settle() { time.Sleep(20 * time.Millisecond) }

// await returns the result of a Pop that popAsync started, failing the
// test if it has not returned within waitLong.
func await(t *testing.T, ch <-chan popResult) popResult {
	t.Helper()
	return testkit.Await(t, ch, waitLong, "Pop did not return")
}

func assertPending(t *testing.T, ch <-chan popResult, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Pop returned early: %v, %v", r.p, r.err)
	case <-time.After(d):
	}
}

// pushWakes checks that the Pop ch is still blocked after d, then that a
// packet with seq pushed to q wakes it with that packet.
func pushWakes(t *testing.T, q *Queue, ch <-chan popResult, d time.Duration, seq uint32) {
	t.Helper()
	assertPending(t, ch, d)
	p := pkt(seq)
	require.True(t, q.Push(p))
	p.Release()
	res := await(t, ch)
	require.NoError(t, res.err)
	assert.Equal(t, seq, seqOf(res.p))
	res.p.Release()
}

func assertTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
}

func newQueue(limit int) *Queue {
	q := new(Queue)
	q.init(nil, limit)
	return q
}

func pkt(seq uint32) *Packet {
	p := getPacket()
	p.n = copy(p.buf, seqFrame(macA, macR, nil, etExp1, seq))
	if err := frame.Parse(p.Frame(), &p.Info); err != nil {
		panic(err)
	}
	return p
}

func TestQueueFIFO(t *testing.T) {
	q := newQueue(5)
	// Push and pop around the ring several times, across its growth.
	next, want := uint32(0), uint32(0)
	for round := range 20 {
		for range round%5 + 1 {
			p := pkt(next)
			require.True(t, q.Push(p))
			p.Release() // the queue holds its own reference
			next++
		}
		assert.Equal(t, round%5+1, q.Len())
		for q.Len() > 0 {
			p, err := q.Pop()
			require.NoError(t, err)
			assert.Equal(t, want, seqOf(p))
			assert.Equal(t, int32(1), p.refs.Load())
			p.Release()
			want++
		}
	}
	assert.Nil(t, q.tryPop())
}

func TestQueueLimit(t *testing.T) {
	for _, limit := range []int{-1, 0, 1, 3, 4, 5, 9} {
		q := newQueue(limit)
		want := max(limit, 0) // below 1: a queue that holds nothing
		for i := range want {
			assert.True(t, q.Push(pkt(uint32(i))))
		}
		p := pkt(99)
		assert.False(t, q.Push(p), "limit %d", limit)
		assert.Equal(t, int32(1), p.refs.Load(), "a refused packet is not retained")
		assert.Equal(t, want, q.Len())
		q.Close()
		assert.Zero(t, q.Len())
		assert.False(t, q.Push(p), "closed")
		assert.Nil(t, q.tryPop())
	}
}

func TestQueueCloseReleases(t *testing.T) {
	q := newQueue(4)
	p := pkt(1)
	require.True(t, q.Push(p))
	assert.Equal(t, int32(2), p.refs.Load())
	q.Close()
	assert.Equal(t, int32(1), p.refs.Load())
	q.Close() // idempotent
	p.Release()
}

func TestDeadlinePast(t *testing.T) {
	q := newQueue(4)
	q.SetReadDeadline(time.Now().Add(-time.Second))
	start := time.Now()
	_, err := q.Pop()
	assertTimeout(t, err)
	assert.Less(t, time.Since(start), waitLong)

	// Even with a packet queued, as net.Conn does; the packet stays.
	require.True(t, q.Push(pkt(1)))
	_, err = q.Pop()
	assertTimeout(t, err)
	assert.Equal(t, 1, q.Len())

	// Clearing the deadline makes it readable again.
	q.SetReadDeadline(time.Time{})
	p, err := q.Pop()
	require.NoError(t, err)
	p.Release()
	p.Release()

	// Any time before now counts, including the zero Unix time.
	q.SetReadDeadline(time.Unix(1, 0))
	_, err = q.Pop()
	assertTimeout(t, err)
	q.Close()
}

// TestDeadlineSetWhileBlocked: a deadline set, moved or cleared while
// readers are blocked applies to them at once.
func TestDeadlineSetWhileBlocked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  time.Duration // the deadline before the reads start, from now; 0: none
		readers int
		set     time.Duration // the deadline set while they are blocked, from now
	}{
		{"first deadline", 0, 1, 10 * time.Millisecond},
		{"first deadline in the past", 0, 1, -time.Second},
		{"shortened", time.Hour, 1, 10 * time.Millisecond},
		{"several readers", 0, 3, 5 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(4)
			defer q.Close()
			if tc.before != 0 {
				q.SetReadDeadline(time.Now().Add(tc.before))
			}
			chs := make([]<-chan popResult, tc.readers)
			for i := range chs {
				chs[i] = popAsync(q.Pop)
			}
			settle()
			q.SetReadDeadline(time.Now().Add(tc.set))
			for _, ch := range chs {
				assertTimeout(t, await(t, ch).err)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		later func() time.Time // the deadline that replaces a close one
		seq   uint32
	}{
		{"extended", func() time.Time { return time.Now().Add(time.Hour) }, 7},
		{"cleared", func() time.Time { return time.Time{} }, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(4)
			defer q.Close()
			q.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			ch := popAsync(q.Pop)
			q.SetReadDeadline(tc.later())
			pushWakes(t, q, ch, 300*time.Millisecond, tc.seq) // past the first deadline
		})
	}
	t.Run("renewed after expiry", func(t *testing.T) {
		q := newQueue(4)
		defer q.Close()
		q.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, err := q.Pop()
		assertTimeout(t, err)
		q.SetReadDeadline(time.Now().Add(time.Hour))
		pushWakes(t, q, popAsync(q.Pop), 30*time.Millisecond, 9)
		// And it times out again when set to expire.
		q.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, err = q.Pop()
		assertTimeout(t, err)
	})
}

func TestDeadlineRepeatedSets(t *testing.T) {
	// Many sets in a row, some racing the timer: the last one rules.
	q := newQueue(4)
	defer q.Close()
	for i := range 200 {
		q.SetReadDeadline(time.Now().Add(time.Duration(i%3) * time.Microsecond))
	}
	q.SetReadDeadline(time.Now().Add(time.Hour))
	time.Sleep(5 * time.Millisecond)
	require.True(t, q.Push(pkt(1)))
	p, err := q.Pop()
	require.NoError(t, err, "an earlier, shorter deadline must not fire")
	p.Release()
	p.Release()
}

func TestQueueCloseUnblocks(t *testing.T) {
	q := newQueue(4)
	chs := []<-chan popResult{popAsync(q.Pop), popAsync(q.Pop)}
	settle()
	q.Close()
	for _, ch := range chs {
		assert.ErrorIs(t, await(t, ch).err, net.ErrClosed)
	}
	_, err := q.Pop()
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestQueueClosedWinsOverDeadline(t *testing.T) {
	q := newQueue(4)
	q.SetReadDeadline(time.Now().Add(-time.Second))
	q.Close()
	_, err := q.Pop()
	assert.ErrorIs(t, err, net.ErrClosed, "a closed queue reports closed, as net.Conn does")
}

func TestQueueEnd(t *testing.T) {
	q := newQueue(4)
	require.True(t, q.Push(pkt(1)))
	require.True(t, q.Push(pkt(2)))
	q.End(io.EOF)
	assert.False(t, q.Push(pkt(3)), "nothing after the end")
	for _, want := range []uint32{1, 2} {
		p, err := q.Pop()
		require.NoError(t, err, "queued packets are drained first")
		assert.Equal(t, want, seqOf(p))
		p.Release()
		p.Release()
	}
	for range 2 {
		_, err := q.Pop()
		assert.ErrorIs(t, err, ErrInputEnded)
		assert.ErrorIs(t, err, io.EOF)
	}
	q.End(errors.New("later")) // the first end wins
	_, err := q.Pop()
	assert.ErrorIs(t, err, io.EOF)
	q.Close()
	_, err = q.Pop()
	assert.ErrorIs(t, err, net.ErrClosed)

	// Blocked readers are woken by End.
	q = newQueue(4)
	chs := []<-chan popResult{popAsync(q.Pop), popAsync(q.Pop)}
	settle()
	q.End(io.ErrUnexpectedEOF)
	for _, ch := range chs {
		err := await(t, ch).err
		assert.ErrorIs(t, err, ErrInputEnded)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	}
	q.Close()
}

func TestEndpointDeadlineAndClose(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})

	ep.SetReadDeadline(time.Now().Add(-time.Millisecond))
	_, err := ep.Read()
	assertTimeout(t, err)

	ep.SetReadDeadline(time.Time{})
	ch := popAsync(ep.Read)
	settle()
	ep.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	assertTimeout(t, await(t, ch).err)

	ep.SetReadDeadline(time.Time{})
	inject(r, seqFrame(macA, macR, nil, etExp1, 1))
	assert.Equal(t, 1, ep.Queued())
	p, err := ep.Read()
	require.NoError(t, err)
	p.Release()

	ch = popAsync(ep.Read)
	settle()
	require.NoError(t, ep.Close())
	assert.ErrorIs(t, await(t, ch).err, net.ErrClosed)
	require.NoError(t, ep.Close(), "idempotent")
	_, err = ep.Read()
	assert.ErrorIs(t, err, net.ErrClosed)

	// Its key is free again, and frames for it are misses meanwhile.
	inject(r, seqFrame(macA, macR, nil, etExp1, 2))
	assert.Equal(t, uint64(1), r.Stats().Misses)
	ep2 := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	inject(r, seqFrame(macA, macR, nil, etExp1, 3))
	assert.Len(t, popAll(ep2), 1)
	assert.Nil(t, r.tab.holder(frame.Key{MAC: macB, EtherType: etExp1}))
	// Closing the old endpoint again must not unregister the new one.
	require.NoError(t, ep.Close())
	inject(r, seqFrame(macA, macR, nil, etExp1, 4))
	assert.Len(t, popAll(ep2), 1)
}

func TestRelayClose(t *testing.T) {
	r, wire := newWire(t, Config{}, memioBig)
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1), Broadcast: true})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	def, err := r.RegisterDefault(DefaultEndpointConfig{})
	require.NoError(t, err)
	// Something queued that Close must release.
	require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, 1)))
	require.Eventually(t, func() bool { return b.Queued() == 1 }, waitLong, time.Millisecond)

	chs := []<-chan popResult{popAsync(a.Read), popAsync(a.Read), popAsync(def.Read)}
	settle()
	var wg sync.WaitGroup
	for range 3 { // concurrent Close calls
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, r.Close())
		}()
	}
	wg.Wait()
	for _, ch := range chs {
		assert.ErrorIs(t, await(t, ch).err, net.ErrClosed)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	assert.NoError(t, r.Err(), "Close is not an input failure")
	assert.Zero(t, b.Queued())
	_, err = b.Read()
	assert.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, r.Close(), "idempotent")
	require.NoError(t, a.Close(), "closing an endpoint after its relay is fine")

	_, err = r.Register(EndpointConfig{MAC: macC, EtherTypes: ets(etExp1)})
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = r.RegisterDefault(DefaultEndpointConfig{})
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, r.Send(seqFrame(macR, macA, nil, etExp1, 1)), net.ErrClosed)
}

// TestDeadlineStaleTimer moves deadlines while their timer is about to fire:
// a timer firing for a deadline that was since extended must not expire the
// new one, and one without a monotonic reading still fires.
func TestDeadlineStaleTimer(t *testing.T) {
	q := newQueue(4)
	defer q.Close()
	for i := range 300 {
		q.SetReadDeadline(time.Now().Add(time.Duration(i%50) * time.Microsecond))
		time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
		q.SetReadDeadline(time.Now().Add(time.Hour))
		require.False(t, q.dl.Exceeded(), "iteration %d", i)
	}
	time.Sleep(2 * time.Millisecond) // let any stale timer run
	require.False(t, q.dl.Exceeded())

	q.SetReadDeadline(time.Now().Round(0).Add(10 * time.Millisecond)) // wall clock only
	ch := popAsync(q.Pop)
	assertTimeout(t, await(t, ch).err)
}

func TestQueuePopBatch(t *testing.T) {
	q := newQueue(8)
	ps := make([]*Packet, 3)
	n, err := q.PopBatch(ps[:0])
	assert.Zero(t, n)
	assert.NoError(t, err)

	for i := range 5 {
		p := pkt(uint32(i))
		require.True(t, q.Push(p))
		p.Release()
	}
	var got []uint32
	for len(got) < 5 {
		n, err := q.PopBatch(ps)
		require.NoError(t, err)
		require.Positive(t, n)
		for _, p := range ps[:n] {
			got = append(got, seqOf(p))
			p.Release()
		}
	}
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, got)

	// Blocks until something comes, and honours the deadline.
	ch := popAsync(func() (*Packet, error) {
		n, err := q.PopBatch(ps)
		if err != nil {
			return nil, err
		}
		for _, p := range ps[1:n] {
			p.Release()
		}
		return ps[0], nil
	})
	pushWakes(t, q, ch, 20*time.Millisecond, 9)

	q.SetReadDeadline(time.Now().Add(-time.Second))
	_, err = q.PopBatch(ps)
	assertTimeout(t, err)
	q.Close()
	_, err = q.PopBatch(ps)
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestEndpointReadBatch(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	for i := range 4 {
		inject(r, seqFrame(macA, macR, nil, etExp1, uint32(i)))
	}
	ps := make([]*Packet, 8)
	n, err := ep.ReadBatch(ps)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	for i, p := range ps[:n] {
		assert.Equal(t, uint32(i), seqOf(p))
		p.Release()
	}
}

// TestPushRetainsBeforePublishing checks that a packet another goroutine
// pops already carries the queue's reference: while the pusher still holds
// its own, the popper must see at least two. (A Push that retained only
// after unlocking let a fast reader release the packet to the pool while
// the read loop still used it.) The packets here have no buffers and never
// go back to the pool.
func TestPushRetainsBeforePublishing(t *testing.T) {
	const n = 10000
	rounds := 10
	if testkit.RaceEnabled {
		rounds = 2
	}
	bad := 0
	for range rounds {
		q := newQueue(n)
		pkts := make([]Packet, n)
		seen := make(chan []int32)
		go func() {
			refs := make([]int32, 0, n)
			for len(refs) < n {
				if p := q.tryPop(); p != nil {
					refs = append(refs, p.refs.Load())
				}
			}
			seen <- refs
		}()
		for i := range pkts {
			pkts[i].refs.Store(1)
			if !q.Push(&pkts[i]) {
				t.Fatal("queue full")
			}
		}
		for _, r := range <-seen {
			if r < 2 {
				bad++
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d packets were visible to a reader before Push retained them", bad, rounds*n)
	}
}

// TestQueueSetError: a pending error is returned once, before queued
// packets, by whichever comes first of Pop, PopBatch and TakeError, and
// wakes a blocked Pop.
func TestQueueSetError(t *testing.T) {
	errX := syscall.EHOSTUNREACH
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, q *Queue)
	}{
		{"pop takes it before a queued packet", func(t *testing.T, q *Queue) {
			p := pkt(1)
			require.True(t, q.Push(p))
			p.Release() // the queue holds its own reference
			q.SetError(errX)
			_, err := q.Pop()
			assert.ErrorIs(t, err, errX)
			p, err = q.Pop()
			require.NoError(t, err, "taken once")
			assert.Equal(t, uint32(1), seqOf(p))
			p.Release()
			assert.NoError(t, q.TakeError())
		}},
		{"pop batch", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			n, err := q.PopBatch(make([]*Packet, 4))
			assert.Zero(t, n)
			assert.ErrorIs(t, err, errX)
			assert.NoError(t, q.TakeError())
		}},
		{"take error first", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			assert.ErrorIs(t, q.TakeError(), errX)
			assert.NoError(t, q.TakeError())
			q.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := q.Pop()
			assertTimeout(t, err)
		}},
		{"wakes a blocked pop", func(t *testing.T, q *Queue) {
			ch := popAsync(q.Pop)
			assertPending(t, ch, 20*time.Millisecond)
			q.SetError(errX)
			assert.ErrorIs(t, await(t, ch).err, errX)
			pushWakes(t, q, popAsync(q.Pop), 20*time.Millisecond, 2)
		}},
		{"the last one wins, nil clears", func(t *testing.T, q *Queue) {
			q.SetError(syscall.ECONNREFUSED)
			q.SetError(errX)
			assert.ErrorIs(t, q.TakeError(), errX)
			q.SetError(errX)
			q.SetError(nil)
			assert.NoError(t, q.TakeError())
		}},
		{"a past deadline wins and leaves it", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			q.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := q.Pop()
			assertTimeout(t, err)
			assert.ErrorIs(t, q.TakeError(), errX)
		}},
		{"close drops one pending", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			q.Close()
			assert.NoError(t, q.TakeError())
		}},
		{"closed keeps none", func(t *testing.T, q *Queue) {
			q.Close()
			q.SetError(errX)
			assert.NoError(t, q.TakeError())
			_, err := q.Pop()
			assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(4)
			defer q.Close()
			tc.run(t, q)
		})
	}
}

// TestLeadingReaderSetError: a reader reading the PacketIO for everyone
// (reader-led receive) returns the error set meanwhile.
func TestLeadingReaderSetError(t *testing.T) {
	r, _, a := newLeadWire(t, Config{})
	q := a.NewQueue(0)
	res := popAsync(q.Pop)
	waitLeading(t, r)
	q.SetError(syscall.EHOSTUNREACH)
	assert.ErrorIs(t, await(t, res).err, syscall.EHOSTUNREACH)
}

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
