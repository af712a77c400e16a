package frame

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/testkit"
)

// Test helpers shared by the parse, build, fuzz and benchmark tests. Frames
// are built with gopacket/layers, an encoder independent of this package.

var (
	macDst = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	macSrc = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}

	ip4Src = net.IP{192, 0, 2, 1}
	ip4Dst = net.IP{198, 18, 0, 7}
	ip6Src = net.ParseIP("2001:db8::1")
	ip6Dst = net.ParseIP("2001:db8:ffff::2")
)

const (
	testSport = 40000
	testDport = 40001
)

// serialize encodes ls with gopacket, fixing lengths and checksums.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	require.NoError(tb, gopacket.SerializeLayers(buf, opts, ls...))
	// A copy with cap == len, so that any read past the end panics.
	b := append([]byte(nil), buf.Bytes()...)
	return b[:len(b):len(b)]
}

// ethLayers returns an Ethernet header carrying the VLAN stack tags and then
// etherType. gopacket pads the frame to 60 bytes.
func ethLayers(tags VLANs, etherType uint16) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: macSrc, DstMAC: macDst, EthernetType: layers.EthernetType(etherType)}
	out := []gopacket.SerializableLayer{eth}
	next := &eth.EthernetType
	for _, v := range tags {
		*next = layers.EthernetType(v.EffectiveTPID())
		q := &layers.Dot1Q{Priority: v.PCP, DropEligible: v.DEI, VLANIdentifier: v.ID, Type: layers.EthernetType(etherType)}
		next = &q.Type
		out = append(out, q)
	}
	return out
}

// buildFrame encodes an Ethernet frame with tags, etherType and the layers ls.
func buildFrame(tb testing.TB, tags VLANs, etherType uint16, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	return serialize(tb, append(ethLayers(tags, etherType), ls...)...)
}

func newIPv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: ip4Src, DstIP: ip4Dst,
	}
}

func newIPv6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, HopLimit: 64, NextHeader: next, FlowLabel: 0x12345,
		SrcIP: ip6Src, DstIP: ip6Dst,
	}
}

func newUDP(tb testing.TB, nl gopacket.NetworkLayer) *layers.UDP {
	tb.Helper()
	u := &layers.UDP{SrcPort: testSport, DstPort: testDport}
	require.NoError(tb, u.SetNetworkLayerForChecksum(nl))
	return u
}

// testPayload returns n bytes of the kit's recognisable pattern.
func testPayload(n int) []byte { return testkit.Pattern(n) }

// udp4Frame is a tagged IPv4/UDP frame.
func udp4Frame(tb testing.TB, tags VLANs, payload []byte) []byte {
	tb.Helper()
	ip := newIPv4(layers.IPProtocolUDP)
	return buildFrame(tb, tags, EtherTypeIPv4, ip, newUDP(tb, ip), gopacket.Payload(payload))
}

// udp6Frame is a tagged IPv6/UDP frame.
func udp6Frame(tb testing.TB, tags VLANs, payload []byte) []byte {
	tb.Helper()
	ip := newIPv6(layers.IPProtocolUDP)
	return buildFrame(tb, tags, EtherTypeIPv6, ip, newUDP(tb, ip), gopacket.Payload(payload))
}

// IPv6 extension headers as gopacket layers.

func hopByHop(next layers.IPProtocol) *layers.IPv6HopByHop {
	h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{
		// Router alert (RFC 2711): 2+2 bytes; a PadN fills the header to 8.
		{OptionType: 5, OptionData: []byte{0, 0}},
		{OptionType: 1, OptionData: []byte{}},
	}}
	h.NextHeader = next
	return h
}

func dstOpts(next layers.IPProtocol, dataLen int) *layers.IPv6Destination {
	// One experimental option (type 0x1e: skip if unknown) of dataLen bytes;
	// dataLen+4 must be a multiple of 8.
	h := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{
		{OptionType: 0x1e, OptionData: testPayload(dataLen)},
	}}
	h.NextHeader = next
	return h
}

