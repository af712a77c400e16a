package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var (
	ndTarget = netip.MustParseAddr("2001:db8::42")
	ndLLSrc  = netip.MustParseAddr("fe80::1")
	lla1     = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	lla2     = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
)

// ndGopacket builds with gopacket an Ethernet frame with an ICMPv6 message
// of type typ and body body (an ICMPv6 message layer), with its checksum.
func ndGopacket(tb testing.TB, src, dst netip.Addr, typ, code uint8, body gopacket.SerializableLayer) []byte {
	tb.Helper()
	ip := newIPv6(layers.IPProtocolICMPv6)
	ip.SrcIP, ip.DstIP, ip.HopLimit = src.AsSlice(), dst.AsSlice(), 255
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	require.NoError(tb, ic.SetNetworkLayerForChecksum(ip))
	return buildFrame(tb, nil, EtherTypeIPv6, ip, ic, body)
}

// ICMPv6 options as gopacket has them: Data is the option without its type
// and length bytes.
func optLLA(typ layers.ICMPv6Opt, m MAC) layers.ICMPv6Option {
	return layers.ICMPv6Option{Type: typ, Data: bytes.Clone(m[:])}
}

// wireOrder returns opts for gopacket to serialize in this order: its
// ICMPv6Options.SerializeTo prepends each option, so it writes them last
// first.
func wireOrder(opts ...layers.ICMPv6Option) layers.ICMPv6Options {
	out := make(layers.ICMPv6Options, len(opts))
	for i, o := range opts {
		out[len(opts)-1-i] = o
	}
	return out
}

func optMTU(mtu uint32) layers.ICMPv6Option {
	d := make([]byte, 6)
	binary.BigEndian.PutUint32(d[2:], mtu)
	return layers.ICMPv6Option{Type: layers.ICMPv6OptMTU, Data: d}
}

func optPrefix(p string, flags uint8, valid, preferred uint32) layers.ICMPv6Option {
	pfx := netip.MustParsePrefix(p)
	d := make([]byte, 30)
	d[0], d[1] = byte(pfx.Bits()), flags
	binary.BigEndian.PutUint32(d[2:], valid)
	binary.BigEndian.PutUint32(d[6:], preferred)
	a := pfx.Addr().As16() // not masked: the receiver must ignore the host bits
	copy(d[14:], a[:])
	return layers.ICMPv6Option{Type: layers.ICMPv6OptPrefixInfo, Data: d}
}

// ndMsg returns the ICMPv6 message of frame b, a well-formed IPv6 packet.
func ndMsg(tb testing.TB, b []byte) (msg []byte, src, dst netip.Addr) {
	tb.Helper()
	var in Info
	require.NoError(tb, Parse(b, &in))
	require.Equal(tb, ProtoICMPv6, in.Proto)
	src, _ = netip.AddrFromSlice(in.SrcIP(b))
	dst, _ = netip.AddrFromSlice(in.DstIP(b))
	return b[in.L4:in.End], src, dst
}

