package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

var (
	a4Src = netip.MustParseAddr("192.0.2.1")
	a4Dst = netip.MustParseAddr("198.18.0.7")
	a6Src = netip.MustParseAddr("2001:db8::1")
	a6Dst = netip.MustParseAddr("2001:db8:ffff::2")
)

// ipFrame builds, with this package, an Ethernet frame carrying an IP packet
// from src to dst with protocol proto, hop limit ttl and payload msg.
func ipFrame(tb testing.TB, src, dst netip.Addr, proto, ttl uint8, msg []byte) []byte {
	tb.Helper()
	il := IPLen(src)
	b := make([]byte, EthernetLen+il+len(msg))
	h := PutEthernet(b, BroadcastMAC, MAC(macSrc), nil, etherTypeOf(src))
	n, err := PutIP(b[h:], &IPHeader{Src: src, Dst: dst, Proto: proto, TTL: ttl}, len(msg))
	require.NoError(tb, err)
	require.Equal(tb, il, n)
	copy(b[h+n:], msg)
	return b
}

// requireGopacketValid decodes frame b with gopacket and fails unless every
// layer decodes and every checksum gopacket knows (IPv4 header, ICMP,
// ICMPv6 with its pseudo-header) is right.
func requireGopacketValid(tb testing.TB, b []byte) gopacket.Packet {
	tb.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(tb, p.ErrorLayer(), "gopacket: %v", p)
	if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		if ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			require.NoError(tb, ic.SetNetworkLayerForChecksum(ip6))
		}
	}
	err, bad := p.VerifyChecksums()
	require.NoError(tb, err)
	require.Empty(tb, bad, "checksum mismatches in %v", p)
	return p
}

func TestIPLen(t *testing.T) {
	assert.Equal(t, IPv4Len, IPLen(a4Src))
	assert.Equal(t, IPv4Len, IPLen(netip.MustParseAddr("::ffff:192.0.2.1")))
	assert.Equal(t, IPv6Len, IPLen(a6Src))
	assert.Equal(t, IPv6Len, IPLen(netip.MustParseAddr("fe80::1%eth0")))
}

