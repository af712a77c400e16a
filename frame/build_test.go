package frame

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testStacks = []VLANs{
	nil,
	{{ID: 100}},
	{{ID: 4095, PCP: 7, DEI: true}},
	{{TPID: TPIDDot1AD, ID: 200, PCP: 3}, {ID: 300, DEI: true}},
	{{TPID: TPID9100, ID: 1}, {TPID: TPIDDot1AD, ID: 2, PCP: 5}, {TPID: TPIDDot1Q, ID: 3}},
	{{TPID: TPIDDot1AD, ID: 10, PCP: 1}, {TPID: TPID9100, ID: 20, DEI: true}, {ID: 30, PCP: 6}, {TPID: TPIDDot1AD, ID: 0}},
}

func TestHeaderLen(t *testing.T) {
	for n, want := range []int{14, 18, 22, 26, 30} {
		assert.Equal(t, want, HeaderLen(n))
	}
}

func TestPutEthernet(t *testing.T) {
	dst, src := MAC(macDst), MAC(macSrc)
	for _, tags := range testStacks {
		t.Run("tags="+tags.String(), func(t *testing.T) {
			require.NoError(t, tags.Validate())
			hl := HeaderLen(len(tags))
			b := bytes.Repeat([]byte{0xcc}, hl+10)
			require.Equal(t, hl, PutEthernet(b, dst, src, tags, EtherTypeARP))
			assert.Equal(t, bytes.Repeat([]byte{0xcc}, 10), b[hl:], "wrote past the header")

			want := serialize(t, ethLayers(tags, EtherTypeARP)...)
			assert.Equal(t, want[:hl], b[:hl], "differs from gopacket's header")

			var in Info
			require.NoError(t, Parse(b, &in))
			assert.Equal(t, dst, in.Key.MAC)
			assert.Equal(t, src, SrcMAC(b))
			assert.Equal(t, EtherTypeARP, in.Key.EtherType)
			assert.Equal(t, hl, in.L3)
			assert.Equal(t, tags.Key(), in.Key.Stack)
			assert.True(t, tags.Equal(in.VLANs()), "got %v", in.VLANs())

			// gopacket decodes 0x8100 and 0x88a8 tags.
			if !bytes.Contains(b[12:hl], []byte{0x91, 0x00}) {
				pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
				var got VLANs
				for _, l := range pkt.Layers() {
					if q, ok := l.(*layers.Dot1Q); ok {
						got = append(got, VLAN{PCP: q.Priority, DEI: q.DropEligible, ID: q.VLANIdentifier})
					}
				}
				require.Len(t, got, len(tags))
				for i := range got {
					assert.Equal(t, tags[i].TCI(), got[i].TCI(), "tag %d", i)
				}
			}
		})
	}
}

type putUDPCase struct {
	name string
	tags VLANs
	h    UDPHeader
	plen int
}

func putUDPCases() []putUDPCase {
	ap := netip.MustParseAddrPort
	var cases []putUDPCase
	for _, plen := range []int{0, 1, 2, 7, 64, 301, 1472} {
		cases = append(cases,
			putUDPCase{"ipv4", VLANs{{ID: 100, PCP: 5}}, UDPHeader{Src: ap("192.0.2.1:68"), Dst: ap("255.255.255.255:67"), TOS: 0x10, ID: 0xbeef}, plen},
			putUDPCase{"ipv6", VLANs{{TPID: TPIDDot1AD, ID: 7}, {ID: 8}}, UDPHeader{Src: ap("[fe80::1]:546"), Dst: ap("[ff02::1:2]:547"), TOS: 0xb8, FlowLabel: 0xabcde}, plen},
		)
	}
	return append(cases,
		putUDPCase{"ipv4 ttl", nil, UDPHeader{Src: ap("192.0.2.1:1"), Dst: ap("198.18.0.2:65535"), TTL: 1}, 3},
		putUDPCase{"ipv4 ttl 255", nil, UDPHeader{Src: ap("192.0.2.1:0"), Dst: ap("198.18.0.2:0"), TTL: 255, TOS: 0xff, ID: 0xffff}, 33},
		putUDPCase{"ipv4-mapped", VLANs{{ID: 1}}, UDPHeader{Src: ap("[::ffff:192.0.2.1]:5000"), Dst: ap("[::ffff:198.18.0.2]:6000")}, 21},
		putUDPCase{"ipv4-mapped src, ipv4 dst", nil, UDPHeader{Src: ap("[::ffff:192.0.2.1]:5000"), Dst: ap("198.18.0.2:6000")}, 20},
		putUDPCase{"ipv6 ttl", nil, UDPHeader{Src: ap("[2001:db8::1]:1"), Dst: ap("[2001:db8::2]:2"), TTL: 1}, 9},
		putUDPCase{"ipv6 flow label masked", nil, UDPHeader{Src: ap("[2001:db8::1]:1"), Dst: ap("[2001:db8::2]:2"), TTL: 255, TOS: 0xff, FlowLabel: 0xfff12345}, 10},
		putUDPCase{"ipv6 zone", nil, UDPHeader{Src: ap("[fe80::1%eth0]:1"), Dst: ap("[fe80::2]:2")}, 5},
	)
}

