package frame

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With segments left in a routing header, the UDP checksum covers the final
// destination, not the IPv6 header's (RFC 8200 §8.1).
func TestUDPChecksumFinalDestination(t *testing.T) {
	src, via, final := net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8::99")
	payload := []byte("segment routed")
	// The checksum as the sender computes it, against the final destination.
	udp := &layers.UDP{SrcPort: 1000, DstPort: 2000}
	require.NoError(t, udp.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: src, DstIP: final, NextHeader: layers.IPProtocolUDP}))
	ub := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(ub, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, udp, gopacket.Payload(payload)))
	udpBytes := ub.Bytes()

	for _, tc := range []struct {
		name         string
		typ, segLeft byte
	}{
		{"srh", 4, 1}, {"type0", 0, 1}, {"type2", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rh := make([]byte, 24) // 8-byte header and one address
			rh[0], rh[1], rh[2], rh[3] = ProtoUDP, 2, tc.typ, tc.segLeft
			copy(rh[8:], final)
			b := make([]byte, EthernetLen+IPv6Len+len(rh)+len(udpBytes))
			PutEthernet(b, MAC{2, 0, 0, 0, 0, 2}, MAC{2, 0, 0, 0, 0, 1}, nil, EtherTypeIPv6)
			ip := b[EthernetLen:]
			ip[0] = 0x60
			binary.BigEndian.PutUint16(ip[4:], uint16(len(rh)+len(udpBytes)))
			ip[6], ip[7] = 43, 64
			copy(ip[8:], src)
			copy(ip[24:], via)
			copy(ip[IPv6Len:], rh)
			copy(ip[IPv6Len+len(rh):], udpBytes)

			var in Info
			require.NoError(t, Parse(b, &in))
			require.True(t, in.UDP)
			assert.True(t, UDPChecksumOK(b, &in), "checksum against the final destination")

			// With no segments left the header's destination is final, and
			// the sender's checksum (against another address) is wrong.
			b[EthernetLen+IPv6Len+3] = 0
			require.NoError(t, Parse(b, &in))
			assert.False(t, UDPChecksumOK(b, &in))
		})
	}
}
