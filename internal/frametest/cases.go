package frametest

import (
	"bytes"
	"fmt"

	"github.com/etherconn/etherconn/frame"
)

// IPOptions returns the rows of the IP options and extension headers table,
// a new slice on each call.
func IPOptions() []Case {
	var (
		addr4 = []byte{198, 18, 0, 99}
		zeros = func(n int) []byte { return make([]byte, n) }
		cat   = func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
		// unknown IPv6 options of each action (RFC 8200 §4.2): 00 skip,
		// 01 discard, 10 discard and send ICMP, 11 discard and send ICMP
		// unless the destination is multicast.
		action = func(bits byte) []byte { return []byte{bits<<6 | 0x1e, 4, 1, 2, 3, 4} }
		skip   = action(0)
	)
	// v4 is an IPv4 row, v6 an IPv6 row; both deliver when err is nil.
	v4 := func(name string, linux bool, err error, opts ...byte) Case {
		return Case{Name: "ipv4 " + name, Linux: linux, Err: err, Deliver: err == nil, opts: opts}
	}
	v6 := func(name string, linux bool, err error, chain ...header) Case {
		return Case{Name: "ipv6 " + name, IPv6: true, Linux: linux, Err: err, Deliver: err == nil, chain: chain}
	}
	optErr4, optErr6, badChain, rtErr := frame.ErrIPv4Option, frame.ErrIPv6Option, frame.ErrBadIPv6, frame.ErrIPv6Routing
	const after12 = "Linux from 7.1 drops a packet with more than 12 extension headers after hop-by-hop; " +
		"earlier kernels, as we, take as many as the packet holds"

	cases := []Case{
		// IPv4 options (ip_options_compile, ip_rcv_options).
		v4("no options", true, nil),
		v4("NOP and END", true, nil, 1, 1, 1, 0),
		v4("bytes after END", true, nil, 0, 0x9e, 0xff, 7),
		v4("unknown option, class 0, copied (0x9e)", true, nil, 0x9e, 4, 0, 0),
		v4("unknown option, class 1 (0x3f)", true, nil, 0x3f, 4, 0, 0),
		v4("unknown option, class 2 (0x5f)", true, nil, 0x5f, 4, 0, 0),
		v4("unknown option, class 3 (0xff)", true, nil, 0xff, 4, 0, 0),
		v4("security (130)", true, nil, cat([]byte{130, 11}, zeros(9), []byte{0})...),
		v4("option length 1", false, optErr4, 0x9e, 1, 0, 0),
		v4("option length beyond the header", false, optErr4, 0x9e, 8, 0, 0),
		v4("option type in the last byte", false, optErr4, 1, 1, 1, 0x9e),
		v4("router alert", true, nil, 148, 4, 0, 0),
		v4("router alert length 3", false, optErr4, 148, 3, 0, 0),
		v4("record route, room for 9", true, nil, cat([]byte{7, 39, 4}, zeros(37))...),
		v4("record route length 40 in 4 bytes", false, optErr4, 7, 40, 4, 0),
		v4("record route length 2", false, optErr4, 7, 2, 0, 0),
		v4("record route length 3 (full)", true, nil, 7, 3, 4, 0),
		v4("record route pointer 3", false, optErr4, 7, 7, 3, 0, 0, 0, 0, 0),
		v4("record route full", true, nil, cat([]byte{7, 7, 8}, addr4, []byte{0})...),
		v4("record route slot cut by its length", false, optErr4, cat([]byte{7, 9, 8}, zeros(9))...),
		v4("record route twice", false, optErr4, cat([]byte{7, 7, 4}, zeros(4), []byte{7, 7, 4}, zeros(6))...),
		v4("timestamp", true, nil, cat([]byte{68, 12, 5, 0}, zeros(8))...),
		v4("timestamp length 3", false, optErr4, 68, 3, 5, 0),
		v4("timestamp pointer 4", false, optErr4, cat([]byte{68, 8, 4, 0}, zeros(4))...),
		v4("timestamp and address", true, nil, cat([]byte{68, 12, 5, 1}, zeros(8))...),
		v4("timestamp and address, slot cut", false, optErr4, cat([]byte{68, 8, 5, 1}, zeros(4))...),
		v4("timestamp prespecified, slot cut", false, optErr4, cat([]byte{68, 8, 5, 3}, zeros(4))...),
		v4("timestamp unknown flag 2", true, nil, cat([]byte{68, 8, 5, 2}, zeros(4))...),
		v4("timestamp full", true, nil, cat([]byte{68, 8, 9, 0x00}, zeros(4))...),
		v4("timestamp full, overflow 15", false, optErr4, cat([]byte{68, 8, 9, 0xf0}, zeros(4))...),
		v4("timestamp twice", false, optErr4, cat([]byte{68, 8, 5, 0}, zeros(4), []byte{68, 8, 5, 0}, zeros(4))...),
		v4("loose source route", false, optErr4, cat([]byte{131, 7, 4}, addr4, []byte{0})...),
		v4("strict source route at its end", false, optErr4, cat([]byte{137, 7, 8}, addr4, []byte{0})...),
		v4("CIPSO label", false, optErr4, 134, 10, 0, 0, 0, 1, 1, 4, 0, 0, 0, 0).
			varies("Linux without CONFIG_NETLABEL accepts a well-formed one"),

		// IPv6 hop-by-hop and destination options (ip6_parse_tlv).
		v6("no extension headers", true, nil),
		v6("hbh PadN", true, nil, hbh(padN(6))),
		v6("hbh Pad1 x6", true, nil, hbh(zeros(6))),
		v6("hbh router alert", true, nil, hbh(cat([]byte{5, 2, 0, 0}, padN(2)))),
		v6("hbh router alert length 3", false, optErr6, hbh([]byte{5, 3, 0, 0, 0, 0})),
		v6("dst 8 bytes of padding in a row", false, optErr6, dst(cat(padN(8), padN(6)))),
		v6("dst Pad1 x8", false, optErr6, dst(cat(zeros(8), padN(6)))),
		v6("dst PadN with non-zero data", false, optErr6, dst([]byte{1, 4, 0, 0, 1, 0})),
		v6("dst option beyond the header", false, optErr6, dst([]byte{0x1e, 10, 0, 0, 0, 0})),
		v6("dst option type in the last byte", false, optErr6, dst([]byte{1, 3, 0, 0, 0, 0x1e})),
		v6("hbh unknown option, action 00 (skip)", true, nil, hbh(skip)),
		v6("hbh unknown option, action 01 (discard)", false, optErr6, hbh(action(1))),
		v6("hbh unknown option, action 10 (discard, ICMP)", false, optErr6, hbh(action(2))),
		v6("hbh unknown option, action 11 (discard, ICMP unless multicast)", false, optErr6, hbh(action(3))),
		v6("dst unknown option, action 00 (skip)", true, nil, dst(skip)),
		v6("dst unknown option, action 01 (discard)", false, optErr6, dst(action(1))),
		v6("dst unknown option, action 10 (discard, ICMP)", false, optErr6, dst(action(2))),
		v6("dst unknown option, action 11 (discard, ICMP unless multicast)", false, optErr6, dst(action(3))),
		v6("dst 8 options", true, nil, dst(cat(bytes.Repeat([]byte{0x1e, 0}, 8), padN(6)))),
		v6("dst 9 options", false, optErr6, dst(cat(bytes.Repeat([]byte{0x1e, 0}, 9), padN(4)))),
		v6("hbh 9 options", false, optErr6, hbh(cat(bytes.Repeat([]byte{0x1e, 0}, 9), padN(4)))),
		v6("dst home address (Mobile IPv6)", false, optErr6, dst(cat([]byte{0xc9, 16}, zeros(16), padN(4)))),
		v6("hbh IOAM, aligned", true, nil, hbh(cat(padN(2), []byte{0x31, 2, 0, 0}))),
		v6("hbh IOAM, misaligned", false, optErr6, hbh(cat([]byte{0x31, 2, 0, 0}, padN(2)))).
			varies("Linux before 5.15 does not know IOAM and skips the option"),
		v6("hbh CALIPSO label", false, optErr6, hbh(cat([]byte{7, 8, 0, 0, 0, 1, 0, 0, 0, 0}, padN(4)))).
			varies("Linux without CONFIG_NETLABEL accepts a well-formed one"),
		v6("hbh jumbo payload with a payload length", false, optErr6, hbh([]byte{0xc2, 4, 0, 1, 0, 0})),
		// Any jumbo length a frame can hold (at most 65,535) is one Linux drops.
		{Name: "ipv6 hbh jumbo payload (payload length 0)", IPv6: true, Err: badChain, plen0: true,
			chain: []header{hbh([]byte{0xc2, 4, 0, 0, 0, 16})}},
		{Name: "ipv6 payload length 0 without jumbo payload", IPv6: true, Linux: true, Err: badChain, plen0: true,
			chain: []header{hbh(padN(6))},
			Why: "RFC 2675 §3 makes it an error; Linux takes the packet to end where the frame does, " +
				"so Ethernet padding and trailers would count as IP payload"},

		// Hop-by-hop position (RFC 8200 §4.1).
		v6("hbh then dst", true, nil, hbh(padN(6)), dst(padN(6))),
		v6("hbh not first", false, badChain, dst(padN(6)), hbh(padN(6))),
		v6("hbh twice", false, badChain, hbh(padN(6)), hbh(padN(6))),

		// Routing headers (ipv6_rthdr_rcv): one address each.
		v6("routing type 0, no segments left", true, nil, routing(0, 0, 1)),
		v6("routing type 0, segments left", false, rtErr, routing(0, 1, 1)),
		v6("routing type 2, no segments left", true, nil, routing(2, 0, 1)).
			varies("Linux built with CONFIG_IPV6_MIP6 (as most distributions) drops it"),
		v6("routing type 2, segments left", false, rtErr, routing(2, 1, 1)),
		v6("routing type 3 (RPL), no segments left", false, rtErr, routing(3, 0, 1)),
		v6("routing type 3 (RPL), segments left", false, rtErr, routing(3, 1, 1)),
		v6("routing type 4 (SRH), no segments left", false, rtErr, routing(4, 0, 1)),
		v6("routing type 4 (SRH), segments left", false, rtErr, routing(4, 1, 1)),
		v6("routing type 253, no segments left", true, nil, routing(253, 0, 1)),
		v6("routing type 253, segments left", false, rtErr, routing(253, 1, 1)),
		v6("routing, segments left beyond its addresses", false, rtErr, routing(0, 5, 1)),
		v6("dst, routing, dst", true, nil, dst(padN(6)), routing(0, 0, 2), dst(skip)),

		// Fragment headers: handled as before.
		v6("atomic fragment", true, nil, fragment(false)),
		v6("bad option before a fragment header", false, optErr6, dst(action(1)), fragment(true)),

		// Chains: no limit but the packet's length.
		v6("9 dst headers", true, nil, dsts(9)...),
		v6("hbh and 12 dst headers", true, nil, append([]header{hbh(padN(6))}, dsts(12)...)...),
		v6("13 dst headers", true, nil, dsts(13)...).varies(after12),
		v6("170 dst headers", true, nil, dsts(170)...).varies(after12),
	}

	// Rows that parse but carry no UDP datagram for rudp.
	first := v6("first fragment alone", false, nil, fragment(true))
	first.Deliver = false // reassembly waits for the rest; Linux too
	ah := v6("authentication header", false, nil, authHeader())
	ah.Deliver = false // AH is the upper layer: no IPsec here
	return append(cases, first, ah)
}

