package host

import (
	"fmt"
	"net/netip"
	"syscall"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// nextHop returns where a packet to dst goes on the link: the neighbour to
// resolve (nh), or a MAC known without resolution (broadcast, multicast).
func (h *Host) nextHop(dst netip.Addr) (nh netip.Addr, mac frame.MAC, direct bool, err error) {
	if m, ok := frame.MulticastMAC(dst); ok {
		return netip.Addr{}, m, true, nil
	}
	if dst == limitedBroadcast {
		return netip.Addr{}, frame.BroadcastMAC, true, nil
	}
	addrs := *h.addrs.Load()
	for _, p := range addrs {
		if p.Addr().Is4() && dst.Is4() && p.Bits() < 31 && dst == lastAddr(p) {
			return netip.Addr{}, frame.BroadcastMAC, true, nil // the prefix's directed broadcast
		}
	}
	if dst.Is6() && dst.IsLinkLocalUnicast() {
		return dst, frame.MAC{}, false, nil
	}
	if nh = h.route(addrs, dst); nh.IsValid() {
		return nh, frame.MAC{}, false, nil
	}
	return netip.Addr{}, frame.MAC{}, false, fmt.Errorf("host: no route to %v: %w", dst, syscall.ENETUNREACH)
}

// route returns the next hop toward dst by longest prefix match over the
// on-link prefixes (next hop dst itself) and Config.Routes, as the
// kernel's FIB matches connected and gateway routes (an on-link prefix
// wins a tie), else the default gateway; invalid when there is none.
func (h *Host) route(addrs []netip.Prefix, dst netip.Addr) netip.Addr {
	best, nh := -1, netip.Addr{}
	for _, p := range addrs {
		if p.Contains(dst) && p.Bits() > best {
			best, nh = p.Bits(), dst
		}
	}
	for _, rt := range h.cfg.Routes {
		if rt.Prefix.Contains(dst) && rt.Prefix.Bits() > best {
			best, nh = rt.Prefix.Bits(), rt.Via
		}
	}
	if best >= 0 {
		return nh
	}
	return h.gateway(dst.Is4())
}

func (h *Host) gateway(v4 bool) netip.Addr {
	if v4 {
		return h.cfg.Gateway4
	}
	if h.cfg.Gateway6.IsValid() {
		return h.cfg.Gateway6
	}
	if h.cfg.AcceptRA {
		if gw := h.seg.router6.Load(); gw != nil {
			return *gw
		}
	}
	return netip.Addr{}
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Source implements rudp.Router: the host's address that fits dst best,
// or an invalid Addr when it has none of dst's family.
func (h *Host) Source(dst netip.Addr) netip.Addr {
	addrs := *h.addrs.Load()
	if dst.Is4() {
		return source4(addrs, dst, h.route(addrs, dst))
	}
	return source6(addrs, dst)
}

// source4 picks, as Linux's inet_select_addr does for the route's next hop
// nh: dst itself, else the address whose prefix holds dst (the longest),
// else the one whose prefix holds nh (the longest), else the first.
func source4(addrs []netip.Prefix, dst, nh netip.Addr) netip.Addr {
	best, first := bestSource(addrs, dst, netip.Addr.Is4, func(p netip.Prefix) int {
		switch {
		case p.Contains(dst):
			return 33 + p.Bits() // holding dst beats holding the next hop
		case nh.IsValid() && p.Contains(nh):
			return p.Bits()
		}
		return -1
	})
	if best.IsValid() {
		return best
	}
	return first
}

// source6 applies the RFC 6724 §5 rules that matter for one interface:
// 1 (the destination itself), 2 (appropriate scope: link-local for
// link-local and multicast link scope destinations, else global), 8
// (longest matching prefix, counted at most to the source's prefix length
// as RFC 6724 and Linux's IPV6_SADDR_RULE_PREFIX do, so that a longer
// on-link prefix wins over a shorter one that happens to share more
// bits).
func source6(addrs []netip.Prefix, dst netip.Addr) netip.Addr {
	wantLL := dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast()
	best, _ := bestSource(addrs, dst, netip.Addr.Is6, func(p netip.Prefix) int {
		score := min(commonPrefix(p.Addr(), dst), p.Bits())
		if p.Addr().IsLinkLocalUnicast() == wantLL {
			score += 256 // scope first, then prefix length
		}
		return score
	})
	return best
}

// bestSource returns, of the addresses of addrs in the family family
// reports, dst itself if it is one; else the first to score highest, if
// one scores 0 or more. first is the family's first address.
func bestSource(addrs []netip.Prefix, dst netip.Addr, family func(netip.Addr) bool, score func(netip.Prefix) int) (best, first netip.Addr) {
	bestScore := -1
	for _, p := range addrs {
		a := p.Addr()
		if !family(a) {
			continue
		}
		if a == dst {
			return a, a
		}
		if !first.IsValid() {
			first = a
		}
		if s := score(p); s > bestScore {
			best, bestScore = a, s
		}
	}
	return best, first
}

func commonPrefix(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	return n
}

// IsLocal implements rudp.Router: dst is one of the host's addresses, a
// broadcast or multicast address, or any unicast address while the host
// has none of dst's family (a DHCP client before its lease gets its OFFER
// to the address offered).
func (h *Host) IsLocal(dst netip.Addr) bool {
	if dst.IsMulticast() || dst == limitedBroadcast {
		return true
	}
	have := false
	for _, p := range *h.addrs.Load() {
		a := p.Addr()
		if a == dst {
			return true
		}
		if a.Is4() == dst.Is4() && !a.IsLinkLocalUnicast() {
			have = true
		}
		if a.Is4() && dst.Is4() && p.Bits() < 31 && dst == lastAddr(p) {
			return true
		}
	}
	return !have
}

// Send implements rudp.Router: it fills in the next hop's MAC and sends f,
// or queues it while the next hop is resolved. It owns f.
func (h *Host) Send(ec *etherconn.Conn, f *etherconn.Frame, n int, dst netip.Addr) error {
	nh, mac, direct, err := h.nextHop(dst)
	if err != nil {
		f.Release()
		h.st.noRoute.Add(1)
		return err
	}
	if !direct {
		var ok bool
		if mac, ok = h.seg.neigh.lookup(h, nh); !ok {
			h.seg.neigh.enqueue(h, nh, ec, f, n)
			return nil
		}
	}
	b := f.Bytes(n)
	copy(b[:6], mac[:])
	err = ec.WriteFrame(b)
	f.Release()
	return err
}
