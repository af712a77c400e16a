package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/etherconn/etherconn/frame"
)

// rangeAddrs parses FIRST-LAST[/LEN].
func rangeAddrs(s string) ([]netip.Prefix, error) {
	text, lenText, hasLen := strings.Cut(s, "/")
	firstText, lastText, ok := strings.Cut(text, "-")
	if !ok {
		return nil, fmt.Errorf("--range %q: want FIRST-LAST[/LEN], e.g. 198.18.0.10-198.18.3.255", s)
	}
	first, err1 := netip.ParseAddr(firstText)
	last, err2 := netip.ParseAddr(lastText)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("--range %q: %w", s, err)
	}
	if !first.Is4() || !last.Is4() {
		return nil, fmt.Errorf("--range %q: IPv4 addresses only (IPv6 ones come from --v6)", s)
	}
	if last.Less(first) {
		return nil, fmt.Errorf("--range %q: %v comes after %v", s, first, last)
	}
	n := u32(last) - u32(first) + 1
	if n > maxHosts {
		return nil, fmt.Errorf("--range %q: %d addresses, more than %d hosts", s, n, maxHosts)
	}
	var bits int
	if hasLen {
		b, err := strconv.Atoi(lenText)
		if err != nil || b < 0 || b > 32 {
			return nil, fmt.Errorf("--range %q: prefix length %q is not 0 to 32", s, lenText)
		}
		bits = b
		p := netip.PrefixFrom(first, bits).Masked()
		if !p.Contains(last) {
			return nil, fmt.Errorf("--range %q: %v is outside %v", s, last, p)
		}
		if holdsEdge(p, first, last) {
			return nil, fmt.Errorf("--range %q: holds the network or broadcast address of %v", s, p)
		}
	} else {
		bits = min(commonBits(u32(first), u32(last)), 30)
		for bits > 0 && holdsEdge(netip.PrefixFrom(first, bits).Masked(), first, last) {
			bits--
		}
	}
	out := make([]netip.Prefix, 0, n)
	for a := first; ; a = a.Next() {
		out = append(out, netip.PrefixFrom(a, bits))
		if a == last {
			return out, nil
		}
	}
}

// holdsEdge reports whether first-last holds the network or broadcast
// address of the IPv4 prefix p (which /31 and /32 do not have).
func holdsEdge(p netip.Prefix, first, last netip.Addr) bool {
	if p.Bits() >= 31 {
		return false
	}
	network := u32(p.Addr())
	bcast := network | (1<<(32-p.Bits()) - 1)
	return u32(first) <= network || u32(last) >= bcast
}

// prefixAddrs returns n addresses of the prefix in s, from its address on,
// or from its first host address when s names the network itself.
func prefixAddrs(flagName, s string, n int, v4 bool) ([]netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	switch {
	case v4 && !p.Addr().Is4():
		return nil, fmt.Errorf("%s %v: IPv4 only (IPv6 addresses come from --v6)", flagName, p)
	case !v4 && !p.Addr().Is6():
		return nil, fmt.Errorf("%s %v: want an IPv6 prefix", flagName, p)
	case p.Addr().IsMulticast() || p.Addr().IsLoopback() || p.Addr().Is4In6():
		return nil, fmt.Errorf("%s %v: not a unicast prefix", flagName, p)
	case n <= 0:
		return nil, fmt.Errorf("%s %v: --count must be positive, not %d", flagName, p, n)
	case n > maxHosts:
		return nil, fmt.Errorf("%s %v: --count %d is more than %d hosts", flagName, p, n, maxHosts)
	}
	a := p.Addr()
	if a == p.Masked().Addr() && p.Bits() < p.Addr().BitLen()-1 {
		a = a.Next() // the network address is no host's
	}
	from := a
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		if !a.IsValid() || !p.Contains(a) || (v4 && p.Bits() < 31 && a == lastIPv4(p)) {
			return nil, fmt.Errorf("%s %v: room for %d hosts from %v, not %d", flagName, p, len(out), from, n)
		}
		out = append(out, netip.PrefixFrom(a, p.Bits()))
		a = a.Next()
	}
	return out, nil
}

func (c *hostsConfig) setGateways(gateways []string) error {
	for _, s := range gateways {
		gw, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("--gateway: %w", err)
		}
		if gw.Zone() != "" || gw.IsUnspecified() || gw.IsMulticast() {
			return fmt.Errorf("--gateway %v: not a unicast address of the link", gw)
		}
		addrs, dst := c.v4, &c.gw4
		if gw.Is6() {
			addrs, dst = c.v6, &c.gw6
			if len(addrs) == 0 {
				return fmt.Errorf("--gateway %v: an IPv6 gateway needs --v6", gw)
			}
		}
		if dst.IsValid() {
			return fmt.Errorf("--gateway %v: already have %v for this family", gw, *dst)
		}
		if !addrs[0].Masked().Contains(gw) && !gw.IsLinkLocalUnicast() {
			return fmt.Errorf("--gateway %v: not on the hosts' link %v", gw, addrs[0].Masked())
		}
		first, last := addrs[0].Addr(), addrs[len(addrs)-1].Addr()
		if !gw.Less(first) && !last.Less(gw) {
			return fmt.Errorf("--gateway %v: one of the hosts' addresses (%v to %v)", gw, first, last)
		}
		*dst = gw
	}
	return nil
}

// hostMACs checks that n MACs counting up from s stay unicast and keep
// the first octet.
func hostMACs(s string, n int) (frame.MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return frame.MAC{}, fmt.Errorf("--mac: %w", err)
	}
	m, err := frame.MACFrom(hw)
	if err != nil || m.IsGroup() {
		return frame.MAC{}, fmt.Errorf("--mac %s: not a unicast Ethernet address", s)
	}
	if low40(m)+uint64(n-1) >= 1<<40 {
		return frame.MAC{}, fmt.Errorf("--mac %s: %d hosts would run past %02x:ff:ff:ff:ff:ff", s, n, m[0])
	}
	return m, nil
}

func low40(m frame.MAC) uint64 {
	var v uint64
	for _, b := range m[1:] {
		v = v<<8 | uint64(b)
	}
	return v
}

// macAt is the MAC of host i.
func (c *hostsConfig) macAt(i int) net.HardwareAddr {
	v := low40(c.mac) + uint64(i)
	hw := net.HardwareAddr{c.mac[0], 0, 0, 0, 0, 0}
	for k := 5; k >= 1; k-- {
		hw[k] = byte(v)
		v >>= 8
	}
	return hw
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func commonBits(a, b uint32) int {
	n := 0
	for x := a ^ b; n < 32 && x&(1<<31) == 0; x <<= 1 {
		n++
	}
	return n
}

func lastIPv4(p netip.Prefix) netip.Addr {
	v := u32(p.Masked().Addr()) | (1<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
