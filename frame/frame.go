package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// EtherTypes the project knows by name.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd
)

// IP protocol numbers the parser handles.
const (
	ProtoUDP uint8 = 17
)

// Header sizes.
const (
	EthernetLen = 14
	VLANLen     = 4
	IPv4Len     = 20
	IPv6Len     = 40
	UDPLen      = 8
)

// MAC is an Ethernet address in a comparable, allocation-free form.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// MACFrom converts a 6-byte hardware address.
func MACFrom(hw net.HardwareAddr) (MAC, error) {
	var m MAC
	if len(hw) != 6 {
		return m, fmt.Errorf("MAC %q is not a 6-byte Ethernet address", hw.String())
	}
	copy(m[:], hw)
	return m, nil
}

// IsGroup reports whether m is a broadcast or multicast address.
func (m MAC) IsGroup() bool { return m[0]&1 != 0 }

// HardwareAddr returns m as a new net.HardwareAddr.
func (m MAC) HardwareAddr() net.HardwareAddr { return append(net.HardwareAddr(nil), m[:]...) }

// String prints m as net.HardwareAddr does.
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// StackKey is the comparable form of a VLAN stack for demultiplexing: for
// each tag, outermost first, TPID<<16 | VID.
type StackKey struct {
	Tags [MaxTags]uint32
	N    uint32
}

// Key identifies an endpoint: destination MAC, VLAN stack and innermost
// EtherType. Its fields leave no padding, so the map hashes it as one block
// of memory.
type Key struct {
	MAC       MAC
	EtherType uint16
	Stack     StackKey
}

// Errors Parse returns; all mean the frame must be dropped: it is malformed,
// or Linux would drop its IP packet for a header the host cannot act on
// (see "IP options and extension headers" in the package documentation).
var (
	ErrShort       = errors.New("frame shorter than its headers")
	ErrTooManyTags = errors.New("more than 4 VLAN tags")
	ErrBadIPv4     = errors.New("malformed IPv4 header")
	ErrBadIPv6     = errors.New("malformed IPv6 header chain")
	ErrBadUDP      = errors.New("malformed UDP header")

	// ErrIPv4Option is an IPv4 option Linux drops the packet for: a
	// malformed one, a source route, a CIPSO label. It wraps ErrBadIPv4.
	ErrIPv4Option = fmt.Errorf("%w: an option Linux drops the packet for", ErrBadIPv4)
	// ErrIPv6Option is a hop-by-hop or destination option Linux drops the
	// packet for: malformed, an unknown option whose action bits say
	// discard, more than 8 options or 7 bytes of padding in a row, a jumbo
	// payload. It wraps ErrBadIPv6.
	ErrIPv6Option = fmt.Errorf("%w: an option Linux drops the packet for", ErrBadIPv6)
	// ErrIPv6Routing is a routing header Linux drops the packet for: one with
	// segments left, so that this host is not the final destination, a
	// segment routing header (types 3 and 4), or one to a multicast
	// destination. It wraps ErrBadIPv6.
	ErrIPv6Routing = fmt.Errorf("%w: a routing header Linux drops the packet for (not the final destination)", ErrBadIPv6)
)

// Info is what Parse learns about a frame, as offsets into it.
type Info struct {
	Key Key // destination MAC, VLAN stack (TPID+VID) and innermost EtherType
	// TCI holds each tag's tag control information (PCP, DEI, VID), outermost
	// first; Key.Stack has the TPIDs.
	TCI [MaxTags]uint16

	L3  int // offset of the Ethernet payload (after the VLAN tags)
	End int // end of the Ethernet payload; IP padding is trimmed off

	IPVersion uint8 // 4 or 6 when the payload is a well-formed IP packet, else 0
	Proto     uint8 // upper-layer protocol after IPv6 extension headers (AH is one)
	Fragment  bool  // an IP fragment: no L4 header is parsed
	L4        int   // offset of the upper-layer header (IP only)

	UDP        bool // a well-formed UDP datagram
	SrcPort    uint16
	DstPort    uint16
	Payload    int // offset of the UDP payload
	PayloadEnd int // end of the UDP payload, by the UDP length field
}

// VLANs returns the frame's VLAN stack with PCP and DEI, outermost first.
func (in *Info) VLANs() VLANs {
	if in.Key.Stack.N == 0 {
		return nil
	}
	s := make(VLANs, in.Key.Stack.N)
	for i := range s {
		s[i] = VLANFromTCI(uint16(in.Key.Stack.Tags[i]>>16), in.TCI[i])
	}
	return s
}

// SrcMAC returns the source MAC of frame b that in describes.
func SrcMAC(b []byte) (m MAC) {
	copy(m[:], b[6:12])
	return m
}

// SrcIP returns the source address bytes of the IP packet (4 or 16 bytes,
// aliasing b).
func (in *Info) SrcIP(b []byte) []byte {
	if in.IPVersion == 4 {
		return b[in.L3+12 : in.L3+16]
	}
	return b[in.L3+8 : in.L3+24]
}

// DstIP returns the destination address bytes of the IP packet (aliasing b).
func (in *Info) DstIP(b []byte) []byte {
	if in.IPVersion == 4 {
		return b[in.L3+16 : in.L3+20]
	}
	return b[in.L3+24 : in.L3+40]
}

