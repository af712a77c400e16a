//go:build linux

package afpacket_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// TestHarnessOpenPair uses the harness the way a conformance factory will.
func TestHarnessOpenPair(t *testing.T) {
	t.Parallel()
	a, b, v := netns.OpenPair(t, func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	}, nil)
	want := mkFrame(v.B.MAC, v.A.MAC, []tag{{0x88a8, 10}, {0x8100, 20}}, etherTest, 40, 1)
	require.NoError(t, a.WriteFrame(want))
	got, err := read(t, b.(*afpacket.Conn), 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestKernelUDPInterop sends a UDP datagram from an emulated endpoint to a
// kernel socket and back.
func TestKernelUDPInterop(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	emuMAC := netns.RandomMAC()
	emuIP, kernIP := netns.IPv4(1), netns.IPv4(2)
	v.B.AddAddr(t, netip.PrefixFrom(kernIP, 24))
	v.B.AddNeighbor(t, emuIP, emuMAC)
	srv, err := v.B.NS.ListenUDP("udp4", netip.AddrPortFrom(kernIP, 9000))
	require.NoError(t, err)
	defer srv.Close()
	c := open(t, v.A, afpacket.Config{})

	eth := &layers.Ethernet{SrcMAC: emuMAC, DstMAC: v.B.MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: emuIP.AsSlice(), DstIP: kernIP.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9000}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload("hello kernel")))
	require.NoError(t, c.WriteFrame(buf.Bytes()))

	require.NoError(t, srv.SetReadDeadline(time.Now().Add(2*time.Second)))
	p := make([]byte, 100)
	n, from, err := srv.ReadFromUDPAddrPort(p)
	require.NoError(t, err)
	require.Equal(t, "hello kernel", string(p[:n]))
	require.Equal(t, netip.AddrPortFrom(emuIP, 40000), from)

	_, err = srv.WriteToUDPAddrPort([]byte("hello emulated"), from)
	require.NoError(t, err)
	frame, err := read(t, c, 2*time.Second)
	require.NoError(t, err)
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, pkt.ErrorLayer())
	require.Equal(t, emuMAC, pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC)
	u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	require.True(t, ok)
	require.Equal(t, layers.UDPPort(40000), u.DstPort)
	require.Equal(t, "hello emulated", string(u.Payload))
}
