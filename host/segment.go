package host

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// segment is what the hosts of one relay and VLAN stack share: the group
// endpoint that takes the stack's ARP broadcasts and IPv6 multicast once,
// the map from address to host that answers them, and the neighbour cache.
type segment struct {
	key   segKey
	refs  int // guarded by segments.mu
	grp   *relay.Endpoint
	vlans frame.VLANs // the group endpoint's stack, on the answers it sends
	mu    sync.RWMutex
	addrs addrMap
	neigh neighCache
	// router6 is the default IPv6 router an RA announced, for hosts with
	// Config.AcceptRA.
	router6 atomic.Pointer[netip.Addr]
	// tentative maps addresses under DAD to the channel closed on a
	// conflict; guarded by mu. ntentative is its length, read without
	// the lock so that every ARP request does not take mu exclusively.
	tentative  map[netip.Addr]*tentative
	ntentative atomic.Int32
	st         segCounters
	slab       counterSlab
}

// addrOwner is the host that has an address, with its MAC and its
// ARPAnswered counter, which is all an ARP answer needs: looking at the
// Host (and its Conn and endpoint) would cost a cache miss each among
// 50,000 hosts.
type addrOwner struct {
	h   *Host
	mac frame.MAC
	arp *atomic.Uint64
}

// addrMap maps the segment's addresses to their hosts, IPv4 apart: keyed
// by 4 bytes, the map that ARP requests look in is a third of the size of
// one keyed by netip.Addr holding every family (the link-local addresses
// included), and among 50,000 hosts more of it stays in cache. The
// addresses have no zone (AddAddr refuses them).
type addrMap struct {
	v4 map[[4]byte]addrOwner
	v6 map[[16]byte]addrOwner
}

func (m *addrMap) get(a netip.Addr) addrOwner {
	if a.Is4() {
		return m.v4[a.As4()]
	}
	return m.v6[a.As16()] // the zero Addr too: no such key
}

func (m *addrMap) set(a netip.Addr, o addrOwner) {
	if a.Is4() {
		if m.v4 == nil {
			m.v4 = make(map[[4]byte]addrOwner)
		}
		m.v4[a.As4()] = o
		return
	}
	if m.v6 == nil {
		m.v6 = make(map[[16]byte]addrOwner)
	}
	m.v6[a.As16()] = o
}

func (m *addrMap) del(a netip.Addr) {
	if a.Is4() {
		delete(m.v4, a.As4())
	} else {
		delete(m.v6, a.As16())
	}
}

func (m *addrMap) len() int { return len(m.v4) + len(m.v6) }

// counterSlab hands out the hosts' ARPAnswered counters from dense
// chunks: counted on every answer, a counter in each Host would be one
// cache miss per answer among 50,000 hosts, while 50,000 counters side by
// side (400 KB) mostly stay in cache. A counter is reused once its host
// has closed.
type counterSlab struct {
	mu    sync.Mutex
	chunk []atomic.Uint64
	free  []*atomic.Uint64
}

func (c *counterSlab) get() *atomic.Uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		p := c.free[n-1]
		c.free = c.free[:n-1]
		p.Store(0)
		return p
	}
	if len(c.chunk) == 0 {
		c.chunk = make([]atomic.Uint64, 1024)
	}
	p := &c.chunk[0]
	c.chunk = c.chunk[1:]
	return p
}

// release gives back the counter *p points to, which nothing counts in
// any more, and points p at a copy of it.
func (c *counterSlab) release(p *atomic.Pointer[atomic.Uint64]) {
	slot := p.Load()
	final := new(atomic.Uint64)
	final.Store(slot.Load())
	p.Store(final)
	c.mu.Lock()
	c.free = append(c.free, slot)
	c.mu.Unlock()
}

type segKey struct {
	r     *relay.Relay
	stack frame.StackKey
}

var segments struct {
	mu sync.Mutex
	m  map[segKey]*segment
}

// joinSegment returns the segment of r and vlans, made on first use.
func joinSegment(r *relay.Relay, vlans frame.VLANs, ncfg NeighborConfig) (*segment, error) {
	k := segKey{r, vlans.Key()}
	segments.mu.Lock()
	defer segments.mu.Unlock()
	if s := segments.m[k]; s != nil {
		s.refs++
		return s, nil
	}
	grp, err := r.RegisterGroup(relay.GroupConfig{VLANs: vlans,
		EtherTypes: []uint16{frame.EtherTypeARP, frame.EtherTypeIPv6},
		Broadcast:  true, Multicast: true, QueueLen: -1})
	if err != nil {
		return nil, err
	}
	s := &segment{key: k, refs: 1, grp: grp, vlans: grp.Config().VLANs}
	s.neigh.init(ncfg)
	grp.SetHandler(s)
	if segments.m == nil {
		segments.m = make(map[segKey]*segment)
	}
	segments.m[k] = s
	return s, nil
}