// Parse decodes frame b into in. It returns an error for a frame that is
// malformed at any layer it knows: a truncated Ethernet header or VLAN tag,
// more than four tags, an IPv4/IPv6 header whose lengths do not fit the frame,
// or a UDP header whose length does not fit the IP payload; and for IPv4
// options and IPv6 extension headers that Linux drops the packet for (see the
// package documentation). A payload of any other EtherType or IP protocol is
// not an error.
func Parse(b []byte, in *Info) error {
	*in = Info{}
	if len(b) < EthernetLen {
		return ErrShort
	}
	copy(in.Key.MAC[:], b[0:6])
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	for IsTPID(et) {
		if in.Key.Stack.N == MaxTags {
			return ErrTooManyTags
		}
		if len(b) < off+2+VLANLen {
			return ErrShort
		}
		in.Key.Stack.Tags[in.Key.Stack.N] = uint32(et)<<16 | uint32(binary.BigEndian.Uint16(b[off+2:])&0x0fff)
		in.TCI[in.Key.Stack.N] = binary.BigEndian.Uint16(b[off+2:])
		in.Key.Stack.N++
		off += VLANLen
		et = binary.BigEndian.Uint16(b[off:])
	}
	in.Key.EtherType = et
	in.L3 = off + 2
	in.End = len(b)
	switch et {
	case EtherTypeIPv4:
		return in.parseIPv4(b)
	case EtherTypeIPv6:
		return in.parseIPv6(b)
	}
	return nil
}

func (in *Info) parseIPv4(b []byte) error {
	p := b[in.L3:]
	if len(p) < IPv4Len || p[0]>>4 != 4 {
		return ErrBadIPv4
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	if ihl < IPv4Len || total < ihl || total > len(p) {
		return ErrBadIPv4
	}
	if ihl > IPv4Len && !ipv4OptionsOK(p[IPv4Len:ihl]) {
		return ErrIPv4Option
	}
	in.IPVersion = 4
	in.End = in.L3 + total
	in.Proto = p[9]
	in.L4 = in.L3 + ihl
	// MF set or a non-zero offset: only a reassembler could use the payload.
	in.Fragment = binary.BigEndian.Uint16(p[6:])&0x3fff != 0
	return in.parseL4(b)
}

// IPv6 extension headers the parser walks through. AH (51) is not one of
// them: with no IPsec here there is no key to check it with, so, as in IPv4,
// it is the upper-layer protocol (Linux drops such packets: no security
// association).
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6DstOpts  = 60
)

// parseIPv6 walks the extension header chain to the upper-layer header. It
// has no limit on the number of headers but the packet's length, as Linux
// before 7.1 (which stops after 12 past hop-by-hop): each step moves on by
// 8 bytes or more and every option walk by one byte or more, so a hostile
// chain costs at most one step per byte, as a checksum does.
func (in *Info) parseIPv6(b []byte) error {
	p := b[in.L3:]
	if len(p) < IPv6Len || p[0]>>4 != 6 {
		return ErrBadIPv6
	}
	plen := int(binary.BigEndian.Uint16(p[4:]))
	if IPv6Len+plen > len(p) {
		return ErrBadIPv6
	}
	in.End = in.L3 + IPv6Len + plen
	next := p[6]
	first := in.L3 + IPv6Len
	for off := first; ; {
		switch next {
		case ip6HopByHop, ip6Routing, ip6DstOpts, ip6Fragment:
		default:
			in.IPVersion, in.Proto, in.L4 = 6, next, off
			return in.parseL4(b)
		}
		if off+8 > in.End {
			return ErrBadIPv6
		}
		n := 8
		if next != ip6Fragment {
			n = (int(b[off+1]) + 1) * 8
			if off+n > in.End {
				return ErrBadIPv6
			}
		}
		h := b[off : off+n]
		switch next {
		case ip6HopByHop:
			// Only right after the IPv6 header (RFC 8200 §4.1); Linux
			// drops one elsewhere as an unknown next header.
			if off != first {
				return ErrBadIPv6
			}
			if !optionsOK(h, off-in.L3, true) {
				return ErrIPv6Option
			}
		case ip6DstOpts:
			if !optionsOK(h, off-in.L3, false) {
				return ErrIPv6Option
			}
		case ip6Routing:
			if !routingOK(h, p[24]) {
				return ErrIPv6Routing
			}
		case ip6Fragment:
			fo := binary.BigEndian.Uint16(h[2:])
			if fo&0xfff9 != 0 { // offset or M flag
				in.Fragment = true
			}
			if fo&0xfff8 != 0 {
				// Not the first fragment: what follows is data, not headers.
				in.IPVersion, in.Proto, in.L4 = 6, h[0], off+n
				return nil
			}
		}
		next = h[0]
		off += n
	}
}

func (in *Info) parseL4(b []byte) error {
	if in.Proto != ProtoUDP || in.Fragment {
		return nil
	}
	if in.L4+UDPLen > in.End {
		return ErrBadUDP
	}
	u := b[in.L4:]
	ulen := int(binary.BigEndian.Uint16(u[4:]))
	if ulen < UDPLen || in.L4+ulen > in.End {
		return ErrBadUDP
	}
	in.UDP = true
	in.SrcPort = binary.BigEndian.Uint16(u[0:])
	in.DstPort = binary.BigEndian.Uint16(u[2:])
	in.Payload = in.L4 + UDPLen
	// The UDP length, not the IP length, ends the datagram.
	in.PayloadEnd = in.L4 + ulen
	return nil
}
