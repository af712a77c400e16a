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
	mu    sync.RWMutex
	addrs map[netip.Addr]*Host
	neigh neighCache
	// router6 is the default IPv6 router an RA announced, for hosts with
	// Config.AcceptRA.
	router6 atomic.Pointer[netip.Addr]
	// tentative maps addresses under DAD to the channel closed on a
	// conflict; guarded by mu.
	tentative map[netip.Addr]*tentative
	st        segCounters
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
	s := &segment{key: k, refs: 1, grp: grp, addrs: make(map[netip.Addr]*Host)}
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
	if o := s.addrs[a]; o != nil && o != h {
		return fmt.Errorf("%w (%s)", ErrAddrInUse, o.mac)
	}
	s.addrs[a] = h
	return nil
}

func (s *segment) removeAddr(a netip.Addr, h *Host) {
	s.mu.Lock()
	if s.addrs[a] == h {
		delete(s.addrs, a)
	}
	s.mu.Unlock()
}

// owner returns the host that has address a, or nil.
func (s *segment) owner(a netip.Addr) *Host {
	s.mu.RLock()
	h := s.addrs[a]
	s.mu.RUnlock()
	return h
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
	malformed, ignored atomic.Uint64
}

// SegmentStats are the counters of what the hosts of a relay and VLAN
// stack received together (broadcast ARP, IPv6 multicast) and share.
type SegmentStats struct {
	Hosts      int    // hosts in the segment
	Neighbors  int    // neighbour cache entries
	Evicted    uint64 // neighbour entries evicted because the cache was full
	Malformed  uint64 // broadcast/multicast ARP and ND messages dropped as malformed or invalid (RFC 4861 §7.1)
	NotForUs   uint64 // requests and multicast for no host of the segment, ignored
	Addresses  int    // addresses of all hosts
	PendingNow int    // datagrams waiting for resolution now
}

func (s *segment) stats() SegmentStats {
	segments.mu.Lock()
	refs := s.refs
	segments.mu.Unlock()
	s.mu.RLock()
	na := len(s.addrs)
	s.mu.RUnlock()
	s.neigh.mu.RLock()
	nn, ev, np := len(s.neigh.m), s.neigh.evicted, s.neigh.npend
	s.neigh.mu.RUnlock()
	return SegmentStats{Hosts: refs, Neighbors: nn, Evicted: ev, Addresses: na, PendingNow: np,
		Malformed: s.st.malformed.Load(), NotForUs: s.st.ignored.Load()}
}
