// Package frametest holds test data for code built on package frame: the
// table of IPv4 options and IPv6 extension headers that frame.Parse handles
// as Linux does, one UDP datagram per row, built between addresses the caller
// chooses, with what Linux does with it and what etherconn does.
//
// The frame package checks Parse against every row, and a kernel-comparison
// test in package afpacket sends every row both to a kernel UDP socket and to
// a rudp.Conn and checks that both deliver or drop it alike. The rows are
// those of the table in frame's package documentation.
package frametest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/etherconn/etherconn/frame"
)

// Addrs are the endpoints of a row's datagram: the IPv4 pair for IPv4 rows,
// the IPv6 pair for IPv6 rows.
type Addrs struct {
	SrcMAC, DstMAC   frame.MAC
	Src4, Dst4       netip.Addr
	Src6, Dst6       netip.Addr
	SrcPort, DstPort uint16
}

// Case is one row: a UDP datagram with IPv4 options or IPv6 extension
// headers.
type Case struct {
	Name string
	IPv6 bool
	// Linux tells whether Linux, with its default sysctls, delivers the
	// datagram to a UDP socket bound to its destination.
	Linux bool
	// Err is what frame.Parse returns for the frame (compare with
	// errors.Is); nil when it parses.
	Err error
	// Deliver tells whether etherconn delivers the datagram to a rudp.Conn:
	// Parse returns no error and reports UDP (Info.UDP). A lone fragment
	// parses, but only reassembly could deliver it.
	Deliver bool
	// Why says why Deliver differs from Linux; empty where they agree.
	Why string
	// Varies, if not empty, says how Linux's answer depends on its version
	// or build; Linux is then the answer of the kernels the project is
	// tested on (6.18, built without Mobile IPv6, with labelled networking).
	Varies string

	opts  []byte   // IPv4: the options, a multiple of 4 bytes
	chain []header // IPv6: the extension headers, in order
	plen0 bool     // IPv6: payload length 0, as in a jumbogram
}

// header is an IPv6 extension header: its type (the Next Header value that
// announces it) and all its bytes; Frame fills in byte 0, its Next Header.
type header struct {
	typ byte
	b   []byte
}

// Frame builds the row's frame, an untagged Ethernet frame between the
// addresses a of its family carrying payload, with every checksum right.
func (c Case) Frame(a Addrs, payload []byte) []byte {
	var l3 []byte
	etherType := frame.EtherTypeIPv4
	if c.IPv6 {
		etherType = frame.EtherTypeIPv6
		l3 = c.ipv6(a, payload)
	} else {
		l3 = c.ipv4(a, payload)
	}
	b := make([]byte, frame.EthernetLen+len(l3))
	frame.PutEthernet(b, a.DstMAC, a.SrcMAC, nil, etherType)
	copy(b[frame.EthernetLen:], l3)
	return b
}

func (c Case) ipv4(a Addrs, payload []byte) []byte {
	if len(c.opts)%4 != 0 || len(c.opts) > 40 {
		panic(fmt.Sprintf("frametest: %s: %d bytes of IPv4 options", c.Name, len(c.opts)))
	}
	ihl := frame.IPv4Len + len(c.opts)
	ip := make([]byte, ihl, ihl+frame.UDPLen+len(payload))
	ip[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl+frame.UDPLen+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], 1)      // identification
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, frame.ProtoUDP
	copy(ip[12:], a.Src4.AsSlice())
	copy(ip[16:], a.Dst4.AsSlice())
	copy(ip[frame.IPv4Len:], c.opts)
	binary.BigEndian.PutUint16(ip[10:], frame.Checksum(ip))
	return append(ip, udp(a, a.Src4, c.final(a.Dst4), payload)...)
}

// final is the datagram's final destination, which its UDP checksum covers
// (RFC 8200 §8.1): the last address of an IPv4 source route or of an IPv6
// routing header of type 0 or 2 with segments left, Segment List[0] of a
// segment routing header (type 4) with segments left, else dst (also for
// types whose address format the sender may not know, as gopacket does).
func (c Case) final(dst netip.Addr) netip.Addr {
	var addr []byte
	for o := c.opts; len(o) >= 2 && o[0] != 0; {
		n := 1
		if o[0] != 1 {
			n = max(int(o[1]), 2)
		}
		if (o[0] == 131 || o[0] == 137) && n >= 7 && n <= len(o) && int(o[2]) <= n {
			addr = o[n-4 : n]
		}
		o = o[min(n, len(o)):]
	}
	for _, h := range c.chain {
		if h.typ != 43 || h.b[3] == 0 || len(h.b) < 24 {
			continue
		}
		switch h.b[2] {
		case 0, 2:
			addr = h.b[len(h.b)-16:]
		case 4:
			addr = h.b[8:24]
		}
	}
	if f, ok := netip.AddrFromSlice(addr); ok {
		return f
	}
	return dst
}

func (c Case) ipv6(a Addrs, payload []byte) []byte {
	ip := make([]byte, frame.IPv6Len)
	ip[0] = 0x60
	ip[6], ip[7] = frame.ProtoUDP, 64
	copy(ip[8:], a.Src6.AsSlice())
	copy(ip[24:], a.Dst6.AsSlice())
	next := &ip[6]
	for _, h := range c.chain {
		*next = h.typ
		at := len(ip)
		ip = append(ip, h.b...)
		next = &ip[at]
		*next = 0 // set by the next header, or below
	}
	*next = frame.ProtoUDP
	ip = append(ip, udp(a, a.Src6, c.final(a.Dst6), payload)...)
	if !c.plen0 {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-frame.IPv6Len))
	}
	return ip
}

// udp is a UDP header and payload with the checksum for src and dst.
func udp(a Addrs, src, dst netip.Addr, payload []byte) []byte {
	u := make([]byte, frame.UDPLen, frame.UDPLen+len(payload))
	binary.BigEndian.PutUint16(u[0:], a.SrcPort)
	binary.BigEndian.PutUint16(u[2:], a.DstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(frame.UDPLen+len(payload)))
	u = append(u, payload...)
	ps := append(src.AsSlice(), dst.AsSlice()...)
	if src.Is4() {
		ps = append(ps, 0, frame.ProtoUDP, byte(len(u)>>8), byte(len(u)))
	} else {
		ps = binary.BigEndian.AppendUint32(ps, uint32(len(u)))
		ps = append(ps, 0, 0, 0, frame.ProtoUDP)
	}
	sum := frame.Checksum(append(ps, u...))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return u
}