// leave drops a host's reference; the last one closes the segment.
func (s *segment) leave() {
	segments.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(segments.m, s.key)
	}
	segments.mu.Unlock()
	if last {
		s.grp.Close()
		s.neigh.close()
	}
}

func (s *segment) addAddr(a netip.Addr, h *Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.addrs.get(a); o.h != nil && o.h != h {
		return fmt.Errorf("%w (%s)", ErrAddrInUse, o.mac)
	}
	s.addrs.set(a, h.owner())
	return nil
}

func (s *segment) removeAddr(a netip.Addr, h *Host) {
	s.mu.Lock()
	if s.addrs.get(a).h == h {
		s.addrs.del(a)
	}
	s.mu.Unlock()
}

// owner returns the host that has address a, or nil.
func (s *segment) owner(a netip.Addr) *Host { return s.lookup(a).h }

// answering returns the owner of address a, if it is want (or any, with
// want nil), and counts an ARP answer for it; h is nil if none. It counts
// under s.mu, which a closing host's address removal takes before the
// host's counter is reused.
func (s *segment) answering(a netip.Addr, want *Host) addrOwner {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.addrs.get(a)
	if o.h == nil || (want != nil && o.h != want) {
		return addrOwner{}
	}
	o.arp.Add(1)
	return o
}

// lookup returns the owner of address a (h nil if none).
func (s *segment) lookup(a netip.Addr) addrOwner {
	s.mu.RLock()
	o := s.addrs.get(a)
	s.mu.RUnlock()
	return o
}

// claimed reports whether a message from mac claims a, an address of a
// host of the segment: another station's claim, a conflict (or spoofing),
// is counted and the message ignored, so that the address stays ours and
// the neighbour cache never holds it with a MAC that is not the host's.
// A host's own frames (hairpinned back) claim nothing. Linux drops such
// messages too: a source address of its own is a martian.
func (s *segment) claimed(a netip.Addr, mac frame.MAC) bool {
	o := s.lookup(a)
	if o.h == nil || o.mac == mac {
		return false
	}
	s.st.conflicts.Add(1)
	return true
}

// Handle takes the stack's ARP broadcasts and IPv6 multicast.
func (s *segment) Handle(p *relay.Packet) bool {
	switch p.Info.Key.EtherType {
	case frame.EtherTypeARP:
		s.handleARP(p)
	case frame.EtherTypeIPv6:
		s.handleIPv6Multicast(p)
	}
	return true
}

type segCounters struct {
	malformed, ignored, conflicts atomic.Uint64
}

// SegmentStats are the counters of what the hosts of a relay and VLAN
// stack received together (broadcast ARP, IPv6 multicast) and share.
type SegmentStats struct {
	Hosts     int    // hosts in the segment
	Neighbors int    // neighbour cache entries
	Evicted   uint64 // neighbour entries evicted because the cache was full
	Malformed uint64 // broadcast/multicast ARP and ND messages dropped as malformed or invalid (RFC 4861 §7.1)
	NotForUs  uint64 // requests, advertisements and multicast for no host or cache entry of the segment, ignored
	// Conflicts counts the ARP and ND messages from other stations that
	// claimed an address of one of the segment's hosts (as sender, source
	// or advertised target), ignored: the address stays the host's.
	Conflicts  uint64
	Addresses  int // addresses of all hosts
	PendingNow int // datagrams waiting for resolution now
}

func (s *segment) stats() SegmentStats {
	segments.mu.Lock()
	refs := s.refs
	segments.mu.Unlock()
	s.mu.RLock()
	na := s.addrs.len()
	s.mu.RUnlock()
	s.neigh.mu.RLock()
	nn, ev, np := len(s.neigh.m), s.neigh.evicted, s.neigh.npend
	s.neigh.mu.RUnlock()
	return SegmentStats{Hosts: refs, Neighbors: nn, Evicted: ev, Addresses: na, PendingNow: np,
		Malformed: s.st.malformed.Load(), NotForUs: s.st.ignored.Load(), Conflicts: s.st.conflicts.Load()}
}