// varies notes that Linux's answer for c depends on its version or build.
func (c Case) varies(why string) Case {
	c.Varies = why
	return c
}

// padN is n bytes of padding as one option: Pad1 for 1, PadN for more.
func padN(n int) []byte {
	if n == 1 {
		return []byte{0}
	}
	p := make([]byte, n)
	p[0], p[1] = 1, byte(n-2)
	return p
}

// options is an options header of type typ holding opts, which must fill
// it to a multiple of 8 bytes.
func options(typ byte, opts []byte) header {
	n := 2 + len(opts)
	if n%8 != 0 {
		panic(fmt.Sprintf("frametest: an options header of %d bytes", n))
	}
	return header{typ, append([]byte{0, byte(n/8 - 1)}, opts...)}
}

func hbh(opts []byte) header { return options(0, opts) }
func dst(opts []byte) header { return options(60, opts) }

// dsts is n minimal destination options headers.
func dsts(n int) []header {
	hs := make([]header, n)
	for i := range hs {
		hs[i] = dst(padN(6))
	}
	return hs
}

// routing is a routing header of type typ with addrs addresses from
// 2001:db8::ff00 on and segLeft segments left. Type 4 (segment routing) has
// its Last Entry field set.
func routing(typ, segLeft byte, addrs int) header {
	h := make([]byte, 8, 8+16*addrs)
	h[1], h[2], h[3] = byte(2*addrs), typ, segLeft
	if typ == 4 {
		h[4] = byte(addrs - 1)
	}
	for i := 0; i < addrs; i++ {
		h = append(h, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, byte(i))
	}
	return header{43, h}
}

// fragment is a fragment header at offset 0, with the M flag if more.
func fragment(more bool) header {
	var m byte
	if more {
		m = 1
	}
	return header{44, []byte{0, 0, 0, m, 0xde, 0xad, 0xbe, 0xef}}
}

// authHeader is an IPsec AH (RFC 4302) with a 12-byte ICV: 24 bytes.
func authHeader() header {
	h := make([]byte, 24)
	h[1] = 4
	h[7] = 0x10 // SPI
	h[11] = 1   // sequence number
	return header{51, h}
}
