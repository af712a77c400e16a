package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IP protocol numbers of ICMP (RFC 792) and ICMPv6 (RFC 4443).
const (
	ProtoICMP   uint8 = 1
	ProtoICMPv6 uint8 = 58
)

// ICMP (RFC 792) and ICMPv6 (RFC 4443, RFC 4861) message types.
const (
	ICMPEchoReply      uint8 = 0   // RFC 792
	ICMPDestUnreach    uint8 = 3   // RFC 792
	ICMPEchoRequest    uint8 = 8   // RFC 792
	ICMPTimestamp      uint8 = 13  // RFC 792
	ICMPTimestampReply uint8 = 14  // RFC 792
	ICMPv6DestUnreach  uint8 = 1   // RFC 4443 §3.1
	ICMPv6EchoRequest  uint8 = 128 // RFC 4443 §4.1
	ICMPv6EchoReply    uint8 = 129 // RFC 4443 §4.2
	NDRouterSolicit    uint8 = 133 // RFC 4861 §4.1
	NDRouterAdvert     uint8 = 134 // RFC 4861 §4.2
	NDNeighborSolicit  uint8 = 135 // RFC 4861 §4.3
	NDNeighborAdvert   uint8 = 136 // RFC 4861 §4.4
)

// ICMPPortUnreach is the code of an ICMPDestUnreach message for a port
// nobody listens on (RFC 792).
const ICMPPortUnreach uint8 = 3

// ICMPv6PortUnreach is the code of an ICMPv6DestUnreach message for a port
// nobody listens on (RFC 4443 §3.1).
const ICMPv6PortUnreach uint8 = 4

// ErrBadICMP is what ParseEcho returns for a message too short to be an
// echo request or reply (RFC 792, RFC 4443 §4: 8 bytes of header).
var ErrBadICMP = errors.New("malformed ICMP message")

// ErrBadHeader is what PutIP returns, wrapped, when it is asked to build a
// header that RFC 791 or RFC 8200 cannot express. The error also wraps ErrAddrFamily or ErrTooLong when
// one of those is the reason, as PutUDP's errors are.
var ErrBadHeader = errors.New("bad IP header to build")

// PutIP's errors, made once so that building never allocates.
var (
	errIPFamily = fmt.Errorf("frame: PutIP: %w: %w (or an address is invalid)", ErrBadHeader, ErrAddrFamily)
	errIPShort  = fmt.Errorf("frame: PutIP: %w: buffer shorter than the header", ErrBadHeader)
	errIPLong   = fmt.Errorf("frame: PutIP: %w: %w", ErrBadHeader, ErrTooLong)
	errIPOpts   = fmt.Errorf("frame: PutIP: %w: options are IPv4 only, a multiple of 4 bytes, at most 40", ErrBadHeader)
)

var errEchoShort = fmt.Errorf("%w: echo message shorter than 8 bytes", ErrBadICMP)

// IPHeader is an IPv4 (RFC 791) or IPv6 (RFC 8200) header to build, for
// protocols other than UDP (which has PutUDP).
type IPHeader struct {
	Src, Dst netip.Addr // both IPv4 or both IPv6; IPv4-mapped IPv6 counts as IPv4
	Proto    uint8
	TTL      uint8  // IPv4 TTL or IPv6 hop limit; 0 means 64
	TOS      uint8  // IPv4 TOS / IPv6 traffic class
	ID       uint16 // IPv4 identification
	// Options are IPv4 options, written after the first 20 bytes of the
	// header as they are: a multiple of 4 bytes (pad with end-of-options),
	// at most MaxIPv4Options. IPv6 takes none.
	Options []byte
}

// optionsFit reports whether a header from src takes options o: none, or
// IPv4 options of whole 4-byte words, at most MaxIPv4Options.
func optionsFit(src netip.Addr, o []byte) bool {
	return len(o) == 0 || src.Is4() && len(o)%4 == 0 && len(o) <= MaxIPv4Options
}

// Len returns the length of the header PutIP writes for h: IPLen(h.Src)
// and the options.
func (h *IPHeader) Len() int { return IPLen(h.Src) + len(h.Options) }

// IPLen returns the header length PutIP writes for addr's family: IPv4Len
// or IPv6Len. IPv4-mapped IPv6 addresses are IPv4, as in PutUDP.
func IPLen(addr netip.Addr) int {
	if addr.Is4() || addr.Is4In6() {
		return IPv4Len
	}
	return IPv6Len
}

