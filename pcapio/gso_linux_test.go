//go:build linux && cgo

package pcapio

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/netns"
)

// TestLiveGSOSuperFrames: a kernel UDP socket with UDP_SEGMENT sends merged
// super-frames over a veth, and libpcap, which has no vnet header to tell
// them by, hands them over whole. One longer than the link's MTU allows
// cannot be a frame: Live drops it and counts it in Stats().Dropped. One
// within the MTU (2 × 200 bytes) cannot be told from a frame and comes
// through as one datagram, as the package documentation says.
func TestLiveGSOSuperFrames(t *testing.T) {
	netns.Require(t)
	v := netns.NewVeth(t, nil)
	emuMAC, emu, kern := netns.RandomMAC(), netns.IPv4(1), netns.IPv4(2)
	v.B.AddAddr(t, netip.PrefixFrom(kern, 24))
	v.B.AddNeighbor(t, emu, emuMAC)
	var l *Live
	require.NoError(t, v.A.NS.Do(func() (err error) {
		l, err = OpenLive(v.A.Name, LiveConfig{})
		return err
	}))
	ch := collect(t, l)
	src := netip.AddrPortFrom(kern, 0)
	require.NoError(t, v.B.NS.SendUDPGSO("udp4", src, netip.AddrPortFrom(emu, 7001), make([]byte, 4000), 1000))
	require.NoError(t, v.B.NS.SendUDPGSO("udp4", src, netip.AddrPortFrom(emu, 7002), make([]byte, 400), 200))
	timeout := time.After(liveWait)
	for done := false; !done; {
		select {
		case f := <-ch:
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if !ok {
				continue
			}
			require.NotEqual(t, layers.UDPPort(7001), u.DstPort, "a super-frame longer than the MTU came through")
			if u.DstPort == 7002 {
				assert.Len(t, u.Payload, 400, "within the MTU, the super-frame is one datagram")
				done = true
			}
		case <-timeout:
			t.Fatalf("the super-frame within the MTU did not arrive within %v", liveWait)
		}
	}
	assert.Equal(t, uint64(1), l.Stats().Dropped)
}
