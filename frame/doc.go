// Package frame is the one place where Ethernet frames are parsed and built:
// Ethernet with up to four VLAN tags, IPv4 (with options), IPv6 (with
// extension headers) and UDP, plus the Internet checksum.
//
// Parse works on offsets into the caller's buffer and never copies or
// allocates, so the relay can parse each frame once on its read loop and hand
// the result up the stack.
//
// # IP options and extension headers
//
// Parse checks IPv4 options and IPv6 extension headers as Linux does on
// receive (ip_options_compile, ip6_parse_tlv, ipv6_rthdr_rcv) with its
// default sysctls, so that what Linux would not deliver to a UDP socket is
// not delivered here either: Parse returns ErrIPv4Option, ErrIPv6Option,
// ErrIPv6Routing or ErrBadIPv6, and the relay drops the frame and counts it
// in Stats().Malformed. Where Linux also sends an ICMP error, we send none.
// A datagram not at its final destination (segments left in a routing
// header) is not delivered: this is a host, not a router.
//
//	case                                          Linux                    ours
//	IPv4 NOP, END, anything after END             ignored                  same
//	IPv4 unknown type, any class, copied or not   skipped by its length    same
//	IPv4 length < 2, past the header, cut type    drop                     drop
//	IPv4 router alert shorter than 4              drop                     drop
//	IPv4 record route: twice, length < 3,         drop                     drop
//	  pointer < 4, a free slot cut by the length
//	IPv4 record route full (pointer > length)     deliver                  deliver
//	IPv4 timestamp: twice, length < 4,            drop                     drop
//	  pointer < 5, a slot cut, full with overflow 15
//	IPv4 timestamp, unknown flag                  deliver                  deliver
//	IPv4 loose or strict source route             drop (accept_source_route=0)  drop
//	IPv4 CIPSO                                    drop (no DOI) [1]        drop
//	IPv6 Pad1, PadN: at most 7 bytes in a row     deliver                  deliver
//	IPv6 more padding in a row, PadN data not 0   drop                     drop
//	IPv6 option past its header                   drop                     drop
//	IPv6 unknown option, action bits 00           skipped                  skipped
//	IPv6 unknown option, action 01, 10, 11        drop (10, 11: ICMP)      drop, no ICMP
//	IPv6 more than 8 options in one header        drop (max_*_opts_number) drop
//	IPv6 router alert of length other than 2      drop                     drop
//	IPv6 IOAM: aligned / misaligned               ignored / drop [2]       same
//	IPv6 CALIPSO                                  drop (no DOI) [1]        drop
//	IPv6 jumbo payload option                     drop (ICMP) [3]          drop
//	IPv6 payload length 0, no jumbo option        deliver                  drop [4]
//	IPv6 hop-by-hop not right after the header    drop (ICMP)              drop
//	IPv6 routing, 0 segments left, type 0, 2, 253 deliver [5]              deliver
//	IPv6 routing, segments left, any type         drop (forward or ICMP)   drop
//	IPv6 routing type 3 (RPL) or 4 (SRH)          drop (not enabled)       drop
//	IPv6 routing to a multicast destination       drop                     drop
//	IPv6 fragment header                          reassembly               unchanged: Fragment set
//	IPv6 AH                                       drop (no SA)             not UDP: Proto 51
//	IPv6 chain length                             the packet's [6]         the packet's
//
// [1] With CONFIG_NETLABEL, as distributions build, and no DOI configured;
// without it Linux accepts a well-formed label. A host without labelled
// networking has no use for one.
//
// [2] IOAM is off by default (ioam6_enabled), and Linux checks the alignment
// first. Linux before 5.15 skips the option as unknown.
//
// [3] A jumbogram is longer than 65,535 bytes, more than any frame we read,
// and Linux drops a jumbo option that claims less or sits beside a payload
// length.
//
// [4] RFC 2675 §3 makes it an error. Linux takes the packet to end where the
// frame does, so Ethernet padding and trailers would count as IP payload.
//
// [5] Type 2 only without CONFIG_IPV6_MIP6; a kernel with it drops type 2
// unless it processed the header itself (RFC 8200 §4.4 says accept).
//
// [6] Linux from 7.1 ("ipv6: Implement limits on extension header parsing",
// also proposed for the stable kernels) drops a packet with more than 12
// extension headers after hop-by-hop; earlier kernels (6.18.44, where the
// tests ran, took 170), as Parse, walk as many as the packet holds. Each
// step moves on by 8 bytes or more, so a jumbo frame full of headers costs
// one pass over it (about 6 µs on the 2-vCPU machine here).
//
// Package frametest holds frames for these rows, 85 cases, and the tests send
// every one of them to the running kernel as well as to a rudp.Conn. The
// multicast row is not among them (the kernel's socket would have to join a
// group); TestRoutingHeaderFinalDestination checks it.
package frame
