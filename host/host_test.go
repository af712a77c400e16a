package host_test

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

// TestTwoHostsTalk: two hosts on one link exchange UDP over IPv4, IPv6
// and link-local IPv6, resolving each other by ARP and ND, with no
// resolver given; and ping each other.
func TestTwoHostsTalk(t *testing.T) {
	ra, rb := pair(t)
	vl := frame.VLANs{{ID: 100}}
	ha := mustHost(t, ra, host.Config{MAC: mac(1), VLANs: vl, Addrs: []netip.Prefix{pfx("198.18.0.1/24"), pfx("2001:db8::1/64")}})
	hb := mustHost(t, rb, host.Config{MAC: mac(2), VLANs: vl, Addrs: []netip.Prefix{pfx("198.18.0.2/24"), pfx("2001:db8::2/64")}})
	llB := frame.LinkLocal(frame.MAC(mac(2)))
	for _, tc := range []struct {
		name   string
		listen string
		to     netip.AddrPort
	}{
		{"ipv4", "0.0.0.0:53", ap("198.18.0.2:53")},
		{"ipv6", "[::]:53", ap("[2001:db8::2]:53")},
		{"link-local", "[::]:54", netip.AddrPortFrom(llB, 54)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := hb.ListenUDP(ap(tc.listen))
			require.NoError(t, err)
			defer srv.Close()
			cl, err := ha.DialUDP(netip.AddrPort{}, tc.to)
			require.NoError(t, err)
			defer cl.Close()
			from := testkit.Exchange(t, cl, srv, "query", 5*time.Second)
			assert.Equal(t, cl.LocalAddrPort(), from, "the source the host selected")
			assert.False(t, from.Addr().IsUnspecified())
			_, err = srv.WriteToUDPAddrPort([]byte("answer"), from)
			require.NoError(t, err)
			require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
			buf := make([]byte, 100)
			n, err := cl.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "answer", string(buf[:n]))
		})
	}
	for _, dst := range []string{"198.18.0.2", "2001:db8::2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rtt, err := ha.Ping(ctx, addr(dst))
		cancel()
		require.NoError(t, err, dst)
		assert.Positive(t, rtt)
	}
	assert.NotZero(t, hb.Stats().ARPAnswered)
	assert.NotZero(t, hb.Stats().NDAnswered)
	assert.NotZero(t, hb.Stats().EchoAnswered)
	t.Logf("A: %+v", ha.Stats())
	t.Logf("A neighbours: %v", ha.Neighbors())
}

// TestSameSegmentHairpin: two hosts of one relay and VLAN stack (a relay
// with Hairpin) resolve each other by ARP and ND and talk, IPv4 and IPv6.
func TestSameSegmentHairpin(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	r := relay.New(a, relay.Config{Hairpin: true})
	t.Cleanup(func() { r.Close(); b.Close() })
	ha := mustHost(t, r, host.Config{MAC: mac(1), Addrs: []netip.Prefix{pfx("198.18.0.1/24"), pfx("2001:db8::1/64")}})
	hb := mustHost(t, r, host.Config{MAC: mac(2), Addrs: []netip.Prefix{pfx("198.18.0.2/24"), pfx("2001:db8::2/64")}})
	for _, to := range []string{"198.18.0.2:7", "[2001:db8::2]:7"} {
		srv, err := hb.ListenUDP(netip.AddrPortFrom(unspec(ap(to).Addr()), 7))
		require.NoError(t, err)
		cl, err := ha.DialUDP(netip.AddrPort{}, ap(to))
		require.NoError(t, err)
		_, err = cl.Write([]byte("hairpin"))
		require.NoError(t, err)
		buf := make([]byte, 64)
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := srv.ReadFromUDPAddrPort(buf)
		require.NoError(t, err, to)
		assert.Equal(t, "hairpin", string(buf[:n]))
		cl.Close()
		srv.Close()
	}
}

func unspec(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// TestRemoveAddrStopsDelivery: after RemoveAddr no socket takes datagrams
// to the address, also one bound to it; added back, it receives again.
func TestRemoveAddrStopsDelivery(t *testing.T) {
	ra, rb := pair(t)
	ha := mustHost(t, ra, host.Config{MAC: mac(1), Addrs: []netip.Prefix{pfx("198.18.0.1/24")}})
	hb := mustHost(t, rb, host.Config{MAC: mac(2), Addrs: []netip.Prefix{pfx("198.18.0.2/24"), pfx("198.18.0.3/24")}})
	bound, err := hb.ListenUDP(ap("198.18.0.2:7"))
	require.NoError(t, err)
	defer bound.Close()
	cl, err := ha.DialUDP(netip.AddrPort{}, ap("198.18.0.2:7"))
	require.NoError(t, err)
	defer cl.Close()
	buf := make([]byte, 64)
	send := func(want bool) {
		t.Helper()
		_, err := cl.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, bound.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		_, _, err = bound.ReadFromUDPAddrPort(buf)
		if want {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		}
	}
	send(true)
	require.NoError(t, hb.RemoveAddr(addr("198.18.0.2")))
	send(false)
	require.NoError(t, hb.AddAddr(pfx("198.18.0.2/24")))
	send(true)
}