// TestPutNDGopacket decodes the messages PutNS, PutNA and PutRS build with
// gopacket and x/net.
func TestPutNDGopacket(t *testing.T) {
	for _, c := range []struct {
		name  string
		put   func(b []byte) int
		n     int
		typ   uint8
		check func(t *testing.T, p gopacket.Packet)
	}{
		{"NS with SLLA", func(b []byte) int { return PutNS(b, ndTarget, lla1, true) }, 32, NDNeighborSolicit,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
				assert.Equal(t, ndTarget.AsSlice(), []byte(l.TargetAddress))
				assert.Equal(t, layers.ICMPv6Options{optLLA(layers.ICMPv6OptSourceAddress, lla1)}, l.Options)
			}},
		{"NS for DAD", func(b []byte) int { return PutNS(b, ndTarget, lla1, false) }, 24, NDNeighborSolicit,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
				assert.Equal(t, ndTarget.AsSlice(), []byte(l.TargetAddress))
				assert.Empty(t, l.Options)
			}},
		{"NA solicited override", func(b []byte) int { return PutNA(b, ndTarget, NAFlagSolicited|NAFlagOverride, lla2) }, 32, NDNeighborAdvert,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				assert.Equal(t, ndTarget.AsSlice(), []byte(l.TargetAddress))
				assert.True(t, l.Solicited() && l.Override() && !l.Router())
				assert.Equal(t, layers.ICMPv6Options{optLLA(layers.ICMPv6OptTargetAddress, lla2)}, l.Options)
			}},
		{"NA router, reserved bits dropped", func(b []byte) int { return PutNA(b, ndTarget, 0xff, lla2) }, 32, NDNeighborAdvert,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				assert.Equal(t, NAFlagRouter|NAFlagSolicited|NAFlagOverride, l.Flags)
				assert.Equal(t, []byte{0xe0, 0, 0, 0}, l.Contents[:4])
			}},
		{"NA unsolicited", func(b []byte) int { return PutNA(b, ndTarget, 0, lla2) }, 32, NDNeighborAdvert,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				assert.Zero(t, l.Flags)
			}},
		{"RS with SLLA", func(b []byte) int { return PutRS(b, lla1, true) }, 16, NDRouterSolicit,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
				assert.Equal(t, layers.ICMPv6Options{optLLA(layers.ICMPv6OptSourceAddress, lla1)}, l.Options)
			}},
		{"RS unspecified source", func(b []byte) int { return PutRS(b, lla1, false) }, 8, NDRouterSolicit,
			func(t *testing.T, p gopacket.Packet) {
				l := p.Layer(layers.LayerTypeICMPv6RouterSolicitation).(*layers.ICMPv6RouterSolicitation)
				assert.Empty(t, l.Options)
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A dirty buffer: the builders write every byte they return.
			b := bytes.Repeat([]byte{0xee}, c.n+8)
			n := c.put(b)
			require.Equal(t, c.n, n)
			require.Equal(t, bytes.Repeat([]byte{0xee}, 8), b[n:], "wrote past the message")
			msg := b[:n]
			require.Equal(t, []byte{c.typ, 0, 0, 0}, msg[:4], "type, code 0, zero checksum")
			src, dst := ndLLSrc, SolicitedNode(ndTarget)
			binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg, src, dst))

			p := requireGopacketValid(t, ipFrame(t, src, dst, ProtoICMPv6, 255, msg))
			ic := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			assert.Equal(t, layers.CreateICMPv6TypeCode(c.typ, 0), ic.TypeCode)
			c.check(t, p)

			m, err := icmp.ParseMessage(58, msg)
			require.NoError(t, err)
			assert.Equal(t, ipv6.ICMPType(c.typ), m.Type)
			assert.Zero(t, m.Code)

			// And this package's parser reads back what was built.
			var nd ND
			require.NoError(t, ParseND(msg, &nd))
			assert.Equal(t, c.typ, nd.Type)

			// Too short a buffer: 0, nothing written.
			short := bytes.Repeat([]byte{0xee}, c.n-1)
			assert.Zero(t, c.put(short))
			assert.Equal(t, bytes.Repeat([]byte{0xee}, c.n-1), short)
		})
	}
}

