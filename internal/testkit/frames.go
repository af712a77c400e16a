package testkit

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes of test frames.
const (
	// EtherTypeExp1 and EtherTypeExp2 are the IEEE local experimental
	// EtherTypes: no stack on the path (a kernel's included) does anything
	// with them, and parsers do not look into their payload.
	EtherTypeExp1 uint16 = 0x88b5
	EtherTypeExp2 uint16 = 0x88b6
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeIPv6 uint16 = 0x86dd
)

// EthernetLen is the length of an Ethernet header without VLAN tags.
const EthernetLen = 14

// Broadcast is the broadcast MAC, ff:ff:ff:ff:ff:ff.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Multicast is an IPv4 multicast MAC (01:00:5e:00:00:01, all hosts).
var Multicast = [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}

// MAC returns test MAC number i (0 <= i < 1<<24): the locally administered
// unicast address 02:c0:00 followed by i in three bytes. Links that carry
// frames of their own (a kernel's) can be filtered with FromTestMAC.
func MAC(i int) [6]byte {
	return [6]byte{0x02, 0xc0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

// FromTestMAC reports whether frame f comes from one of the addresses MAC
// returns.
func FromTestMAC(f []byte) bool { return len(f) >= 12 && f[6] == 0x02 && f[7] == 0xc0 && f[8] == 0 }

// HeaderLen returns the length of an Ethernet header with ntags VLAN tags.
func HeaderLen(ntags int) int { return EthernetLen + ntags*TagLen }

// AppendEthernet appends an Ethernet header to b: dst, src, the tags
// outermost first, then etherType.
func AppendEthernet(b []byte, dst, src [6]byte, tags []Tag, etherType uint16) []byte {
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	for _, t := range tags {
		b = t.AppendTo(b)
	}
	return binary.BigEndian.AppendUint16(b, etherType)
}

// Frame returns an Ethernet frame: the header AppendEthernet writes, then
// payload. It adds no padding: frames shorter than 60 bytes stay short.
func Frame(dst, src [6]byte, tags []Tag, etherType uint16, payload []byte) []byte {
	b := make([]byte, 0, HeaderLen(len(tags))+len(payload))
	return append(AppendEthernet(b, dst, src, tags, etherType), payload...)
}

// Pattern returns n bytes of a recognisable pattern, byte(i*7 + 3): no
// zero runs that padding could be mistaken for, and a shift shows.
func Pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

// PatternFrame returns a frame whose payload is Pattern(n).
func PatternFrame(dst, src [6]byte, tags []Tag, etherType uint16, n int) []byte {
	return Frame(dst, src, tags, etherType, Pattern(n))
}

// SeqFrame returns a frame of size bytes in all whose payload starts with
// seq (big endian) and goes on with the Pattern. size is raised to the
// header and four bytes if it is shorter.
func SeqFrame(dst, src [6]byte, tags []Tag, etherType uint16, seq uint32, size int) []byte {
	n := max(size-HeaderLen(len(tags)), 4)
	p := Pattern(n)
	binary.BigEndian.PutUint32(p, seq)
	return Frame(dst, src, tags, etherType, p)
}

// SeqOf returns the sequence number SeqFrame put in f, skipping f's VLAN
// tags, and false if f is too short to hold one.
func SeqOf(f []byte) (uint32, bool) {
	off := PayloadOffset(f)
	if off < 0 || len(f) < off+4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[off:]), true
}

// PayloadOffset returns where f's Ethernet payload starts: after the MACs,
// every VLAN tag (a TPID IsTPID knows) and the innermost EtherType. It
// returns -1 if f ends inside its header.
func PayloadOffset(f []byte) int {
	off := 12
	for {
		if len(f) < off+2 {
			return -1
		}
		if !IsTPID(binary.BigEndian.Uint16(f[off:])) {
			return off + 2
		}
		off += TagLen
	}
}

// Tags returns the VLAN tags of frame f, outermost first, as far as f
// holds them whole.
func Tags(f []byte) []Tag {
	var tags []Tag
	for off := 12; len(f) >= off+TagLen && IsTPID(binary.BigEndian.Uint16(f[off:])); off += TagLen {
		tags = append(tags, TagFromTCI(binary.BigEndian.Uint16(f[off:]), binary.BigEndian.Uint16(f[off+2:])))
	}
	return tags
}

// UDPFrame returns an Ethernet frame carrying a UDP datagram from `from` to
// `to` with payload, every length and checksum filled in, with the defaults
// of the project's builder: IPv4 with TOS 0, identification 0, DF set and
// TTL 64; IPv6 with traffic class and flow label 0 and hop limit 64. The
// EtherType follows the address family; from and to must be of the same
// one (IPv4-mapped IPv6 addresses count as IPv4). It panics otherwise, a
// mistake in the test.
func UDPFrame(dst, src [6]byte, tags []Tag, from, to netip.AddrPort, payload []byte) []byte {
	s, d := from.Addr().Unmap(), to.Addr().Unmap()
	if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() {
		panic("testkit.UDPFrame: addresses " + from.String() + " and " + to.String() + " are not of one IP family")
	}
	et := EtherTypeIPv6
	if s.Is4() {
		et = EtherTypeIPv4
	}
	b := AppendEthernet(make([]byte, 0, HeaderLen(len(tags))+48+len(payload)), dst, src, tags, et)
	ulen := 8 + len(payload)
	if s.Is4() {
		ip := len(b)
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+ulen))
		b = append(b, 0, 0, 0x40, 0, 64, 17, 0, 0) // ID 0, DF, TTL 64, UDP, checksum
		b = append(b, s.AsSlice()...)
		b = append(b, d.AsSlice()...)
		binary.BigEndian.PutUint16(b[ip+10:], ^onesSum(0, b[ip:ip+20]))
	} else {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(ulen))
		b = append(b, 17, 64)
		b = append(b, s.AsSlice()...)
		b = append(b, d.AsSlice()...)
	}
	u := len(b)
	b = binary.BigEndian.AppendUint16(b, from.Port())
	b = binary.BigEndian.AppendUint16(b, to.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(ulen))
	b = append(b, 0, 0)
	b = append(b, payload...)
	// The pseudo-header: addresses, protocol, UDP length.
	sum := uint64(onesSum(0, s.AsSlice())) + uint64(onesSum(0, d.AsSlice())) + 17 + uint64(ulen)
	c := ^onesSum(sum, b[u:])
	if c == 0 {
		c = 0xffff // zero means "no checksum"
	}
	binary.BigEndian.PutUint16(b[u+6:], c)
	return b
}

// onesSum adds b as big-endian 16-bit words to sum in one's-complement
// arithmetic (RFC 1071) and returns the sum folded to 16 bits.
func onesSum(s uint64, b []byte) uint16 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint64(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
