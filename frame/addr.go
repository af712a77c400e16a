package frame

import "net/netip"

// SolicitedNode returns the solicited-node multicast address
// ff02::1:ffXX:XXXX of the IPv6 address a (RFC 4291 §2.7.1): the prefix
// ff02::1:ff00:0/104 and the low 24 bits of a. Neighbor solicitations for a
// go there (RFC 4861 §7.2.2). It returns the zero Addr when a is not IPv6.
func SolicitedNode(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return netip.Addr{}
	}
	a16 := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a16[13], 14: a16[14], 15: a16[15]})
}

// MulticastMAC returns the Ethernet address an IP multicast group maps to:
// 01:00:5e and the low 23 bits of the group for IPv4 (RFC 1112 §6.4), 33:33
// and the low 32 bits for IPv6 (RFC 2464 §7). An IPv4-mapped IPv6 address is
// mapped as the IPv4 address it stands for, as PutUDP sends it. ok is false,
// and m zero, for an address that is not multicast.
func MulticastMAC(a netip.Addr) (m MAC, ok bool) {
	a = a.Unmap()
	if !a.IsMulticast() {
		return MAC{}, false
	}
	if a.Is4() {
		a4 := a.As4()
		return MAC{0x01, 0x00, 0x5e, a4[1] & 0x7f, a4[2], a4[3]}, true
	}
	a16 := a.As16()
	return MAC{0x33, 0x33, a16[12], a16[13], a16[14], a16[15]}, true
}

// LinkLocal returns the IPv6 link-local address of an interface with MAC m:
// fe80::/64 and the modified EUI-64 interface identifier of m, that is m
// with ff:fe inserted in the middle and the universal/local bit inverted
// (RFC 4291 §2.5.1 and Appendix A, RFC 4862 §5.3).
func LinkLocal(m MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{
		0: 0xfe, 1: 0x80,
		8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5],
	})
}

// SrcAddr returns the source address of the parsed IP packet in b.
func (in *Info) SrcAddr(b []byte) netip.Addr { return ipAddr(in.SrcIP(b)) }

// DstAddr returns the destination address of the parsed IP packet in b.
func (in *Info) DstAddr(b []byte) netip.Addr { return ipAddr(in.DstIP(b)) }

func ipAddr(ip []byte) netip.Addr {
	if len(ip) == 4 {
		return netip.AddrFrom4([4]byte(ip))
	}
	return netip.AddrFrom16([16]byte(ip))
}
