package host_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
)

func pfxs(ss ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, s := range ss {
		out = append(out, pfx(s))
	}
	return out
}

// TestSource: source address selection. IPv4: the address whose prefix
// holds the destination (the longest), else the one whose prefix holds the
// next hop (the route's gateway or the default one), else the first. IPv6
// (RFC 6724 §5 for one interface): the destination itself, then matching
// scope, then the longest prefix matched, counted at most to the source's
// prefix length as Linux does.
func TestSource(t *testing.T) {
	ll := frame.LinkLocal(hostMAC)
	for _, c := range []struct {
		name   string
		cfg    host.Config
		dst    string
		want   string // "" for none
		wantLL bool
	}{
		{name: "v4 on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/24")}, dst: "198.18.0.9", want: "198.18.0.1"},
		{name: "v4 second prefix", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "198.18.1.9", want: "198.18.1.1"},
		{name: "v4 itself", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "198.18.1.1", want: "198.18.1.1"},
		{name: "v4 longest on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/16", "198.18.5.1/24")}, dst: "198.18.5.9", want: "198.18.5.1"},
		{name: "v4 shorter on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/16", "198.18.5.1/24")}, dst: "198.18.6.9", want: "198.18.0.1"},
		{name: "v4 via the gateway's prefix", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.1.254")}, dst: "192.0.2.9", want: "198.18.1.1"},
		{name: "v4 via a route's gateway", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.0.254"), Routes: []host.Route{{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.1.253")}}},
			dst: "192.0.2.9", want: "198.18.1.1"},
		{name: "v4 default beside a route", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.0.254"), Routes: []host.Route{{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.1.253")}}},
			dst: "198.19.0.9", want: "198.18.0.1"},
		{name: "v4 first without a gateway", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "192.0.2.9", want: "198.18.0.1"},
		{name: "v4 none", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "198.18.0.9"},
		{name: "v6 link-local dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "fe80::9", wantLL: true},
		{name: "v6 global dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "2001:db8::9", want: "2001:db8::1"},
		{name: "v6 off-link global dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "2001:db8:ffff::9", want: "2001:db8::1"},
		{name: "v6 only link-local", cfg: host.Config{}, dst: "2001:db8::9", wantLL: true},
		{name: "v6 longest prefix", cfg: host.Config{Addrs: pfxs("2001:db8:1::1/64", "2001:db8:2::1/64")}, dst: "2001:db8:2::9", want: "2001:db8:2::1"},
		{name: "v6 prefix counted to the source's length", cfg: host.Config{Addrs: pfxs("2001:db8::1/48", "2001:db8::100/64")},
			dst: "2001:db8::5", want: "2001:db8::100"},
		{name: "v6 itself", cfg: host.Config{Addrs: pfxs("2001:db8:1::1/64", "2001:db8:2::1/64")}, dst: "2001:db8:1::1", want: "2001:db8:1::1"},
		{name: "v6 link-local multicast", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "ff02::1", wantLL: true},
		{name: "v6 global multicast", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "ff0e::1", want: "2001:db8::1"},
		{name: "v6 none", cfg: host.Config{NoLinkLocal: true, Addrs: pfxs("198.18.0.1/24")}, dst: "2001:db8::9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWire(t, nil)
			c.cfg.MAC = mac(1)
			h := w.host(c.cfg)
			got := h.Source(addr(c.dst))
			switch {
			case c.wantLL:
				assert.Equal(t, ll.String(), got.String())
			case c.want == "":
				assert.False(t, got.IsValid(), "%v", got)
			default:
				assert.Equal(t, c.want, got.String())
			}
		})
	}
}

// TestRoutes: the next hop is the destination on-link, else the gateway
// of the longest matching route (a route more specific than an on-link
// prefix included, as in the kernel's FIB), else the default gateway;
// with none the write fails with ENETUNREACH, counted in NoRoute. The
// datagram's source is the address selected for the destination.
func TestRoutes(t *testing.T) {
	cfg := host.Config{MAC: mac(1), Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24", "2001:db8::1/64"),
		Gateway4: addr("198.18.0.254"), Gateway6: addr("fe80::fffe"),
		Routes: []host.Route{
			{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.0.253")},
			{Prefix: pfx("192.0.2.128/25"), Via: addr("198.18.1.252")},
			{Prefix: pfx("198.18.0.128/25"), Via: addr("198.18.0.250")},
			{Prefix: pfx("2001:db8:5::/48"), Via: addr("fe80::1")},
		}}
	for _, c := range []struct {
		dst, nh, src string
	}{
		{"198.18.0.9", "198.18.0.9", "198.18.0.1"},
		{"198.18.1.9", "198.18.1.9", "198.18.1.1"},
		{"192.0.2.5", "198.18.0.253", "198.18.0.1"},
		{"192.0.2.200", "198.18.1.252", "198.18.1.1"},
		{"198.18.0.200", "198.18.0.250", "198.18.0.1"},
		{"198.19.0.1", "198.18.0.254", "198.18.0.1"},
		{"2001:db8::9", "2001:db8::9", "2001:db8::1"},
		{"2001:db8:5::1", "fe80::1", "2001:db8::1"},
		{"2001:db8:9::1", "fe80::fffe", "2001:db8::1"},
	} {
		t.Run(c.dst, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.host(cfg)
			conn := dial(t, h, addr(c.dst))
			assert.Equal(t, c.src, conn.LocalAddrPort().Addr().String(), "source")
			_, err := conn.Write([]byte("x"))
			require.NoError(t, err)
			nh := addr(c.nh)
			if nh.Is4() {
				w.expect("ARP request for "+c.nh, isARP(layers.ARPRequest, nh))
			} else {
				w.expect("NS for "+c.nh, isND(135, nh))
			}
			w.none("other solicitations", func(p gopacket.Packet) bool {
				return isARP(layers.ARPRequest, netip.Addr{})(p) || isND(135, netip.Addr{})(p)
			})
		})
	}
	t.Run("no route", func(t *testing.T) {
		w := newWire(t, nil)
		h := w.host(host.Config{MAC: mac(1), Addrs: pfxs("198.18.0.1/24", "2001:db8::1/64")})
		for i, dst := range []string{"198.19.0.1", "2001:db8:9::1"} {
			conn, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr(dst), 7))
			require.NoError(t, err)
			_, err = conn.Write([]byte("x"))
			assert.ErrorIs(t, err, syscall.ENETUNREACH, dst)
			conn.Close()
			assert.Equal(t, uint64(i+1), h.Stats().NoRoute)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := h.Ping(ctx, addr("198.19.0.1"))
		assert.ErrorIs(t, err, syscall.ENETUNREACH)
		w.none("anything", anyFrame)
	})
}

