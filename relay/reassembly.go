package relay

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/frame"
)

// Defaults for ReassemblyConfig, Linux's (net.ipv4.ipfrag_high_thresh,
// ipfrag_time, net.ipv6.ip6frag_time).
const (
	DefaultReassemblyBudget = 4 << 20
	DefaultReassemblyV4     = 30 * time.Second
	DefaultReassemblyV6     = 60 * time.Second
)

// ReassemblyConfig tunes the relay's IP reassembly (Relay.Reassemble).
type ReassemblyConfig struct {
	// Budget bounds, in bytes, what incomplete datagrams pin together: the
	// buffers of their fragments (counted as for Config.QueueBytes) and
	// their bookkeeping (default DefaultReassemblyBudget). A fragment that
	// would pass it evicts the oldest incomplete datagrams. Below 0:
	// reassembly is off and every fragment is dropped.
	Budget int64
	// TimeoutV4 and TimeoutV6 bound how long an incomplete datagram waits
	// for its missing fragments (defaults DefaultReassemblyV4, V6).
	TimeoutV4, TimeoutV6 time.Duration
}

// ReassemblyStats are the counters of Relay.Reassemble.
type ReassemblyStats struct {
	Fragments   uint64 // fragments handed to Reassemble
	Reassembled uint64 // datagrams put back together
	Timeouts    uint64 // incomplete datagrams dropped at their timeout
	Overlaps    uint64 // datagrams dropped for overlapping fragments (RFC 5722)
	Duplicates  uint64 // fragments dropped as copies of data already held
	Evicted     uint64 // incomplete datagrams dropped, oldest first, to keep within Budget
	// Invalid counts fragments dropped for a bad IPv4 header checksum or
	// for fields no datagram can have
	// (and, where Linux drops the datagram for them, the datagram with
	// them): data past 64 KiB, a last fragment that disagrees with the
	// others, an empty fragment, an IPv6 first fragment of UDP without the
	// whole UDP header (RFC 7112), more than 1,024 fragments; and the
	// fragments that come while reassembly is off (Budget < 0) or the
	// relay closed.
	Invalid uint64
	Pinned  int64 // bytes held now
}

// maxPieces bounds the fragments one datagram may be cut in: enough for the
// largest datagram over an MTU of 120 bytes (IPv6's minimum is 1,280, and
// 64 KiB over 1,500 is 45). Pieces are kept sorted in a slice, and this
// keeps a hostile order's insertions cheap: at most 1,024 moves of 32
// bytes each, where 8,192 eight-byte fragments in reverse could move a
// gigabyte for one datagram.
const maxPieces = 1024

// Bookkeeping charged to the budget besides the fragments' buffers.
const (
	fragQueueCost = 192
	fragPieceCost = 48
)

// reassembler is the relay's IP reassembly: one budget for all its
// endpoints, as Linux has one per network namespace.
type reassembler struct {
	mu     sync.Mutex
	cfg    ReassemblyConfig
	m      map[fragKey]*fragQueue
	v4, v6 fragList
	pinned int64
	// timer fires at the oldest deadline; there is none while nothing is
	// incomplete, so that an idle relay costs nothing.
	timer *time.Timer
	armed time.Time // when timer fires; zero when it is not set
	// free holds dropped queues for reuse, with their pieces' room, so
	// that steady reassembly allocates nothing per datagram.
	free   []*fragQueue
	closed bool
	st     struct {
		fragments, reassembled, timeouts, overlaps atomic.Uint64
		duplicates, evicted, invalid               atomic.Uint64
		pinned                                     atomic.Int64
	}
}

func (ra *reassembler) init(cfg ReassemblyConfig) {
	if cfg.Budget == 0 {
		cfg.Budget = DefaultReassemblyBudget
	}
	if cfg.TimeoutV4 <= 0 {
		cfg.TimeoutV4 = DefaultReassemblyV4
	}
	if cfg.TimeoutV6 <= 0 {
		cfg.TimeoutV6 = DefaultReassemblyV6
	}
	ra.cfg = cfg
	// Made stopped, so that arm only ever resets it.
	ra.timer = time.AfterFunc(time.Hour, ra.expire)
	ra.timer.Stop()
}

func (ra *reassembler) stats() ReassemblyStats {
	return ReassemblyStats{
		Fragments: ra.st.fragments.Load(), Reassembled: ra.st.reassembled.Load(),
		Timeouts: ra.st.timeouts.Load(), Overlaps: ra.st.overlaps.Load(),
		Duplicates: ra.st.duplicates.Load(), Evicted: ra.st.evicted.Load(),
		Invalid: ra.st.invalid.Load(), Pinned: ra.st.pinned.Load(),
	}
}

// Reassemble takes p, a received IP fragment (p.Info.Fragment), and returns
// the whole datagram once its last missing fragment came, as a new Packet
// parsed as received unfragmented, holding one reference for the caller;
// until then, or when the fragment was dropped, nil. The reassembler keeps
// its own reference to p; the caller's stays the caller's. It is how a
// layer that handles an IP protocol (rudp for UDP) gets whole datagrams;
// all endpoints of the relay share it and its ReassemblyConfig budget.
//
// As Linux does: overlapping fragments drop the whole datagram (RFC 5722;
// Linux does the same for IPv4), exact copies of data held are dropped
// alone, a datagram still incomplete at its timeout is dropped, the first
// fragment's IP header (and IPv6 extension headers before the Fragment
// header) makes the datagram's, and IPv4 fragments that are not the last
// are cut to a multiple of 8 bytes. Unlike Linux, which refuses new
// fragments while over its budget, the oldest incomplete datagrams are
// evicted, so that a flood of fragments that never complete cannot keep
// others from reassembling; and no ICMP time exceeded is sent.
func (r *Relay) Reassemble(p *Packet) *Packet { return r.frag.add(p, nil) }

