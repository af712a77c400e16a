package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseWant is what Parse must report for a valid frame.
type parseWant struct {
	vlans     VLANs
	etherType uint16
	end       int // end of the Ethernet payload; 0 means len(frame)
	ipVersion uint8
	proto     uint8
	fragment  bool
	l4        int    // offset of the upper-layer header, from L3; 0 for non-IP
	udp       bool   // ports are then testSport and testDport
	payload   []byte // the exact UDP payload when udp
}

type parseCase struct {
	name  string
	frame []byte
	want  parseWant
}

// validFrames returns the valid frames Parse is tested with, each with what
// Parse must find in it.
func validFrames(tb testing.TB) []parseCase {
	tb.Helper()
	var (
		tag1 = VLANs{{ID: 100, PCP: 5, DEI: true}}
		tag2 = VLANs{{TPID: TPIDDot1AD, ID: 200, PCP: 1}, {ID: 300, PCP: 3}}
		tag3 = VLANs{{TPID: TPID9100, ID: 1, PCP: 7, DEI: true}, {TPID: TPIDDot1AD, ID: 4095}, {TPID: TPIDDot1Q, ID: 0, PCP: 2}}
		tag4 = VLANs{{TPID: TPIDDot1AD, ID: 10}, {TPID: TPID9100, ID: 20, DEI: true}, {ID: 30, PCP: 6}, {TPID: TPIDDot1AD, ID: 4000, PCP: 4, DEI: true}}
		p64  = testPayload(64)
	)
	const (
		udp4Hdr = IPv4Len + UDPLen
		udp6Hdr = IPv6Len + UDPLen
	)
	udp4 := func(tags VLANs, payload []byte) parseWant {
		return parseWant{vlans: tags, etherType: EtherTypeIPv4, end: HeaderLen(len(tags)) + udp4Hdr + len(payload),
			ipVersion: 4, proto: ProtoUDP, l4: IPv4Len, udp: true, payload: payload}
	}
	udp6 := func(tags VLANs, l4 int, payload []byte) parseWant {
		return parseWant{vlans: tags, etherType: EtherTypeIPv6, end: HeaderLen(len(tags)) + l4 + UDPLen + len(payload),
			ipVersion: 6, proto: ProtoUDP, l4: l4, udp: true, payload: payload}
	}

	var cases []parseCase
	add := func(name string, frame []byte, want parseWant) {
		cases = append(cases, parseCase{name, frame, want})
	}

	// VLAN stacks of every depth, with every TPID, PCP and DEI.
	for _, tags := range []VLANs{nil, tag1, tag2, tag3, tag4} {
		name := "tags=" + tags.String()
		add("udp4 "+name, udp4Frame(tb, tags, p64), udp4(tags, p64))
		add("udp6 "+name, udp6Frame(tb, tags, p64), udp6(tags, IPv6Len, p64))
		arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: macSrc, SourceProtAddress: ip4Src,
			DstHwAddress: make([]byte, 6), DstProtAddress: ip4Dst}
		add("arp "+name, buildFrame(tb, tags, EtherTypeARP, arp), parseWant{vlans: tags, etherType: EtherTypeARP})
	}
	add("unknown ethertype", buildFrame(tb, tag2, 0x88cc, gopacket.Payload(testPayload(50))),
		parseWant{vlans: tag2, etherType: 0x88cc})
	add("priority tag only", udp4Frame(tb, VLANs{{ID: 0, PCP: 7}}, p64), udp4(VLANs{{ID: 0, PCP: 7}}, p64))

	// IPv4 options: IHL 6 (router alert) and IHL 15 (record route, 39 bytes).
	{
		ip := newIPv4(layers.IPProtocolUDP)
		ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		w := udp4(tag1, p64)
		w.end += 4
		w.l4 += 4
		add("ipv4 ihl=6", buildFrame(tb, tag1, EtherTypeIPv4, ip, newUDP(tb, ip), gopacket.Payload(p64)), w)

		w = udp4(nil, testPayload(3))
		w.end += 40
		w.l4 += 40
		add("ipv4 ihl=15", ipv4RecordRouteFrame(tb), w)
	}

	// IPv4 fragments: no UDP header is parsed.
	for _, f := range []struct {
		name   string
		flags  layers.IPv4Flag
		offset uint16
	}{
		{"first fragment", layers.IPv4MoreFragments, 0},
		{"middle fragment", layers.IPv4MoreFragments, 185},
		{"last fragment", 0, 185},
		{"last fragment DF", layers.IPv4DontFragment, 1},
		{"max offset", 0, 0x1fff},
	} {
		ip := newIPv4(layers.IPProtocolUDP)
		ip.Flags, ip.FragOffset = f.flags, f.offset
		w := udp4(tag2, p64)
		w.fragment, w.udp, w.payload = true, false, nil
		add("ipv4 "+f.name, buildFrame(tb, tag2, EtherTypeIPv4, ip, newUDP(tb, ip), gopacket.Payload(p64)), w)
	}
	{
		ip := newIPv4(layers.IPProtocolUDP)
		ip.Flags = 0 // neither DF nor MF: still not a fragment
		add("ipv4 no flags", buildFrame(tb, nil, EtherTypeIPv4, ip, newUDP(tb, ip), gopacket.Payload(p64)), udp4(nil, p64))
	}
	{
		ip := newIPv4(layers.IPProtocolICMPv4)
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}
		add("ipv4 icmp", buildFrame(tb, tag1, EtherTypeIPv4, ip, icmp, gopacket.Payload(p64)),
			parseWant{vlans: tag1, etherType: EtherTypeIPv4, end: HeaderLen(1) + IPv4Len + 8 + 64,
				ipVersion: 4, proto: 1, l4: IPv4Len})
	}

	// IPv6 extension headers.
	{
		ip := newIPv6(layers.IPProtocolIPv6HopByHop)
		chain := []gopacket.SerializableLayer{
			hopByHop(layers.IPProtocolIPv6Destination),            // 8
			dstOpts(layers.IPProtocolIPv6Routing, 4),              // 8
			routing(layers.IPProtocolIPv6Fragment),                // 24
			fragment6(layers.IPProtocolIPv6Destination, 0, false), // 8, atomic
			dstOpts(layers.IPProtocolUDP, 12),                     // 16
		}
		ls := append([]gopacket.SerializableLayer{ip}, chain...)
		ls = append(ls, newUDP(tb, ip), gopacket.Payload(p64))
		add("ipv6 hbh+dst+rt+atomic frag+dst", buildFrame(tb, tag2, EtherTypeIPv6, ls...),
			udp6(tag2, IPv6Len+8+8+24+8+16, p64))
	}
	{
		ip := newIPv6(layers.IPProtocolIPv6HopByHop)
		add("ipv6 hbh", buildFrame(tb, nil, EtherTypeIPv6, ip, hopByHop(layers.IPProtocolUDP), newUDP(tb, ip), gopacket.Payload(p64)),
			udp6(nil, IPv6Len+8, p64))
	}
	{
		// AH is the upper layer, as in IPv4: with no IPsec, nothing checks
		// it (Linux drops the packet: no security association).
		ip := newIPv6(layers.IPProtocolAH)
		add("ipv6 ah", buildFrame(tb, tag1, EtherTypeIPv6, ip, authHeader(layers.IPProtocolUDP), newUDP(tb, ip), gopacket.Payload(p64)),
			parseWant{vlans: tag1, etherType: EtherTypeIPv6, end: HeaderLen(1) + IPv6Len + 24 + UDPLen + 64,
				ipVersion: 6, proto: uint8(layers.IPProtocolAH), l4: IPv6Len})
	}
	for _, f := range []struct {
		name   string
		offset uint16
		more   bool
	}{
		{"first fragment", 0, true},
		{"middle fragment", 100, true},
		{"last fragment", 100, false},
	} {
		ip := newIPv6(layers.IPProtocolIPv6Fragment)
		w := udp6(tag1, IPv6Len+8, p64)
		w.fragment, w.udp, w.payload = true, false, nil
		add("ipv6 "+f.name, buildFrame(tb, tag1, EtherTypeIPv6, ip, fragment6(layers.IPProtocolUDP, f.offset, f.more), newUDP(tb, ip), gopacket.Payload(p64)), w)
	}
	{
		// A non-first fragment of a packet whose fragmentable part starts with
		// a destination options header: what follows the fragment header is
		// data, not a header, and must not be walked as one.
		ip := newIPv6(layers.IPProtocolIPv6Fragment)
		data := bytes.Repeat([]byte{0xff}, 64) // as a header: length (255+1)*8
		add("ipv6 non-first fragment of dstopts", buildFrame(tb, nil, EtherTypeIPv6, ip,
			fragment6(layers.IPProtocolIPv6Destination, 8, true), gopacket.Payload(data)),
			parseWant{etherType: EtherTypeIPv6, end: EthernetLen + IPv6Len + 8 + 64, ipVersion: 6,
				proto: uint8(layers.IPProtocolIPv6Destination), fragment: true, l4: IPv6Len + 8})
	}
	{
		ip := newIPv6(layers.IPProtocolESP)
		add("ipv6 esp", buildFrame(tb, nil, EtherTypeIPv6, ip, gopacket.Payload(p64)),
			parseWant{etherType: EtherTypeIPv6, end: EthernetLen + IPv6Len + 64, ipVersion: 6, proto: 50, l4: IPv6Len})
		ip = newIPv6(layers.IPProtocolNoNextHeader)
		add("ipv6 no next header", buildFrame(tb, nil, EtherTypeIPv6, ip, gopacket.Payload(rawDstOpts(59))),
			parseWant{etherType: EtherTypeIPv6, end: EthernetLen + IPv6Len + 8, ipVersion: 6, proto: 59, l4: IPv6Len})
		ip = newIPv6(layers.IPProtocolIPv6Destination)
		add("ipv6 dstopts then nothing", buildFrame(tb, nil, EtherTypeIPv6, ip, gopacket.Payload(rawDstOpts(59))),
			parseWant{etherType: EtherTypeIPv6, end: EthernetLen + IPv6Len + 8, ipVersion: 6, proto: 59, l4: IPv6Len + 8})
	}
	{
		// As many headers as a jumbo frame holds.
		b := longChainFrame(tb)
		require.True(tb, len(b) > 9250-8 && len(b) <= 9250, "a frame of %d bytes", len(b))
		add("ipv6 chain to the end of a jumbo frame", b, udp6(nil, IPv6Len+8*longChainHeaders, p64))
	}
	for _, n := range []int{9, 40} {
		// Chains have no limit but the packet's length (Linux took the
		// nine that the parser once refused).
		ip := newIPv6(layers.IPProtocolIPv6Destination)
		add("ipv6 "+strconv.Itoa(n)+" ext headers", buildFrame(tb, nil, EtherTypeIPv6, ip, gopacket.Payload(dstChain(n)), newUDP(tb, ip), gopacket.Payload(p64)),
			udp6(nil, IPv6Len+8*n, p64))
	}

	// Runts: gopacket pads the frame to 60 bytes; Parse must trim.
	for _, tags := range []VLANs{nil, tag1, tag2} {
		for _, n := range []int{0, 1, 2, 5} {
			p := testPayload(n)
			b := udp4Frame(tb, tags, p)
			require.Len(tb, b, 60)
			add("padded runt tags="+tags.String()+" payload="+strconv.Itoa(n), b, udp4(tags, p))
		}
	}
	{
		// Non-zero padding after a short IPv4 packet and after an IPv6 packet.
		b := udp4Frame(tb, nil, testPayload(3))
		for i := EthernetLen + udp4Hdr + 3; i < len(b); i++ {
			b[i] = 0xaa
		}
		add("junk padding ipv4", b, udp4(nil, testPayload(3)))
		b = append(udp6Frame(tb, tag1, testPayload(1)), 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee)
		add("trailer ipv6", b[:len(b):len(b)], udp6(tag1, IPv6Len, testPayload(1)))
	}
	{
		// The UDP length, not the IP length, ends the datagram.
		ip := newIPv4(layers.IPProtocolUDP)
		dgram := serialize(tb, newUDP(tb, ip), gopacket.Payload(p64[:10]))
		b := buildFrame(tb, nil, EtherTypeIPv4, ip, gopacket.Payload(append(dgram, make([]byte, 54)...)))
		w := udp4(nil, p64[:10])
		w.end += 54
		add("udp shorter than ip payload", b, w)
	}
	return cases
}

