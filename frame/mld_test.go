package frame

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mldPacket decodes the IPv6 packet b with gopacket and checks what every
// MLD message has: hop limit 1, a hop-by-hop header with the router alert
// for MLD, and a right ICMPv6 checksum.
func mldPacket(t *testing.T, b []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	require.Nil(t, p.ErrorLayer(), "%v", p)
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	assert.Equal(t, uint8(1), ip.HopLimit)
	hbh, ok := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
	require.True(t, ok, "a hop-by-hop header")
	var ra bool
	for _, o := range hbh.Options {
		if o.OptionType == opt6RA {
			ra = len(o.OptionData) == 2 && binary.BigEndian.Uint16(o.OptionData) == 0
		}
	}
	assert.True(t, ra, "router alert, MLD")
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	assert.True(t, ICMPChecksumOK(b[IPv6Len+MLDHopByHopLen:], src, dst), "ICMPv6 checksum")
	// This package's parser walks the hop-by-hop header to it too.
	f := make([]byte, EthernetLen+len(b))
	PutEthernet(f, BroadcastMAC, MAC(macSrc), nil, EtherTypeIPv6)
	copy(f[EthernetLen:], b)
	var in Info
	require.NoError(t, Parse(f, &in))
	assert.Equal(t, ProtoICMPv6, in.Proto)
	assert.Equal(t, EthernetLen+IPv6Len+MLDHopByHopLen, in.L4)
	return p
}

func TestPutMLDv2Report(t *testing.T) {
	ll := LinkLocal(MAC(macSrc))
	groups := []netip.Addr{SolicitedNode(ll), SolicitedNode(netip.MustParseAddr("2001:db8::1:2:3"))}
	for _, src := range []netip.Addr{ll, netip.IPv6Unspecified()} {
		b := make([]byte, 200)
		n, err := PutMLDv2Report(b, src, MLDChangeToExclude, groups)
		require.NoError(t, err)
		require.Equal(t, IPv6Len+MLDHopByHopLen+MLDReportLen(2), n)
		p := mldPacket(t, b[:n])
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		assert.Equal(t, src.AsSlice(), []byte(ip.SrcIP.To16()))
		assert.Equal(t, AllMLDv2Routers.AsSlice(), []byte(ip.DstIP))
		r, ok := p.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
		require.True(t, ok, "%v", p)
		require.Len(t, r.MulticastAddressRecords, 2)
		for i, rec := range r.MulticastAddressRecords {
			assert.Equal(t, layers.MLDv2MulticastAddressRecordTypeChangeToExcludeMode, rec.RecordType)
			assert.Zero(t, rec.N)
			assert.Equal(t, groups[i].AsSlice(), []byte(rec.MulticastAddress))
		}
	}
	_, err := PutMLDv2Report(make([]byte, 10), LinkLocal(MAC(macSrc)), MLDIsExclude, nil)
	assert.Error(t, err, "short buffer")
	_, err = PutMLDv2Report(make([]byte, 200), netip.MustParseAddr("192.0.2.1"), MLDIsExclude, nil)
	assert.ErrorIs(t, err, ErrAddrFamily)
}

func TestPutMLDv1(t *testing.T) {
	ll, g := LinkLocal(MAC(macSrc)), SolicitedNode(netip.MustParseAddr("2001:db8::7"))
	for _, c := range []struct {
		typ   uint8
		dst   netip.Addr
		layer gopacket.LayerType
	}{
		{MLDv1Report, g, layers.LayerTypeMLDv1MulticastListenerReport},
		{MLDv1Done, AllRouters, layers.LayerTypeMLDv1MulticastListenerDone},
	} {
		b := make([]byte, 100)
		n, err := PutMLDv1(b, ll, c.typ, g)
		require.NoError(t, err)
		require.Equal(t, IPv6Len+MLDHopByHopLen+24, n)
		p := mldPacket(t, b[:n])
		assert.Equal(t, c.dst.AsSlice(), []byte(p.Layer(layers.LayerTypeIPv6).(*layers.IPv6).DstIP))
		l := p.Layer(c.layer)
		require.NotNil(t, l, "%v", p)
		var m layers.MLDv1Message
		switch v := l.(type) {
		case *layers.MLDv1MulticastListenerReportMessage:
			m = v.MLDv1Message
		case *layers.MLDv1MulticastListenerDoneMessage:
			m = v.MLDv1Message
		}
		assert.Equal(t, g.AsSlice(), []byte(m.MulticastAddress))
	}
}

