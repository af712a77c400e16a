// Package frame is the one place where Ethernet frames are parsed and built:
// Ethernet with up to four VLAN tags, IPv4 (with options), IPv6 (with
// extension headers) and UDP, plus the Internet checksum.
//
// Parse works on offsets into the caller's buffer and never copies or
// allocates, so the relay can parse each frame once on its read loop and hand
// the result up the stack.
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

// Errors Parse returns; all mean the frame is malformed and must be dropped.
var (
	ErrShort       = errors.New("frame shorter than its headers")
	ErrTooManyTags = errors.New("more than 4 VLAN tags")
	ErrBadIPv4     = errors.New("malformed IPv4 header")
	ErrBadIPv6     = errors.New("malformed IPv6 header chain")
	ErrBadUDP      = errors.New("malformed UDP header")
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
	Proto     uint8 // upper-layer protocol after IPv6 extension headers
	Fragment  bool  // an IP fragment: no L4 header is parsed
	L4        int   // offset of the upper-layer header (IP only)

	UDP        bool // a well-formed UDP datagram
	SrcPort    uint16
	DstPort    uint16
	Payload    int // offset of the UDP payload
	PayloadEnd int // end of the UDP payload, by the UDP length field

	finalDst int // offset of an IPv6 routing header's final destination, or 0
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
// or a UDP header whose length does not fit the IP payload. A payload of any
// other EtherType or IP protocol is not an error.
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
	in.IPVersion = 4
	in.End = in.L3 + total
	in.Proto = p[9]
	in.L4 = in.L3 + ihl
	// MF set or a non-zero offset: only a reassembler could use the payload.
	in.Fragment = binary.BigEndian.Uint16(p[6:])&0x3fff != 0
	return in.parseL4(b)
}

// IPv6 extension headers the parser walks through.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6DstOpts  = 60
)

// maxExtHeaders bounds the work a hostile chain of extension headers costs.
const maxExtHeaders = 8

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
	off := in.L3 + IPv6Len
	for i := 0; ; i++ {
		switch next {
		case ip6HopByHop, ip6Routing, ip6DstOpts, ip6AH, ip6Fragment:
		default:
			in.IPVersion, in.Proto, in.L4 = 6, next, off
			return in.parseL4(b)
		}
		if i == maxExtHeaders || off+8 > in.End {
			return ErrBadIPv6
		}
		var n int
		switch next {
		case ip6Fragment:
			n = 8
			if binary.BigEndian.Uint16(b[off+2:])&0xfff9 != 0 { // offset or M flag
				in.Fragment = true
			}
			if binary.BigEndian.Uint16(b[off+2:])&0xfff8 != 0 {
				// Not the first fragment: what follows is data, not headers.
				in.IPVersion, in.Proto, in.L4 = 6, b[off], off+n
				return nil
			}
		case ip6AH:
			n = (int(b[off+1]) + 2) * 4
		default:
			n = (int(b[off+1]) + 1) * 8
		}
		if off+n > in.End {
			return ErrBadIPv6
		}
		if next == ip6Routing {
			in.finalDst = finalDestination(b[off : off+n])
			if in.finalDst != 0 {
				in.finalDst += off
			}
		}
		next = b[off]
		off += n
	}
}

// finalDestination returns the offset, within routing header h, of the
// address that is the packet's final destination while segments are left
// (RFC 8200 §8.1: the upper-layer checksum uses it), or 0 when the IPv6
// header's destination is final or the routing type is not known.
func finalDestination(h []byte) int {
	if len(h) < 8 || h[3] == 0 { // no segments left: the destination is final
		return 0
	}
	addrs := (len(h) - 8) / 16
	switch h[2] {
	case 0: // type 0 (deprecated): the last address of the list
		if addrs > 0 {
			return 8 + (addrs-1)*16
		}
	case 2: // type 2 (Mobile IPv6): the home address
		if addrs == 1 {
			return 8
		}
	case 4: // segment routing: Segment List[0] is the last segment
		if addrs > 0 {
			return 8
		}
	}
	return 0
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