// TestParseNDGopacket parses gopacket-built ND messages.
func TestParseNDGopacket(t *testing.T) {
	router := netip.MustParseAddr("fe80::5eff:fe10:1")
	for _, c := range []struct {
		name string
		src  netip.Addr
		dst  netip.Addr
		typ  uint8
		body gopacket.SerializableLayer
		want ND
	}{
		{"NS", ndLLSrc, SolicitedNode(ndTarget), NDNeighborSolicit,
			&layers.ICMPv6NeighborSolicitation{TargetAddress: ndTarget.AsSlice(),
				Options: layers.ICMPv6Options{optLLA(layers.ICMPv6OptSourceAddress, lla1)}},
			ND{Type: NDNeighborSolicit, Target: ndTarget, SrcLLA: lla1, HasSrcLLA: true}},
		{"NS for DAD", netip.IPv6Unspecified(), SolicitedNode(ndTarget), NDNeighborSolicit,
			&layers.ICMPv6NeighborSolicitation{TargetAddress: ndTarget.AsSlice()},
			ND{Type: NDNeighborSolicit, Target: ndTarget}},
		{"NA", ndTarget, ndLLSrc, NDNeighborAdvert,
			&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: ndTarget.AsSlice(),
				Options: layers.ICMPv6Options{optLLA(layers.ICMPv6OptTargetAddress, lla2)}},
			ND{Type: NDNeighborAdvert, Flags: NAFlagSolicited | NAFlagOverride, Target: ndTarget, TgtLLA: lla2, HasTgtLLA: true}},
		{"NA router no option", ndTarget, netip.MustParseAddr("ff02::1"), NDNeighborAdvert,
			&layers.ICMPv6NeighborAdvertisement{Flags: 0x80, TargetAddress: ndTarget.AsSlice()},
			ND{Type: NDNeighborAdvert, Flags: NAFlagRouter, Target: ndTarget}},
		{"RS", ndLLSrc, netip.MustParseAddr("ff02::2"), NDRouterSolicit,
			&layers.ICMPv6RouterSolicitation{Options: layers.ICMPv6Options{optLLA(layers.ICMPv6OptSourceAddress, lla1)}},
			ND{Type: NDRouterSolicit, SrcLLA: lla1, HasSrcLLA: true}},
		{"RA", router, netip.MustParseAddr("ff02::1"), NDRouterAdvert,
			&layers.ICMPv6RouterAdvertisement{HopLimit: 64, Flags: 0xc8, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000,
				Options: wireOrder(
					optLLA(layers.ICMPv6OptSourceAddress, lla2),
					optMTU(1500),
					optPrefix("2001:db8:1::/64", 0xc0, 2592000, 604800),
					layers.ICMPv6Option{Type: layers.ICMPv6OptRecursiveDNSServer, Data: make([]byte, 22)}, // skipped
					optPrefix("2001:db8:2::1234/48", 0x80, 0xffffffff, 0xffffffff),                        // host bits ignored
				)},
			ND{Type: NDRouterAdvert, Flags: 0xc8, SrcLLA: lla2, HasSrcLLA: true, CurHopLimit: 64, RouterLifetime: 1800,
				ReachableTime: 30000, RetransTimer: 1000, MTU: 1500, NPrefixes: 2,
				Prefixes: [4]NDPrefix{
					{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true, ValidLifetime: 2592000, PreferredLifetime: 604800},
					{Prefix: netip.MustParsePrefix("2001:db8:2::/48"), OnLink: true, ValidLifetime: 0xffffffff, PreferredLifetime: 0xffffffff},
				}}},
		{"RA six prefixes", router, netip.MustParseAddr("ff02::1"), NDRouterAdvert,
			&layers.ICMPv6RouterAdvertisement{HopLimit: 0, RouterLifetime: 0,
				Options: wireOrder(
					optPrefix("2001:db8:1::/64", 0x40, 1, 1), optPrefix("2001:db8:2::/64", 0x40, 2, 2),
					optPrefix("2001:db8:3::/64", 0x40, 3, 3), optPrefix("2001:db8:4::/64", 0x40, 4, 4),
					optPrefix("2001:db8:5::/64", 0x40, 5, 5), optPrefix("2001:db8:6::/64", 0x40, 6, 6),
				)},
			ND{Type: NDRouterAdvert, NPrefixes: 4, PrefixesDropped: 2,
				Prefixes: [4]NDPrefix{
					{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Autonomous: true, ValidLifetime: 1, PreferredLifetime: 1},
					{Prefix: netip.MustParsePrefix("2001:db8:2::/64"), Autonomous: true, ValidLifetime: 2, PreferredLifetime: 2},
					{Prefix: netip.MustParsePrefix("2001:db8:3::/64"), Autonomous: true, ValidLifetime: 3, PreferredLifetime: 3},
					{Prefix: netip.MustParsePrefix("2001:db8:4::/64"), Autonomous: true, ValidLifetime: 4, PreferredLifetime: 4},
				}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := ndGopacket(t, c.src, c.dst, c.typ, 0, c.body)
			msg, src, dst := ndMsg(t, b)
			require.True(t, ICMPChecksumOK(msg, src, dst))
			var in Info
			require.NoError(t, Parse(b, &in))
			assert.Equal(t, uint8(255), in.HopLimit(b))
			var nd ND
			require.NoError(t, ParseND(msg, &nd))
			assert.Equal(t, c.want, nd)
		})
	}
}

