package host

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// icmp4Handler is a Host as the handler of ICMP sent to its own MAC.
type icmp4Handler Host

func (ih *icmp4Handler) Handle(p *relay.Packet) bool {
	h := (*Host)(ih)
	in := &p.Info
	if in.Fragment {
		// The whole message, once complete, comes back through Handle.
		h.ec.Reassemble(p)
		return true
	}
	b := p.Frame()
	if in.IPVersion != 4 || !frame.IPv4ChecksumOK(b, in) {
		h.st.malformed.Add(1)
		return true
	}
	src, dst := in.SrcAddr(b), in.DstAddr(b)
	msg := b[in.L4:in.End]
	if len(msg) < 8 || !frame.ICMPChecksumOK(msg, src, dst) {
		h.st.malformed.Add(1)
		return true
	}
	if !h.handleEcho(p, msg, src, dst, frame.ICMPEchoRequest, frame.ICMPEchoReply) {
		h.st.notForUs.Add(1)
	}
	return true
}

// handleEcho handles an echo request (type req) or reply (rep), or an
// ICMP timestamp request, and reports whether msg was one. A request is
// answered only when it is to one of the host's own addresses: Linux
// ignores broadcast echo and timestamps (icmp_echo_ignore_broadcasts).
func (h *Host) handleEcho(p *relay.Packet, msg []byte, src, dst netip.Addr, req, rep uint8) bool {
	t := msg[0]
	if t == frame.ICMPTimestamp && req == frame.ICMPEchoRequest {
		t = req
	}
	switch t {
	case req:
		if h.HasAddr(dst) {
			h.answerEcho(p, msg, src, dst)
		} else {
			h.st.notForUs.Add(1)
		}
	case rep:
		h.ping.reply(msg, src)
	default:
		return false
	}
	return true
}

// answerMulticastEcho has the segment's hosts with Config.EchoMulticast
// answer an echo request from src to group dst, as Linux hosts do: for
// all-nodes every one of them, for a solicited-node group the hosts with
// an address in it. Each answers once, from the address that fits src
// (its Source), within its own echo rate.
func (s *segment) answerMulticastEcho(p *relay.Packet, msg []byte, src, dst netip.Addr) {
	if s.echoMulticast.Load() == 0 || martian(src) {
		s.st.ignored.Add(1)
		return
	}
	answered := false
	s.mu.RLock()
	defer s.mu.RUnlock()
	for h := range s.members(dst) {
		if h.cfg.EchoMulticast {
			h.answerEcho(p, msg, src, h.Source(src))
			answered = true
		}
	}
	if !answered {
		s.st.ignored.Add(1)
	}
}

// inGroup reports whether one of h's addresses has g as its
// solicited-node group.
func (h *Host) inGroup(g netip.Addr) bool {
	for _, p := range *h.addrs.Load() {
		if p.Addr().Is6() && frame.SolicitedNode(p.Addr()) == g {
			return true
		}
	}
	return false
}

// answerEcho replies from self, one of h's addresses, to an echo request
// msg from src (to self, or to a group of h's when self is the address
// that fits src) with the same code, identifier, sequence number and data, to
// the MAC it came from, within the host's echo rate, as Linux does: with
// the request's TOS or traffic class, and an IPv4 request's record route
// and timestamp options filled in (frame.EchoReplyOptions). An ICMP
// timestamp request is answered the same way, as Linux's icmp_timestamp
// does: code 0, the request's originate timestamp and the host's receive
// and transmit ones (RFC 792). A request from a source no reply can go
// to, one whose options Linux would not answer, or a timestamp request
// without an originate timestamp, is malformed.
func (h *Host) answerEcho(p *relay.Packet, msg []byte, src, self netip.Addr) {
	if martian(src) {
		h.st.malformed.Add(1)
		return
	}
	var e frame.Echo
	var times [12]byte
	if frame.ParseEcho(msg, &e) != nil {
		h.st.malformed.Add(1)
		return
	}
	// Linux copies the request's code into the reply (icmp_echo,
	// icmpv6_echo_reply), whatever it is; RFC 792 and 4443 say 0.
	et := frame.EtherTypeIPv4
	switch e.Type {
	case frame.ICMPEchoRequest:
		e.Type = frame.ICMPEchoReply
	case frame.ICMPv6EchoRequest:
		e.Type, et = frame.ICMPv6EchoReply, frame.EtherTypeIPv6
	case frame.ICMPTimestamp:
		if len(e.Data) < 4 {
			h.st.malformed.Add(1)
			return
		}
		now := frame.MillisSinceMidnight(time.Now())
		copy(times[:4], e.Data)
		binary.BigEndian.PutUint32(times[4:], now)
		binary.BigEndian.PutUint32(times[8:], now)
		e.Type, e.Code, e.Data = frame.ICMPTimestampReply, 0, times[:]
	}
	in := p.Frame()
	ip := frame.IPHeader{Src: self, Dst: src, Proto: icmpProto(self), TTL: 64, TOS: p.Info.TOS(in)}
	var opts [frame.MaxIPv4Options]byte
	if o := p.Info.IPv4Options(in); len(o) > 0 {
		// Only then: reading the clock costs a tenth of a plain ping's answer.
		n, ok := frame.EchoReplyOptions(opts[:], o, self, (*locals)(h), time.Now())
		if !ok {
			h.st.malformed.Add(1)
			return
		}
		ip.Options = opts[:n]
	}
	// After the checks, as in Linux: a request not answered takes no rate.
	if !h.echo.take() {
		h.st.echoLimited.Add(1)
		return
	}
	if self.Is4() {
		ip.ID = h.nextID()
	}
	next := frame.SrcMAC(in)
	il := ip.Len()
	if il+len(msg) > int(h.mtu) {
		// Only an echo reply is this long: its data is the request's.
		h.answerEchoFragments(next, et, echoHead{e.Type, e.Code, e.ID, e.Seq}, msg[8:], self, src, ip.TOS, ip.ID, ip.Options)
		return
	}
	f := h.ec.NewFrame(next, et)
	b := f.Payload()
	m := frame.PutEcho(b[il:], &e)
	c := frame.ICMPChecksum(b[il:il+m], self, src)
	b[il+2], b[il+3] = byte(c>>8), byte(c)
	n, err := frame.PutIP(b, &ip, m)
	if err == nil {
		h.st.echoAnswered.Add(1) // first: who sees the answer sees it counted
		_ = h.ec.WriteFrame(f.Bytes(n + m))
	}
	f.Release()
}