func TestParseValid(t *testing.T) {
	for _, c := range validFrames(t) {
		t.Run(c.name, func(t *testing.T) {
			b, w := c.frame, c.want
			var in Info
			require.NoError(t, Parse(b, &in))
			requireConsistent(t, b, &in)

			end := w.end
			if end == 0 {
				end = len(b)
			}
			l3 := HeaderLen(len(w.vlans))
			assert.Equal(t, MAC(macDst), in.Key.MAC)
			assert.Equal(t, MAC(macSrc), SrcMAC(b))
			assert.Equal(t, w.etherType, in.Key.EtherType)
			assert.Equal(t, w.vlans.Key(), in.Key.Stack)
			assert.True(t, w.vlans.Equal(in.VLANs()), "VLANs() = %v, want %v", in.VLANs(), w.vlans)
			assert.Equal(t, l3, in.L3)
			assert.Equal(t, end, in.End)
			assert.Equal(t, w.ipVersion, in.IPVersion)
			assert.Equal(t, w.proto, in.Proto)
			assert.Equal(t, w.fragment, in.Fragment)
			if w.ipVersion != 0 {
				assert.Equal(t, l3+w.l4, in.L4)
			} else {
				assert.Zero(t, in.L4)
			}
			require.Equal(t, w.udp, in.UDP)
			if w.udp {
				assert.Equal(t, uint16(testSport), in.SrcPort)
				assert.Equal(t, uint16(testDport), in.DstPort)
				assert.Equal(t, w.payload, b[in.Payload:in.PayloadEnd])
				assert.True(t, UDPChecksumOK(b, &in), "gopacket's UDP checksum rejected")
			}
			switch in.IPVersion {
			case 4:
				assert.True(t, IPv4ChecksumOK(b, &in), "gopacket's IPv4 checksum rejected")
				assert.Equal(t, []byte(ip4Src), in.SrcIP(b))
				assert.Equal(t, []byte(ip4Dst), in.DstIP(b))
			case 6:
				assert.Equal(t, []byte(ip6Src), in.SrcIP(b))
				assert.Equal(t, []byte(ip6Dst), in.DstIP(b))
			}
		})
	}
}