// PutIP writes an IPv4 (RFC 791) or IPv6 (RFC 8200) header for a payload
// of plen bytes into b and returns its length, h.Len(). Only the header is
// written: b needs h.Len() bytes, and the payload, which the caller places
// after them, may be there already. IPv4 gets its header checksum and DF
// clear, so that a router may fragment it (RFC 1191 probing is not done
// here; ICMP errors and echoes are small), which makes h.ID matter (RFC
// 6864: unique while such packets may meet); IPv6 gets flow label 0. The
// errors wrap ErrBadHeader: for source and destination of different
// families or an invalid address (also ErrAddrFamily), options IPv4 does
// not take, b too short, or a negative plen or a plen too long for the
// family's 16-bit length field (also ErrTooLong).
func PutIP(b []byte, h *IPHeader, plen int) (int, error) {
	src, dst := h.Src.Unmap(), h.Dst.Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return 0, errIPFamily
	}
	if !optionsFit(src, h.Options) {
		return 0, errIPOpts
	}
	hlen := IPLen(src) + len(h.Options)
	if len(b) < hlen {
		return 0, errIPShort
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	if src.Is4() {
		if plen < 0 || hlen+plen > 0xffff {
			return 0, errIPLong
		}
		ip := b[:hlen]
		ip[0], ip[1] = 0x40|byte(hlen/4), h.TOS
		binary.BigEndian.PutUint16(ip[2:], uint16(hlen+plen))
		binary.BigEndian.PutUint16(ip[4:], h.ID)
		ip[6], ip[7] = 0, 0 // no flags, offset 0
		ip[8], ip[9] = ttl, h.Proto
		ip[10], ip[11] = 0, 0
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		copy(ip[IPv4Len:], h.Options)
		binary.BigEndian.PutUint16(ip[10:], Checksum(ip))
		return hlen, nil
	}
	if plen < 0 || plen > 0xffff {
		return 0, errIPLong
	}
	ip := b[:IPv6Len]
	binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(h.TOS)<<20)
	binary.BigEndian.PutUint16(ip[4:], uint16(plen))
	ip[6], ip[7] = h.Proto, ttl
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	return IPv6Len, nil
}

// isICMPv6 reports whether a message from src is ICMPv6: src is an IPv6
// address that is not IPv4-mapped.
func isICMPv6(src netip.Addr) bool { return src.Is6() && !src.Is4In6() }

// icmpSum returns the one's-complement sum, not yet folded, that the
// checksum of msg covers: for ICMPv6 the RFC 8200 §8.1 pseudo-header (src,
// dst, upper-layer length, next header 58) is included, for ICMP (RFC 792)
// only the message. With skip, the checksum field msg[2:4] counts as zero.
func icmpSum(msg []byte, src, dst netip.Addr, skip bool) uint64 {
	var sum uint64
	if isICMPv6(src) {
		sum = pseudoSum(src, dst, ProtoICMPv6, len(msg))
	}
	if !skip || len(msg) <= 2 {
		return sum16(sum, msg)
	}
	sum = sum16(sum, msg[:2])
	if len(msg) > 4 {
		sum = sum16(sum, msg[4:]) // starts on an even offset: words stay aligned
	}
	return sum
}

// ICMPChecksum returns the checksum to store in msg[2:4] for an ICMP message
// msg (type first) sent from src to dst: for IPv4 the plain Internet
// checksum of msg (RFC 792; src and dst unused), for ICMPv6 (src an IPv6
// address that is not IPv4-mapped) with the RFC 8200 §8.1 pseudo-header
// (RFC 4443 §2.3). msg[2:4] is treated as zero while computing, so it need
// not be cleared first.
func ICMPChecksum(msg []byte, src, dst netip.Addr) uint16 {
	return ^fold(icmpSum(msg, src, dst, true))
}

// ICMPChecksumOK reports whether msg's stored checksum is right for a
// message from src to dst (see ICMPChecksum). It checks as RFC 1071
// receivers (and Linux) do, that the sum over the whole message, checksum
// included, is all ones; so where ICMPChecksum gives 0x0000 a stored 0xffff,
// the other one's-complement zero, is right too. A message shorter than 4
// bytes has no checksum and is not OK.
func ICMPChecksumOK(msg []byte, src, dst netip.Addr) bool {
	return len(msg) >= 4 && fold(icmpSum(msg, src, dst, false)) == 0xffff
}