func routing(next layers.IPProtocol) *layers.IPv6Routing {
	// Type 2 (mobile IPv6) with one address and no segments left, so the
	// final destination and the pseudo-header destination are DstIP.
	h := &layers.IPv6Routing{RoutingType: 2, SegmentsLeft: 0, Reserved: []byte{0, 0, 0, 0},
		SourceRoutingIPs: []net.IP{net.ParseIP("2001:db8:1::9")}}
	h.NextHeader = next
	return h
}

func fragment6(next layers.IPProtocol, offset uint16, more bool) *layers.IPv6Fragment {
	return &layers.IPv6Fragment{NextHeader: next, FragmentOffset: offset, MoreFragments: more, Identification: 0xdeadbeef}
}

// authHeader is an IPsec AH (RFC 4302) with a 12-byte ICV: 24 bytes,
// Payload Len (24/4)-2 = 4. gopacket cannot serialize AH.
func authHeader(next layers.IPProtocol) gopacket.Payload {
	h := make([]byte, 24)
	h[0] = byte(next)
	h[1] = 4
	binary.BigEndian.PutUint32(h[4:], 0x1000) // SPI
	binary.BigEndian.PutUint32(h[8:], 1)      // sequence number
	copy(h[12:], testPayload(12))
	return h
}

// rawDstOpts is a minimal 8-byte destination options header (one PadN).
func rawDstOpts(next byte) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} }

// dstChain is n minimal destination options headers, the last followed by
// UDP.
func dstChain(n int) []byte {
	var chain []byte
	for i := 0; i < n; i++ {
		next := byte(layers.IPProtocolIPv6Destination)
		if i == n-1 {
			next = ProtoUDP
		}
		chain = append(chain, rawDstOpts(next)...)
	}
	return chain
}