// TestParseAgainstGopacket checks the offsets Parse finds against gopacket's
// decoding of the same frames.
func TestParseAgainstGopacket(t *testing.T) {
	for _, c := range validFrames(t) {
		t.Run(c.name, func(t *testing.T) {
			b := c.frame
			var in Info
			require.NoError(t, Parse(b, &in))
			pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			var tags VLANs
			for _, l := range pkt.Layers() {
				if q, ok := l.(*layers.Dot1Q); ok {
					tags = append(tags, VLAN{PCP: q.Priority, DEI: q.DropEligible, ID: q.VLANIdentifier})
				}
			}
			// gopacket does not decode 0x9100 tags; compare what it did decode.
			if !bytes.Contains(b[12:in.L3], []byte{0x91, 0x00}) {
				require.Len(t, tags, int(in.Key.Stack.N))
				for i, v := range tags {
					assert.Equal(t, v.TCI(), in.TCI[i], "tag %d", i)
				}
			}
			if ip, ok := pkt.NetworkLayer().(*layers.IPv4); ok && in.IPVersion == 4 {
				assert.Equal(t, int(ip.IHL)*4, in.L4-in.L3)
				assert.Equal(t, int(ip.Length), in.End-in.L3)
			}
			if ip, ok := pkt.NetworkLayer().(*layers.IPv6); ok && in.IPVersion == 6 {
				assert.Equal(t, int(ip.Length), in.End-in.L3-IPv6Len)
			}
			if u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && in.UDP {
				assert.Equal(t, uint16(u.SrcPort), in.SrcPort)
				assert.Equal(t, uint16(u.DstPort), in.DstPort)
				assert.Equal(t, []byte(u.Payload), b[in.Payload:in.PayloadEnd])
				require.NoError(t, u.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
				err, res := u.VerifyChecksum()
				require.NoError(t, err)
				assert.True(t, res.Valid)
			}
		})
	}
}

// TestParseTruncated cuts every valid frame at every length: Parse must never
// panic or read past the end, and must fail exactly when the frame is cut
// inside the headers or inside the IP packet.
func TestParseTruncated(t *testing.T) {
	for _, c := range validFrames(t) {
		t.Run(c.name, func(t *testing.T) {
			var full Info
			require.NoError(t, Parse(c.frame, &full))
			for n := 0; n <= len(c.frame); n++ {
				b := bytes.Clone(c.frame[:n])
				b = b[:n:n] // a read past len(b) panics
				var in Info
				err := Parse(b, &in)
				switch {
				case n < full.L3:
					require.Error(t, err, "cut at %d", n)
				case full.IPVersion != 0 && n < full.End:
					require.Error(t, err, "cut at %d inside the IP packet ending at %d", n, full.End)
				case full.IPVersion != 0:
					require.NoError(t, err, "cut at %d in the padding", n)
					require.Equal(t, full, in, "cut at %d in the padding", n)
				default:
					require.NoError(t, err, "cut at %d", n)
					want := full
					want.End = n
					require.Equal(t, want, in, "cut at %d", n)
				}
				if err == nil {
					requireConsistent(t, b, &in)
				} else {
					require.True(t, isParseError(err), "unexpected error %v", err)
				}
			}
		})
	}
}

func isParseError(err error) bool {
	for _, e := range []error{ErrShort, ErrTooManyTags, ErrBadIPv4, ErrBadIPv6, ErrBadUDP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte)) []byte {
	b = bytes.Clone(b)
	f(b)
	return b[:len(b):len(b)]
}

func TestParseMalformed(t *testing.T) {
	p64 := testPayload(64)
	v4 := udp4Frame(t, nil, p64) // IPv4 at 14, UDP at 34
	v6 := udp6Frame(t, nil, p64) // IPv6 at 14, UDP at 54
	const ip4, u4, ip6, u6 = EthernetLen, EthernetLen + IPv4Len, EthernetLen, EthernetLen + IPv6Len
	put16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[off:], v) }
	}
	fiveTags := VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}}

	ext := func(next layers.IPProtocol, chain ...[]byte) []byte {
		ip := newIPv6(next)
		return buildFrame(t, nil, EtherTypeIPv6, ip, gopacket.Payload(bytes.Join(chain, nil)), newUDP(t, ip), gopacket.Payload(p64))
	}
	// Hop-by-hop and routing headers in turn: the second hop-by-hop is not
	// first.
	var hostileMixed [][]byte
	for i := 0; i < 12; i++ {
		hostileMixed = append(hostileMixed, []byte{byte(layers.IPProtocolIPv6Routing), 0, 1, 4, 0, 0, 0, 0},
			[]byte{byte(layers.IPProtocolIPv6HopByHop), 0, 0, 0, 0, 0, 0, 0})
	}
	hostileMixed = append(hostileMixed, rawDstOpts(ProtoUDP))

	cases := []struct {
		name  string
		frame []byte
		err   error
	}{
		{"empty", nil, ErrShort},
		{"13 bytes", v4[:13], ErrShort},
		{"tag cut", udp4Frame(t, VLANs{{ID: 7}}, p64)[:17], ErrShort},
		{"second tag cut", udp4Frame(t, VLANs{{ID: 7}, {ID: 8}}, p64)[:21], ErrShort},
		{"5 tags", udp4Frame(t, fiveTags, p64), ErrTooManyTags},
		{"5 tags mixed TPIDs", udp4Frame(t, VLANs{{TPID: TPIDDot1AD, ID: 1}, {TPID: TPID9100, ID: 2}, {ID: 3}, {TPID: TPIDDot1AD, ID: 4}, {TPID: TPID9100, ID: 5}}, p64), ErrTooManyTags},
		{"5th TPID with nothing after it", udp4Frame(t, fiveTags, p64)[:EthernetLen+4*VLANLen], ErrTooManyTags},

		{"ipv4 version 6", mutate(v4, func(b []byte) { b[ip4] = 0x65 }), ErrBadIPv4},
		{"ipv4 ihl 0", mutate(v4, func(b []byte) { b[ip4] = 0x40 }), ErrBadIPv4},
		{"ipv4 ihl 4", mutate(v4, func(b []byte) { b[ip4] = 0x44 }), ErrBadIPv4},
		{"ipv4 ihl 15 > total", mutate(v4, func(b []byte) { b[ip4] = 0x4f; binary.BigEndian.PutUint16(b[ip4+2:], 40) }), ErrBadIPv4},
		{"ipv4 ihl beyond frame", mutate(v4, func(b []byte) { b[ip4] = 0x4f })[:ip4+40], ErrBadIPv4},
		{"ipv4 total > frame", mutate(v4, put16(ip4+2, IPv4Len+UDPLen+65)), ErrBadIPv4},
		{"ipv4 total 0xffff", mutate(v4, put16(ip4+2, 0xffff)), ErrBadIPv4},
		{"ipv4 total < 20", mutate(v4, put16(ip4+2, 19)), ErrBadIPv4},
		{"ipv4 total 0", mutate(v4, put16(ip4+2, 0)), ErrBadIPv4},
		{"ipv4 header 19 bytes", v4[:ip4+19], ErrBadIPv4},
		{"ipv4 no header", v4[:ip4], ErrBadIPv4},
		{"udp length 7", mutate(v4, put16(u4+4, 7)), ErrBadUDP},
		{"udp length 0", mutate(v4, put16(u4+4, 0)), ErrBadUDP},
		{"udp length > ip payload", mutate(v4, put16(u4+4, UDPLen+65)), ErrBadUDP},
		{"udp header cut by ip length", mutate(v4, put16(ip4+2, IPv4Len+7)), ErrBadUDP},
		{"udp no room by ip length", mutate(v4, put16(ip4+2, IPv4Len)), ErrBadUDP},

		{"ipv6 version 4", mutate(v6, func(b []byte) { b[ip6] = 0x45 }), ErrBadIPv6},
		{"ipv6 header 39 bytes", v6[:ip6+39], ErrBadIPv6},
		{"ipv6 payload length > frame", mutate(v6, put16(ip6+4, UDPLen+65)), ErrBadIPv6},
		{"ipv6 payload length 0xffff", mutate(v6, put16(ip6+4, 0xffff)), ErrBadIPv6},
		{"ipv6 jumbo (payload length 0)", mutate(ext(layers.IPProtocolIPv6HopByHop, rawDstOpts(ProtoUDP)), put16(ip6+4, 0)), ErrBadIPv6},
		{"ipv6 udp length 7", mutate(v6, put16(u6+4, 7)), ErrBadUDP},
		{"ipv6 udp length > payload", mutate(v6, put16(u6+4, UDPLen+65)), ErrBadUDP},
		{"ipv6 udp cut by payload length", mutate(v6, put16(ip6+4, 7)), ErrBadUDP},
		{"ipv6 hbh and routing in turn", ext(layers.IPProtocolIPv6HopByHop, hostileMixed...), ErrBadIPv6},
		{"ipv6 chain cut by payload length", mutate(ext(layers.IPProtocolIPv6Destination, dstChain(40)), put16(ip6+4, 8*39+4)), ErrBadIPv6},
		{"ipv6 ext header cut by payload length", mutate(ext(layers.IPProtocolIPv6Destination, rawDstOpts(ProtoUDP)), put16(ip6+4, 7)), ErrBadIPv6},
		{"ipv6 ext header length beyond payload", ext(layers.IPProtocolIPv6Destination, []byte{ProtoUDP, 10, 1, 4, 0, 0, 0, 0}), ErrBadIPv6},
		{"ipv6 ext header length 255", ext(layers.IPProtocolIPv6Routing, []byte{ProtoUDP, 255, 0, 0, 0, 0, 0, 0}), ErrBadIPv6},
		{"ipv6 fragment header cut", mutate(ext(layers.IPProtocolIPv6Fragment, []byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 1}), put16(ip6+4, 4)), ErrBadIPv6},
		{"ipv6 only ext header, no upper layer", mutate(ext(layers.IPProtocolIPv6Destination, rawDstOpts(ProtoUDP)), put16(ip6+4, 8)), ErrBadUDP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var in Info
			b := c.frame[:len(c.frame):len(c.frame)]
			require.ErrorIs(t, Parse(b, &in), c.err)
		})
	}
}