// TestPutIPGopacket checks PutIP's headers against the same headers
// serialized by gopacket, byte for byte, and decodes them with gopacket.
func TestPutIPGopacket(t *testing.T) {
	for _, c := range []struct {
		h    IPHeader
		plen int
	}{
		{IPHeader{Src: a4Src, Dst: a4Dst, Proto: ProtoICMP}, 8},
		{IPHeader{Src: a4Src, Dst: netip.MustParseAddr("224.0.0.1"), Proto: 2, TTL: 1, TOS: 0xc0, ID: 0xbeef}, 0},
		{IPHeader{Src: netip.MustParseAddr("::ffff:192.0.2.9"), Dst: netip.MustParseAddr("::ffff:198.19.0.1"), Proto: 6, TTL: 255, ID: 1}, 1000},
		{IPHeader{Src: a4Src, Dst: a4Dst, Proto: ProtoICMP, TTL: 64}, 0xffff - IPv4Len},
		{IPHeader{Src: a6Src, Dst: a6Dst, Proto: ProtoICMPv6}, 8},
		{IPHeader{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::1:ff00:2"), Proto: ProtoICMPv6, TTL: 255, TOS: 0xb8}, 32},
		{IPHeader{Src: netip.IPv6Unspecified(), Dst: netip.MustParseAddr("ff02::2"), Proto: 59, TTL: 1, ID: 7}, 4}, // gopacket reads a 0 length as a jumbogram's
		{IPHeader{Src: a6Src, Dst: a6Dst, Proto: 17}, 0xffff},
	} {
		t.Run(fmt.Sprintf("%v>%v/%d/%d", c.h.Src, c.h.Dst, c.h.Proto, c.plen), func(t *testing.T) {
			hl := IPLen(c.h.Src)
			b := bytes.Repeat([]byte{0xee}, hl+c.plen)
			n, err := PutIP(b, &c.h, c.plen)
			require.NoError(t, err)
			require.Equal(t, hl, n)
			require.Equal(t, bytes.Repeat([]byte{0xee}, c.plen), b[hl:], "wrote past the header")
			ttl := c.h.TTL
			if ttl == 0 {
				ttl = 64
			}
			src, dst := c.h.Src.Unmap(), c.h.Dst.Unmap()
			payload := gopacket.Payload(b[hl:])
			if src.Is4() {
				// ComputeChecksums fills in the header checksum.
				want := serialize(t, &layers.IPv4{Version: 4, IHL: 5, TOS: c.h.TOS, Id: c.h.ID, TTL: ttl,
					Protocol: layers.IPProtocol(c.h.Proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, payload)
				require.Equal(t, want[:IPv4Len], b[:IPv4Len])
				var ip layers.IPv4
				require.NoError(t, ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback))
				assert.Equal(t, layers.IPv4Flag(0), ip.Flags, "DF must be clear")
				assert.Equal(t, uint16(IPv4Len+c.plen), ip.Length)
				assert.Equal(t, uint16(0xffff), ^Checksum(b[:IPv4Len]), "header checksum")
			} else {
				want := serialize(t, &layers.IPv6{Version: 6, TrafficClass: c.h.TOS, HopLimit: ttl,
					NextHeader: layers.IPProtocol(c.h.Proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, payload)
				require.Equal(t, want[:IPv6Len], b[:IPv6Len])
				var ip layers.IPv6
				require.NoError(t, ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback))
				assert.Equal(t, uint16(c.plen), ip.Length)
				assert.Equal(t, uint32(0), ip.FlowLabel)
			}

			// This package's own parser agrees.
			f := make([]byte, EthernetLen+len(b))
			PutEthernet(f, BroadcastMAC, MAC(macSrc), nil, etherTypeOf(src))
			copy(f[EthernetLen:], b)
			var in Info
			require.NoError(t, Parse(f, &in))
			requireConsistent(t, f, &in)
			assert.Equal(t, c.h.Proto, in.Proto)
			assert.Equal(t, ttl, in.HopLimit(f))
			assert.Equal(t, len(f), in.End)
			if src.Is4() {
				assert.True(t, IPv4ChecksumOK(f, &in))
			}
		})
	}
}

func TestPutIPErrors(t *testing.T) {
	big := make([]byte, IPv6Len)
	for _, c := range []struct {
		name string
		h    IPHeader
		b    []byte
		plen int
		also error // wrapped besides ErrBadHeader, or nil
	}{
		{"v4 to v6", IPHeader{Src: a4Src, Dst: a6Dst}, big, 0, ErrAddrFamily},
		{"v6 to v4", IPHeader{Src: a6Src, Dst: a4Dst}, big, 0, ErrAddrFamily},
		{"v6 to mapped v4", IPHeader{Src: a6Src, Dst: netip.MustParseAddr("::ffff:192.0.2.1")}, big, 0, ErrAddrFamily},
		{"no source", IPHeader{Dst: a4Dst}, big, 0, ErrAddrFamily},
		{"no destination", IPHeader{Src: a6Src}, big, 0, ErrAddrFamily},
		{"no addresses", IPHeader{}, big, 0, ErrAddrFamily},
		{"v4 short buffer", IPHeader{Src: a4Src, Dst: a4Dst}, big[:IPv4Len-1], 0, nil},
		{"v6 short buffer", IPHeader{Src: a6Src, Dst: a6Dst}, big[:IPv6Len-1], 0, nil},
		{"nil buffer", IPHeader{Src: a4Src, Dst: a4Dst}, nil, 0, nil},
		{"v4 too long", IPHeader{Src: a4Src, Dst: a4Dst}, big, 0xffff - IPv4Len + 1, ErrTooLong},
		{"v6 too long", IPHeader{Src: a6Src, Dst: a6Dst}, big, 0x10000, ErrTooLong},
		{"v4 negative", IPHeader{Src: a4Src, Dst: a4Dst}, big, -1, ErrTooLong},
		{"v6 negative", IPHeader{Src: a6Src, Dst: a6Dst}, big, -1, ErrTooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := bytes.Clone(c.b)
			n, err := PutIP(c.b, &c.h, c.plen)
			require.ErrorIs(t, err, ErrBadHeader)
			if c.also != nil {
				require.ErrorIs(t, err, c.also)
			}
			assert.Contains(t, err.Error(), "frame: PutIP: ")
			assert.Zero(t, n)
			assert.Equal(t, before, c.b, "wrote on error")
		})
	}
}

// TestEchoXNet builds echo messages with PutEcho and ICMPChecksum and checks
// them against golang.org/x/net/icmp, which marshals the same message with
// its own checksum code, and against gopacket.
func TestEchoXNet(t *testing.T) {
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
		typ      uint8
		xtype    icmp.Type
		data     []byte
	}{
		{"v4 request", a4Src, a4Dst, ICMPEchoRequest, ipv4.ICMPTypeEcho, testPayload(56)},
		{"v4 reply odd", a4Src, a4Dst, ICMPEchoReply, ipv4.ICMPTypeEchoReply, testPayload(13)},
		{"v4 empty", a4Src, a4Dst, ICMPEchoRequest, ipv4.ICMPTypeEcho, nil},
		{"v6 request", a6Src, a6Dst, ICMPv6EchoRequest, ipv6.ICMPTypeEchoRequest, testPayload(56)},
		{"v6 reply odd", a6Src, a6Dst, ICMPv6EchoReply, ipv6.ICMPTypeEchoReply, testPayload(1)},
		{"v6 link-local empty", netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1"), ICMPv6EchoRequest, ipv6.ICMPTypeEchoRequest, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := Echo{Type: c.typ, ID: 0x1234, Seq: 0xfedc, Data: c.data}
			msg := make([]byte, 8+len(c.data)+5)
			n := PutEcho(msg, &e)
			require.Equal(t, 8+len(c.data), n)
			msg = msg[:n]
			binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg, c.src, c.dst))
			require.True(t, ICMPChecksumOK(msg, c.src, c.dst))

			var psh []byte
			proto := 1
			if c.src.Is6() {
				psh, proto = icmp.IPv6PseudoHeader(c.src.AsSlice(), c.dst.AsSlice()), 58
			}
			want, err := (&icmp.Message{Type: c.xtype, Body: &icmp.Echo{ID: 0x1234, Seq: 0xfedc, Data: c.data}}).Marshal(psh)
			require.NoError(t, err)
			require.Equal(t, want, msg, "x/net marshals it (and its checksum) differently")

			m, err := icmp.ParseMessage(proto, msg)
			require.NoError(t, err)
			require.Equal(t, c.xtype, m.Type)
			echo, ok := m.Body.(*icmp.Echo)
			require.True(t, ok, "%T", m.Body)
			assert.Equal(t, 0x1234, echo.ID)
			assert.Equal(t, 0xfedc, echo.Seq)
			assert.Equal(t, len(c.data), len(echo.Data))

			// gopacket, over the whole frame.
			p := requireGopacketValid(t, ipFrame(t, c.src, c.dst, protoOf(c.src), 64, msg))
			if c.src.Is4() {
				l := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				assert.Equal(t, layers.CreateICMPv4TypeCode(c.typ, 0), l.TypeCode)
				assert.Equal(t, uint16(0x1234), l.Id)
				assert.Equal(t, uint16(0xfedc), l.Seq)
			} else {
				l := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
				assert.Equal(t, uint16(0x1234), l.Identifier)
				assert.Equal(t, uint16(0xfedc), l.SeqNumber)
			}
		})
	}
}