// buildUDP writes c into a fresh buffer, with the header area full of junk
// first, and returns the frame.
func buildUDP(t *testing.T, c putUDPCase, rng *rand.Rand) []byte {
	t.Helper()
	hl := HeaderLen(len(c.tags))
	il := IPUDPLen(c.h.Src.Addr())
	b := make([]byte, hl+il+c.plen+8)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	tail := bytes.Clone(b[hl+il+c.plen:])
	require.Equal(t, hl, PutEthernet(b, MAC(macDst), MAC(macSrc), c.tags, etherTypeOf(c.h.Src.Addr())))
	n, err := PutUDP(b[hl:], &c.h, c.plen)
	require.NoError(t, err)
	require.Equal(t, il+c.plen, n)
	require.Equal(t, tail, b[hl+n:], "PutUDP wrote past the packet")
	b = b[:hl+n]
	return b[:len(b):len(b)]
}

func etherTypeOf(a netip.Addr) uint16 {
	if a.Unmap().Is4() {
		return EtherTypeIPv4
	}
	return EtherTypeIPv6
}

func TestPutUDP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range putUDPCases() {
		t.Run(c.name, func(t *testing.T) {
			b := buildUDP(t, c, rng)
			hl := HeaderLen(len(c.tags))
			src, dst := c.h.Src.Addr().Unmap(), c.h.Dst.Addr().Unmap()
			ttl := c.h.TTL
			if ttl == 0 {
				ttl = 64
			}
			payload := b[hl+IPUDPLen(src):]
			require.Len(t, payload, c.plen)

			// gopacket decodes every field.
			pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			// (Random payloads to ports 67/68 and 546/547 fail to decode as
			// DHCP; everything up to UDP must decode.)
			require.NotNil(t, pkt.Layer(layers.LayerTypeUDP), "gopacket: %v", pkt.ErrorLayer())
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			assert.Equal(t, macDst, eth.DstMAC)
			assert.Equal(t, macSrc, eth.SrcMAC)
			var tags VLANs
			for _, l := range pkt.Layers() {
				if q, ok := l.(*layers.Dot1Q); ok {
					tags = append(tags, VLAN{PCP: q.Priority, DEI: q.DropEligible, ID: q.VLANIdentifier})
				}
			}
			require.Len(t, tags, len(c.tags))
			for i := range tags {
				assert.Equal(t, c.tags[i].TCI(), tags[i].TCI())
			}
			var nl gopacket.NetworkLayer
			if src.Is4() {
				ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				require.True(t, ok, "no IPv4 layer")
				nl = ip
				assert.Equal(t, uint8(4), ip.Version)
				assert.Equal(t, uint8(5), ip.IHL)
				assert.Equal(t, c.h.TOS, ip.TOS)
				assert.Equal(t, uint16(IPv4Len+UDPLen+c.plen), ip.Length)
				assert.Equal(t, c.h.ID, ip.Id)
				assert.Equal(t, layers.IPv4DontFragment, ip.Flags)
				assert.Zero(t, ip.FragOffset)
				assert.Equal(t, ttl, ip.TTL)
				assert.Equal(t, layers.IPProtocolUDP, ip.Protocol)
				assert.Equal(t, net.IP(src.AsSlice()), ip.SrcIP)
				assert.Equal(t, net.IP(dst.AsSlice()), ip.DstIP)
				err, res := ip.VerifyChecksum()
				require.NoError(t, err)
				assert.True(t, res.Valid, "IPv4 checksum %#x, want %#x", res.Actual, res.Correct)
			} else {
				ip, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				require.True(t, ok, "no IPv6 layer")
				nl = ip
				assert.Equal(t, uint8(6), ip.Version)
				assert.Equal(t, c.h.TOS, ip.TrafficClass)
				assert.Equal(t, c.h.FlowLabel&0xfffff, ip.FlowLabel)
				assert.Equal(t, uint16(UDPLen+c.plen), ip.Length)
				assert.Equal(t, layers.IPProtocolUDP, ip.NextHeader)
				assert.Equal(t, ttl, ip.HopLimit)
				assert.Equal(t, net.IP(src.AsSlice()), ip.SrcIP)
				assert.Equal(t, net.IP(dst.AsSlice()), ip.DstIP)
			}
			u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			require.True(t, ok, "no UDP layer")
			assert.Equal(t, layers.UDPPort(c.h.Src.Port()), u.SrcPort)
			assert.Equal(t, layers.UDPPort(c.h.Dst.Port()), u.DstPort)
			assert.Equal(t, uint16(UDPLen+c.plen), u.Length)
			assert.Equal(t, payload, []byte(u.Payload))
			assert.NotZero(t, u.Checksum)
			require.NoError(t, u.SetNetworkLayerForChecksum(nl))
			err, res := u.VerifyChecksum()
			require.NoError(t, err)
			assert.True(t, res.Valid, "UDP checksum %#x, want %#x", res.Actual, res.Correct)

			// gopacket encodes the same headers to the same bytes, checksums
			// included.
			var ls []gopacket.SerializableLayer
			if src.Is4() {
				ip := &layers.IPv4{Version: 4, TOS: c.h.TOS, Id: c.h.ID, Flags: layers.IPv4DontFragment, TTL: ttl,
					Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
				ls = []gopacket.SerializableLayer{ip, &layers.UDP{SrcPort: layers.UDPPort(c.h.Src.Port()), DstPort: layers.UDPPort(c.h.Dst.Port())}}
				require.NoError(t, ls[1].(*layers.UDP).SetNetworkLayerForChecksum(ip))
			} else {
				ip := &layers.IPv6{Version: 6, TrafficClass: c.h.TOS, FlowLabel: c.h.FlowLabel & 0xfffff, HopLimit: ttl,
					NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
				ls = []gopacket.SerializableLayer{ip, &layers.UDP{SrcPort: layers.UDPPort(c.h.Src.Port()), DstPort: layers.UDPPort(c.h.Dst.Port())}}
				require.NoError(t, ls[1].(*layers.UDP).SetNetworkLayerForChecksum(ip))
			}
			want := buildFrame(t, c.tags, etherTypeOf(src), append(ls, gopacket.Payload(payload))...)
			require.GreaterOrEqual(t, len(want), len(b))
			assert.Equal(t, want[:len(b)], b, "differs from gopacket's encoding")
			assert.Equal(t, make([]byte, len(want)-len(b)), want[len(b):], "gopacket's padding")

			// Our own parser and checksum checks agree.
			var in Info
			require.NoError(t, Parse(b, &in))
			requireConsistent(t, b, &in)
			require.True(t, in.UDP)
			assert.Equal(t, c.h.Src.Port(), in.SrcPort)
			assert.Equal(t, c.h.Dst.Port(), in.DstPort)
			assert.Equal(t, payload, b[in.Payload:in.PayloadEnd])
			assert.Equal(t, src.AsSlice(), in.SrcIP(b))
			assert.Equal(t, dst.AsSlice(), in.DstIP(b))
			assert.True(t, UDPChecksumOK(b, &in))
			if src.Is4() {
				assert.Equal(t, uint8(4), in.IPVersion)
				assert.True(t, IPv4ChecksumOK(b, &in))
				assert.Zero(t, Checksum(b[in.L3:in.L4]), "IPv4 header checksum")
			} else {
				assert.Equal(t, uint8(6), in.IPVersion)
			}
		})
	}
}

func TestIPUDPLen(t *testing.T) {
	assert.Equal(t, 28, IPUDPLen(netip.MustParseAddr("198.18.1.3")))
	assert.Equal(t, 28, IPUDPLen(netip.MustParseAddr("::ffff:198.18.1.3")))
	assert.Equal(t, 48, IPUDPLen(netip.MustParseAddr("2001:db8::1")))
	assert.Equal(t, 48, IPUDPLen(netip.MustParseAddr("::")))
}

// TestPutUDPZeroChecksum builds datagrams whose checksum computes to zero:
// they must carry 0xffff, which every receiver accepts.
func TestPutUDPZeroChecksum(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, h := range []UDPHeader{
		{Src: ap("192.0.2.1:68"), Dst: ap("192.0.2.255:67")},
		{Src: ap("[2001:db8::1]:546"), Dst: ap("[2001:db8::2]:547")},
	} {
		t.Run(h.Src.Addr().String(), func(t *testing.T) {
			const plen = 30
			il := IPUDPLen(h.Src.Addr())
			b := make([]byte, il+plen)
			copy(b[il:], testPayload(plen-2)) // the last word is 0 for now
			_, err := PutUDP(b, &h, plen)
			require.NoError(t, err)
			c0 := binary.BigEndian.Uint16(b[il-2:])
			require.NotEqual(t, uint16(0xffff), c0)
			// Adding the checksum as a payload word makes the sum all ones,
			// so the checksum then computes to 0.
			binary.BigEndian.PutUint16(b[len(b)-2:], c0)
			_, err = PutUDP(b, &h, plen)
			require.NoError(t, err)
			assert.Equal(t, uint16(0xffff), binary.BigEndian.Uint16(b[il-2:]))

			// The checksum really computes to zero: the datagram with a zero
			// checksum field, under the pseudo-header, sums to all ones.
			var in Info
			f := append(make([]byte, EthernetLen), b...)
			PutEthernet(f, MAC(macDst), MAC(macSrc), nil, etherTypeOf(h.Src.Addr()))
			require.NoError(t, Parse(f, &in))
			u := bytes.Clone(f[in.L4:in.PayloadEnd])
			u[6], u[7] = 0, 0
			pseudo := append(append(bytes.Clone(in.SrcIP(f)), in.DstIP(f)...), 0, ProtoUDP, byte(len(u)>>8), byte(len(u)))
			assert.Equal(t, uint16(0), ^testkit.OnesSum(append(pseudo, u...)))

			assert.True(t, UDPChecksumOK(f, &in))
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			require.NoError(t, udp.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
			err, res := udp.VerifyChecksum()
			require.NoError(t, err)
			assert.True(t, res.Valid)
			assert.Equal(t, uint32(0xffff), res.Correct, "gopacket also sends 0xffff")
		})
	}
}

func TestPutUDPErrors(t *testing.T) {
	ap := netip.MustParseAddrPort
	v4, v6, m4 := ap("192.0.2.1:1"), ap("[2001:db8::1]:2"), ap("[::ffff:198.18.0.2]:3")
	for _, h := range []UDPHeader{
		{Src: v4, Dst: v6},
		{Src: v6, Dst: v4},
		{Src: m4, Dst: v6},
		{Src: v6, Dst: m4},
		{Src: netip.AddrPort{}, Dst: v4},
		{Src: v4, Dst: netip.AddrPort{}},
		{Src: netip.AddrPort{}, Dst: v6},
		{},
	} {
		// No buffer: the error comes before anything is written.
		_, err := PutUDP(nil, &h, 10)
		assert.ErrorIs(t, err, ErrAddrFamily, "%v -> %v", h.Src, h.Dst)
	}

	for _, h := range []UDPHeader{{Src: v4, Dst: m4}, {Src: v6, Dst: v6}} {
		// IPv4 limits the total length, IPv6 the payload (UDP) length.
		maxPlen := 0xffff - IPv4Len - UDPLen
		if IPUDPLen(h.Src.Addr()) == IPv6Len+UDPLen {
			maxPlen = 0xffff - UDPLen
		}
		_, err := PutUDP(nil, &h, maxPlen+1)
		assert.ErrorIs(t, err, ErrTooLong, "%v plen %d", h.Src, maxPlen+1)
		_, err = PutUDP(nil, &h, 1<<20)
		assert.ErrorIs(t, err, ErrTooLong)

		// The largest datagram is fine and parses.
		hl := EthernetLen
		b := make([]byte, hl+IPUDPLen(h.Src.Addr())+maxPlen)
		PutEthernet(b, MAC(macDst), MAC(macSrc), nil, etherTypeOf(h.Src.Addr()))
		n, err := PutUDP(b[hl:], &h, maxPlen)
		require.NoError(t, err)
		require.Equal(t, len(b)-hl, n)
		var in Info
		require.NoError(t, Parse(b, &in))
		require.True(t, in.UDP)
		assert.Equal(t, len(b), in.PayloadEnd)
		assert.True(t, UDPChecksumOK(b, &in))
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071 section 3's example: the sum is 0xddf2.
	assert.Equal(t, ^uint16(0xddf2), Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}))
	assert.Equal(t, uint16(0xffff), Checksum(nil))
	assert.Equal(t, uint16(0xffff), Checksum(make([]byte, 33)))
	assert.Equal(t, uint16(0), Checksum([]byte{0xff, 0xff}))

	rng := rand.New(rand.NewPCG(0x5eed, 1071))
	buf := make([]byte, 128)
	for n := 0; n <= 100; n++ {
		for range 50 {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			off := rng.IntN(8) // any alignment
			b := buf[off : off+n]
			require.Equal(t, ^testkit.OnesSum(b), Checksum(b), "% x", b)
		}
	}
	// Carries: long runs of 0xff and of values just below it.
	for _, n := range []int{7, 8, 9, 64, 1000, 65535, 65536, 1 << 20} {
		for _, v := range []byte{0xff, 0xfe, 0x80, 0x01} {
			b := bytes.Repeat([]byte{v}, n)
			require.Equal(t, ^testkit.OnesSum(b), Checksum(b), "%d bytes of %#x", n, v)
		}
	}
}

// TestSum16Start checks sum16 with the large running sums PutUDP and
// UDPChecksumOK feed it.
func TestSum16Start(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, start := range []uint64{0, 1, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_ffff_fffe, 1<<40 - 1} {
		for n := 0; n <= 40; n++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			want := start
			for i := 0; i+1 < n; i += 2 {
				want += uint64(b[i])<<8 | uint64(b[i+1])
			}
			if n%2 == 1 {
				want += uint64(b[n-1]) << 8
			}
			for want > 0xffff {
				want = want>>16 + want&0xffff
			}
			require.Equal(t, uint16(want), fold(sum16(start, b)), "start %#x, % x", start, b)
		}
	}
	assert.Equal(t, uint16(0xffff), fold(1<<64-1))
	assert.Equal(t, uint16(0), fold(0))
	assert.Equal(t, uint16(0xffff), fold(0xffff))
	assert.Equal(t, uint16(1), fold(1<<32))
}

