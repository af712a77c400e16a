package frame

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
)

// HeaderLen returns the length of an Ethernet header with ntags VLAN tags.
func HeaderLen(ntags int) int { return EthernetLen + ntags*VLANLen }

// PutEthernet writes an Ethernet header with the VLAN stack tags into b and
// returns its length. b must hold HeaderLen(len(tags)) bytes; tags must be
// valid (VLANs.Validate).
func PutEthernet(b []byte, dst, src MAC, tags VLANs, etherType uint16) int {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	off := 12
	for _, t := range tags {
		binary.BigEndian.PutUint16(b[off:], t.EffectiveTPID())
		binary.BigEndian.PutUint16(b[off+2:], t.TCI())
		off += VLANLen
	}
	binary.BigEndian.PutUint16(b[off:], etherType)
	return off + 2
}

// UDPHeader describes the IP and UDP headers PutUDP writes.
type UDPHeader struct {
	Src, Dst netip.AddrPort
	// TTL is the IPv4 TTL or the IPv6 hop limit; 0 means 64.
	TTL uint8
	// TOS is the IPv4 type-of-service byte or the IPv6 traffic class (DSCP<<2 | ECN).
	TOS uint8
	// ID is the IPv4 identification field; IPv6 ignores it.
	ID uint16
	// FlowLabel is the IPv6 flow label (20 bits); IPv4 ignores it.
	FlowLabel uint32
}

// Errors PutUDP returns.
var (
	ErrAddrFamily = errors.New("source and destination are not of the same IP family")
	ErrTooLong    = errors.New("datagram longer than an IP packet can be")
)

// IPUDPLen returns the length of the IP and UDP headers for addr's family.
func IPUDPLen(addr netip.Addr) int {
	if addr.Is4() || addr.Is4In6() {
		return IPv4Len + UDPLen
	}
	return IPv6Len + UDPLen
}

// PutUDP writes an IPv4 or IPv6 header and a UDP header into b, in front of
// the payload that the caller has already placed at b[IPUDPLen(h.Src.Addr()):]
// with length plen, and fills in every checksum. It returns the length of the
// whole IP packet. IPv4-mapped IPv6 addresses are sent as IPv4.
func PutUDP(b []byte, h *UDPHeader, plen int) (int, error) {
	src, dst := h.Src.Addr().Unmap(), h.Dst.Addr().Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return 0, ErrAddrFamily
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	ulen := UDPLen + plen
	var u []byte
	if src.Is4() {
		total := IPv4Len + ulen
		if total > 0xffff {
			return 0, ErrTooLong
		}
		ip := b[:IPv4Len]
		ip[0], ip[1] = 0x45, h.TOS
		binary.BigEndian.PutUint16(ip[2:], uint16(total))
		binary.BigEndian.PutUint16(ip[4:], h.ID)
		// DF, as Linux's default IP_PMTUDISC_WANT sets on a datagram that
		// fits; a longer one goes through Fragmenter, DF clear.
		binary.BigEndian.PutUint16(ip[6:], 0x4000)
		ip[8], ip[9] = ttl, ProtoUDP
		ip[10], ip[11] = 0, 0
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip)))
		u = b[IPv4Len : IPv4Len+ulen]
	} else {
		if ulen > 0xffff {
			return 0, ErrTooLong
		}
		ip := b[:IPv6Len]
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(h.TOS)<<20|h.FlowLabel&0xfffff)
		binary.BigEndian.PutUint16(ip[4:], uint16(ulen))
		ip[6], ip[7] = ProtoUDP, ttl
		s16, d16 := src.As16(), dst.As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
		u = b[IPv6Len : IPv6Len+ulen]
	}
	putUDPHeader(u[:UDPLen], h.Src, h.Dst, u[UDPLen:])
	return IPUDPLen(src) - UDPLen + ulen, nil
}

// putUDPHeader writes the UDP header of a datagram from src to dst whose
// payload is body into u (8 bytes), with its checksum over body wherever
// body is: behind u, or, for fragments, elsewhere.
func putUDPHeader(u []byte, src, dst netip.AddrPort, body []byte) {
	n := UDPLen + len(body)
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(n))
	u[6], u[7] = 0, 0
	// The header's 8 bytes keep the body's words aligned.
	c := ^fold(sum16(sum16(pseudoSum(src.Addr().Unmap(), dst.Addr().Unmap(), ProtoUDP, n), u), body))
	if c == 0 {
		c = 0xffff // zero means "no checksum" in IPv4 and is illegal in IPv6
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// pseudoSum returns the unfolded sum of the IPv4 (RFC 768) or IPv6 (RFC
// 8200 §8.1) pseudo-header for n bytes of protocol proto from src to dst.
func pseudoSum(src, dst netip.Addr, proto uint8, n int) uint64 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = sum16(sum16(0, s[:]), d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = sum16(sum16(0, s[:]), d[:])
	}
	return sum + uint64(proto) + uint64(n)
}

// UDPChecksumOK reports whether the UDP checksum of the datagram that in
// describes is right. An IPv4 datagram without a checksum (zero) is accepted;
// in IPv6 a zero checksum is invalid.
func UDPChecksumOK(b []byte, in *Info) bool {
	u := b[in.L4:in.PayloadEnd]
	stored := binary.BigEndian.Uint16(u[6:])
	if stored == 0 {
		return in.IPVersion == 4
	}
	// The pseudo-header has the IPv6 header's destination also after a
	// routing header: Parse accepts one only with no segments left, when
	// that is the final destination (RFC 8200 §8.1).
	sum := sum16(sum16(0, in.SrcIP(b)), in.DstIP(b))
	sum += uint64(ProtoUDP) + uint64(len(u))
	return fold(sum16(sum, u)) == 0xffff
}

// IPv4ChecksumOK reports whether the IPv4 header checksum of the packet that
// in describes is right.
func IPv4ChecksumOK(b []byte, in *Info) bool {
	ihl := int(b[in.L3]&0x0f) * 4
	return fold(sum16(0, b[in.L3:in.L3+ihl])) == 0xffff
}

// Checksum returns the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 { return ^fold(sum16(0, b)) }

// sum16 adds b as big-endian 16-bit words to sum, eight bytes at a time; the
// carries are folded later.
func sum16(sum uint64, b []byte) uint64 {
	var carry uint64
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, carry, 0)
	// 2^32 ≡ 1 in one's-complement arithmetic, so this fold keeps the value
	// and leaves room for the additions below.
	sum = sum>>32 + sum&0xffffffff + carry
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// fold reduces a 64-bit one's-complement sum to 16 bits.
func fold(sum uint64) uint16 {
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}