// locals is a Host as the addresses a prespecified timestamp slot records
// its time for (frame.Locals): its own, and the broadcast addresses of its
// IPv4 prefixes, as Linux's inet_addr_type finds them in its local table.
type locals Host

func (l *locals) HasAddr(a netip.Addr) bool {
	h := (*Host)(l)
	if h.HasAddr(a) {
		return true
	}
	for _, p := range *h.addrs.Load() {
		if p.Addr().Is4() && p.Bits() < 31 && a == lastAddr(p) {
			return true
		}
	}
	return false
}

// echoHead is an echo reply's header but its checksum.
type echoHead struct {
	typ, code uint8
	id, seq   uint16
}

// answerEchoFragments sends the echo reply eh with data, longer than the
// MTU, as fragments, as Linux does for a large ping. The IP header's
// fields come one by one, and opts is copied, so that answerEcho's
// header, options and timestamps stay on its stack.
func (h *Host) answerEchoFragments(next frame.MAC, et uint16, eh echoHead, data []byte, src, dst netip.Addr, tos uint8, id uint16, opts []byte) {
	var head [8]byte
	e := frame.Echo{Type: eh.typ, Code: eh.code, ID: eh.id, Seq: eh.seq, Data: data}
	frame.PutEchoHeader(head[:], &e, src, dst)
	ef := fragmenterPool.Get().(*echoFragmenter)
	defer fragmenterPool.Put(ef)
	fr := &ef.fr
	ip := frame.IPHeader{Src: src, Dst: dst, Proto: icmpProto(src), TTL: 64, TOS: tos, ID: id, Options: ef.opts[:copy(ef.opts[:], opts)]}
	if fr.InitIP(&ip, head[:], data, int(h.mtu), rand.Uint32()) != nil {
		h.st.malformed.Add(1)
		return
	}
	h.st.echoAnswered.Add(1)
	for !fr.Done() {
		f := h.ec.NewFrame(next, et)
		_ = h.ec.WriteFrame(f.Bytes(fr.Next(f.Payload())))
		f.Release()
	}
}

// echoFragmenter is a Fragmenter with room for the reply's IPv4 options.
type echoFragmenter struct {
	fr   frame.Fragmenter
	opts [frame.MaxIPv4Options]byte
}

var fragmenterPool = sync.Pool{New: func() any { return new(echoFragmenter) }}

// martian reports whether src cannot be the source of a packet to be
// answered: unspecified, multicast or the limited broadcast (Linux drops
// these in ip_route_input and ipv6_rcv; answering a broadcast source
// would reflect to the whole link).
func martian(src netip.Addr) bool {
	return src.IsUnspecified() || src.IsMulticast() || src == limitedBroadcast
}

func icmpProto(a netip.Addr) uint8 {
	if a.Is4() {
		return frame.ProtoICMP
	}
	return frame.ProtoICMPv6
}

// tokenBucket limits echo replies and ICMP errors per host: rate a
// second, in bursts of up to rate.
type tokenBucket struct {
	mu     sync.Mutex
	rate   int
	tokens float64
	last   int64
}

func (t *tokenBucket) init(rate int) { t.rate, t.tokens = rate, float64(max(rate, 0)) }

func (t *tokenBucket) take() bool {
	if t.rate <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := now()
	t.tokens = min(float64(t.rate), t.tokens+float64(n-t.last)*float64(t.rate)/1e9)
	t.last = n
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}