// add is Reassemble for the fragments that owner (nil: Relay.Reassemble's
// callers) received. Each owner's are reassembled apart: a group frame
// goes to every endpoint that takes it, and each of them must get the
// datagram, not the first alone with the others' copies taken for
// duplicates.
func (ra *reassembler) add(p *Packet, owner *Endpoint) *Packet {
	ra.st.fragments.Add(1)
	in := &p.Info
	b := p.Frame()
	f, err := frame.ParseFragment(b, in)
	n := f.DataEnd - f.Data
	if err != nil || ra.cfg.Budget < 0 || (in.IPVersion == 4 && !frame.IPv4ChecksumOK(b, in)) ||
		(in.IPVersion == 6 && f.Offset == 0 && in.Proto == frame.ProtoUDP && in.L4+frame.UDPLen > in.End) {
		ra.st.invalid.Add(1)
		return nil
	}
	k := fragKey{owner: owner, link: in.Key, id: f.ID, proto: f.Next, v6: in.IPVersion == 6}
	copy(k.src[:], in.SrcIP(b))
	copy(k.dst[:], in.DstIP(b))
	cost := int64(len(p.buf)) + fragPieceCost

	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.closed {
		ra.st.invalid.Add(1)
		return nil
	}
	q := ra.m[k]
	if n == 0 { // Linux drops the datagram for an empty fragment
		ra.st.invalid.Add(1)
		if q != nil {
			ra.drop(q)
		}
		return nil
	}
	if q == nil {
		q = ra.newQueue(k)
		cost += fragQueueCost
	}
	end := f.Offset + n
	last := -1
	if len(q.pieces) > 0 {
		last = q.pieces[len(q.pieces)-1].end
	}
	switch {
	case !f.More && ((q.size >= 0 && end != q.size) || end < last):
		ra.st.invalid.Add(1) // a second, different end
		ra.drop(q)
		return nil
	case f.More && q.size >= 0 && end > q.size:
		ra.st.invalid.Add(1) // data past the end
		ra.drop(q)
		return nil
	}
	i, ok := ra.place(q, f.Offset, end)
	if !ok {
		return nil
	}
	if len(q.pieces) >= maxPieces {
		ra.st.invalid.Add(1)
		ra.drop(q)
		return nil
	}
	if !ra.fit(q, cost) {
		ra.st.evicted.Add(1)
		ra.drop(q)
		return nil
	}
	if !f.More {
		q.size = end
	}
	if f.Offset == 0 {
		q.first = f
	}
	p.Retain()
	q.pieces = slices.Insert(q.pieces, i, piece{start: f.Offset, end: end, data: f.Data, p: p})
	q.have += n
	q.pinned += cost
	ra.pin(cost)
	if q.size < 0 || q.have != q.size {
		return nil
	}
	whole := ra.assemble(q)
	ra.drop(q)
	return whole
}

// place finds where a fragment of [start, end) goes among q's pieces. A
// fragment wholly inside data already held is a duplicate: dropped alone.
// One that overlaps partly drops the whole datagram.
func (ra *reassembler) place(q *fragQueue, start, end int) (int, bool) {
	ps := q.pieces
	i, _ := slices.BinarySearchFunc(ps, start, func(p piece, s int) int {
		if p.end <= s {
			return -1
		}
		return 1
	})
	if i == len(ps) || ps[i].start >= end {
		return i, true // clear of every piece
	}
	// Covered without a gap from start to end?
	covered := ps[i].start <= start
	for j := i; covered && j < len(ps) && ps[j].end < end; j++ {
		covered = j+1 < len(ps) && ps[j+1].start == ps[j].end
	}
	if covered {
		ra.st.duplicates.Add(1)
	} else {
		ra.st.overlaps.Add(1)
		ra.drop(q)
	}
	return 0, false
}

// fit evicts the oldest incomplete datagrams other than q until cost more
// bytes fit the budget, and reports whether they do.
func (ra *reassembler) fit(q *fragQueue, cost int64) bool {
	for ra.pinned+cost > ra.cfg.Budget {
		old := ra.oldest(q)
		if old == nil {
			return false
		}
		ra.st.evicted.Add(1)
		ra.drop(old)
	}
	return true
}

// oldest returns the incomplete datagram that came first, not q.
func (ra *reassembler) oldest(q *fragQueue) *fragQueue {
	pick := func(l *fragList) *fragQueue {
		o := l.head
		if o == q {
			o = o.next
		}
		return o
	}
	a, b := pick(&ra.v4), pick(&ra.v6)
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	// Deadlines minus the family's timeout give the arrival times.
	if a.deadline.Add(-ra.cfg.TimeoutV4).Before(b.deadline.Add(-ra.cfg.TimeoutV6)) {
		return a
	}
	return b
}

// assemble copies q's complete data behind the first fragment's headers.
func (ra *reassembler) assemble(q *fragQueue) *Packet {
	f0 := q.pieces[0]
	hdr := q.first.Unfrag
	total := hdr + q.size
	if total > MaxReassembledLen {
		ra.st.invalid.Add(1)
		return nil
	}
	out := getPacketFor(total)
	copy(out.buf, f0.p.buf[:hdr])
	for _, pc := range q.pieces {
		copy(out.buf[hdr+pc.start:], pc.p.buf[pc.data:pc.data+pc.end-pc.start])
	}
	frame.PutReassembled(out.buf[:total], f0.p.Info.L3, &q.first, q.size)
	out.n, out.reasm = total, true
	if err := frame.Parse(out.Frame(), &out.Info); err != nil || out.Info.Fragment {
		ra.st.invalid.Add(1)
		out.Release()
		return nil
	}
	ra.st.reassembled.Add(1)
	return out
}