// TestParseResetsInfo checks that Parse does not leave anything from an
// earlier frame in a reused Info.
func TestParseResetsInfo(t *testing.T) {
	var in Info
	require.NoError(t, Parse(udp6Frame(t, VLANs{{ID: 1}, {ID: 2}, {ID: 3}}, testPayload(10)), &in))
	require.True(t, in.UDP)
	arp := buildFrame(t, nil, EtherTypeARP, gopacket.Payload(testPayload(28)))
	require.NoError(t, Parse(arp, &in))
	want := Info{End: len(arp), L3: EthernetLen}
	want.Key.MAC = MAC(macDst)
	want.Key.EtherType = EtherTypeARP
	require.Equal(t, want, in)

	require.ErrorIs(t, Parse(arp[:3], &in), ErrShort)
	require.Equal(t, Info{}, in)
}

func TestParseNonFirstIPv6FragmentIsNotWalked(t *testing.T) {
	// The bytes after a non-first fragment header are data. Here they look
	// like an extension header chain longer than the packet; the frame is a
	// well-formed fragment and must parse.
	ip := newIPv6(layers.IPProtocolIPv6Fragment)
	b := buildFrame(t, VLANs{{ID: 5}}, EtherTypeIPv6, ip,
		fragment6(layers.IPProtocolIPv6HopByHop, 1, false), gopacket.Payload([]byte{0, 200, 0, 0, 0, 0, 0, 0}))
	var in Info
	require.NoError(t, Parse(b, &in))
	requireConsistent(t, b, &in)
	assert.True(t, in.Fragment)
	assert.False(t, in.UDP)
	assert.Equal(t, uint8(0), in.Proto)
	assert.Equal(t, in.L3+IPv6Len+8, in.L4)
}

func TestMACHelpers(t *testing.T) {
	m, err := MACFrom(macDst)
	require.NoError(t, err)
	assert.Equal(t, macDst, m.HardwareAddr())
	assert.Equal(t, macDst.String(), m.String())
	assert.False(t, m.IsGroup())
	assert.True(t, BroadcastMAC.IsGroup())
	assert.True(t, MAC{0x01, 0x00, 0x5e, 0, 0, 1}.IsGroup())
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", BroadcastMAC.String())

	// HardwareAddr returns a copy.
	hw := m.HardwareAddr()
	hw[0] = 0xff
	assert.Equal(t, byte(0x02), m[0])

	for _, bad := range []net.HardwareAddr{nil, {1, 2, 3, 4, 5}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		_, err := MACFrom(bad)
		assert.Error(t, err, "%v", bad)
	}
}

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
