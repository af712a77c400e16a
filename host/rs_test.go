package host_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// isRS matches router solicitations.
func isRS(p gopacket.Packet) bool { return icmpType(p) == int(frame.NDRouterSolicit) }

// TestRouterSolicitation: hosts with AcceptRA on a segment solicit a
// router once for all of them, from the first one's link-local address to
// all routers (hop limit 255, its MAC as source link-layer address),
// within a second; the advertisement that answers ends the solicitations
// and gives every host its default route. Without AcceptRA, or with
// Gateway6, nothing is solicited.
func TestRouterSolicitation(t *testing.T) {
	w := newWire(t, nil)
	start := time.Now()
	h1 := w.defaultHost(host.Config{AcceptRA: true})
	h2 := w.host(host.Config{MAC: mac(2), AcceptRA: true, Addrs: []netip.Prefix{pfx("2001:db8::2/64")}})
	w.host(host.Config{MAC: mac(3), Addrs: []netip.Prefix{pfx("2001:db8::3/64")}})
	p := w.expect("a router solicitation", isRS)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	ip := ip6Of(p)
	assert.Equal(t, uint8(255), ip.HopLimit)
	assert.Equal(t, frame.LinkLocal(hostMAC).AsSlice(), []byte(ip.SrcIP))
	assert.Equal(t, frame.AllRouters.AsSlice(), []byte(ip.DstIP))
	rs, ok := p.Layer(layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
	require.True(t, ok, "%v", p)
	require.Len(t, rs.Options, 1)
	assert.Equal(t, layers.ICMPv6OptSourceAddress, rs.Options[0].Type)
	assert.Equal(t, hostMAC[:], rs.Options[0].Data)
	checkedICMP(t, p)

	// The router answers to all nodes: no more solicitations, and both
	// hosts route off the link through it.
	allMAC, _ := frame.MulticastMAC(allNode)
	ra := []byte{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	w.send(w.icmp6(allMAC, peerLL, allNode, 255, 134, 0, append(ra, ndOpt(1, peerMAC)...)))
	w.none("another solicitation", isRS)
	far := netip.MustParseAddr("2001:db8:ffff::1")
	for _, h := range []*host.Host{h1, h2} {
		c := dial(t, h, far)
		_, err := c.Write([]byte("via the router"))
		require.NoError(t, err)
		u := w.expect("the datagram, to the router", isUDP)
		assert.Equal(t, peerMAC, dstMACOf(u))
	}
	assert.Equal(t, uint64(1), h1.Stats().Segment.RouterSolicits)
}

// TestRouterSolicitationGivesUp: with no router answering, the segment
// solicits 3 times, the interval apart (4 s; 300 ms here), then stops.
func TestRouterSolicitationGivesUp(t *testing.T) {
	defer host.SetRSInterval(300 * time.Millisecond)()
	w := newWire(t, nil)
	h := w.defaultHost(host.Config{AcceptRA: true})
	var at []time.Time
	for range 3 {
		w.expect("a router solicitation", isRS)
		at = append(at, time.Now())
	}
	for i := 1; i < 3; i++ {
		assert.InDelta(t, 0.3, at[i].Sub(at[i-1]).Seconds(), 0.2)
	}
	w.none("a fourth solicitation", isRS)
	time.Sleep(400 * time.Millisecond)
	w.none("a fourth solicitation", isRS)
	assert.Equal(t, uint64(3), h.Stats().Segment.RouterSolicits)
}