// checksumFrames are UDP frames, each with its own checksum right.
func checksumFrames(t *testing.T) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	frames := map[string][]byte{
		"gopacket ipv4":           udp4Frame(t, VLANs{{ID: 9}}, testPayload(21)),
		"gopacket ipv6":           udp6Frame(t, nil, testPayload(20)),
		"gopacket ipv4 runt":      udp4Frame(t, nil, testPayload(1)),
		"gopacket ipv6 ext chain": nil,
	}
	ip := newIPv6(layers.IPProtocolIPv6HopByHop)
	frames["gopacket ipv6 ext chain"] = buildFrame(t, nil, EtherTypeIPv6, ip, hopByHop(layers.IPProtocolIPv6Destination),
		dstOpts(layers.IPProtocolUDP, 4), newUDP(t, ip), gopacket.Payload(testPayload(13)))
	ip4 := newIPv4(layers.IPProtocolUDP)
	ip4.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	frames["gopacket ipv4 options"] = buildFrame(t, nil, EtherTypeIPv4, ip4, newUDP(t, ip4), gopacket.Payload(testPayload(8)))
	for _, c := range putUDPCases() {
		if c.plen <= 64 {
			frames["PutUDP "+c.name+" "+strconv.Itoa(c.plen)] = buildUDP(t, c, rng)
		}
	}
	return frames
}