// TestAddRemoveAddr: addresses added and removed at run time; one host of
// a segment cannot take another's; a removed address is no longer
// answered and can be taken by another host.
func TestAddRemoveAddr(t *testing.T) {
	w := newWire(t, nil)
	ha := w.defaultHost(host.Config{})
	hb := w.host(host.Config{MAC: mac(2)})
	for _, a := range []netip.Prefix{pfx("198.18.0.1/24"), pfx("2001:db8::1/64"), netip.PrefixFrom(frame.LinkLocal(hostMAC), 64)} {
		assert.ErrorIs(t, hb.AddAddr(a), host.ErrAddrInUse, "%v", a)
	}
	_, err := host.New(w.r, host.Config{MAC: mac(3), Addrs: pfxs("198.18.0.1/24")})
	assert.ErrorIs(t, err, host.ErrAddrInUse)
	for _, bad := range []netip.Prefix{{}, pfx("224.0.0.1/24"), pfx("0.0.0.0/0"), pfx("::/0"), pfx("ff02::1/64"),
		pfx("::ffff:198.18.0.9/120")} {
		assert.ErrorIs(t, ha.AddAddr(bad), host.ErrBadConfig, "%v", bad)
	}
	assert.ErrorIs(t, ha.RemoveAddr(addr("198.18.0.77")), host.ErrBadConfig)
	require.NoError(t, ha.AddAddr(pfx("198.18.0.1/24")), "again: nothing to do")
	assert.Len(t, ha.Addrs(), 3, "%v", ha.Addrs())

	require.NoError(t, ha.AddAddr(pfx("198.18.0.3/24")))
	any4, err := ha.ListenUDP(netip.MustParseAddrPort("0.0.0.0:54"))
	require.NoError(t, err)
	defer any4.Close()

	require.NoError(t, ha.RemoveAddr(host4))
	require.NoError(t, ha.RemoveAddr(host6))
	assert.False(t, ha.HasAddr(host4))
	w.send(w.arpRequest(host4))
	w.send(w.ns(host6))
	testkit.Eventually(t, waitFor, func() bool { return ha.Stats().Segment.NotForUs == 2 }, "%+v", ha.Stats())
	w.none("an answer for a removed address", anyFrame)
	assert.Zero(t, ha.Stats().ARPAnswered+ha.Stats().NDAnswered)
	_, err = ha.ListenUDP(netip.MustParseAddrPort("198.18.0.1:55"))
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
	// A socket on the unspecified address no longer takes datagrams to
	// it (the host has another IPv4 address), but still to the others.
	w.send(w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.MustParseAddrPort("198.18.0.1:54"), []byte("removed")))
	w.send(w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.MustParseAddrPort("198.18.0.3:54"), []byte("kept")))
	require.NoError(t, any4.SetReadDeadline(time.Now().Add(waitFor)))
	buf := make([]byte, 100)
	n, _, dst, err := any4.ReadMsgUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(buf[:n]))
	assert.Equal(t, "198.18.0.3:54", dst.String())
	require.NoError(t, any4.SetReadDeadline(time.Now().Add(quiet)))
	_, _, err = any4.ReadFromUDPAddrPort(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a datagram to a removed address was received")

	// Now another host may take it, and answers for it.
	require.NoError(t, hb.AddAddr(pfx("198.18.0.1/24")))
	w.send(w.arpRequest(host4))
	p := w.expect("ARP reply from the new owner", isARP(layers.ARPReply, peer4))
	assert.Equal(t, frame.MAC(mac(2)), frame.MAC(arpOf(p).SourceHwAddress))

	ha.Close()
	assert.ErrorIs(t, ha.AddAddr(pfx("198.18.0.5/24")), net.ErrClosed)
}
