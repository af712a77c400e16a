package frame

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Multicast Listener Discovery: MLDv2 (RFC 3810) and MLDv1 (RFC 2710),
// the messages a host sends so that routers and snooping switches deliver
// its multicast groups (the solicited-node groups of its addresses among
// them) to it.

// MLD message types (ICMPv6).
const (
	MLDQuery    uint8 = 130 // RFC 2710 §3, RFC 3810 §5.1: both versions
	MLDv1Report uint8 = 131 // RFC 2710 §3
	MLDv1Done   uint8 = 132 // RFC 2710 §3
	MLDv2Report uint8 = 143 // RFC 3810 §5.2
)

// MLDv2 multicast address record types (RFC 3810 §5.2.12).
const (
	MLDIsInclude       uint8 = 1 // current state: include the sources
	MLDIsExclude       uint8 = 2 // current state: exclude the sources (none: listen to all)
	MLDChangeToInclude uint8 = 3 // filter change; with no sources: leave
	MLDChangeToExclude uint8 = 4 // filter change; with no sources: join
)

// Where MLD messages go: reports and, in MLDv1, done messages.
var (
	AllMLDv2Routers = netip.MustParseAddr("ff02::16")
	AllRouters      = netip.MustParseAddr("ff02::2")
)

// MLDHopByHopLen is the length of the hop-by-hop options header every MLD
// message carries, holding the router alert option (RFC 2711) that makes
// routers look at it.
const MLDHopByHopLen = 8

// ErrBadMLD is an MLD query too short for its version or with a source
// count beyond its end.
var ErrBadMLD = fmt.Errorf("%w: malformed MLD query", ErrBadICMP)

// MLDReportLen returns the length of the ICMPv6 part of an MLDv2 report of
// n address records without sources: what PutMLDv2Report writes after the
// IPv6 and hop-by-hop headers.
func MLDReportLen(n int) int { return 8 + 20*n }

// PutMLDv2Report writes into b an IPv6 packet from src carrying an MLDv2
// report (RFC 3810 §5.2) to ff02::16 with one address record of type rec
// and no sources for each of groups, and returns its length. The packet
// is as RFC 3810 asks and Linux sends it: hop limit 1, a hop-by-hop header
// with the router alert option for MLD, and src a link-local address or
// the unspecified one (RFC 3590: before the host has a link-local one). b
// needs IPv6Len + MLDHopByHopLen + MLDReportLen(len(groups)) bytes.
func PutMLDv2Report(b []byte, src netip.Addr, rec uint8, groups []netip.Addr) (int, error) {
	m := MLDReportLen(len(groups))
	msg, err := putMLD(b, src, AllMLDv2Routers, m)
	if err != nil {
		return 0, err
	}
	msg[0], msg[1] = MLDv2Report, 0
	clear(msg[2:6])
	binary.BigEndian.PutUint16(msg[6:], uint16(len(groups)))
	r := msg[8:]
	for _, g := range groups {
		r[0], r[1], r[2], r[3] = rec, 0, 0, 0
		a := g.As16()
		copy(r[4:20], a[:])
		r = r[20:]
	}
	binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg, src, AllMLDv2Routers))
	return IPv6Len + MLDHopByHopLen + m, nil
}

// PutMLDv1 writes into b an IPv6 packet from src carrying an MLDv1 report
// for group (to the group) or, with typ MLDv1Done, a done message (to
// ff02::2), as a host sends them while an MLDv1 querier is about (RFC 3810
// §8.2.1), and returns its length: IPv6Len + MLDHopByHopLen + 24.
func PutMLDv1(b []byte, src netip.Addr, typ uint8, group netip.Addr) (int, error) {
	dst := group
	if typ == MLDv1Done {
		dst = AllRouters
	}
	msg, err := putMLD(b, src, dst, 24)
	if err != nil {
		return 0, err
	}
	msg[0], msg[1] = typ, 0
	clear(msg[2:8])
	a := group.As16()
	copy(msg[8:24], a[:])
	binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg, src, dst))
	return IPv6Len + MLDHopByHopLen + 24, nil
}