func TestUDPChecksumOKCorruption(t *testing.T) {
	for name, b := range checksumFrames(t) {
		t.Run(name, func(t *testing.T) {
			var in Info
			require.NoError(t, Parse(b, &in))
			require.True(t, in.UDP)
			require.True(t, UDPChecksumOK(b, &in))
			if in.IPVersion == 4 {
				require.True(t, IPv4ChecksumOK(b, &in))
			}

			// Every byte the checksum covers: the UDP header and payload and
			// the addresses of the pseudo-header.
			var covered []int
			for i := in.L4; i < in.PayloadEnd; i++ {
				covered = append(covered, i)
			}
			src, dst := in.L3+12, in.L3+16
			if in.IPVersion == 6 {
				src, dst = in.L3+8, in.L3+24
			}
			for i := src; i < dst+len(in.DstIP(b)); i++ {
				covered = append(covered, i)
			}
			for _, i := range covered {
				for _, x := range []byte{0x01, 0x10, 0x80, 0xff} {
					c := bytes.Clone(b)
					c[i] ^= x
					zeroed := in.IPVersion == 4 && binary.BigEndian.Uint16(c[in.L4+6:]) == 0
					assert.Equal(t, zeroed, UDPChecksumOK(c, &in), "byte %d ^ %#x", i, x)
				}
			}

			// Bytes outside: the IP header apart from the addresses, padding.
			for i := 0; i < len(b); i++ {
				if (i >= in.L4 && i < in.PayloadEnd) || (i >= src && i < dst+len(in.DstIP(b))) {
					continue
				}
				c := bytes.Clone(b)
				c[i] ^= 0xff
				assert.True(t, UDPChecksumOK(c, &in), "byte %d is not covered", i)
			}

			// A zero checksum means "none" in IPv4 and is invalid in IPv6.
			c := bytes.Clone(b)
			c[in.L4+6], c[in.L4+7] = 0, 0
			assert.Equal(t, in.IPVersion == 4, UDPChecksumOK(c, &in))
			// A zero checksum with a corrupted payload is still accepted in
			// IPv4: there is nothing to check.
			if in.PayloadEnd > in.Payload {
				c[in.Payload] ^= 0x5a
				assert.Equal(t, in.IPVersion == 4, UDPChecksumOK(c, &in))
			}
		})
	}
}

func TestIPv4ChecksumOK(t *testing.T) {
	for name, b := range checksumFrames(t) {
		var in Info
		require.NoError(t, Parse(b, &in))
		if in.IPVersion != 4 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			require.True(t, IPv4ChecksumOK(b, &in))
			for i := in.L3; i < in.L4; i++ {
				for _, x := range []byte{0x01, 0x80, 0xff} {
					c := bytes.Clone(b)
					c[i] ^= x
					if i == in.L3 {
						// Keep the IHL so that the same header is summed.
						c[i] = c[i]&0xf0 | b[i]&0x0f
						if c[i] == b[i] {
							continue
						}
					}
					assert.False(t, IPv4ChecksumOK(c, &in), "byte %d ^ %#x", i, x)
				}
			}
			// The UDP part is not covered.
			c := bytes.Clone(b)
			c[in.L4] ^= 0xff
			assert.True(t, IPv4ChecksumOK(c, &in))
		})
	}
}