// Echo is an ICMP or ICMPv6 echo request or reply (RFC 792, RFC 4443 §4).
type Echo struct {
	Type, Code uint8
	ID, Seq    uint16
	Data       []byte // aliases the message
}

// ParseEcho decodes the echo request or reply msg (the ICMP message, type
// first) into e. Any type and code are accepted: the caller checks e.Type
// (and the checksum with ICMPChecksumOK). e.Data aliases msg, with its
// capacity cut to its length so that an append cannot overwrite what
// follows. A message shorter than 8 bytes is an error wrapping ErrBadICMP,
// and leaves e zero.
func ParseEcho(msg []byte, e *Echo) error {
	*e = Echo{}
	if len(msg) < 8 {
		return errEchoShort
	}
	e.Type, e.Code = msg[0], msg[1]
	e.ID = binary.BigEndian.Uint16(msg[4:])
	e.Seq = binary.BigEndian.Uint16(msg[6:])
	e.Data = msg[8:len(msg):len(msg)]
	return nil
}

// PutEcho writes e into b as an ICMP message (type, code, a zero checksum,
// identifier, sequence number, data) and returns its length, 8+len(e.Data),
// or 0 without writing anything when b is too short. e.Data may already be
// in place at b[8:] (copy allows overlap). The caller then stores the
// checksum: binary.BigEndian.PutUint16(b[2:], ICMPChecksum(b[:n], src, dst)).
func PutEcho(b []byte, e *Echo) int {
	n := 8 + len(e.Data)
	if len(b) < n {
		return 0
	}
	b[0], b[1], b[2], b[3] = e.Type, e.Code, 0, 0
	binary.BigEndian.PutUint16(b[4:], e.ID)
	binary.BigEndian.PutUint16(b[6:], e.Seq)
	copy(b[8:n], e.Data)
	return n
}

// HopLimit returns the IPv4 TTL or IPv6 hop limit of the IP packet in b that
// in describes (Parse), or 0 when in is not an IP packet. Neighbor
// Discovery needs it: RFC 4861 drops messages whose hop limit is not 255.
func (in *Info) HopLimit(b []byte) uint8 {
	switch {
	case in.IPVersion == 4 && in.L3+8 < len(b):
		return b[in.L3+8]
	case in.IPVersion == 6 && in.L3+7 < len(b):
		return b[in.L3+7]
	}
	return 0
}

// TOS returns the IPv4 TOS or IPv6 traffic class of the IP packet in b
// that in describes (Parse), or 0 when in is not an IP packet: Linux
// answers an echo request with the request's.
func (in *Info) TOS(b []byte) uint8 {
	switch {
	case in.IPVersion == 4 && in.L3+1 < len(b):
		return b[in.L3+1]
	case in.IPVersion == 6 && in.L3+1 < len(b):
		return b[in.L3]<<4 | b[in.L3+1]>>4
	}
	return 0
}

// IPv4Options returns the options of the IPv4 packet in b that in
// describes (Parse): the header bytes after the first 20, aliasing b; nil
// for IPv6 or a header without options.
func (in *Info) IPv4Options(b []byte) []byte {
	if in.IPVersion != 4 || in.L4 <= in.L3+IPv4Len || in.L4 > len(b) {
		return nil
	}
	return b[in.L3+IPv4Len : in.L4]
}

// PutEchoHeader writes the 8-byte header of echo message e (type, code,
// checksum, identifier, sequence number) into b, its checksum covering
// e.Data as it would follow the header, from src to dst: for a message
// sent as fragments (Fragmenter.InitIP), whose data is never copied
// behind its header.
func PutEchoHeader(b []byte, e *Echo, src, dst netip.Addr) {
	b[0], b[1], b[2], b[3] = e.Type, e.Code, 0, 0
	binary.BigEndian.PutUint16(b[4:], e.ID)
	binary.BigEndian.PutUint16(b[6:], e.Seq)
	var sum uint64
	if isICMPv6(src) {
		sum = pseudoSum(src, dst, ProtoICMPv6, 8+len(e.Data))
	}
	// The header's 8 bytes keep the data's words aligned.
	c := ^fold(sum16(sum16(sum, b[:8]), e.Data))
	binary.BigEndian.PutUint16(b[2:], c)
}
