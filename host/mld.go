package host

import (
	"container/heap"
	"iter"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// Multicast Listener Discovery (RFC 3810; RFC 2710 towards MLDv1
// queriers): a host reports the solicited-node groups of its IPv6
// addresses, as RFC 4861 §7.2.1 asks and Linux does, so that routers and
// MLD-snooping switches deliver the solicitations for its addresses to it.
// It never reports all-nodes (RFC 3810 §6).

// mldAllRouters is the MAC of ff02::16, where MLDv2 reports go.
var mldAllRouters, _ = frame.MulticastMAC(frame.AllMLDv2Routers)

// olderQuerierTimeout is how long a host answers in MLDv1 after it heard
// an MLDv1 query (RFC 3810 §9.12, with its defaults: robustness 2 times
// the 125 s query interval, plus the 10 s response interval).
const olderQuerierTimeout = 260 * time.Second

// The queries a segment acts on a second, general and group-specific
// apart, so that a flood of one kind does not starve the other: each
// costs a walk over its hosts (45–155 ms among 50,000), and a querier
// sends a general query every 125 s (RFC 3810 §9.2) and two
// group-specific ones after a listener leaves.
const (
	mldGeneralRate  = 2
	mldSpecificRate = 10
)

// mldGroups appends to dst the solicited-node groups of h's IPv6
// addresses, each once.
func (h *Host) mldGroups(dst []netip.Addr) []netip.Addr {
	for _, p := range *h.addrs.Load() {
		if a := p.Addr(); a.Is6() {
			if g := frame.SolicitedNode(a); !hasAddr(dst, g) {
				dst = append(dst, g)
			}
		}
	}
	return dst
}

func hasAddr(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

// linkLocal returns h's link-local address or, while it has none, the
// unspecified address: where its MLD messages come from (RFC 3590) and
// its router solicitations.
func (h *Host) linkLocal() netip.Addr {
	for _, p := range *h.addrs.Load() {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	return netip.IPv6Unspecified()
}

// sendMLD sends h's MLDv2 report of groups with record type rec, as few
// reports as the MTU allows; while an MLDv1 querier is about, an MLDv1
// report for each group instead, or a done message for a leave
// (MLDChangeToInclude).
func (h *Host) sendMLD(rec uint8, groups []netip.Addr) {
	if h.cfg.NoMLD || len(groups) == 0 {
		return
	}
	src := h.linkLocal()
	if h.seg.mld.v1Until.Load() > now() {
		for _, g := range groups {
			typ, dst := frame.MLDv1Report, g
			if rec == frame.MLDChangeToInclude {
				typ, dst = frame.MLDv1Done, frame.AllRouters
			}
			mac, _ := frame.MulticastMAC(dst)
			f := h.ec.NewFrame(mac, frame.EtherTypeIPv6)
			if n, err := frame.PutMLDv1(f.Payload(), src, typ, g); err == nil {
				h.seg.st.mldReports.Add(1)
				_ = h.ec.WriteFrame(f.Bytes(n))
			}
			f.Release()
		}
		return
	}
	per := (int(h.mtu) - frame.IPv6Len - frame.MLDHopByHopLen - frame.MLDReportLen(0)) / frame.MLDReportLen(1)
	for len(groups) > 0 {
		k := min(len(groups), per)
		f := h.ec.NewFrame(mldAllRouters, frame.EtherTypeIPv6)
		if n, err := frame.PutMLDv2Report(f.Payload(), src, rec, groups[:k]); err == nil {
			h.seg.st.mldReports.Add(1)
			_ = h.ec.WriteFrame(f.Bytes(n))
		}
		f.Release()
		groups = groups[k:]
	}
}

// joinGroups reports that h listens to groups, now and once more within a
// second (RFC 3810 §6.1: robustness 2, unsolicited report interval 1 s).
func (h *Host) joinGroups(groups []netip.Addr) {
	if h.cfg.NoMLD || len(groups) == 0 {
		return
	}
	h.sendMLD(frame.MLDChangeToExclude, groups)
	g := netip.Addr{}
	if len(groups) == 1 {
		g = groups[0]
	}
	h.seg.mld.schedule(h, now()+rand.Int64N(int64(time.Second)), g, true)
}

// mldResponder answers the queries the segment receives for its hosts:
// each host's report is due at a random time within the query's maximum
// response delay (RFC 3810 §6.2), and one timer sends the reports that
// are due. A host has at most one report pending: a later query moves it
// earlier, never later, and a report for another group becomes one of all
// the host's groups.
type mldResponder struct {
	mu    sync.Mutex
	due   map[*Host]mldDue // nil while nothing is due, so an idle segment keeps no map
	order mldHeap
	timer *time.Timer
	armed int64 // when timer fires; 0 while it is stopped
	// general and specific bound the queries acted on a second.
	general, specific tokenBucket
	// v1Until is when the last MLDv1 querier heard stops counting, in
	// Unix ns (olderQuerierTimeout).
	v1Until atomic.Int64
	fire    func()
	closed  bool
}

// mldDue is a pending report: of group, or of all the host's groups when
// group is the zero Addr; a state change (the repeat of a join) or, when
// it answers a query or stands for both, the current state.
type mldDue struct {
	h      *Host
	at     int64
	group  netip.Addr
	change bool
}

type mldHeap []mldDue

func (q mldHeap) Len() int           { return len(q) }
func (q mldHeap) Less(i, j int) bool { return q[i].at < q[j].at }
func (q mldHeap) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *mldHeap) Push(x any)        { *q = append(*q, x.(mldDue)) }
func (q *mldHeap) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (m *mldResponder) init() {
	m.general.init(mldGeneralRate)
	m.specific.init(mldSpecificRate)
	m.fire = m.send
}

// schedule makes h's report of group due at (Unix ns), unless one is due
// sooner; a pending report of another group becomes one of all groups,
// and one of another kind a current-state report.
func (m *mldResponder) schedule(h *Host, at int64, group netip.Addr, change bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if d, ok := m.due[h]; ok {
		if d.group != group {
			d.group = netip.Addr{}
		}
		d.change = d.change && change
		if d.at <= at {
			m.due[h] = d
			return
		}
		group, change = d.group, d.change
	}
	if m.due == nil {
		m.due = make(map[*Host]mldDue)
	}
	d := mldDue{h, at, group, change}
	m.due[h] = d
	heap.Push(&m.order, d)
	m.compact()
	if m.armed == 0 || at < m.armed {
		m.armed = at
		wait := time.Duration(at - now())
		if m.timer == nil {
			m.timer = time.AfterFunc(wait, m.fire)
		} else {
			m.timer.Reset(wait)
		}
	}
}

// send is the timer: it sends the reports that are due and sets the timer
// for the next.
func (m *mldResponder) send() {
	m.mu.Lock()
	t := now()
	// Its own slice each time: two runs of the timer may overlap.
	var batch []mldDue
	for len(m.order) > 0 && m.order[0].at <= t {
		d := heap.Pop(&m.order).(mldDue)
		if cur, ok := m.due[d.h]; ok && cur.at == d.at {
			delete(m.due, d.h)
			batch = append(batch, cur)
		}
	}
	m.armed = 0
	if len(m.order) > 0 && !m.closed {
		m.armed = m.order[0].at
		m.timer.Reset(time.Duration(m.armed - t))
	}
	m.compact()
	m.mu.Unlock()
	var groups [8]netip.Addr
	for _, d := range batch {
		h := d.h
		if h.done.Load() {
			continue
		}
		gs := h.mldGroups(groups[:0])
		if d.group.IsValid() {
			if !hasAddr(gs, d.group) {
				continue
			}
			gs = append(groups[:0], d.group)
		}
		rec := frame.MLDIsExclude
		if d.change {
			rec = frame.MLDChangeToExclude
		}
		h.sendMLD(rec, gs)
	}
}

// compact rebuilds the heap before superseded entries, which stay in it
// until their time, outnumber the live ones, and lets go of both once
// nothing is due; m.mu is held.
func (m *mldResponder) compact() {
	switch {
	case len(m.due) == 0:
		m.due, m.order = nil, nil
	case len(m.order) > 2*len(m.due)+64:
		m.order = m.order[:0]
		for _, d := range m.due {
			m.order = append(m.order, d)
		}
		heap.Init(&m.order)
	}
}

// forget drops h's pending report: h is closing.
func (m *mldResponder) forget(h *Host) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.due, h)
	m.compact()
}

