package host

import (
	"encoding/binary"
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
	// echoMulticast counts the hosts with Config.EchoMulticast, so that a
	// segment without any passes over multicast echo at once.
	echoMulticast atomic.Int32
	mld           mldResponder
	rs            soliciter
	st            segCounters
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
	s.mld.init()
	s.rs.init(s)
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
		s.mld.close()
		s.rs.stop()
	}
}

func (s *segment) addAddr(a netip.Addr, h *Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.addrs.get(a); o.h != nil && o.h != h {
		return fmt.Errorf("%w (%s)", ErrAddrInUse, o.mac)
	}
	s.addrs.set(a, h)
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

// answering returns the MAC of the host that has IPv4 address a, if it is
// want (or any, with want nil), and counts an ARP answer for it. It counts
// under s.mu, so that Stats, which sums under it, never sees a count move
// between an address and its host's total.
func (s *segment) answering(a netip.Addr, want *Host) (frame.MAC, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.addrs.answer(a, want)
}

// arpAnswered returns h's ARP answers: those of its IPv4 addresses and
// those of addresses it had.
func (s *segment) arpAnswered(h *Host) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return h.st.arpGone.Load() + s.addrs.arpAnswered(h, *h.addrs.Load())
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

// Prefetch implements relay.Prefetcher: for an ARP request it touches the
// slot of the address table that answering it will read, so that among
// 50,000 hosts the cache misses of a read batch's requests overlap and an
// answer costs about what it does among a few.
func (s *segment) Prefetch(p *relay.Packet) {
	if p.Info.Key.EtherType != frame.EtherTypeARP {
		return
	}
	if b := p.Payload(); len(b) >= arpTPA+4 {
		s.addrs.v4.prefetch(binary.BigEndian.Uint32(b[arpTPA:]))
	}
}

// arpTPA is the offset of the target protocol address in an ARP packet
// for IPv4 over Ethernet.
const arpTPA = 24

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
	malformed, ignored, conflicts, mldReports, routerSolicits atomic.Uint64
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
	// MLDReports counts the MLD reports (and MLDv1 done messages) the
	// segment's hosts sent: joins and leaves of their solicited-node
	// groups, and answers to queries.
	MLDReports uint64
	// RouterSolicits counts the router solicitations sent for the
	// segment's hosts with Config.AcceptRA.
	RouterSolicits uint64
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
		Malformed: s.st.malformed.Load(), NotForUs: s.st.ignored.Load(), Conflicts: s.st.conflicts.Load(),
		MLDReports: s.st.mldReports.Load(), RouterSolicits: s.st.routerSolicits.Load()}
}
