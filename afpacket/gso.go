package afpacket

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/etherconn/etherconn/frame"
)

// A kernel that sends with GSO (a UDP socket with UDP_SEGMENT, TCP with TSO)
// over a virtual link, or that merges received frames with GRO, hands packet
// sockets one skb for many frames: a super-frame, whose one set of headers
// stands for all of them and whose payload is theirs end to end. No wire
// ever carried it. The splitter here cuts it back into the frames it stands
// for, as the kernel's own software segmentation (__udp_gso_segment,
// tcp_gso_segment, inet_gso_segment, ipv6_gso_segment) would have: each
// segment has a copy of the Ethernet, IP and UDP or TCP headers, gso_size
// payload bytes (the last one may have fewer), its own IPv4 total length,
// identification (one more per segment) and header checksum or IPv6 payload
// length, its own UDP length or TCP sequence number and flags (FIN and PSH
// only on the last, CWR only on the first), and a complete transport
// checksum.

// maxSuperFrame is the longest super-frame split: an IP packet of 64 KiB
// with its Ethernet header and inner VLAN tags, and room to spare. Every UDP
// super-frame fits (the IP length fields allow no more); longer ones are TCP
// with BIG TCP, which are dropped.
const maxSuperFrame = 64<<10 + 256

// maxSegments bounds the frames one super-frame may stand for. The kernel
// makes at most 128 UDP segments (UDP_MAX_SEGMENTS) and, with TCP's least
// MSS of 48 bytes, about 1,400 TCP ones; more is not a kernel's super-frame.
const maxSegments = 2048

// TCP flags the segmentation changes.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// gsoCounters are a Conn's counts of super-frames (GSOStats).
type gsoCounters struct {
	split, segments, dropped atomic.Uint64
}

// superFrame is one super-frame being split, segment by segment. The zero
// value has no segments left.
type superFrame struct {
	src    []byte // the frame as the kernel gave it: outer VLAN tag not restored
	tag    [4]byte
	tagLen int // 4 when tag is to be put back after the MAC addresses, else 0

	l3, l4, pay, end int // in src: IP header, TCP/UDP header, payload, its end
	mss              int
	csumField        int    // offset of the checksum in the transport header
	tcp              bool   // TCP segmentation, else UDP
	v4               bool   // IPv4, else IPv6
	id               uint16 // IPv4 identification of the first segment
	seq              uint32 // TCP sequence number of the first segment
	pseudo           uint32 // folded sum of the pseudo-header's addresses and protocol

	at  int // offset in src of the next segment's payload; end once done
	seg int // segments made
}

// more reports whether segments are left.
func (s *superFrame) more() bool { return s.at < s.end }

// reset drops what is left of the super-frame and the reference to its bytes.
func (s *superFrame) reset() { *s = superFrame{} }

// init sets s up to split the super-frame src, which vh describes and whose
// outer VLAN tag, if tagged, the kernel took off. It reports false, leaving
// s without segments, for a super-frame it cannot split: a GSO type other
// than TCP or UDP segmentation (UFO, gsoUDP, would need IP fragmentation,
// which the kernel never hands a packet socket), an IP fragment, headers or
// lengths that do not parse or do not add up to the frame's length, a
// partial checksum that is not the transport header's, an empty payload,
// more than maxSegments segments, or a frame longer than maxSuperFrame.
// Whatever src holds, init and next do not panic.
func (s *superFrame) init(src []byte, vh vnetHdr, tpid, tci uint16, tagged bool) bool {
	s.reset()
	if len(src) > maxSuperFrame || vh.gsoSize == 0 {
		return false
	}
	var in frame.Info
	if frame.Parse(src, &in) != nil || in.IPVersion == 0 || in.Fragment || in.End != len(src) {
		return false
	}
	var n superFrame
	n.src, n.l3, n.l4, n.end, n.mss = src, in.L3, in.L4, in.End, int(vh.gsoSize)
	n.v4 = in.IPVersion == 4
	switch vh.gsoType &^ gsoECN {
	case gsoUDPL4:
		if !in.UDP || in.PayloadEnd != in.End {
			return false
		}
		n.pay, n.csumField = in.Payload, 6
	case gsoTCPv4, gsoTCPv6:
		if in.Proto != protoTCP || n.v4 != (vh.gsoType&^gsoECN == gsoTCPv4) || in.L4+20 > in.End {
			return false
		}
		doff := int(src[in.L4+12]>>4) * 4
		if doff < 20 || in.L4+doff > in.End {
			return false
		}
		n.pay, n.csumField, n.tcp = in.L4+doff, 16, true
		n.seq = binary.BigEndian.Uint32(src[in.L4+4:])
	default:
		return false
	}
	if vh.flags&vnetNeedsCsum != 0 && (int(vh.csumStart) != n.l4 || int(vh.csumOffset) != n.csumField) {
		return false // the partial checksum is not where this header's is: a tunnel's inner one?
	}
	if n.pay >= n.end || (n.end-n.pay+n.mss-1)/n.mss > maxSegments {
		return false
	}
	proto := uint32(frame.ProtoUDP)
	if n.tcp {
		proto = protoTCP
	}
	if n.v4 {
		n.id = binary.BigEndian.Uint16(src[n.l3+4:])
		n.pseudo = sum(src[n.l3+12:n.l3+20]) + proto
	} else {
		n.pseudo = sum(src[n.l3+8:n.l3+40]) + proto
	}
	if tagged {
		n.tag = [4]byte{byte(tpid >> 8), byte(tpid), byte(tci >> 8), byte(tci)}
		n.tagLen = 4
	}
	n.at = n.pay
	*s = n
	return true
}

