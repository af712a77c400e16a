package host

import (
	"time"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// unreachHandler is a Host as the taker of the IP packets no other handler
// took, to answer UDP to a closed port (Config.PortUnreachable).
type unreachHandler Host

func (uh *unreachHandler) Handle(p *relay.Packet) bool {
	h := (*Host)(uh)
	in := &p.Info
	if !in.UDP {
		return false
	}
	b := p.Frame()
	src, dst := in.SrcAddr(b), in.DstAddr(b)
	if !h.HasAddr(dst) || martian(src) {
		return false
	}
	et, typ, code := frame.EtherTypeIPv4, frame.ICMPDestUnreach, frame.ICMPPortUnreach
	ip := frame.IPHeader{Src: dst, Dst: src, Proto: icmpProto(dst), TTL: 64}
	var opts [frame.MaxIPv4Options]byte
	if dst.Is6() {
		// ICMPv6 errors go with traffic class 0.
		et, typ, code = frame.EtherTypeIPv6, frame.ICMPv6DestUnreach, frame.ICMPv6PortUnreach
	} else {
		// Linux's __icmp_send: precedence internetwork control with the
		// datagram's TOS bits (not its precedence or ECN), and its record
		// route and timestamp options returned as in an echo reply; none
		// is sent when those could not be.
		if o := in.IPv4Options(b); len(o) > 0 {
			n, ok := frame.EchoReplyOptions(opts[:], o, dst, (*locals)(h), time.Now())
			if !ok {
				return false
			}
			ip.Options = opts[:n]
		}
		ip.TOS = 0xc0 | in.TOS(b)&0x1e
	}
	if !h.echo.take() {
		return false
	}
	if dst.Is4() {
		ip.ID = h.nextID()
	}
	f := h.ec.NewFrame(frame.SrcMAC(b), et)
	out := f.Payload()
	il := ip.Len()
	// The offending packet, as much as fits in the minimum MTU (RFC 4443
	// §3.1; RFC 792 asks for the header and 8 bytes, Linux sends more).
	// It is quoted as it came: Linux's quote shows the record route and
	// timestamp entries it made on receipt, ours does not.
	quote := b[in.L3:in.End]
	room := 576 - il - 8
	if dst.Is6() {
		room = 1280 - il - 8
	}
	quote = quote[:min(len(quote), room)]
	msg := out[il : il+8+len(quote)]
	msg[0], msg[1] = typ, code
	clear(msg[2:8])
	copy(msg[8:], quote)
	c := frame.ICMPChecksum(msg, dst, src)
	msg[2], msg[3] = byte(c>>8), byte(c)
	n, err := frame.PutIP(out, &ip, len(msg))
	if err == nil {
		h.st.unreachSent.Add(1)
		_ = h.ec.WriteFrame(f.Bytes(n + len(msg)))
	}
	f.Release()
	return true
}