// TestParseMLDQuery: queries serialized by gopacket, both versions, read
// back; the lengths RFC 3810 §8.1 says to ignore are refused.
func TestParseMLDQuery(t *testing.T) {
	g := SolicitedNode(netip.MustParseAddr("2001:db8::7"))
	serialize2 := func(code uint16, group netip.Addr, sources int) []byte {
		q := &layers.MLDv2MulticastListenerQueryMessage{MaximumResponseCode: code, MulticastAddress: group.AsSlice()}
		for i := range sources {
			q.SourceAddresses = append(q.SourceAddresses, netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(i)}).AsSlice())
		}
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, q.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}))
		return append([]byte{MLDQuery, 0, 0, 0}, buf.Bytes()...)
	}
	v1 := append([]byte{MLDQuery, 0, 0, 0, 0x27, 0x10, 0, 0}, g.AsSlice()...)
	for _, c := range []struct {
		name string
		msg  []byte
		want MLDQueryInfo
		err  bool
	}{
		{"v1 general", append([]byte{MLDQuery, 0, 0, 0, 0x03, 0xe8, 0, 0}, make([]byte, 16)...), MLDQueryInfo{V1: true, MaxDelay: 1000, Group: netip.IPv6Unspecified()}, false},
		{"v1 specific", v1, MLDQueryInfo{V1: true, MaxDelay: 10000, Group: g}, false},
		{"v2 general", serialize2(10000, netip.IPv6Unspecified(), 0), MLDQueryInfo{MaxDelay: 10000, Group: netip.IPv6Unspecified()}, false},
		{"v2 specific, floating-point delay", serialize2(0x8123, g, 0), MLDQueryInfo{MaxDelay: 0x1123 << 3, Group: g}, false},
		{"v2 largest delay", serialize2(0xffff, g, 0), MLDQueryInfo{MaxDelay: 0x1fff << 10, Group: g}, false},
		{"v2 with sources", serialize2(1000, g, 2), MLDQueryInfo{MaxDelay: 1000, Group: g, Sources: 2}, false},
		{"short", v1[:23], MLDQueryInfo{}, true},
		{"25 bytes", append(v1, 0), MLDQueryInfo{}, true},
		{"27 bytes", append(v1, 0, 0, 0), MLDQueryInfo{}, true},
		{"sources past the end", serialize2(1000, g, 2)[:28+16], MLDQueryInfo{}, true},
		{"not a query", append([]byte{MLDv1Report}, v1[1:]...), MLDQueryInfo{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q MLDQueryInfo
			err := ParseMLDQuery(c.msg, &q)
			if c.err {
				assert.ErrorIs(t, err, ErrBadMLD)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, q)
		})
	}
}

// FuzzParseMLDQuery: no panic, and a refused message leaves the result zero.
func FuzzParseMLDQuery(f *testing.F) {
	f.Add(append([]byte{MLDQuery, 0, 0, 0, 0x27, 0x10, 0, 0}, make([]byte, 16)...))
	f.Add(append([]byte{MLDQuery, 0, 0, 0, 0x80, 0, 0, 0}, make([]byte, 20)...))
	f.Add(append([]byte{MLDQuery, 0, 0, 0, 0xff, 0xff, 0, 0}, append(make([]byte, 18), 0, 1)...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var q MLDQueryInfo
		if err := ParseMLDQuery(msg, &q); err != nil {
			require.Equal(t, MLDQueryInfo{}, q)
			return
		}
		require.GreaterOrEqual(t, len(msg), 24)
		require.LessOrEqual(t, 28+16*q.Sources, max(len(msg), 28))
	})
}