func (m *mldResponder) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
	m.due, m.order = nil, nil
}

// handleMLDQuery acts on an MLD query to group dst of the segment: a
// general one asks the hosts in dst (all of them for all-nodes) for their
// groups, a group-specific one the hosts in the group. A query is
// malformed, as Linux drops it, unless it comes from a link-local address
// (RFC 3810 §5.1.14) with hop limit 1 and a router alert, and names a
// group, or the unspecified address and no sources.
func (s *segment) handleMLDQuery(p *relay.Packet, msg []byte, src, dst netip.Addr) {
	var q frame.MLDQueryInfo
	b := p.Frame()
	if frame.ParseMLDQuery(msg, &q) != nil || !src.IsLinkLocalUnicast() ||
		p.Info.HopLimit(b) != 1 || !p.Info.HasRouterAlert(b) ||
		!(q.Group.IsUnspecified() && q.Sources == 0 || q.Group.IsMulticast()) {
		s.st.malformed.Add(1)
		return
	}
	budget := &s.mld.specific
	if q.Group.IsUnspecified() {
		budget = &s.mld.general
	}
	if !budget.take() {
		s.st.ignored.Add(1)
		return
	}
	t := now()
	if q.V1 {
		s.mld.v1Until.Store(t + int64(olderQuerierTimeout))
	}
	group, member := netip.Addr{}, dst
	if !q.Group.IsUnspecified() {
		group, member = q.Group, q.Group
	}
	span := int64(q.MaxDelay)*int64(time.Millisecond) + 1
	s.mu.RLock()
	defer s.mu.RUnlock()
	for h := range s.members(member) {
		if !h.cfg.NoMLD {
			s.mld.schedule(h, t+rand.Int64N(span), group, false)
		}
	}
}

// members yields, once each, the segment's open hosts that receive what
// is sent to IPv6 group g: all of them with an IPv6 address for
// all-nodes, else those with an address whose solicited-node group g is
// (Linux's multicast filter). s.mu is held, for reading at least: it
// walks the address table, where a host has an entry for each of its
// IPv6 addresses and the one for its first stands for it.
func (s *segment) members(g netip.Addr) iter.Seq[*Host] {
	return func(yield func(*Host) bool) {
		for k, o := range s.addrs.v6 {
			h := o.h
			if h.done.Load() || netip.AddrFrom16(k) != firstAddr6(h) || (g != allNodes && !h.inGroup(g)) {
				continue
			}
			if !yield(h) {
				return
			}
		}
	}
}

// firstAddr6 returns h's first IPv6 address.
func firstAddr6(h *Host) netip.Addr {
	for _, p := range *h.addrs.Load() {
		if p.Addr().Is6() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}