func TestPutEchoShortAndInPlace(t *testing.T) {
	e := Echo{Type: ICMPEchoRequest, ID: 1, Seq: 2, Data: testPayload(10)}
	b := bytes.Repeat([]byte{0xee}, 17)
	assert.Zero(t, PutEcho(b, &e))
	assert.Equal(t, bytes.Repeat([]byte{0xee}, 17), b, "wrote into a short buffer")
	assert.Zero(t, PutEcho(nil, &Echo{}))

	// The data already in place, as when a reply reuses the request.
	b = make([]byte, 18)
	copy(b[8:], testPayload(10))
	e.Data = b[8:]
	require.Equal(t, 18, PutEcho(b, &e))
	assert.Equal(t, testPayload(10), b[8:])
}

// TestParseEchoGopacket parses gopacket-built echo frames.
func TestParseEchoGopacket(t *testing.T) {
	for _, c := range []struct {
		name string
		v6   bool
		typ  uint8
		ttl  uint8
		data []byte
	}{
		{"v4 request", false, ICMPEchoRequest, 64, testPayload(32)},
		{"v4 reply", false, ICMPEchoReply, 1, testPayload(7)},
		{"v4 request no data", false, ICMPEchoRequest, 255, nil},
		{"v6 request", true, ICMPv6EchoRequest, 64, testPayload(32)},
		{"v6 reply", true, ICMPv6EchoReply, 255, testPayload(9)},
		{"v6 request no data", true, ICMPv6EchoRequest, 1, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b []byte
			src, dst := a4Src, a4Dst
			if c.v6 {
				src, dst = a6Src, a6Dst
				ip := newIPv6(layers.IPProtocolICMPv6)
				ip.SrcIP, ip.DstIP, ip.HopLimit = src.AsSlice(), dst.AsSlice(), c.ttl
				ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(c.typ, 0)}
				require.NoError(t, ic.SetNetworkLayerForChecksum(ip))
				b = buildFrame(t, nil, EtherTypeIPv6, ip, ic, &layers.ICMPv6Echo{Identifier: 0xabcd, SeqNumber: 3}, gopacket.Payload(c.data))
			} else {
				ip := newIPv4(layers.IPProtocolICMPv4)
				ip.SrcIP, ip.DstIP, ip.TTL = src.AsSlice(), dst.AsSlice(), c.ttl
				b = buildFrame(t, nil, EtherTypeIPv4, ip,
					&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(c.typ, 0), Id: 0xabcd, Seq: 3}, gopacket.Payload(c.data))
			}
			var in Info
			require.NoError(t, Parse(b, &in))
			require.Equal(t, protoOf(src), in.Proto)
			assert.Equal(t, c.ttl, in.HopLimit(b))
			msg := b[in.L4:in.End]
			require.True(t, ICMPChecksumOK(msg, src, dst))
			var e Echo
			require.NoError(t, ParseEcho(msg, &e))
			assert.Equal(t, c.typ, e.Type)
			assert.Zero(t, e.Code)
			assert.Equal(t, uint16(0xabcd), e.ID)
			assert.Equal(t, uint16(3), e.Seq)
			assert.Equal(t, len(c.data), len(e.Data))
			if len(c.data) > 0 {
				assert.Equal(t, c.data, e.Data)
			}
			assert.Equal(t, len(e.Data), cap(e.Data), "Data's capacity reaches past the message")
			// Through ICMPChecksum, the checksum gopacket stored.
			assert.Equal(t, binary.BigEndian.Uint16(msg[2:]), ICMPChecksum(msg, src, dst))

			// Any changed bit, in the message or (ICMPv6) the pseudo-header, is caught.
			for i := range msg {
				msg[i] ^= 0x10
				assert.False(t, ICMPChecksumOK(msg, src, dst), "byte %d changed", i)
				msg[i] ^= 0x10
			}
			if c.v6 {
				assert.False(t, ICMPChecksumOK(msg, src, a6Src), "destination changed")
				assert.False(t, ICMPChecksumOK(msg, a6Dst, dst), "source changed")
				assert.False(t, ICMPChecksumOK(msg[:len(msg)-1], src, dst), "length changed")
			}
		})
	}
}