// putMLD writes the IPv6 and hop-by-hop headers of an MLD message of m
// bytes from src to dst and returns the room for the message.
func putMLD(b []byte, src, dst netip.Addr, m int) ([]byte, error) {
	if !src.Is6() || src.Is4In6() || !dst.IsMulticast() {
		return nil, fmt.Errorf("frame: MLD from %v to %v: %w", src, dst, ErrAddrFamily)
	}
	if len(b) < IPv6Len+MLDHopByHopLen+m {
		return nil, errIPShort
	}
	if _, err := PutIP(b, &IPHeader{Src: src, Dst: dst, Proto: ip6HopByHop, TTL: 1}, MLDHopByHopLen+m); err != nil {
		return nil, err
	}
	h := b[IPv6Len : IPv6Len+MLDHopByHopLen]
	// Next header ICMPv6, length 0 (8 bytes), router alert "MLD" (value
	// 0), then a 2-byte PadN.
	h[0], h[1] = ProtoICMPv6, 0
	h[2], h[3], h[4], h[5] = opt6RA, 2, 0, 0
	h[6], h[7] = opt6PadN, 0
	return b[IPv6Len+MLDHopByHopLen : IPv6Len+MLDHopByHopLen+m], nil
}

// HasRouterAlert reports whether the IPv6 packet in b that in describes
// (Parse) starts its extension headers with a hop-by-hop header holding a
// router alert option: Linux drops MLD queries without one.
func (in *Info) HasRouterAlert(b []byte) bool {
	if in.IPVersion != 6 || in.L3+IPv6Len+8 > len(b) || b[in.L3+6] != ip6HopByHop {
		return false
	}
	h := b[in.L3+IPv6Len:]
	n := (int(h[1]) + 1) * 8
	if n > len(h) {
		return false
	}
	// Parse checked the options; walk them to the router alert.
	for o := h[2:n]; len(o) > 0; {
		if o[0] == opt6Pad1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || 2+int(o[1]) > len(o) {
			return false
		}
		if o[0] == opt6RA {
			return true
		}
		o = o[2+int(o[1]):]
	}
	return false
}

// MLDQueryInfo is what a host needs of an MLD query.
type MLDQueryInfo struct {
	V1 bool // an MLDv1 query (24 bytes): the host answers in MLDv1
	// MaxDelay is the longest the querier lets a listener wait before it
	// answers, in milliseconds (RFC 3810 §5.1.3).
	MaxDelay uint32
	// Group is the multicast address the query asks about: the
	// unspecified address for a general query.
	Group netip.Addr
	// Sources is the number of sources a group-and-source-specific
	// MLDv2 query names.
	Sources int
}

// ParseMLDQuery reads the MLD query msg (an ICMPv6 message of type
// MLDQuery, its checksum checked): RFC 3810 §8.1 tells the version by
// its length, 24 bytes for MLDv1, 28 or more for MLDv2; other lengths are
// ErrBadMLD, as is an MLDv2 source count beyond the message's end.
func ParseMLDQuery(msg []byte, q *MLDQueryInfo) error {
	*q = MLDQueryInfo{}
	if len(msg) < 24 || msg[0] != MLDQuery || (len(msg) > 24 && len(msg) < 28) {
		return ErrBadMLD
	}
	code := binary.BigEndian.Uint16(msg[4:])
	q.Group = netip.AddrFrom16([16]byte(msg[8:24]))
	if len(msg) == 24 {
		q.V1, q.MaxDelay = true, uint32(code)
		return nil
	}
	q.MaxDelay = uint32(code)
	if code >= 0x8000 { // RFC 3810 §5.1.3: a floating-point value
		q.MaxDelay = (uint32(code&0x0fff) | 0x1000) << ((code>>12)&7 + 3)
	}
	q.Sources = int(binary.BigEndian.Uint16(msg[26:]))
	if 28+16*q.Sources > len(msg) {
		*q = MLDQueryInfo{}
		return ErrBadMLD
	}
	return nil
}
