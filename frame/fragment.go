package frame

import (
	"encoding/binary"
	"errors"
)

// IP fragments (RFC 791 §2.3, RFC 8200 §4.5): the fields a reassembler
// needs, the header of the datagram it puts back together, and a
// Fragmenter that cuts a UDP datagram into fragments of a given MTU.

// Largest UDP payloads: an IPv4 packet is at most 65,535 bytes with its
// 20-byte header, and an IPv6 payload (the UDP header and the data) at most
// 65,535 bytes, as the length fields allow.
const (
	MaxUDPPayload4 = 0xffff - IPv4Len - UDPLen // 65,507
	MaxUDPPayload6 = 0xffff - UDPLen           // 65,527
)

// IPv6FragmentLen is the length of an IPv6 Fragment header.
const IPv6FragmentLen = 8

// ErrBadFragment is a fragment whose fields cannot belong to a datagram:
// data past the largest datagram, or, in IPv6, a fragment that is not the
// last and whose length is not a multiple of 8 (RFC 8200 §4.5: Linux drops
// it with an ICMP parameter problem, we without).
var ErrBadFragment = errors.New("malformed IP fragment")

// Fragment describes one IP fragment of a frame, as offsets into it.
type Fragment struct {
	ID     uint32 // identification: 16 bits in IPv4, 32 in IPv6
	Offset int    // where the data goes in the datagram's fragmentable part, in bytes
	More   bool   // more fragments follow (MF / M flag)
	// Data and DataEnd delimit the fragment's data in the frame.
	Data, DataEnd int
	// Unfrag ends the part every fragment repeats: the IPv4 header with its
	// options, or the IPv6 header and the extension headers before the
	// Fragment header (where that header starts).
	Unfrag int
	// NextAt is, in IPv6, the offset of the byte that names the Fragment
	// header (the IPv6 header's next header field or the previous extension
	// header's); a reassembled datagram gets Next there instead.
	NextAt int
	// Next is what the fragmentable part starts with: the IPv4 protocol,
	// or the IPv6 Fragment header's next header, which may be an extension
	// header before the upper layer's (Info.Proto of a first fragment is
	// the upper layer's, of a later one this).
	Next uint8
}

// ParseFragment returns the fragment fields of frame b, which Parse
// described in in with in.Fragment set. Parse has checked the headers; it
// fails only for fields no datagram can have (ErrBadFragment).
func ParseFragment(b []byte, in *Info) (Fragment, error) {
	var f Fragment
	if !in.Fragment {
		return f, ErrBadFragment
	}
	if in.IPVersion == 4 {
		p := b[in.L3:]
		fo := binary.BigEndian.Uint16(p[6:])
		f.ID, f.Next = uint32(binary.BigEndian.Uint16(p[4:])), p[9]
		f.Offset = int(fo&0x1fff) * 8
		f.More = fo&0x2000 != 0
		f.Data, f.DataEnd, f.Unfrag = in.L4, in.End, in.L4
		if f.More && (f.DataEnd-f.Data)%8 != 0 {
			// Linux trims a non-last IPv4 fragment to a multiple of 8
			// (ip_frag_queue); the tail would be overwritten by the next.
			f.DataEnd -= (f.DataEnd - f.Data) % 8
		}
		if f.Offset+f.DataEnd-f.Data > 0xffff-(f.Unfrag-in.L3) {
			return f, ErrBadFragment
		}
		return f, nil
	}
	// Walk the chain again to the Fragment header: Parse kept only where
	// the upper layer starts, and fragments are rare enough that one more
	// walk costs less than a field in every frame's Info.
	next, at := b[in.L3+6], in.L3+6
	for off := in.L3 + IPv6Len; off+8 <= in.End; {
		if next == ip6Fragment {
			h := b[off : off+IPv6FragmentLen]
			fo := binary.BigEndian.Uint16(h[2:])
			f.ID, f.Next = binary.BigEndian.Uint32(h[4:]), h[0]
			f.Offset = int(fo &^ 7)
			f.More = fo&1 != 0
			f.Unfrag, f.NextAt = off, at
			f.Data, f.DataEnd = off+IPv6FragmentLen, in.End
			if (f.More && (f.DataEnd-f.Data)%8 != 0) ||
				f.Offset+f.DataEnd-f.Data > 0xffff-(f.Unfrag-in.L3-IPv6Len) {
				return f, ErrBadFragment
			}
			return f, nil
		}
		if next != ip6HopByHop && next != ip6Routing && next != ip6DstOpts {
			break
		}
		at, next = off, b[off]
		off += (int(b[off+1]) + 1) * 8
	}
	return f, ErrBadFragment
}