// TestICMPChecksumXNet compares ICMPChecksum with x/net's checksum over
// random messages of every length from 4 to 80 bytes, both families.
func TestICMPChecksumXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 4; n <= 80; n++ {
		for _, v6 := range []bool{false, true} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(r.Uint32())
			}
			src, dst := a4Src, a4Dst
			var xtype icmp.Type = ipv4.ICMPType(msg[0])
			var psh []byte
			if v6 {
				src, dst, xtype = a6Src, a6Dst, ipv6.ICMPType(msg[0])
				psh = icmp.IPv6PseudoHeader(src.AsSlice(), dst.AsSlice())
			}
			want, err := (&icmp.Message{Type: xtype, Code: int(msg[1]), Body: &icmp.RawBody{Data: msg[4:]}}).Marshal(psh)
			require.NoError(t, err)
			// msg[2:4] holds random bytes: ICMPChecksum must ignore them.
			got := ICMPChecksum(msg, src, dst)
			require.Equal(t, binary.BigEndian.Uint16(want[2:]), got, "length %d v6 %v", n, v6)
			binary.BigEndian.PutUint16(msg[2:], got)
			require.True(t, ICMPChecksumOK(msg, src, dst))
		}
	}
}

func TestICMPChecksumEdges(t *testing.T) {
	// Short messages: no panic; never OK.
	for n := 0; n < 4; n++ {
		msg := bytes.Repeat([]byte{0xff}, n)
		ICMPChecksum(msg, a4Src, a4Dst)
		ICMPChecksum(msg, a6Src, a6Dst)
		assert.False(t, ICMPChecksumOK(msg, a4Src, a4Dst), "%d bytes", n)
		assert.False(t, ICMPChecksumOK(msg, a6Src, a6Dst), "%d bytes", n)
	}
	// A message whose checksum is 0x0000: 0xffff, the other zero, is right too.
	msg := []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}
	require.Equal(t, uint16(0), ICMPChecksum(msg, a4Src, a4Dst))
	assert.True(t, ICMPChecksumOK(msg, a4Src, a4Dst))
	msg[2], msg[3] = 0xff, 0xff
	assert.True(t, ICMPChecksumOK(msg, a4Src, a4Dst))
	// An all-zero message: the checksum is 0xffff and a stored 0 is wrong,
	// as for Linux and gopacket (the sum must be all ones).
	msg = make([]byte, 8)
	require.Equal(t, uint16(0xffff), ICMPChecksum(msg, a4Src, a4Dst))
	assert.False(t, ICMPChecksumOK(msg, a4Src, a4Dst))
	// IPv4-mapped sources are IPv4: no pseudo-header.
	msg = []byte{8, 0, 0, 0, 1, 2, 3, 4, 5}
	assert.Equal(t, Checksum(msg), ICMPChecksum(msg, netip.MustParseAddr("::ffff:192.0.2.1"), a6Dst))
	assert.Equal(t, Checksum(msg), ICMPChecksum(msg, netip.Addr{}, netip.Addr{}))
	assert.NotEqual(t, Checksum(msg), ICMPChecksum(msg, a6Src, a6Dst))
}

