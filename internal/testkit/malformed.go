package testkit

import (
	"encoding/binary"
	"net/netip"
)

// NamedFrame is a test frame with a name for failure messages.
type NamedFrame struct {
	Name  string
	Frame []byte
}

// MalformedUDP returns good, an untagged IPv4 UDP frame from `from` to `to`
// carrying payload (as UDPFrame builds it), and bad: frames from src to dst
// that a parser must drop as malformed, most of them copies of good damaged
// in one header field. Every frame in bad is one a Linux receiver passes on
// to packet sockets, so the table serves for real links as well as
// in-memory ones; ShortTagged has the ones it does not. from and to must be
// IPv4 addresses; MalformedUDP panics otherwise, a mistake in the test.
//
// The cases: "tag-then-2-bytes" (a VLAN tag, the IPv4 EtherType and two
// bytes of a header that needs 20), "five-tags" (a fifth tag, one more than
// the project parses), "ipv4-short" (cut inside the IPv4 header),
// "ipv4-ihl" (a header length past the frame), "ipv4-version" (version 5),
// "ipv4-total" (a total length past the frame), "udp-length" (a UDP length
// past the IP payload) and "udp-short" (a UDP length shorter than its
// header).
func MalformedUDP(dst, src [6]byte, from, to netip.AddrPort, payload []byte) (good []byte, bad []NamedFrame) {
	if !from.Addr().Unmap().Is4() || !to.Addr().Unmap().Is4() {
		panic("testkit.MalformedUDP: " + from.String() + " to " + to.String() + " is not IPv4")
	}
	good = UDPFrame(dst, src, nil, from, to, payload)
	const ip = EthernetLen
	damaged := func(name string, f func(b []byte) []byte) NamedFrame {
		return NamedFrame{name, f(append([]byte(nil), good...))}
	}
	bad = []NamedFrame{
		{"tag-then-2-bytes", Frame(dst, src, Dot1Q(100), EtherTypeIPv4, []byte{0x45, 0})},
		{"five-tags", Frame(dst, src, Dot1Q(1, 2, 3, 4, 5), EtherTypeExp1, Pattern(40))},
		damaged("ipv4-short", func(b []byte) []byte { return b[:ip+10] }),
		damaged("ipv4-ihl", func(b []byte) []byte { b[ip] = 0x4f; return b }),
		damaged("ipv4-version", func(b []byte) []byte { b[ip] = 0x55; return b }),
		damaged("ipv4-total", func(b []byte) []byte { binary.BigEndian.PutUint16(b[ip+2:], 0xffff); return b }),
		damaged("udp-length", func(b []byte) []byte { binary.BigEndian.PutUint16(b[ip+24:], 0xff00); return b }),
		damaged("udp-short", func(b []byte) []byte { binary.BigEndian.PutUint16(b[ip+24:], 4); return b }),
	}
	return good, bad
}

// ShortTagged returns frames from src to dst cut short in or just after
// their outer VLAN tag, which a parser must drop as malformed: "cut-in-tag"
// (15 bytes: a TPID and one byte of its TCI) and "tag-then-1-byte" (19
// bytes: a whole tag, the IPv4 EtherType and one byte). A Linux receiver
// frees tagged frames shorter than 20 bytes (skb_vlan_untag wants the tag,
// the inner EtherType and two more bytes) before any packet socket sees
// them, so only in-memory links deliver these.
func ShortTagged(dst, src [6]byte) []NamedFrame {
	return []NamedFrame{
		{"cut-in-tag", Frame(dst, src, nil, TPIDDot1Q, []byte{0})},
		{"tag-then-1-byte", Frame(dst, src, Dot1Q(100), EtherTypeIPv4, []byte{0x45})},
	}
}
