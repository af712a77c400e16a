package afpacket

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// offloaded builds a frame with correct checksums and a copy of it as a
// sender with checksum offload leaves it: the transport checksum field holds
// only the folded pseudo-header sum. It returns both and the field's offset.
func offloaded(t *testing.T, v6, tcp bool, tags int, payload []byte) (want, partial []byte, field int) {
	t.Helper()
	src, dst := net.IP{198, 18, 0, 1}, net.IP{198, 18, 0, 2}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	ls = append(ls, eth)
	var proto layers.IPProtocol = layers.IPProtocolUDP
	if tcp {
		proto = layers.IPProtocolTCP
	}
	next := layers.EthernetTypeIPv4
	if v6 {
		next = layers.EthernetTypeIPv6
		src, dst = net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2")
	}
	if tags > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		for i := 0; i < tags; i++ {
			d := &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: layers.EthernetTypeDot1Q}
			if i == tags-1 {
				d.Type = next
			}
			ls = append(ls, d)
		}
	} else {
		eth.EthernetType = next
	}
	var nl gopacket.NetworkLayer
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
		ls, nl = append(ls, ip), ip
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
		ls, nl = append(ls, ip), ip
	}
	if tcp {
		l := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 12345, SYN: true, Window: 64240}
		require.NoError(t, l.SetNetworkLayerForChecksum(nl))
		ls = append(ls, l)
	} else {
		l := &layers.UDP{SrcPort: 40000, DstPort: 9000}
		require.NoError(t, l.SetNetworkLayerForChecksum(nl))
		ls = append(ls, l)
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	want = append([]byte(nil), buf.Bytes()...)

	var in frame.Info
	require.NoError(t, frame.Parse(want, &in))
	l4len := in.End - in.L4
	var pseudo []byte
	if v6 {
		pseudo = append(append(pseudo, src.To16()...), dst.To16()...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(l4len))
		pseudo = append(pseudo, 0, 0, 0, byte(proto))
	} else {
		pseudo = append(append(pseudo, src.To4()...), dst.To4()...)
		pseudo = append(pseudo, 0, byte(proto))
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(l4len))
	}
	field = in.L4 + 6
	if tcp {
		field = in.L4 + 16
	}
	partial = append([]byte(nil), want...)
	binary.BigEndian.PutUint16(partial[field:], ^frame.Checksum(pseudo))
	return want, partial, field
}

func TestCompleteChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			for _, tags := range []int{0, 1, 2} {
				for _, size := range []int{0, 1, 7, 64, 1001} {
					payload := make([]byte, size)
					for i := range payload {
						payload[i] = byte(i*31 + size)
					}
					want, partial, _ := offloaded(t, v6, tcp, tags, payload)
					require.NotEqual(t, want, partial)
					completeChecksum(partial)
					require.Equal(t, want, partial, "v6=%v tcp=%v tags=%d size=%d", v6, tcp, tags, size)
				}
			}
		}
	}

	// A UDP checksum that comes out as zero is sent as 0xffff. Find a
	// payload for which it does by adjusting two bytes.
	want, partial, field := offloaded(t, false, false, 0, make([]byte, 40))
	require.Len(t, want, 14+20+8+40, "no Ethernet padding")
	c := binary.BigEndian.Uint16(want[field:])
	fix := append([]byte(nil), partial...)
	binary.BigEndian.PutUint16(fix[len(fix)-2:], c) // adds c to the sum: the result is zero
	completeChecksum(fix)
	assert.Equal(t, uint16(0xffff), binary.BigEndian.Uint16(fix[field:]))
	pkt := gopacket.NewPacket(fix, layers.LayerTypeEthernet, gopacket.Default)
	u := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	require.NoError(t, u.SetNetworkLayerForChecksum(ip))
	err, res := u.VerifyChecksum()
	require.NoError(t, err)
	assert.True(t, res.Valid, "0xffff is a valid UDP checksum")

	// Frames that are not TCP or UDP over IP, fragments, truncated frames:
	// untouched.
	for name, mutate := range map[string]func(b []byte){
		"not ip":     func(b []byte) { b[12], b[13] = 0x88, 0xb5 },
		"icmp":       func(b []byte) { b[14+9] = 1 },
		"fragment":   func(b []byte) { b[14+6] = 0x20 },
		"truncated":  func(b []byte) { b[14+2], b[14+3] = 0x0f, 0xff },
		"udp length": func(b []byte) { b[14+20+4], b[14+20+5] = 0xff, 0xff },
	} {
		_, partial, _ := offloaded(t, false, false, 0, make([]byte, 20))
		mutate(partial)
		before := append([]byte(nil), partial...)
		completeChecksum(partial)
		assert.Equal(t, before, partial, name)
	}
	for i := 0; i < 60; i++ {
		completeChecksum(partial[:i]) // never panics
	}
}