// nd builds a raw ND message: type, code, fixed part (zeros but for the
// given bytes from offset 4), then the options.
func nd(typ, code uint8, fixed int, body []byte, opts ...[]byte) []byte {
	b := make([]byte, fixed)
	b[0], b[1] = typ, code
	copy(b[4:], body)
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

// opt is a raw option: type, length in units of 8 bytes, data.
func opt(typ, units uint8, data ...byte) []byte {
	return append([]byte{typ, units}, data...)
}

func target(a netip.Addr) []byte {
	a16 := a.As16()
	return append([]byte{0, 0, 0, 0}, a16[:]...)
}

var sllaOpt = opt(1, 1, lla1[:]...)

// TestParseNDHostile feeds ParseND messages RFC 4861 §6.1 and §7.1 say to
// drop.
func TestParseNDHostile(t *testing.T) {
	ns := nd(NDNeighborSolicit, 0, 24, target(ndTarget))
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"7 bytes", ns[:7]},
		{"echo request", nd(ICMPv6EchoRequest, 0, 24, nil)},
		{"redirect", nd(137, 0, 40, nil)},
		{"type 132", nd(132, 0, 24, nil)},
		{"RS code 1", nd(NDRouterSolicit, 1, 8, nil)},
		{"RA code 1", nd(NDRouterAdvert, 1, 16, nil)},
		{"NS code 255", nd(NDNeighborSolicit, 255, 24, target(ndTarget))},
		{"NA code 1", nd(NDNeighborAdvert, 1, 24, target(ndTarget))},
		{"RA 15 bytes", nd(NDRouterAdvert, 0, 15, nil)},
		{"RA 8 bytes", nd(NDRouterAdvert, 0, 8, nil)},
		{"NS 23 bytes", ns[:23]},
		{"NS 8 bytes", ns[:8]},
		{"NA 23 bytes", nd(NDNeighborAdvert, 0, 23, target(ndTarget))},
		{"NS multicast target", nd(NDNeighborSolicit, 0, 24, target(SolicitedNode(ndTarget)))},
		{"NS all-nodes target", nd(NDNeighborSolicit, 0, 24, target(netip.MustParseAddr("ff02::1")))},
		{"NA multicast target", nd(NDNeighborAdvert, 0, 24, target(netip.MustParseAddr("ff05::2")), opt(2, 1, lla2[:]...))},
		{"NS option length 0", nd(NDNeighborSolicit, 0, 24, target(ndTarget), opt(1, 0, lla1[:]...))},
		{"RS option length 0", nd(NDRouterSolicit, 0, 8, nil, opt(1, 0, 0, 0, 0, 0, 0, 0))},
		{"RA unknown option length 0", nd(NDRouterAdvert, 0, 16, nil, opt(25, 0, 0, 0, 0, 0, 0, 0))},
		{"option length 0 after a good one", nd(NDNeighborSolicit, 0, 24, target(ndTarget), sllaOpt, opt(2, 0, 0, 0, 0, 0, 0, 0))},
		{"option past the end", nd(NDNeighborSolicit, 0, 24, target(ndTarget), opt(1, 2, lla1[:]...))},
		{"prefix option cut short", nd(NDRouterAdvert, 0, 16, nil, opt(3, 4, make([]byte, 29)...))},
		{"option length 255", nd(NDRouterAdvert, 0, 16, nil, opt(25, 255, make([]byte, 100)...))},
		{"one byte of option", nd(NDNeighborAdvert, 0, 24, target(ndTarget), []byte{2})},
		{"7 bytes of option", nd(NDRouterSolicit, 0, 8, nil, sllaOpt[:7])},
		{"good option then 1 byte", nd(NDRouterSolicit, 0, 8, nil, sllaOpt, []byte{0})},
		{"good option then 2 zero bytes", nd(NDRouterSolicit, 0, 8, nil, sllaOpt, []byte{0, 0})},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := c.msg[:len(c.msg):len(c.msg)]
			orig := bytes.Clone(msg)
			n := ND{Type: 1, Target: ndTarget, NPrefixes: 3, HasSrcLLA: true} // must be cleared
			err := ParseND(msg, &n)
			require.ErrorIs(t, err, ErrBadND)
			assert.Equal(t, ND{}, n)
			assert.Equal(t, orig, msg)
		})
	}
}

