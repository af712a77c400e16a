package host

import (
	"net/netip"
	"sync"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

var ipv4Zero = netip.AddrFrom4([4]byte{})

// handleARP takes the stack's broadcast ARP: requests are answered by the
// host that has the target address, found in one map lookup.
func (s *segment) handleARP(p *relay.Packet) {
	var a frame.ARP
	if err := frame.ParseARP(p.Payload(), &a); err != nil || !arpSane(&a) {
		s.st.malformed.Add(1)
		return
	}
	if s.arpTentative(&a) || s.claimed(a.SenderIP, a.SenderMAC) {
		return
	}
	switch {
	case a.Op == frame.ARPRequest && a.SenderIP != a.TargetIP:
		if mac, ok := s.answering(a.TargetIP, nil); ok {
			s.answerARP(mac, &a)
		} else {
			s.st.ignored.Add(1)
		}
	case (a.SenderIP == a.TargetIP || a.Op == frame.ARPReply) && s.neigh.learn(a.SenderIP, a.SenderMAC, false, false):
		// Gratuitous ARP, or a broadcast reply: it updates what the cache
		// has and creates nothing (as Linux with arp_accept=0).
	default:
		s.st.ignored.Add(1)
	}
}

// arpSane rejects what no station sends: a group or zero sender MAC (a
// reply would go to every host of the link, or nowhere) and a multicast or
// broadcast sender address (Linux drops it as a martian source). An
// unspecified sender address is an RFC 5227 probe.
func arpSane(a *frame.ARP) bool {
	return !a.SenderMAC.IsGroup() && a.SenderMAC != (frame.MAC{}) &&
		!a.SenderIP.IsMulticast() && a.SenderIP != limitedBroadcast
}

// arpTentative applies duplicate detection (tentativeSeen) to a: its
// sender uses its sender address, unless it probes (RFC 5227: sender
// 0.0.0.0) for its target.
func (s *segment) arpTentative(a *frame.ARP) bool {
	if a.SenderIP == ipv4Zero {
		return s.tentativeSeen(netip.Addr{}, a.TargetIP, true, a.SenderMAC)
	}
	return s.tentativeSeen(a.SenderIP, a.TargetIP, false, a.SenderMAC)
}

// arpHandler is a Host as the handler of the ARP sent to its own MAC.
type arpHandler Host

func (ah *arpHandler) Handle(p *relay.Packet) bool {
	h := (*Host)(ah)
	if p.Info.Key.MAC.IsGroup() {
		return true // a broadcast (Config.Broadcast): the segment answers it
	}
	var a frame.ARP
	if err := frame.ParseARP(p.Payload(), &a); err != nil || !arpSane(&a) {
		h.st.malformed.Add(1)
		return true
	}
	if h.seg.arpTentative(&a) || h.seg.claimed(a.SenderIP, a.SenderMAC) {
		return true
	}
	ours := h.HasAddr(a.TargetIP)
	switch {
	case a.Op == frame.ARPRequest && ours:
		// A unicast probe of a neighbour confirming us.
		if mac, ok := h.seg.answering(a.TargetIP, h); ok {
			h.seg.answerARP(mac, &a)
		}
	case a.Op == frame.ARPReply && (ours || a.TargetMAC == h.mac) && h.seg.neigh.learn(a.SenderIP, a.SenderMAC, true, false):
		// The answer to our request (an unsolicited one creates nothing).
	default:
		h.st.notForUs.Add(1)
	}
	return true
}

// answerARP replies to request a for an address of the host with MAC mac
// (counted by answering), unicast to the asker, and learns the asker: it
// is about to talk to us (RFC 826; Linux creates the entry too). The
// reply, from the host's MAC, goes out through the segment's group
// endpoint, with the segment's VLAN stack: an answer then touches the
// segment and one slot of its address table, the same among 50,000 hosts
// as among a few (the Host, its Conn and endpoint would be cache misses
// more). It shows in the relay's counters, not in those of the host's
// Conn.
func (s *segment) answerARP(mac frame.MAC, a *frame.ARP) {
	if a.SenderIP != ipv4Zero { // an RFC 5227 probe is answered, not learned
		s.neigh.learn(a.SenderIP, a.SenderMAC, false, true)
	}
	b := arpBufs.Get().(*[arpFrameLen]byte)
	n := frame.PutEthernet(b[:], a.SenderMAC, mac, s.vlans, frame.EtherTypeARP)
	n += frame.PutARP(b[n:], &frame.ARP{Op: frame.ARPReply, SenderMAC: mac, SenderIP: a.TargetIP,
		TargetMAC: a.SenderMAC, TargetIP: a.SenderIP})
	_ = s.grp.Send(b[:n])
	arpBufs.Put(b)
}

// arpFrameLen is the longest ARP frame: four VLAN tags.
const arpFrameLen = frame.EthernetLen + frame.MaxTags*frame.VLANLen + frame.ARPLen

// arpBufs holds the buffers answers are built in: a handler may run on
// several goroutines at once (a hairpinned send delivers on the sender's).
var arpBufs = sync.Pool{New: func() any { return new([arpFrameLen]byte) }}

// sendARP sends an ARP packet from h to the Ethernet address dst.
func (h *Host) sendARP(op uint16, dst frame.MAC, spa netip.Addr, tha frame.MAC, tpa netip.Addr) {
	f := h.ec.NewFrame(dst, frame.EtherTypeARP)
	a := frame.ARP{Op: op, SenderMAC: h.mac, SenderIP: spa, TargetMAC: tha, TargetIP: tpa}
	n := frame.PutARP(f.Payload(), &a)
	_ = h.ec.WriteFrame(f.Bytes(n))
	f.Release()
}

// solicit sends one resolution probe for a: an ARP request or a Neighbor
// Solicitation, broadcast/multicast, or unicast to mac to confirm it.
func (h *Host) solicit(a netip.Addr, mac frame.MAC, unicast bool) {
	if a.Is4() {
		src := h.Source(a)
		if !src.IsValid() {
			src = ipv4Zero
		}
		dst := frame.BroadcastMAC
		if unicast {
			dst = mac
		}
		h.st.solicits.Add(1)
		h.sendARP(frame.ARPRequest, dst, src, frame.MAC{}, a)
		return
	}
	h.sendNS(a, mac, unicast)
}
