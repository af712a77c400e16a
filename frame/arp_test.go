package frame

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arpLayer is an IPv4-over-Ethernet ARP packet as gopacket builds it.
func arpLayer(op uint16, smac, tmac net.HardwareAddr, sip, tip net.IP) *layers.ARP {
	return &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: smac, SourceProtAddress: sip.To4(),
		DstHwAddress: tmac, DstProtAddress: tip.To4(),
	}
}

// TestPutARPGopacket decodes what PutARP builds with gopacket.
func TestPutARPGopacket(t *testing.T) {
	smac, tmac := MAC(macSrc), MAC(macDst)
	for _, c := range []struct {
		name     string
		a        ARP
		sip, tip net.IP // what gopacket must see
	}{
		{"request", ARP{Op: ARPRequest, SenderMAC: smac, SenderIP: netip.MustParseAddr("192.0.2.1"), TargetIP: netip.MustParseAddr("192.0.2.2")},
			ip4Src, net.IP{192, 0, 2, 2}},
		{"reply", ARP{Op: ARPReply, SenderMAC: smac, SenderIP: netip.MustParseAddr("198.18.0.9"), TargetMAC: tmac, TargetIP: netip.MustParseAddr("198.19.255.1")},
			net.IP{198, 18, 0, 9}, net.IP{198, 19, 255, 1}},
		{"probe", ARP{Op: ARPRequest, SenderMAC: smac, TargetIP: netip.MustParseAddr("192.0.2.7")},
			net.IP{0, 0, 0, 0}, net.IP{192, 0, 2, 7}},
		{"mapped", ARP{Op: ARPReply, SenderMAC: smac, SenderIP: netip.MustParseAddr("::ffff:192.0.2.1"), TargetMAC: tmac, TargetIP: netip.MustParseAddr("::ffff:192.0.2.2")},
			ip4Src, net.IP{192, 0, 2, 2}},
		{"ipv6 written as zero", ARP{Op: ARPRequest, SenderMAC: smac, SenderIP: netip.MustParseAddr("2001:db8::1"), TargetIP: netip.MustParseAddr("2001:db8::2")},
			net.IP{0, 0, 0, 0}, net.IP{0, 0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xee}, EthernetLen+ARPLen+18) // padded to 60 bytes
			h := PutEthernet(b, BroadcastMAC, smac, nil, EtherTypeARP)
			require.Equal(t, ARPLen, PutARP(b[h:], &c.a))
			require.Equal(t, bytes.Repeat([]byte{0xee}, 18), b[h+ARPLen:], "wrote past ARPLen")

			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			require.Nil(t, p.ErrorLayer())
			l, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			require.True(t, ok, "no ARP layer in %v", p)
			assert.Equal(t, layers.LinkTypeEthernet, l.AddrType)
			assert.Equal(t, layers.EthernetTypeIPv4, l.Protocol)
			assert.Equal(t, uint8(6), l.HwAddressSize)
			assert.Equal(t, uint8(4), l.ProtAddressSize)
			assert.Equal(t, c.a.Op, l.Operation)
			assert.Equal(t, c.a.SenderMAC[:], l.SourceHwAddress)
			assert.Equal(t, c.a.TargetMAC[:], l.DstHwAddress)
			assert.Equal(t, []byte(c.sip.To4()), l.SourceProtAddress)
			assert.Equal(t, []byte(c.tip.To4()), l.DstProtAddress)
		})
	}
}

func TestPutARPShort(t *testing.T) {
	b := bytes.Repeat([]byte{0xee}, ARPLen-1)
	a := ARP{Op: ARPRequest, SenderMAC: MAC(macSrc), SenderIP: netip.MustParseAddr("192.0.2.1")}
	assert.Zero(t, PutARP(b, &a))
	assert.Equal(t, bytes.Repeat([]byte{0xee}, ARPLen-1), b, "wrote into a short buffer")
	assert.Zero(t, PutARP(nil, &a))
}