// IsIPv6ExtensionHeader reports whether next names an IPv6 extension header
// Parse walks (hop-by-hop, routing, destination options, fragment): what a
// later fragment's Info.Proto is when the headers go on after its Fragment
// header.
func IsIPv6ExtensionHeader(next uint8) bool {
	switch next {
	case ip6HopByHop, ip6Routing, ip6Fragment, ip6DstOpts:
		return true
	}
	return false
}

// PutReassembled turns b, a copy of a datagram's first fragment's headers
// (Ethernet up to f.Unfrag) followed by its whole fragmentable part of n
// bytes, into the unfragmented datagram: the IPv4 length, flags, offset and
// checksum, or the IPv6 payload length and next header (f.Next) without the
// Fragment header. l3 is where the IP header starts.
func PutReassembled(b []byte, l3 int, f *Fragment, n int) {
	ip := b[l3:]
	if ip[0]>>4 == 4 {
		ihl := f.Unfrag - l3
		binary.BigEndian.PutUint16(ip[2:], uint16(ihl+n))
		binary.BigEndian.PutUint16(ip[6:], 0)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:ihl]))
		return
	}
	binary.BigEndian.PutUint16(ip[4:], uint16(f.Unfrag-l3-IPv6Len+n))
	b[f.NextAt] = f.Next
}

// Fragmenter cuts one IP packet's payload into fragments that each fit an
// MTU, allocating nothing: Init (a UDP datagram) or InitIP (any protocol)
// with the headers and payload, then Next into one frame's Ethernet
// payload after another until Done. The upper-layer checksum covers the
// whole payload, so it is computed once, before the first fragment. It
// keeps the IPv4 options in an array of its own, so a copy made after
// InitIP would still point at the original's: do not copy one in use.
type Fragmenter struct {
	ip    IPHeader
	flow  uint32
	id    uint32
	head  [8]byte // the upper-layer header, before body
	opts  [MaxIPv4Options]byte
	hlen  int
	body  []byte
	total int // hlen + len(body)
	off   int // next byte of the fragmentable part to send
	chunk int // fragment data length (multiple of 8) but for the last
	v4    bool
}

// Init prepares the fragments of a UDP datagram of payload with headers h
// (IPv4 TTL, TOS and ID from h, and id as the IPv6 identification) for
// IP packets of at most mtu bytes. It fails if the datagram is longer than
// IP allows (ErrTooLong) or mtu leaves no room for 8 bytes of data.
func (fr *Fragmenter) Init(h *UDPHeader, payload []byte, mtu int, id uint32) error {
	src, dst := h.Src.Addr().Unmap(), h.Dst.Addr().Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return ErrAddrFamily
	}
	if (src.Is4() && len(payload) > MaxUDPPayload4) || len(payload) > MaxUDPPayload6 {
		return ErrTooLong
	}
	var u [UDPLen]byte
	putUDPHeader(u[:], h.Src, h.Dst, payload)
	ip := IPHeader{Src: src, Dst: dst, Proto: ProtoUDP, TTL: h.TTL, TOS: h.TOS, ID: h.ID}
	if err := fr.InitIP(&ip, u[:], payload, mtu, id); err != nil {
		return err
	}
	fr.flow = h.FlowLabel
	return nil
}

