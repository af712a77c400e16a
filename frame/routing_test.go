package frame

import (
	"encoding/binary"
	"net"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routed is an Ethernet frame of an IPv6 UDP datagram from src to dst with
// a routing header of type typ, segLeft segments left and the address via,
// the UDP checksum computed by gopacket against sumDst.
func routed(t *testing.T, src, dst, via, sumDst net.IP, typ, segLeft byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: 1000, DstPort: 2000}
	require.NoError(t, udp.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: src, DstIP: sumDst, NextHeader: layers.IPProtocolUDP}))
	udpBytes := serialize(t, udp, gopacket.Payload("routed"))
	rh := make([]byte, 24) // 8-byte header and one address
	rh[0], rh[1], rh[2], rh[3] = ProtoUDP, 2, typ, segLeft
	copy(rh[8:], via)
	b := make([]byte, EthernetLen+IPv6Len+len(rh)+len(udpBytes))
	PutEthernet(b, MAC{2, 0, 0, 0, 0, 2}, MAC{2, 0, 0, 0, 0, 1}, nil, EtherTypeIPv6)
	ip := b[EthernetLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(rh)+len(udpBytes)))
	ip[6], ip[7] = 43, 64
	copy(ip[8:], src)
	copy(ip[24:], dst)
	copy(ip[IPv6Len:], rh)
	copy(ip[IPv6Len+len(rh):], udpBytes)
	return b
}

// With no segments left this host is the final destination, the address in
// the IPv6 header, and the UDP checksum covers that address (RFC 8200 §8.1).
// With segments left it is not: Parse refuses the packet, as Linux drops it.
// So does a routing header to a multicast destination, whatever is left.
func TestRoutingHeaderFinalDestination(t *testing.T) {
	src, here, next := net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8::99")
	group := net.ParseIP("ff0e::db8:1")
	for _, typ := range []byte{0, 2, 253} {
		t.Run("type"+strconv.Itoa(int(typ)), func(t *testing.T) {
			var in Info
			b := routed(t, src, here, next, here, typ, 0)
			require.NoError(t, Parse(b, &in))
			require.True(t, in.UDP)
			assert.True(t, UDPChecksumOK(b, &in), "checksum against the IPv6 header's destination")

			// The sender's checksum against the next segment, as it would
			// be at the final destination.
			b = routed(t, src, here, next, next, typ, 1)
			require.ErrorIs(t, Parse(b, &in), ErrIPv6Routing)
			require.ErrorIs(t, Parse(b, &in), ErrBadIPv6)

			b = routed(t, src, group, next, group, typ, 0)
			require.ErrorIs(t, Parse(b, &in), ErrIPv6Routing)
		})
	}
}