// next writes the next segment, outer tag restored, into dst and returns
// its length, at most len(dst), and whether it was cut to fit dst; a cut
// segment still has the headers and checksums of the whole one, as far as
// they fit. It must only be called while s.more().
func (s *superFrame) next(dst []byte) (int, bool) {
	plen := min(s.mss, s.end-s.at)
	first, last := s.seg == 0, s.at+plen == s.end
	n := s.tagLen + s.pay + plen
	// The headers and the payload as they are; then the fields that differ
	// from segment to segment, computed from src rather than from dst,
	// which may be too short to hold them.
	s.put(dst, 0, s.src[:s.pay])
	s.put(dst, s.pay, s.src[s.at:s.at+plen])
	if s.v4 {
		var ip [60]byte
		h := ip[:s.l4-s.l3]
		copy(h, s.src[s.l3:s.l4])
		binary.BigEndian.PutUint16(h[2:], uint16(s.pay-s.l3+plen))
		binary.BigEndian.PutUint16(h[4:], s.id+uint16(s.seg))
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], frame.Checksum(h))
		s.put(dst, s.l3, h)
	} else {
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(s.pay-s.l3-40+plen))
		s.put(dst, s.l3+4, l[:])
	}
	var th [60]byte
	h := th[:s.pay-s.l4]
	copy(h, s.src[s.l4:s.pay])
	l4len := s.pay - s.l4 + plen
	if s.tcp {
		binary.BigEndian.PutUint32(h[4:], s.seq+uint32(s.at-s.pay))
		if !last {
			h[13] &^= tcpFIN | tcpPSH
		}
		if !first {
			h[13] &^= tcpCWR
		}
	} else {
		binary.BigEndian.PutUint16(h[4:], uint16(l4len))
	}
	h[s.csumField], h[s.csumField+1] = 0, 0
	c := ^fold(s.pseudo + uint32(l4len) + sum(h) + sum(s.src[s.at:s.at+plen]))
	if c == 0 && !s.tcp {
		c = 0xffff // zero means "no checksum" in UDP over IPv4 (the kernel's CSUM_MANGLED_0)
	}
	binary.BigEndian.PutUint16(h[s.csumField:], c)
	s.put(dst, s.l4, h)
	s.at += plen
	s.seg++
	return min(n, len(dst)), n > len(dst)
}

// put copies b, which starts at offset off of src, to where it goes in dst:
// the same offset before the end of the MAC addresses, tagLen bytes further
// after it, the outer tag in between. What does not fit dst is left out.
func (s *superFrame) put(dst []byte, off int, b []byte) {
	if off < 12 {
		k := min(len(b), 12-off)
		copy(dst[min(off, len(dst)):], b[:k])
		b, off = b[k:], 12
		if s.tagLen > 0 {
			copy(dst[min(12, len(dst)):], s.tag[:])
		}
	}
	if o := off + s.tagLen; o < len(dst) {
		copy(dst[o:], b)
	}
}

// sum is the one's-complement sum of b as 16-bit words, folded to 16 bits.
// Sums of parts add up to the sum of the whole as long as every part but
// the last has an even length.
func sum(b []byte) uint32 { return uint32(^frame.Checksum(b)) }

// fold reduces a sum of folded sums to 16 bits.
func fold(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}