// infoProblem checks everything Parse promises about a successful result:
// every offset is within b and consistent with the others and with the bytes.
// It returns "" when in is consistent.
func infoProblem(b []byte, in *Info) string {
	n := int(in.Key.Stack.N)
	switch {
	case n > MaxTags:
		return fmt.Sprintf("%d tags", n)
	case len(b) < HeaderLen(n):
		return fmt.Sprintf("frame of %d bytes with %d tags", len(b), n)
	case in.Key.MAC != MAC(b[0:6]):
		return "Key.MAC is not the destination MAC"
	case in.L3 != HeaderLen(n):
		return fmt.Sprintf("L3 %d with %d tags", in.L3, n)
	case in.End < in.L3 || in.End > len(b):
		return fmt.Sprintf("End %d outside [L3 %d, len %d]", in.End, in.L3, len(b))
	case in.Key.EtherType != binary.BigEndian.Uint16(b[in.L3-2:]):
		return "Key.EtherType is not the innermost EtherType"
	case IsTPID(in.Key.EtherType):
		return "innermost EtherType is a TPID"
	}
	for i := 0; i < MaxTags; i++ {
		tag, tci := in.Key.Stack.Tags[i], in.TCI[i]
		if i >= n {
			if tag != 0 || tci != 0 {
				return fmt.Sprintf("unused tag %d is set", i)
			}
			continue
		}
		off := 12 + i*VLANLen
		if tag>>16 != uint32(binary.BigEndian.Uint16(b[off:])) || !IsTPID(uint16(tag>>16)) {
			return fmt.Sprintf("tag %d TPID %#x", i, tag>>16)
		}
		if tci != binary.BigEndian.Uint16(b[off+2:]) || tag&0xffff != uint32(tci&0x0fff) {
			return fmt.Sprintf("tag %d TCI %#x key %#x", i, tci, tag)
		}
	}
	if vs := in.VLANs(); len(vs) != n || vs.Key() != in.Key.Stack {
		return "VLANs() does not match Key.Stack"
	}
	switch in.Key.EtherType {
	case EtherTypeIPv4:
		if in.IPVersion != 4 {
			return fmt.Sprintf("IPv4 EtherType, IPVersion %d", in.IPVersion)
		}
		ihl := int(b[in.L3]&0x0f) * 4
		if b[in.L3]>>4 != 4 || ihl < IPv4Len || in.L4 != in.L3+ihl || in.L4 > in.End ||
			in.End != in.L3+int(binary.BigEndian.Uint16(b[in.L3+2:])) || in.Proto != b[in.L3+9] {
			return "IPv4 header does not match Info"
		}
		if frag := binary.BigEndian.Uint16(b[in.L3+6:])&0x3fff != 0; frag != in.Fragment {
			return "IPv4 Fragment flag"
		}
	case EtherTypeIPv6:
		if in.IPVersion != 6 {
			return fmt.Sprintf("IPv6 EtherType, IPVersion %d", in.IPVersion)
		}
		if b[in.L3]>>4 != 6 || in.L4 < in.L3+IPv6Len || in.L4 > in.End ||
			in.End != in.L3+IPv6Len+int(binary.BigEndian.Uint16(b[in.L3+4:])) {
			return "IPv6 header does not match Info"
		}
	default:
		if in.IPVersion != 0 || in.Proto != 0 || in.Fragment || in.L4 != 0 || in.End != len(b) {
			return "non-IP frame with IP fields set"
		}
	}
	if in.IPVersion != 0 {
		// Must not panic.
		if len(in.SrcIP(b)) != len(in.DstIP(b)) {
			return "SrcIP and DstIP lengths differ"
		}
	}
	if !in.UDP {
		if in.IPVersion != 0 && in.Proto == ProtoUDP && !in.Fragment {
			return "unfragmented UDP packet without UDP"
		}
		if in.SrcPort != 0 || in.DstPort != 0 || in.Payload != 0 || in.PayloadEnd != 0 {
			return "UDP fields set without UDP"
		}
		return ""
	}
	switch {
	case in.IPVersion == 0 || in.Proto != ProtoUDP || in.Fragment:
		return "UDP in a non-UDP or fragmented packet"
	case in.Payload != in.L4+UDPLen || in.PayloadEnd < in.Payload || in.PayloadEnd > in.End:
		return fmt.Sprintf("UDP offsets L4 %d Payload %d PayloadEnd %d End %d", in.L4, in.Payload, in.PayloadEnd, in.End)
	case in.PayloadEnd-in.L4 != int(binary.BigEndian.Uint16(b[in.L4+4:])):
		return "PayloadEnd does not match the UDP length"
	case in.SrcPort != binary.BigEndian.Uint16(b[in.L4:]) || in.DstPort != binary.BigEndian.Uint16(b[in.L4+2:]):
		return "UDP ports"
	}
	return ""
}

// requireConsistent fails the test if in is not consistent with b.
func requireConsistent(tb testing.TB, b []byte, in *Info) {
	tb.Helper()
	if p := infoProblem(b, in); p != "" {
		tb.Fatalf("inconsistent Info for % x: %s\n%+v", b, p, *in)
	}
}

// ipv4RecordRouteFrame is an IPv4/UDP frame with the longest options area:
// a record route option with room for nine addresses.
func ipv4RecordRouteFrame(tb testing.TB) []byte {
	tb.Helper()
	ip := newIPv4(layers.IPProtocolUDP)
	ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, make([]byte, 36)...)}}
	return buildFrame(tb, nil, EtherTypeIPv4, ip, newUDP(tb, ip), gopacket.Payload(testPayload(3)))
}

// longChainHeaders is the number of minimal destination options headers
// that fill a frame of backend.MaxFrameLen (9,250 bytes) carrying a 64-byte
// UDP payload.
const longChainHeaders = (9250 - EthernetLen - IPv6Len - UDPLen - 64) / 8

// longChainFrame is an IPv6/UDP frame of backend.MaxFrameLen bytes whose
// extension headers fill it: longChainHeaders destination options headers.
func longChainFrame(tb testing.TB) []byte {
	tb.Helper()
	ip := newIPv6(layers.IPProtocolIPv6Destination)
	return buildFrame(tb, nil, EtherTypeIPv6, ip, gopacket.Payload(dstChain(longChainHeaders)),
		newUDP(tb, ip), gopacket.Payload(testPayload(64)))
}