// TestParseNDOptions covers what ParseND keeps and skips in well-formed
// messages.
func TestParseNDOptions(t *testing.T) {
	tgt := target(ndTarget)
	prefix := func(bits, flags uint8, addr string) []byte {
		d := make([]byte, 30)
		d[0], d[1] = bits, flags
		binary.BigEndian.PutUint32(d[2:], 100)
		binary.BigEndian.PutUint32(d[6:], 50)
		a := netip.MustParseAddr(addr).As16()
		copy(d[14:], a[:])
		return opt(3, 4, d...)
	}
	mtu := func(v uint32, units uint8) []byte {
		return opt(5, units, append([]byte{0, 0, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}, make([]byte, int(units)*8-8)...)...)
	}
	p64 := NDPrefix{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, ValidLifetime: 100, PreferredLifetime: 50}
	for _, c := range []struct {
		name string
		msg  []byte
		want ND
	}{
		{"RS bare", nd(NDRouterSolicit, 0, 8, []byte{0xff, 0xff, 0xff, 0xff}), ND{Type: NDRouterSolicit}},
		{"first SLLA wins", nd(NDNeighborSolicit, 0, 24, tgt, sllaOpt, opt(1, 1, lla2[:]...)),
			ND{Type: NDNeighborSolicit, Target: ndTarget, SrcLLA: lla1, HasSrcLLA: true}},
		{"SLLA of 16 bytes is not Ethernet", nd(NDNeighborSolicit, 0, 24, tgt, opt(1, 2, make([]byte, 14)...)),
			ND{Type: NDNeighborSolicit, Target: ndTarget}},
		{"TLLA in NS ignored", nd(NDNeighborSolicit, 0, 24, tgt, opt(2, 1, lla2[:]...)),
			ND{Type: NDNeighborSolicit, Target: ndTarget}},
		{"SLLA in NA ignored", nd(NDNeighborAdvert, 0, 24, append([]byte{0x40}, tgt[1:]...), sllaOpt),
			ND{Type: NDNeighborAdvert, Flags: NAFlagSolicited, Target: ndTarget}},
		{"NA reserved bits cleared", nd(NDNeighborAdvert, 0, 24, append([]byte{0xbf, 0xff, 0xff, 0xff}, tgt[4:]...), opt(2, 1, lla2[:]...)),
			ND{Type: NDNeighborAdvert, Flags: NAFlagRouter | NAFlagOverride, Target: ndTarget, TgtLLA: lla2, HasTgtLLA: true}},
		{"NS reserved bytes ignored", nd(NDNeighborSolicit, 0, 24, append([]byte{0xff, 0xff, 0xff, 0xff}, tgt[4:]...)),
			ND{Type: NDNeighborSolicit, Target: ndTarget}},
		{"NS unspecified target", nd(NDNeighborSolicit, 0, 24, target(netip.IPv6Unspecified())),
			ND{Type: NDNeighborSolicit, Target: netip.IPv6Unspecified()}},
		{"prefix and MTU in NS ignored", nd(NDNeighborSolicit, 0, 24, tgt, prefix(64, 0x80, "2001:db8:1::"), mtu(1280, 1)),
			ND{Type: NDNeighborSolicit, Target: ndTarget}},
		{"unknown options skipped", nd(NDNeighborAdvert, 0, 24, tgt, opt(200, 3, make([]byte, 22)...), opt(2, 1, lla2[:]...), opt(14, 1, make([]byte, 6)...)),
			ND{Type: NDNeighborAdvert, Target: ndTarget, TgtLLA: lla2, HasTgtLLA: true}},
		{"RA first MTU wins", nd(NDRouterAdvert, 0, 16, nil, mtu(1400, 1), mtu(9000, 1)), ND{Type: NDRouterAdvert, MTU: 1400}},
		{"RA MTU of 16 bytes ignored", nd(NDRouterAdvert, 0, 16, nil, mtu(1400, 2)), ND{Type: NDRouterAdvert}},
		{"RA fields", nd(NDRouterAdvert, 0, 16, []byte{255, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}),
			ND{Type: NDRouterAdvert, CurHopLimit: 255, Flags: 0xff, RouterLifetime: 0xffff, ReachableTime: 0xffffffff, RetransTimer: 1}},
		{"RA prefix /0 and /128", nd(NDRouterAdvert, 0, 16, nil, prefix(0, 0, "2001:db8::1"), prefix(128, 0xff, "2001:db8::1")),
			ND{Type: NDRouterAdvert, NPrefixes: 2, Prefixes: [4]NDPrefix{
				{Prefix: netip.MustParsePrefix("::/0"), ValidLifetime: 100, PreferredLifetime: 50},
				{Prefix: netip.MustParsePrefix("2001:db8::1/128"), OnLink: true, Autonomous: true, ValidLifetime: 100, PreferredLifetime: 50},
			}}},
		{"RA prefix length 129 dropped", nd(NDRouterAdvert, 0, 16, nil, prefix(129, 0x80, "2001:db8::"), prefix(64, 0x80, "2001:db8:1::")),
			ND{Type: NDRouterAdvert, NPrefixes: 1, PrefixesDropped: 1, Prefixes: [4]NDPrefix{p64}}},
		{"RA prefix option of 24 bytes dropped", nd(NDRouterAdvert, 0, 16, nil, opt(3, 3, make([]byte, 22)...), prefix(64, 0x80, "2001:db8:1::")),
			ND{Type: NDRouterAdvert, NPrefixes: 1, PrefixesDropped: 1, Prefixes: [4]NDPrefix{p64}}},
		{"RA prefix option of 40 bytes dropped", nd(NDRouterAdvert, 0, 16, nil, opt(3, 5, make([]byte, 38)...)),
			ND{Type: NDRouterAdvert, PrefixesDropped: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n ND
			require.NoError(t, ParseND(c.msg[:len(c.msg):len(c.msg)], &n))
			assert.Equal(t, c.want, n)
		})
	}
}

