package host

import (
	"net/netip"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

var ipv4Zero = netip.AddrFrom4([4]byte{})

// handleARP takes the stack's broadcast ARP: requests are answered by the
// host that has the target address, found in one map lookup.
func (s *segment) handleARP(p *relay.Packet) {
	var a frame.ARP
	if err := frame.ParseARP(p.Payload(), &a); err != nil {
		s.st.malformed.Add(1)
		return
	}
	owner := s.owner(a.TargetIP)
	if owner != nil && owner.tentativeConflict(a.SenderIP, a.TargetIP, a.SenderMAC) {
		return
	}
	switch {
	case a.Op == frame.ARPRequest && owner != nil && a.SenderIP != a.TargetIP:
		owner.answerARP(&a)
	case a.SenderIP == a.TargetIP || a.Op == frame.ARPReply:
		// Gratuitous ARP, or a broadcast reply: update what the cache has,
		// create nothing (as Linux with arp_accept=0).
		s.neigh.learn(a.SenderIP, a.SenderMAC, false, false)
	default:
		s.st.ignored.Add(1)
	}
}

// arpHandler is a Host as the handler of the ARP sent to its own MAC.
type arpHandler Host

func (ah *arpHandler) Handle(p *relay.Packet) bool {
	h := (*Host)(ah)
	if p.Info.Key.MAC.IsGroup() {
		return true // a broadcast (Config.Broadcast): the segment answers it
	}
	var a frame.ARP
	if err := frame.ParseARP(p.Payload(), &a); err != nil {
		h.st.malformed.Add(1)
		return true
	}
	if h.tentativeConflict(a.SenderIP, a.TargetIP, a.SenderMAC) {
		return true
	}
	ours := h.HasAddr(a.TargetIP)
	switch {
	case a.Op == frame.ARPRequest && ours:
		h.answerARP(&a) // a unicast probe of a neighbour confirming us
	case a.Op == frame.ARPReply && (ours || a.TargetMAC == h.mac):
		h.seg.neigh.learn(a.SenderIP, a.SenderMAC, true, false)
	default:
		h.st.notForUs.Add(1)
	}
	return true
}

// answerARP replies to request a for one of h's addresses, unicast to the
// asker, and learns the asker: it is about to talk to us (RFC 826; Linux
// creates the entry too).
func (h *Host) answerARP(a *frame.ARP) {
	if a.SenderIP != ipv4Zero { // an RFC 5227 probe is answered, not learned
		h.seg.neigh.learn(a.SenderIP, a.SenderMAC, false, true)
	}
	h.sendARP(frame.ARPReply, a.SenderMAC, a.TargetIP, a.SenderMAC, a.SenderIP)
	h.st.arpAnswered.Add(1)
}

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
		h.sendARP(frame.ARPRequest, dst, src, frame.MAC{}, a)
		h.st.solicits.Add(1)
		return
	}
	h.sendNS(a, mac, unicast)
}
