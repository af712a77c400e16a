package conformance

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/relay"
)

// The stack suite, RunStack: emulated hosts (package host) over the pair.

// hostPair puts one host on each end of a fresh pair, on VLAN 100 with an
// IPv4 and an IPv6 address each, and no resolver: they find each other
// with ARP and ND.
func (s *suite) hostPair(t *testing.T) (ha, hb *host.Host) {
	t.Helper()
	a, b := s.pair(t)
	mk := func(p backend.PacketIO, i int) *host.Host {
		r := s.relay(t, p, relay.Config{})
		h, err := host.New(r, host.Config{
			MAC: testMAC(0x40 + i), VLANs: frame.VLANs{{ID: 100}},
			Addrs: []netip.Prefix{
				netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 40, byte(i)}), 24),
				netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 64),
			}})
		must(t, err, "host.New")
		t.Cleanup(func() { h.Close() })
		return h
	}
	return mk(a, 1), mk(b, 2)
}

// testHosts: two hosts exchange UDP over IPv4, IPv6 and link-local IPv6,
// and ping each other, resolving each other on the way.
func (s *suite) testHosts(t *testing.T) {
	ha, hb := s.hostPair(t)
	buf := make([]byte, 256)
	for _, dst := range []netip.Addr{hb.Addrs()[1].Addr(), hb.Addrs()[2].Addr(), hb.Addrs()[0].Addr()} {
		srv, err := hb.ListenUDP(netip.AddrPortFrom(unspecified(dst), 7))
		must(t, err, "ListenUDP")
		cl, err := ha.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(dst, 7))
		must(t, err, "DialUDP to %v", dst)
		_, err = cl.Write([]byte("over " + dst.String()))
		must(t, err, "Write to %v", dst)
		must(t, srv.SetReadDeadline(time.Now().Add(s.cfg.Timeout)), "SetReadDeadline")
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		must(t, err, "server read from %v", dst)
		check(t, string(buf[:n]), "over "+dst.String(), "payload")
		check(t, from, cl.LocalAddrPort(), "source the client's host selected")
		_, err = srv.WriteToUDPAddrPort([]byte("back"), from)
		must(t, err, "server write")
		must(t, cl.SetReadDeadline(time.Now().Add(s.cfg.Timeout)), "SetReadDeadline")
		n, err = cl.Read(buf)
		must(t, err, "client read from %v", dst)
		check(t, string(buf[:n]), "back", "answer")
		cl.Close()
		srv.Close()
	}
	for _, dst := range []netip.Addr{hb.Addrs()[1].Addr(), hb.Addrs()[2].Addr()} {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		_, err := ha.Ping(ctx, dst)
		cancel()
		must(t, err, "Ping %v", dst)
	}
	// A host counts an answer once its write returned, which on some
	// backends (libpcap) is after the peer already has it.
	var st host.Stats
	for end := time.Now().Add(s.cfg.Timeout); ; time.Sleep(time.Millisecond) {
		st = hb.Stats()
		if (st.ARPAnswered > 0 && st.NDAnswered > 0 && st.EchoAnswered >= 2) || time.Now().After(end) {
			break
		}
	}
	checkf(t, st.ARPAnswered > 0 && st.NDAnswered > 0 && st.EchoAnswered >= 2,
		"host B answered ARP %d, ND %d, echo %d times", st.ARPAnswered, st.NDAnswered, st.EchoAnswered)
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
