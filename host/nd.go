package host

import (
	"net/netip"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

var allNodes = netip.MustParseAddr("ff02::1")

// icmp6 returns the ICMPv6 message of p, checked (RFC 4443 §2.3 checksum)
// with its addresses, or ok false.
func icmp6(p *relay.Packet) (msg []byte, src, dst netip.Addr, ok bool) {
	in := &p.Info
	if in.IPVersion != 6 || in.Proto != frame.ProtoICMPv6 || in.Fragment {
		return nil, src, dst, false
	}
	b := p.Frame()
	src, dst = in.SrcAddr(b), in.DstAddr(b)
	msg = b[in.L4:in.End]
	if len(msg) < 4 || !frame.ICMPChecksumOK(msg, src, dst) {
		return nil, src, dst, false
	}
	return msg, src, dst, true
}

// validND checks what RFC 4861 §6.1 and §7.1 ask of the IP header of a
// neighbor discovery message, and that its source is not multicast (RFC
// 4291 §2.7; Linux drops such packets in ipv6_rcv).
func validND(p *relay.Packet, n *frame.ND, src, dst netip.Addr) bool {
	if p.Info.HopLimit(p.Frame()) != 255 || src.IsMulticast() {
		return false
	}
	switch n.Type {
	case frame.NDNeighborSolicit:
		// From :: (DAD) only to the solicited-node group, without SLLA.
		return !src.IsUnspecified() || (dst == frame.SolicitedNode(n.Target) && !n.HasSrcLLA)
	case frame.NDNeighborAdvert:
		// From an address of the advertiser's; solicited ones unicast.
		return !src.IsUnspecified() && !(dst.IsMulticast() && n.Flags&frame.NAFlagSolicited != 0)
	case frame.NDRouterAdvert:
		return src.IsLinkLocalUnicast()
	}
	return true
}

// handleIPv6Multicast takes the stack's IPv6 multicast: solicitations to a
// solicited-node group are answered by the host that has the target.
func (s *segment) handleIPv6Multicast(p *relay.Packet) {
	msg, src, dst, ok := icmp6(p)
	if !ok {
		if p.Info.IPVersion == 6 && p.Info.Proto == frame.ProtoICMPv6 {
			s.st.malformed.Add(1)
		} else {
			s.st.ignored.Add(1)
		}
		return
	}
	switch msg[0] {
	case frame.NDNeighborSolicit, frame.NDNeighborAdvert, frame.NDRouterAdvert:
	case frame.ICMPv6EchoRequest:
		s.answerMulticastEcho(p, msg, src, dst)
		return
	case frame.MLDQuery:
		s.handleMLDQuery(p, msg, src, dst)
		return
	default:
		s.st.ignored.Add(1) // other listeners' MLD reports, RS: not for a host
		return
	}
	var n frame.ND
	if frame.ParseND(msg, &n) != nil || !validND(p, &n, src, dst) {
		s.st.malformed.Add(1)
		return
	}
	s.handleND(p, &n, src, dst, nil)
}

// handleND acts on a valid ND message, multicast (to == nil) or unicast to
// host to.
func (s *segment) handleND(p *relay.Packet, n *frame.ND, src, dst netip.Addr, to *Host) {
	from := frame.SrcMAC(p.Frame())
	switch n.Type {
	case frame.NDNeighborSolicit:
		// From :: it is another node's DAD for the target (RFC 4862
		// §5.4.3); from an address, a resolution, no conflict.
		if s.tentativeSeen(netip.Addr{}, n.Target, src.IsUnspecified(), from) {
			return
		}
		owner := s.owner(n.Target)
		if owner == nil || (to != nil && owner != to) {
			s.st.ignored.Add(1)
			return
		}
		mac := from
		if n.HasSrcLLA {
			mac = n.SrcLLA
		}
		if s.claimed(src, mac) {
			return
		}
		if !src.IsUnspecified() && n.HasSrcLLA {
			s.neigh.learn(src, n.SrcLLA, false, true)
		}
		owner.answerNS(p, n, src)
	case frame.NDNeighborAdvert:
		mac := from
		if n.HasTgtLLA {
			mac = n.TgtLLA
		}
		if s.tentativeSeen(n.Target, netip.Addr{}, false, from) {
			return // RFC 4862 §5.4.4: a duplicate
		}
		if s.owner(n.Target) != nil && s.claimed(n.Target, mac) {
			// Another station advertises an address of ours: ours stays.
			// Our own host's advertisement (hairpinned to another host of
			// the segment that resolves it) is learned as any other.
			return
		}
		if !s.neigh.learn(n.Target, mac, n.Flags&frame.NAFlagSolicited != 0, false) {
			s.st.ignored.Add(1) // no entry: RFC 4861 §7.2.5 discards it
		}
	case frame.NDRouterAdvert:
		mac := from
		if n.HasSrcLLA {
			mac = n.SrcLLA
		}
		if s.claimed(src, mac) {
			return
		}
		if n.HasSrcLLA {
			s.neigh.learn(src, n.SrcLLA, false, true)
		}
		s.learnRouter(src, n.RouterLifetime)
	}
}

// icmp6Handler is a Host as the handler of ICMPv6 sent to its own MAC.
type icmp6Handler Host

func (ih *icmp6Handler) Handle(p *relay.Packet) bool {
	h := (*Host)(ih)
	if p.Info.Fragment && p.Info.Proto == frame.ProtoICMPv6 {
		// The whole message, once complete, comes back through Handle.
		h.ec.Reassemble(p)
		return true
	}
	msg, src, dst, ok := icmp6(p)
	if !ok {
		h.st.malformed.Add(1)
		return true
	}
	if h.handleEcho(p, msg, src, dst, frame.ICMPv6EchoRequest, frame.ICMPv6EchoReply) {
		return true
	}
	switch msg[0] {
	case frame.NDNeighborSolicit, frame.NDNeighborAdvert, frame.NDRouterAdvert:
		var n frame.ND
		// RFC 6980: ND messages that came fragmented are ignored.
		if p.Reassembled() || frame.ParseND(msg, &n) != nil || !validND(p, &n, src, dst) {
			h.st.malformed.Add(1)
			return true
		}
		h.seg.handleND(p, &n, src, dst, h)
	default:
		h.st.notForUs.Add(1)
	}
	return true
}

// answerNS sends the solicited advertisement for n.Target, one of h's
// addresses (RFC 4861 §7.2.4): to the soliciter, or to all nodes for DAD.
func (h *Host) answerNS(p *relay.Packet, n *frame.ND, src netip.Addr) {
	dst, mac, flags := src, frame.SrcMAC(p.Frame()), frame.NAFlagOverride|frame.NAFlagSolicited
	if n.HasSrcLLA {
		mac = n.SrcLLA
	}
	if src.IsUnspecified() {
		dst, flags = allNodes, frame.NAFlagOverride
		mac, _ = frame.MulticastMAC(allNodes)
	}
	f := h.ec.NewFrame(mac, frame.EtherTypeIPv6)
	b := f.Payload()
	m := frame.PutNA(b[frame.IPv6Len:], n.Target, flags, h.mac)
	h.st.ndAnswered.Add(1) // first: who sees the answer sees it counted
	h.sendICMPv6(f, m, n.Target, dst)
}

// sendNS sends a Neighbor Solicitation for target: to its solicited-node
// group, or unicast to mac to confirm it (RFC 4861 §7.2.2).
func (h *Host) sendNS(target netip.Addr, mac frame.MAC, unicast bool) {
	dst := frame.SolicitedNode(target)
	if unicast {
		dst = target
	} else {
		mac, _ = frame.MulticastMAC(dst)
	}
	src := h.Source(target)
	if !src.IsValid() {
		return // no IPv6 address at all (NoLinkLocal and none added)
	}
	f := h.ec.NewFrame(mac, frame.EtherTypeIPv6)
	b := f.Payload()
	m := frame.PutNS(b[frame.IPv6Len:], target, h.mac, true)
	h.st.solicits.Add(1)
	h.sendICMPv6(f, m, src, dst)
}

// sendICMPv6 completes f, whose ICMPv6 message of m bytes is written after
// room for the IPv6 header, with hop limit 255, and sends and releases it.
func (h *Host) sendICMPv6(f *etherconn.Frame, m int, src, dst netip.Addr) {
	b := f.Payload()
	msg := b[frame.IPv6Len : frame.IPv6Len+m]
	c := frame.ICMPChecksum(msg, src, dst)
	msg[2], msg[3] = byte(c>>8), byte(c)
	n, err := frame.PutIP(b, &frame.IPHeader{Src: src, Dst: dst, Proto: frame.ProtoICMPv6, TTL: 255}, m)
	if err == nil {
		_ = h.ec.WriteFrame(f.Bytes(n + m))
	}
	f.Release()
}

// learnRouter records an RA's router as the segment's default IPv6
// router, for hosts with Config.AcceptRA (lifetime 0 withdraws it).
func (s *segment) learnRouter(src netip.Addr, lifetime uint16) {
	if lifetime == 0 {
		if r := s.router6.Load(); r != nil && *r == src {
			s.router6.Store(nil)
		}
		return
	}
	s.router6.Store(&src)
}
