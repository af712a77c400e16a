package host_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
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
			_, err = cl.Write([]byte("query"))
			require.NoError(t, err)
			buf := make([]byte, 100)
			require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			assert.Equal(t, "query", string(buf[:n]))
			assert.Equal(t, cl.LocalAddrPort(), from, "the source the host selected")
			assert.False(t, from.Addr().IsUnspecified())
			_, err = srv.WriteToUDPAddrPort([]byte("answer"), from)
			require.NoError(t, err)
			require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, err = cl.Read(buf)
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
