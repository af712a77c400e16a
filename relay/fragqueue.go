package relay

import (
	"time"

	"github.com/etherconn/etherconn/frame"
)

// The incomplete datagrams of the reassembler: how they are keyed and
// listed oldest first, made and reused, dropped, and timed out.

// fragKey identifies a datagram's fragments: the endpoint reassembling
// them, the link they came by (the frame's demux key), the addresses, the
// identification and protocol, as Linux keys them (ipq, frag_queue) within
// a network namespace.
type fragKey struct {
	owner    *Endpoint // whose fragments (Endpoint.Reassemble); nil for Relay.Reassemble
	link     frame.Key
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

// piece is one fragment held: its data is p.buf[data:data+end-start].
type piece struct {
	start, end, data int
	p                *Packet
}

// fragQueue is one incomplete datagram.
type fragQueue struct {
	key      fragKey
	pieces   []piece // sorted by start, disjoint
	size     int     // length of the fragmentable part; -1 until the last fragment came
	have     int     // data bytes held
	pinned   int64
	first    frame.Fragment // of the piece at offset 0, once it came
	deadline time.Time
	list     *fragList
	prev     *fragQueue
	next     *fragQueue
}

// fragList holds the incomplete datagrams of one family oldest first,
// which, with one timeout per family, is also deadline order.
type fragList struct{ head, tail *fragQueue }

func (l *fragList) push(q *fragQueue) {
	q.list, q.prev, q.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = q
	} else {
		l.head = q
	}
	l.tail = q
}

func (l *fragList) remove(q *fragQueue) {
	if q.prev != nil {
		q.prev.next = q.next
	} else {
		l.head = q.next
	}
	if q.next != nil {
		q.next.prev = q.prev
	} else {
		l.tail = q.prev
	}
	q.list, q.prev, q.next = nil, nil, nil
}

func (ra *reassembler) newQueue(k fragKey) *fragQueue {
	if ra.m == nil {
		ra.m = make(map[fragKey]*fragQueue)
	}
	var q *fragQueue
	if n := len(ra.free); n > 0 {
		q, ra.free = ra.free[n-1], ra.free[:n-1]
		*q = fragQueue{pieces: q.pieces[:0]}
	} else {
		q = &fragQueue{pieces: make([]piece, 0, 8)}
	}
	q.key, q.size = k, -1
	l, d := &ra.v4, ra.cfg.TimeoutV4
	if k.v6 {
		l, d = &ra.v6, ra.cfg.TimeoutV6
	}
	q.deadline = time.Now().Add(d)
	ra.m[k] = q
	l.push(q)
	if ra.armed.IsZero() || q.deadline.Before(ra.armed) {
		ra.arm()
	}
	return q
}

func (ra *reassembler) pin(n int64) {
	ra.pinned += n
	ra.st.pinned.Store(ra.pinned)
}

// drop forgets q and releases its fragments.
func (ra *reassembler) drop(q *fragQueue) {
	if q.list == nil {
		return // dropped already
	}
	q.list.remove(q)
	delete(ra.m, q.key)
	for _, pc := range q.pieces {
		pc.p.Release()
	}
	clear(q.pieces)
	q.pieces = q.pieces[:0]
	ra.pin(-q.pinned)
	if len(ra.free) < maxFreeQueues && cap(q.pieces) <= 64 {
		ra.free = append(ra.free, q)
	}
}

// maxFreeQueues bounds the queues kept for reuse.
const maxFreeQueues = 64

// arm sets the timer for the oldest deadline; ra.mu is held.
func (ra *reassembler) arm() {
	var next time.Time
	for _, l := range []*fragList{&ra.v4, &ra.v6} {
		if l.head != nil && (next.IsZero() || l.head.deadline.Before(next)) {
			next = l.head.deadline
		}
	}
	ra.armed = next
	if next.IsZero() || ra.closed {
		return
	}
	ra.timer.Reset(time.Until(next))
}

// expire drops the datagrams whose deadline passed.
func (ra *reassembler) expire() {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.armed = time.Time{}
	now := time.Now()
	for _, l := range []*fragList{&ra.v4, &ra.v6} {
		for l.head != nil && !l.head.deadline.After(now) {
			ra.st.timeouts.Add(1)
			ra.drop(l.head)
		}
	}
	ra.arm()
}

// close drops everything; later fragments are dropped.
func (ra *reassembler) close() {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.closed = true
	ra.timer.Stop()
	for _, l := range []*fragList{&ra.v4, &ra.v6} {
		for l.head != nil {
			ra.drop(l.head)
		}
	}
}