func TestParseEchoHostile(t *testing.T) {
	for n := 0; n < 8; n++ {
		e := Echo{Type: 9, Data: []byte{1}}
		err := ParseEcho(bytes.Repeat([]byte{8}, n)[:n:n], &e)
		require.ErrorIs(t, err, ErrBadICMP, "%d bytes", n)
		assert.Equal(t, Echo{}, e)
	}
	var e Echo
	require.NoError(t, ParseEcho([]byte{ICMPEchoRequest, 0, 0, 0, 0, 1, 0, 2}, &e))
	assert.Equal(t, Echo{Type: ICMPEchoRequest, ID: 1, Seq: 2, Data: []byte{}}, e)
}

func TestHopLimit(t *testing.T) {
	ip4 := newIPv4(layers.IPProtocolICMPv4)
	ip4.TTL = 17
	b4 := buildFrame(t, VLANs{{ID: 5}}, EtherTypeIPv4, ip4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	ip6 := newIPv6(layers.IPProtocolNoNextHeader)
	ip6.HopLimit = 255
	b6 := buildFrame(t, nil, EtherTypeIPv6, ip6)
	arp := buildFrame(t, nil, EtherTypeARP, arpLayer(layers.ARPRequest, macSrc, macDst, ip4Src, ip4Dst))
	for _, c := range []struct {
		name string
		b    []byte
		want uint8
	}{{"v4", b4, 17}, {"v6", b6, 255}, {"arp", arp, 0}} {
		var in Info
		require.NoError(t, Parse(c.b, &in))
		assert.Equal(t, c.want, in.HopLimit(c.b), c.name)
	}
	// An Info that does not describe b: 0, no panic.
	var in Info
	require.NoError(t, Parse(b6, &in))
	assert.Zero(t, in.HopLimit(b6[:EthernetLen+7]))
	assert.Zero(t, (&Info{}).HopLimit(nil))
}

func TestICMPAllocs(t *testing.T) {
	h4 := IPHeader{Src: a4Src, Dst: a4Dst, Proto: ProtoICMP}
	h6 := IPHeader{Src: a6Src, Dst: a6Dst, Proto: ProtoICMPv6}
	bad := IPHeader{Src: a4Src, Dst: a6Dst}
	b := make([]byte, 128)
	e := Echo{Type: ICMPv6EchoRequest, ID: 1, Seq: 2, Data: testPayload(20)}
	frame := ipFrame(t, a6Src, a6Dst, ProtoICMPv6, 255, make([]byte, 8))
	var in Info
	require.NoError(t, Parse(frame, &in))
	var got Echo
	allocs := testing.AllocsPerRun(100, func() {
		_, err4 := PutIP(b, &h4, 28)
		_, err6 := PutIP(b, &h6, 28)
		_, errBad := PutIP(b, &bad, 28)
		_, errShort := PutIP(b[:3], &h6, 28)
		n := PutEcho(b[IPv6Len:], &e)
		msg := b[IPv6Len : IPv6Len+n]
		binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg, a6Src, a6Dst))
		if err4 != nil || err6 != nil || errBad == nil || errShort == nil ||
			!ICMPChecksumOK(msg, a6Src, a6Dst) || ICMPChecksumOK(msg, a4Src, a4Dst) ||
			ParseEcho(msg, &got) != nil || ParseEcho(msg[:7], &got) == nil || in.HopLimit(frame) != 255 {
			panic("unexpected")
		}
	})
	assert.Zero(t, allocs)
}

