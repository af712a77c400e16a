package host

import "sync/atomic"

type counters struct {
	// arpGone holds the ARP answers of addresses the host no longer has;
	// those of the others are in the segment's table (slot4).
	arpGone                                  atomic.Uint64
	ndAnswered, echoAnswered, echoLimited    atomic.Uint64
	solicits, unresolved, noRoute, malformed atomic.Uint64
	notForUs, unreachSent, duplicates        atomic.Uint64
}

// Stats are a host's counters.
type Stats struct {
	ARPAnswered  uint64 // ARP requests for its addresses answered
	NDAnswered   uint64 // Neighbor Solicitations for its addresses answered
	EchoAnswered uint64 // echo requests (and IPv4 timestamp requests) answered
	EchoLimited  uint64 // echo requests not answered: over Config.EchoRate
	Solicits     uint64 // ARP requests and Neighbor Solicitations it sent to resolve
	Unresolved   uint64 // frames dropped (each fragment of a datagram counts): their next hop did not resolve, or its queue was full
	NoRoute      uint64 // datagrams refused: no route to the destination
	Malformed    uint64 // ARP, ICMP and ND messages to it dropped as malformed or invalid
	NotForUs     uint64 // messages to its MAC about addresses it does not have, ignored
	UnreachSent  uint64 // ICMP port unreachable sent (Config.PortUnreachable)
	Duplicates   uint64 // addresses DAD found in use
	// Segment holds the counters the hosts of its relay and VLAN stack
	// share.
	Segment SegmentStats
}

// Stats returns a snapshot of the host's counters.
func (h *Host) Stats() Stats {
	c := &h.st
	return Stats{
		ARPAnswered: h.seg.arpAnswered(h), NDAnswered: c.ndAnswered.Load(),
		EchoAnswered: c.echoAnswered.Load(), EchoLimited: c.echoLimited.Load(),
		Solicits: c.solicits.Load(), Unresolved: c.unresolved.Load(), NoRoute: c.noRoute.Load(),
		Malformed: c.malformed.Load(), NotForUs: c.notForUs.Load(), UnreachSent: c.unreachSent.Load(),
		Duplicates: c.duplicates.Load(), Segment: h.seg.stats(),
	}
}

// Neighbors returns a snapshot of the neighbour cache the host shares with
// the other hosts of its relay and VLAN stack.
func (h *Host) Neighbors() []Neighbor { return h.seg.neigh.entries() }
