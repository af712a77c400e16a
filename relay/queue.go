package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/etherconn/etherconn/internal/deadline"
)

// minQueueCap is the size of the ring a queue keeps inline: endpoints start
// with it and grow only when more packets wait, so 100,000 idle endpoints
// cost no separate queue memory and a short queue no extra cache miss.
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
// The zero Queue is not usable; call Init. A Queue must not be copied after
// Init.
type Queue struct {
	mu      sync.Mutex
	head    int32
	n       int32
	limit   int32
	waiters int32 // readers blocked in Pop: only they need a wake-up
	closed  bool
	ring    []*Packet
	small   [minQueueCap]*Packet
	notify  chan struct{} // capacity 1, made when a reader first waits
	ended   error         // set when the input ended; readers drain first
	dl      deadline.Read
}

// Init prepares q to hold up to limit packets; a limit below 1 makes a
// queue that holds nothing (every Push fails).
func (q *Queue) Init(limit int) {
	q.limit = int32(max(0, min(limit, 1<<30)))
}

// wakeLocked returns the channel to signal if a reader waits, else nil;
// signalling outside the lock keeps the critical section short, and not
// signalling at all when nobody waits keeps the channel out of the cache.
func (q *Queue) wakeLocked() chan struct{} {
	if q.waiters > 0 {
		return q.notify
	}
	return nil
}

func send(ch chan struct{}) {
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (q *Queue) wake() {
	q.mu.Lock()
	ch := q.wakeLocked()
	q.mu.Unlock()
	send(ch)
}

// Push adds p, retaining it, and reports whether there was room. A closed
// queue accepts nothing.
func (q *Queue) Push(p *Packet) bool {
	q.mu.Lock()
	if q.closed || q.ended != nil || q.n == q.limit {
		q.mu.Unlock()
		return false
	}
	if int(q.n) == len(q.ring) {
		q.grow()
	}
	// Retain before the packet is visible: a reader may pop and release it
	// as soon as the lock is dropped.
	p.Retain()
	q.ring[(int(q.head)+int(q.n))%len(q.ring)] = p
	q.n++
	ch := q.wakeLocked()
	q.mu.Unlock()
	send(ch)
	return true
}

func (q *Queue) grow() {
	if len(q.ring) == 0 {
		q.ring, q.head = q.small[:min(minQueueCap, int(q.limit))], 0
		return
	}
	c := min(2*len(q.ring), int(q.limit))
	ring := make([]*Packet, c)
	for i := 0; i < int(q.n); i++ {
		ring[i] = q.ring[(int(q.head)+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// popLocked removes the oldest packet; the queue must not be empty.
func (q *Queue) popLocked() *Packet {
	p := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = int32((int(q.head) + 1) % len(q.ring))
	q.n--
	return p
}

// Len returns how many packets are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.n)
}

// timeoutError is the error of a read past its deadline; it is
// os.ErrDeadlineExceeded so errors.Is and net.Error.Timeout both hold.
var timeoutError error = os.ErrDeadlineExceeded

// Pop removes the oldest packet, blocking until there is one, the read
// deadline passes (os.ErrDeadlineExceeded), the queue is closed
// (net.ErrClosed) or the input ended and the queue is drained (an error
// wrapping ErrInputEnded). The caller owns the returned packet's reference.
func (q *Queue) Pop() (*Packet, error) {
	waiting := false
	for {
		q.mu.Lock()
		if waiting {
			q.waiters--
			waiting = false
		}
		var (
			p   *Packet
			err error
		)
		switch {
		case q.closed: // before the deadline, as net.Conn does
			err = net.ErrClosed
		case q.dl.Exceeded():
			err = timeoutError
		case q.n > 0:
			p = q.popLocked()
		case q.ended != nil:
			err = q.ended
		default:
			if q.notify == nil {
				q.notify = make(chan struct{}, 1)
			}
			q.waiters++
			waiting = true
			ch := q.notify
			q.mu.Unlock()
			select {
			case <-ch:
			case <-q.dl.Wait():
			}
			continue
		}
		// Pass the wake-up on: another reader may wait for the same news
		// (close, deadline, end) or for the packets still queued.
		var ch chan struct{}
		if p == nil || q.n > 0 {
			ch = q.wakeLocked()
		}
		q.mu.Unlock()
		send(ch)
		return p, err
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
		ps[n] = q.popLocked()
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
	return q.popLocked()
}

// SetReadDeadline sets the deadline for Pop, as net.Conn does: zero means
// none, a time in the past makes Pop fail at once, and a new deadline
// applies to a Pop already blocked.
func (q *Queue) SetReadDeadline(t time.Time) {
	if q.dl.Set(t) {
		q.wake() // readers already waiting do not know the new channel
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
	ch := q.wakeLocked()
	q.mu.Unlock()
	send(ch)
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
	var drop []*Packet
	for q.n > 0 {
		drop = append(drop, q.popLocked())
	}
	ch := q.wakeLocked()
	q.mu.Unlock()
	for _, p := range drop {
		p.Release()
	}
	q.dl.Stop()
	send(ch)
}