// TestParseNDMany: a message full of prefix options keeps 4 and counts the
// rest; the work is bounded by the message length.
func TestParseNDMany(t *testing.T) {
	var opts [][]byte
	for i := 0; i < 2000; i++ { // 64,000 bytes of options, under the IPv6 payload limit
		d := make([]byte, 30)
		d[0] = 64
		d[14], d[15], d[16], d[17] = 0x20, 0x01, 0x0d, 0xb8
		binary.BigEndian.PutUint16(d[18:], uint16(i))
		opts = append(opts, opt(3, 4, d...))
	}
	msg := nd(NDRouterAdvert, 0, 16, nil, opts...)
	var n ND
	require.NoError(t, ParseND(msg, &n))
	assert.Equal(t, 4, n.NPrefixes)
	assert.Equal(t, 1996, n.PrefixesDropped)
	for i := 0; i < 4; i++ {
		assert.Equal(t, netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/64", i)), n.Prefixes[i].Prefix)
	}
}

func TestNDAllocs(t *testing.T) {
	b := make([]byte, 64)
	ra := ndGopacket(t, ndLLSrc, netip.MustParseAddr("ff02::1"), NDRouterAdvert, 0,
		&layers.ICMPv6RouterAdvertisement{HopLimit: 64, Options: layers.ICMPv6Options{
			optLLA(layers.ICMPv6OptSourceAddress, lla2), optMTU(1500), optPrefix("2001:db8:1::/64", 0xc0, 1, 1)}})
	raMsg, _, _ := ndMsg(t, ra)
	bad := nd(NDNeighborSolicit, 0, 24, target(ndTarget), opt(1, 0))
	var n ND
	allocs := testing.AllocsPerRun(100, func() {
		l1 := PutNS(b, ndTarget, lla1, true)
		e1 := ParseND(b[:l1], &n)
		l2 := PutNA(b, ndTarget, NAFlagSolicited, lla2)
		e2 := ParseND(b[:l2], &n)
		l3 := PutRS(b, lla1, true)
		e3 := ParseND(b[:l3], &n)
		if e1 != nil || e2 != nil || e3 != nil || ParseND(raMsg, &n) != nil || ParseND(bad, &n) == nil || ParseND(nil, &n) == nil {
			panic("unexpected")
		}
	})
	assert.Zero(t, allocs)
}

// FuzzParseND: no panic; a drop leaves the result zero; what ParseND accepts
// gopacket decodes too, with the same options; NS, NA and RS re-encode with
// the builders to the same fields.
func FuzzParseND(f *testing.F) {
	// The checked-in corpus is testdata/fuzz/FuzzParseND.
	b := make([]byte, 64)
	f.Add(bytes.Clone(b[:PutNS(b, ndTarget, lla1, true)]))
	f.Add(bytes.Clone(b[:PutNA(b, ndTarget, NAFlagRouter, lla2)]))
	f.Add(bytes.Clone(b[:PutRS(b, lla1, false)]))
	f.Add(nd(NDRouterAdvert, 0, 16, []byte{64, 0x80, 0, 30}, opt(5, 1, 0, 0, 0, 0, 5, 0xdc), opt(3, 4, make([]byte, 30)...)))
	f.Fuzz(func(t *testing.T, msg []byte) {
		n, ok := fuzzParse(t, msg, ParseND, ErrBadND)
		if !ok {
			return
		}
		require.Equal(t, msg[0], n.Type)
		require.Zero(t, msg[1])
		require.LessOrEqual(t, n.NPrefixes, len(n.Prefixes))
		for i, p := range n.Prefixes {
			if i >= n.NPrefixes {
				require.Equal(t, NDPrefix{}, p)
				continue
			}
			require.True(t, p.Prefix.IsValid() && p.Prefix.Addr().Is6())
			require.Equal(t, p.Prefix.Masked(), p.Prefix)
		}

		// gopacket's decoder (after the 4-byte ICMPv6 header) accepts it too.
		var opts layers.ICMPv6Options
		switch n.Type {
		case NDRouterSolicit:
			l := &layers.ICMPv6RouterSolicitation{}
			require.NoError(t, l.DecodeFromBytes(msg[4:], gopacket.NilDecodeFeedback))
			opts = l.Options
		case NDRouterAdvert:
			l := &layers.ICMPv6RouterAdvertisement{}
			require.NoError(t, l.DecodeFromBytes(msg[4:], gopacket.NilDecodeFeedback))
			opts = l.Options
			require.Equal(t, l.HopLimit, n.CurHopLimit)
			require.Equal(t, l.Flags, n.Flags)
			require.Equal(t, l.RouterLifetime, n.RouterLifetime)
			require.Equal(t, l.ReachableTime, n.ReachableTime)
			require.Equal(t, l.RetransTimer, n.RetransTimer)
		case NDNeighborSolicit:
			l := &layers.ICMPv6NeighborSolicitation{}
			require.NoError(t, l.DecodeFromBytes(msg[4:], gopacket.NilDecodeFeedback))
			opts = l.Options
			require.Equal(t, n.Target.AsSlice(), []byte(l.TargetAddress))
			require.False(t, l.TargetAddress.IsMulticast())
		case NDNeighborAdvert:
			l := &layers.ICMPv6NeighborAdvertisement{}
			require.NoError(t, l.DecodeFromBytes(msg[4:], gopacket.NilDecodeFeedback))
			opts = l.Options
			require.Equal(t, n.Target.AsSlice(), []byte(l.TargetAddress))
			require.Equal(t, l.Flags&0xe0, n.Flags)
		}
		var sl, tl *layers.ICMPv6Option
		prefixes := 0
		for i := range opts {
			o := &opts[i]
			switch {
			case o.Type == layers.ICMPv6OptSourceAddress && len(o.Data) == 6 && sl == nil:
				sl = o
			case o.Type == layers.ICMPv6OptTargetAddress && len(o.Data) == 6 && tl == nil:
				tl = o
			case o.Type == layers.ICMPv6OptPrefixInfo:
				prefixes++
			}
		}
		switch n.Type {
		case NDNeighborAdvert:
			require.False(t, n.HasSrcLLA)
			require.Equal(t, tl != nil, n.HasTgtLLA)
			if tl != nil {
				require.Equal(t, net.HardwareAddr(tl.Data), net.HardwareAddr(n.TgtLLA[:]))
			}
		default:
			require.False(t, n.HasTgtLLA)
			require.Equal(t, sl != nil, n.HasSrcLLA)
			if sl != nil {
				require.Equal(t, net.HardwareAddr(sl.Data), net.HardwareAddr(n.SrcLLA[:]))
			}
		}
		if n.Type == NDRouterAdvert {
			require.Equal(t, prefixes, n.NPrefixes+n.PrefixesDropped)
		} else {
			require.Zero(t, n.NPrefixes+n.PrefixesDropped+int(n.MTU))
		}

		// Built again from the fields, the message parses to the same ND.
		out := make([]byte, 64)
		var l int
		switch n.Type {
		case NDNeighborSolicit:
			l = PutNS(out, n.Target, n.SrcLLA, n.HasSrcLLA)
		case NDNeighborAdvert:
			if !n.HasTgtLLA {
				return // PutNA always adds the option
			}
			l = PutNA(out, n.Target, n.Flags, n.TgtLLA)
		case NDRouterSolicit:
			l = PutRS(out, n.SrcLLA, n.HasSrcLLA)
		default:
			return // no RA builder
		}
		var again ND
		require.NoError(t, ParseND(out[:l], &again))
		require.Equal(t, n, again)
	})
}