// FuzzParseEcho: no panic, a drop leaves the result zero, a parsed message
// re-encodes to itself but for the checksum, and ICMPChecksum makes it right
// in both families.
func FuzzParseEcho(f *testing.F) {
	// The checked-in corpus is testdata/fuzz/FuzzParseEcho.
	f.Add([]byte{ICMPEchoRequest, 0, 0xf7, 0xfd, 0, 1, 0, 1}, false)
	f.Add(append([]byte{ICMPv6EchoReply, 0, 0, 0, 0x12, 0x34, 0xff, 0xff}, testPayload(33)...), true)
	f.Fuzz(func(t *testing.T, msg []byte, v6 bool) {
		msg = msg[:len(msg):len(msg)]
		e, ok := fuzzParse(t, msg, ParseEcho, ErrBadICMP)
		src, dst := a4Src, a4Dst
		if v6 {
			src, dst = a6Src, a6Dst
		}
		good := ICMPChecksumOK(msg, src, dst) // must not panic
		if len(msg) >= 4 {
			require.Equal(t, good, ICMPChecksum(msg, src, dst) == binary.BigEndian.Uint16(msg[2:]) ||
				(binary.BigEndian.Uint16(msg[2:]) == 0xffff && ICMPChecksum(msg, src, dst) == 0))
		}
		if !ok {
			require.Less(t, len(msg), 8)
			return
		}
		require.Equal(t, len(msg)-8, len(e.Data))
		out := make([]byte, len(msg))
		require.Equal(t, len(msg), PutEcho(out, &e))
		want := bytes.Clone(msg)
		want[2], want[3] = 0, 0
		require.Equal(t, want, out)
		binary.BigEndian.PutUint16(out[2:], ICMPChecksum(out, src, dst))
		require.True(t, ICMPChecksumOK(out, src, dst))
		var again Echo
		require.NoError(t, ParseEcho(out, &again))
		require.Equal(t, e.Type, again.Type)
		require.Equal(t, e.Code, again.Code)
		require.Equal(t, e.ID, again.ID)
		require.Equal(t, e.Seq, again.Seq)
		require.Equal(t, e.Data, again.Data)
	})
}

// fuzzParse runs parse on b, as the fuzz targets do: b is capped so that a
// read past its end panics, parse must leave it unchanged, and a failure
// must wrap bad and leave the result zero. ok reports success.
func fuzzParse[T any](t *testing.T, b []byte, parse func([]byte, *T) error, bad error) (v T, ok bool) {
	t.Helper()
	b = b[:len(b):len(b)]
	orig := bytes.Clone(b)
	err := parse(b, &v)
	require.Equal(t, orig, b, "the parser modified its input")
	if err != nil {
		require.ErrorIs(t, err, bad)
		var zero T
		require.Equal(t, zero, v)
		return v, false
	}
	return v, true
}

// protoOf is the ICMP protocol of a message from src.
func protoOf(src netip.Addr) uint8 {
	if src.Unmap().Is4() {
		return ProtoICMP
	}
	return ProtoICMPv6
}