// TestParseARPGopacket parses gopacket-built ARP frames, padded and tagged.
func TestParseARPGopacket(t *testing.T) {
	for _, c := range []struct {
		name     string
		tags     VLANs
		op       uint16
		tmac     net.HardwareAddr
		sip, tip net.IP
	}{
		{"request", nil, layers.ARPRequest, make(net.HardwareAddr, 6), ip4Src, net.IP{192, 0, 2, 2}},
		{"reply", nil, layers.ARPReply, macDst, net.IP{198, 18, 1, 1}, ip4Src},
		{"tagged reply", VLANs{{TPID: TPIDDot1AD, ID: 10}, {ID: 20}}, layers.ARPReply, macDst, ip4Src, net.IP{192, 0, 2, 200}},
		{"gratuitous", VLANs{{ID: 4094}}, layers.ARPRequest, make(net.HardwareAddr, 6), ip4Src, ip4Src},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := buildFrame(t, c.tags, EtherTypeARP, arpLayer(c.op, macSrc, c.tmac, c.sip, c.tip))
			var in Info
			require.NoError(t, Parse(b, &in))
			require.Equal(t, EtherTypeARP, in.Key.EtherType)
			require.Greater(t, in.End-in.L3, ARPLen, "gopacket pads to 60 bytes")
			var a ARP
			require.NoError(t, ParseARP(b[in.L3:in.End], &a))
			want := ARP{
				Op: c.op, SenderMAC: MAC(macSrc), TargetMAC: MAC(c.tmac),
				SenderIP: netip.AddrFrom4([4]byte(c.sip.To4())), TargetIP: netip.AddrFrom4([4]byte(c.tip.To4())),
			}
			assert.Equal(t, want, a)
			assert.True(t, a.SenderIP.Is4() && a.TargetIP.Is4())

			// And back: PutARP gives the bytes gopacket wrote.
			out := make([]byte, ARPLen)
			require.Equal(t, ARPLen, PutARP(out, &a))
			assert.Equal(t, b[in.L3:in.L3+ARPLen], out)
		})
	}
}

// TestParseARPHostile feeds ParseARP packets it must drop.
func TestParseARPHostile(t *testing.T) {
	good := serialize(t, arpLayer(layers.ARPRequest, macSrc, macDst, ip4Src, ip4Dst))
	require.Len(t, good, ARPLen)
	var a ARP
	require.NoError(t, ParseARP(good, &a))
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header only", good[:8]},
		{"one byte short", good[:ARPLen-1]},
		{"htype IEEE 802", with(0, 0, 6)},
		{"htype 0", with(0, 0, 0)},
		{"htype 256", with(0, 1, 0)},
		{"ptype IPv6", with(2, 0x86, 0xdd)},
		{"ptype ARP", with(2, 0x08, 0x06)},
		{"hlen 8", with(4, 8)},
		{"hlen 0", with(4, 0)},
		{"plen 16", with(5, 16)},
		{"plen 0", with(5, 0)},
		{"op 0", with(6, 0, 0)},
		{"op 3 (RARP request)", with(6, 0, 3)},
		{"op 257", with(6, 1, 1)},
		{"op 0xffff", with(6, 0xff, 0xff)},
		// IPv6 addresses claimed, with the bytes to hold them.
		{"plen 16 long", append(with(5, 16), make([]byte, 24)...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.b[:len(c.b):len(c.b)]
			a := ARP{Op: 9, SenderIP: netip.MustParseAddr("192.0.2.99")} // must be cleared
			err := ParseARP(b, &a)
			require.ErrorIs(t, err, ErrBadARP)
			assert.Equal(t, ARP{}, a)
		})
	}
}

func TestARPAllocs(t *testing.T) {
	a := ARP{Op: ARPReply, SenderMAC: MAC(macSrc), SenderIP: netip.MustParseAddr("192.0.2.1"), TargetMAC: MAC(macDst), TargetIP: netip.MustParseAddr("192.0.2.2")}
	b := make([]byte, ARPLen)
	bad := make([]byte, ARPLen)
	var got ARP
	allocs := testing.AllocsPerRun(100, func() {
		PutARP(b, &a)
		if ParseARP(b, &got) != nil || ParseARP(bad, &got) == nil || ParseARP(b[:3], &got) == nil {
			panic("unexpected")
		}
	})
	assert.Zero(t, allocs)
}

// FuzzParseARP: no panic, a drop leaves the result zero, and a parsed packet
// re-encodes to its first ARPLen bytes.
func FuzzParseARP(f *testing.F) {
	// The checked-in corpus is testdata/fuzz/FuzzParseARP.
	f.Add(serialize(f, arpLayer(layers.ARPReply, macSrc, macDst, ip4Src, ip4Dst)))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := fuzzParse(t, b, ParseARP, ErrBadARP)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, len(b), ARPLen)
		require.True(t, a.Op == ARPRequest || a.Op == ARPReply)
		require.Equal(t, binary.BigEndian.Uint16(b[6:]), a.Op)
		out := make([]byte, ARPLen)
		require.Equal(t, ARPLen, PutARP(out, &a))
		require.Equal(t, b[:ARPLen], out)
		var again ARP
		require.NoError(t, ParseARP(out, &again))
		require.Equal(t, a, again)
	})
}
