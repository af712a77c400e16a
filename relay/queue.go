package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// minQueueCap is the first allocation of a queue's ring: endpoints start
// without one, so 100,000 idle endpoints cost no queue memory.
const minQueueCap = 4

// ErrInputEnded reports that the relay's PacketIO stopped delivering frames
// (an offline capture ran out, an interface went away). It wraps the
// PacketIO's error, so errors.Is(err, io.EOF) holds at the end of a replay.
var ErrInputEnded = errors.New("relay: input ended")

// Queue is a bounded FIFO of Packets with net.Conn-style read deadlines. It
// is what endpoints, and protocol layers above them such as rudp, queue
// received packets in. Push never blocks: a full queue drops the packet and
// reports it. The ring grows on demand up to its limit.
//
// The zero Queue is not usable; call Init.
type Queue struct {
	mu     sync.Mutex
	ring   []*Packet
	head   int
	n      int
	limit  int
	closed bool
	ended  error         // set when the input ended; readers drain first
	notify chan struct{} // capacity 1: "something changed, look again"
	dl     deadline
}

// Init prepares q to hold up to limit packets.
func (q *Queue) Init(limit int) {
	if limit < 1 {
		limit = 1
	}
	q.limit = limit
	q.notify = make(chan struct{}, 1)
}

func (q *Queue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Push adds p, retaining it, and reports whether there was room. A closed
// queue accepts nothing.
func (q *Queue) Push(p *Packet) bool {
	q.mu.Lock()
	if q.closed || q.ended != nil || q.n == q.limit {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	// Retain before the packet is visible: a reader may pop and release it
	// as soon as the lock is dropped.
	p.Retain()
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *Queue) grow() {
	c := 2 * len(q.ring)
	if c < minQueueCap {
		c = minQueueCap
	}
	if c > q.limit {
		c = q.limit
	}
	ring := make([]*Packet, c)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// Len returns how many packets are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// timeoutError is the error of a read past its deadline; it is
// os.ErrDeadlineExceeded so errors.Is and net.Error.Timeout both hold.
var timeoutError error = os.ErrDeadlineExceeded

// Pop removes the oldest packet, blocking until there is one, the read
// deadline passes (os.ErrDeadlineExceeded), the queue is closed
// (net.ErrClosed) or the input ended and the queue is drained (an error
// wrapping ErrInputEnded). The caller owns the returned packet's reference.
func (q *Queue) Pop() (*Packet, error) {
	for {
		q.mu.Lock()
		switch {
		case q.closed: // before the deadline, as net.Conn does
			q.mu.Unlock()
			q.signal() // pass the news on to the next blocked reader
			return nil, net.ErrClosed
		case q.dl.exceeded():
			q.mu.Unlock()
			// Pass it on too: readers that blocked before the first
			// deadline was set wait without its channel.
			q.signal()
			return nil, timeoutError
		case q.n > 0:
			p := q.ring[q.head]
			q.ring[q.head] = nil
			q.head = (q.head + 1) % len(q.ring)
			q.n--
			more := q.n > 0
			q.mu.Unlock()
			if more {
				q.signal() // another reader may be waiting
			}
			return p, nil
		case q.ended != nil:
			err := q.ended
			q.mu.Unlock()
			q.signal()
			return nil, err
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-q.dl.wait():
		}
	}
}

// PopBatch blocks like Pop until at least one packet is queued, then moves
// as many queued packets as fit into ps, under one lock, and returns how
// many. The caller owns each returned packet's reference.
func (q *Queue) PopBatch(ps []*Packet) (int, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	p, err := q.Pop()
	if err != nil {
		return 0, err
	}
	ps[0] = p
	n := 1
	q.mu.Lock()
	for n < len(ps) && q.n > 0 && !q.closed {
		ps[n] = q.ring[q.head]
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		n++
	}
	q.mu.Unlock()
	return n, nil
}

// TryPop removes the oldest packet without blocking; nil when empty.
func (q *Queue) TryPop() *Packet {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.n == 0 {
		return nil
	}
	p := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return p
}

// SetReadDeadline sets the deadline for Pop, as net.Conn does: zero means
// none, a time in the past makes Pop fail at once, and a new deadline
// applies to a Pop already blocked.
func (q *Queue) SetReadDeadline(t time.Time) {
	if q.dl.set(t) {
		q.signal()
	}
}

// End marks the input as ended with err: readers drain what is queued, then
// get err wrapped in ErrInputEnded.
func (q *Queue) End(err error) {
	q.mu.Lock()
	if q.ended == nil && !q.closed {
		if !errors.Is(err, ErrInputEnded) {
			err = fmt.Errorf("%w: %w", ErrInputEnded, err)
		}
		q.ended = err
	}
	q.mu.Unlock()
	q.signal()
}

// Close drops what is queued and unblocks readers with net.ErrClosed. It is
// idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	ring, head, n := q.ring, q.head, q.n
	q.ring, q.n = nil, 0
	q.mu.Unlock()
	for i := 0; i < n; i++ {
		ring[(head+i)%len(ring)].Release()
	}
	q.dl.stop()
	q.signal()
}
