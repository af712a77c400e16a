package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/internal/deadline"
)

// minQueueCap is the size of the ring a queue keeps inline: endpoints start
// with it and grow only when more packets wait, so 100,000 idle endpoints
// cost no separate queue memory and a short queue no extra cache miss.
const minQueueCap = 4

// Queue is a bounded FIFO of Packets with net.Conn-style read deadlines. It
// is what endpoints, and protocol layers above them such as rudp, queue
// received packets in: a layer's Handler pushes, its readers pop. Push never
// blocks: a full queue drops the packet and reports it. The ring grows on
// demand up to its limit.
//
// Make one with Endpoint.NewQueue: a reader that finds it empty may then
// read the relay's PacketIO itself (see "Reader-led receive" in the package
// documentation).
type Queue struct {
	mu      sync.Mutex
	head    int32
	n       int32
	limit   int32
	bytes   int64 // what the queued packets pin (len of their buffers)
	maxB    int64 // limit in bytes
	waiters int32 // readers blocked in Pop: only they need a wake-up
	closed  bool
	leading bool // a reader of q is reading the PacketIO now (lead.go)
	kicked  bool // and something it must see happened meanwhile
	ring    []*Packet
	small   [minQueueCap]*Packet
	notify  chan struct{} // capacity 1, made when a reader first waits
	ended   error         // set when the input ended; readers drain first
	dl      deadline.Read
	src     *Relay // whose PacketIO a reader may read itself

	// sockErr is the pending error (SetError), taken once; atomic so that
	// a write checks it without the lock.
	sockErr atomic.Pointer[error]
}

// init prepares q to hold up to limit packets from r's PacketIO, and
// r's Config.QueueBytes; a limit below 1 makes a queue that holds nothing
// (every Push fails).
func (q *Queue) init(r *Relay, limit int) {
	q.limit = int32(max(0, min(limit, 1<<30)))
	q.maxB = DefaultQueueBytes
	if r != nil {
		q.maxB = int64(r.cfg.QueueBytes)
	}
	q.src = r
	q.dl.Notify((*deadlineKick)(q))
}

// deadlineKick is q as the deadline's Notifier: a reader reading the
// PacketIO for everyone does not wait on the deadline's channel, so a
// passing deadline must wake it there.
type deadlineKick Queue

func (k *deadlineKick) DeadlinePassed() { (*Queue)(k).wake() }

// wake is what to signal after a change to q: the channel if a reader
// waits (signalling outside the lock keeps the critical section short, and
// not signalling when nobody waits keeps the channel out of the cache), and
// a kick if q's reader is busy reading the PacketIO.
type wake struct {
	ch   chan struct{}
	kick *Relay
}

func (q *Queue) wakeLocked() wake {
	var w wake
	if q.waiters > 0 {
		w.ch = q.notify
	}
	if q.leading && !q.kicked {
		q.kicked = true
		w.kick = q.src
	}
	return w
}

func (w wake) send() {
	if w.ch != nil {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	if w.kick != nil {
		w.kick.kick()
	}
}

func (q *Queue) wake() {
	q.mu.Lock()
	w := q.wakeLocked()
	q.mu.Unlock()
	w.send()
}

// SetByteLimit sets the queue's limit in bytes (see Config.QueueBytes); 0
// or less restores the relay's. Packets already queued stay. It is what
// SO_RCVBUF is to a kernel socket.
func (q *Queue) SetByteLimit(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case n > 0:
		q.maxB = int64(n)
	case q.src != nil:
		q.maxB = int64(q.src.cfg.QueueBytes)
	default:
		q.maxB = DefaultQueueBytes
	}
}

// ByteLimit returns the queue's limit in bytes.
func (q *Queue) ByteLimit() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.maxB)
}

// Push adds p, retaining it, and reports whether there was room: in
// frames, in bytes (an empty queue takes one packet whatever its size, as
// a kernel socket does), and in the relay's Config.Budget. A closed queue
// accepts nothing.
func (q *Queue) Push(p *Packet) bool {
	size := int64(len(p.buf))
	q.mu.Lock()
	if q.closed || q.ended != nil || q.n == q.limit || (q.n > 0 && q.bytes+size > q.maxB) {
		q.mu.Unlock()
		return false
	}
	if r := q.src; r != nil && r.pinned.Add(size) > r.cfg.Budget {
		r.pinned.Add(-size)
		r.st.budgetDrops.Add(1)
		q.mu.Unlock()
		return false
	}
	q.bytes += size
	if int(q.n) == len(q.ring) {
		q.grow()
	}
	// Retain before the packet is visible: a reader may pop and release it
	// as soon as the lock is dropped.
	p.Retain()
	q.ring[(int(q.head)+int(q.n))%len(q.ring)] = p
	q.n++
	w := q.wakeLocked()
	q.mu.Unlock()
	w.send()
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
	size := int64(len(p.buf))
	q.bytes -= size
	if q.src != nil {
		q.src.pinned.Add(-size)
	}
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
// (net.ErrClosed), an error is set (SetError; returned once, before any
// queued packet) or the input ended and the queue is drained (an error
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
		case q.sockErr.Load() != nil: // before queued packets, as sk_err is
			e := q.sockErr.Swap(nil)
			if e == nil { // a writer took it meanwhile (TakeError)
				q.mu.Unlock()
				continue
			}
			err = *e
		case q.n > 0:
			p = q.popLocked()
		case q.ended != nil:
			err = q.ended
		case q.src != nil && q.src.tryLead():
			q.leading, q.kicked = true, false // what startLeading does
			q.mu.Unlock()
			q.src.lead(q)
			continue
		default:
			if q.notify == nil {
				q.notify = make(chan struct{}, 1)
			}
			q.waiters++
			waiting = true
			ch := q.notify
			q.mu.Unlock()
			if q.src != nil {
				q.src.parked(q)
			}
			select {
			case <-ch:
			case <-q.dl.Wait():
			}
			if q.src != nil {
				q.src.unparked()
			}
			continue
		}
		// Pass the wake-up on: another reader may wait for the same news
		// (close, deadline, end) or for the packets still queued.
		var w wake
		if p == nil || q.n > 0 {
			w = q.wakeLocked()
		}
		q.mu.Unlock()
		w.send()
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

// tryPop removes the oldest packet without blocking; nil when empty.
func (q *Queue) tryPop() *Packet {
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
	// A deadline that passes, now or later, reaches a reader reading the
	// PacketIO through DeadlinePassed.
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
	w := q.wakeLocked()
	q.mu.Unlock()
	w.send()
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
	q.sockErr.Store(nil) // a closed queue keeps no pending error (SetError)
	var drop []*Packet
	for q.n > 0 {
		drop = append(drop, q.popLocked())
	}
	w := q.wakeLocked()
	q.mu.Unlock()
	for _, p := range drop {
		p.Release()
	}
	q.dl.Stop()
	w.send()
}