// InitIP prepares the fragments of an IP packet with header h whose
// payload is head (an upper-layer header of at most 8 bytes, its checksum
// in place) followed by body, with id as the IPv6 identification (IPv4
// takes h.ID), for IP packets of at most mtu bytes. body is read by Next,
// not copied: it must stay unchanged until Done. The
// first fragment carries h.Options as they are; later ones the same length
// of options with those not to be copied into every fragment (RFC 791:
// the copied flag clear, as record route and timestamp have it) turned
// into no-operations, as Linux's ip_options_fragment does.
func (fr *Fragmenter) InitIP(h *IPHeader, head, body []byte, mtu int, id uint32) error {
	src, dst := h.Src.Unmap(), h.Dst.Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return ErrAddrFamily
	}
	if len(head) > len(fr.head) {
		return ErrTooLong
	}
	if !optionsFit(src, h.Options) {
		return errIPOpts
	}
	// Field by field, and the options into fr's own array, so that h and
	// its options stay where the caller has them (on its stack).
	*fr = Fragmenter{id: id, body: body, v4: src.Is4(), hlen: len(head), total: len(head) + len(body)}
	fr.ip = IPHeader{Src: src, Dst: dst, Proto: h.Proto, TTL: h.TTL, TOS: h.TOS, ID: h.ID}
	fr.ip.Options = fr.opts[:copy(fr.opts[:], h.Options)]
	copy(fr.head[:], head)
	if fr.ip.TTL == 0 {
		fr.ip.TTL = 64
	}
	room, max := mtu-IPv6Len-IPv6FragmentLen, 0xffff
	if fr.v4 {
		hl := IPv4Len + len(h.Options)
		room, max = mtu-hl, 0xffff-hl
	}
	if fr.total > max {
		return ErrTooLong
	}
	fr.chunk = room &^ 7
	if fr.chunk < 8 {
		return ErrTooLong
	}
	return nil
}

// Done reports whether every fragment has been written.
func (fr *Fragmenter) Done() bool { return fr.off >= fr.total }

// Next writes the next fragment, IP header and data, into b and returns
// the IP packet's length. b must hold the MTU given to Init.
func (fr *Fragmenter) Next(b []byte) int {
	n := min(fr.chunk, fr.total-fr.off)
	more := fr.off+n < fr.total
	hl := IPv4Len + len(fr.ip.Options)
	if !fr.v4 {
		hl = IPv6Len + IPv6FragmentLen
	}
	data := b[hl : hl+n]
	// The fragmentable part is the upper-layer header, then the body.
	k := 0
	if fr.off < fr.hlen {
		k = copy(data, fr.head[fr.off:fr.hlen])
	}
	copy(data[k:], fr.body[max(fr.off-fr.hlen, 0):])
	// PutIP writes what every packet has; then the fragment's own fields.
	fo := uint16(fr.off)
	if fr.v4 {
		fo >>= 3
		if more {
			fo |= 0x2000
		}
		ip := b[:hl]
		_, _ = PutIP(ip, &fr.ip, n)
		if fr.off > 0 {
			uncopied(ip[IPv4Len:])
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], Checksum(ip))
	} else {
		if more {
			fo |= 1
		}
		h := fr.ip
		h.Proto = ip6Fragment
		_, _ = PutIP(b, &h, IPv6FragmentLen+n)
		binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(fr.ip.TOS)<<20|fr.flow&0xfffff)
		fh := b[IPv6Len : IPv6Len+IPv6FragmentLen]
		fh[0], fh[1] = fr.ip.Proto, 0
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], fr.id)
	}
	fr.off += n
	return hl + n
}

// uncopied turns the options o of a fragment after the first that RFC 791
// does not copy into every fragment into no-operations, keeping the
// header's length.
func uncopied(o []byte) {
	for x := range ipv4Options(o) {
		if x[0]&0x80 == 0 {
			for i := range x {
				x[i] = ip4OptNOP
			}
		}
	}
}
