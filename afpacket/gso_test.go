package afpacket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gsoSpec describes a super-frame, and the frames it stands for, in terms
// gopacket builds them from: the super-frame and the expected segments are
// made by the same independent encoder, each with its own lengths and
// checksums, so that a test compares the splitter with gopacket byte for
// byte.
type gsoSpec struct {
	v6, tcp bool
	tags    []testkit.Tag // in the frame (inner tags: the kernel takes the outer off)
	payload int
	mss     int
	id      uint16 // IPv4 identification of the first segment
	seq     uint32 // TCP sequence number of the first segment
	fin     bool   // TCP flags of the super-frame
	cwr     bool
}

// outerTag is the tag the tests restore, as if the kernel had taken it off.
var outerTag = testkit.TagFromTCI(tpid8021AD, 0xa064)

// gsoPayload is the test payload: no two segments alike.
func gsoPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// build makes one frame of the spec's flow: the given tags, payload, IPv4
// identification and TCP sequence number and flags.
func (sp gsoSpec) build(t testing.TB, tags []testkit.Tag, payload []byte, id uint16, seq uint32, fin, psh, cwr bool) []byte {
	t.Helper()
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	proto := layers.IPProtocolUDP
	if sp.tcp {
		proto = layers.IPProtocolTCP
	}
	etype := uint16(frame.EtherTypeIPv4)
	if sp.v6 {
		v := &layers.IPv6{Version: 6, HopLimit: 63, TrafficClass: 0x28, FlowLabel: 0x12345, NextHeader: proto,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		ip, ipl, etype = v, v, frame.EtherTypeIPv6
	} else {
		v := &layers.IPv4{Version: 4, TTL: 63, TOS: 0x28, Id: id, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 18, 0, 2}}
		ip, ipl = v, v
	}
	var l4 interface {
		gopacket.SerializableLayer
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}
	if sp.tcp {
		l4 = &layers.TCP{SrcPort: 443, DstPort: 40000, Seq: seq, Ack: 77, ACK: true, FIN: fin, PSH: psh, CWR: cwr,
			Window: 512, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10,
				OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}
	} else {
		l4 = &layers.UDP{SrcPort: 443, DstPort: 40000}
	}
	require.NoError(t, l4.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ipl, l4, gopacket.Payload(payload)))
	return testkit.Frame(testkit.MAC(2), testkit.MAC(1), tags, etype, buf.Bytes())
}

// superFrame returns the spec's super-frame, with the partial checksum a
// kernel leaves (only its field's position matters: the splitter computes
// every checksum afresh, so a wrong one here shows if it did not), and its
// vnet header.
func (sp gsoSpec) superFrame(t testing.TB) ([]byte, vnetHdr) {
	t.Helper()
	f := sp.build(t, sp.tags, gsoPayload(sp.payload), sp.id, sp.seq, sp.fin, true, sp.cwr)
	var in frame.Info
	require.NoError(t, frame.Parse(f, &in))
	vh := vnetHdr{flags: vnetNeedsCsum, gsoType: gsoUDPL4, gsoSize: uint16(sp.mss), csumStart: uint16(in.L4), csumOffset: 6}
	if sp.tcp {
		vh.gsoType, vh.csumOffset = gsoTCPv4, 16
		if sp.v6 {
			vh.gsoType = gsoTCPv6
		}
	}
	binary.BigEndian.PutUint16(f[int(vh.csumStart)+int(vh.csumOffset):], 0x1234)
	vh.hdrLen = uint16(in.L4 + 8)
	return f, vh
}

// segments returns the frames the spec's super-frame stands for, with the
// outer tag restored if tagged.
func (sp gsoSpec) segments(t testing.TB, tagged bool) [][]byte {
	t.Helper()
	tags := sp.tags
	if tagged {
		tags = append([]testkit.Tag{outerTag}, tags...)
	}
	p := gsoPayload(sp.payload)
	var segs [][]byte
	for off, i := 0, 0; off < len(p); off, i = off+sp.mss, i+1 {
		end := min(off+sp.mss, len(p))
		last := end == len(p)
		segs = append(segs, sp.build(t, tags, p[off:end], sp.id+uint16(i), sp.seq+uint32(off), sp.fin && last, last, sp.cwr && i == 0))
	}
	return segs
}

// split splits f, which vh describes, into buffers of size bytes, and
// returns the segments and whether each was cut.
func split(t testing.TB, f []byte, vh vnetHdr, tagged bool, size int) ([][]byte, []bool) {
	t.Helper()
	var sf superFrame
	if !sf.init(f, vh, outerTag.WireTPID(), outerTag.TCI(), tagged) {
		return nil, nil
	}
	var segs [][]byte
	var cuts []bool
	for i := 0; sf.more(); i++ {
		require.Less(t, i, maxSegments, "no end to the segments")
		dst := make([]byte, size)
		n, cut := sf.next(dst)
		require.LessOrEqual(t, n, size)
		segs, cuts = append(segs, dst[:n]), append(cuts, cut)
	}
	return segs, cuts
}

func TestSplitGSO(t *testing.T) {
	qinq := []testkit.Tag{testkit.TagFromTCI(tpid8021Q, 0x2007)}
	for _, sp := range []gsoSpec{
		{payload: 4000, mss: 1000, id: 0xfffe},                                    // the ID wraps
		{payload: 56000, mss: 1400, id: 7},                                        // 40 segments
		{payload: 3500, mss: 1000},                                                // a short last one
		{payload: 999, mss: 1000},                                                 // one segment
		{payload: 1001, mss: 1000},                                                // a one-byte last one
		{payload: 4001, mss: 333, tags: qinq},                                     // odd sizes, an inner tag
		{v6: true, payload: 4000, mss: 1000},                                      //
		{v6: true, payload: 56000, mss: 1400, tags: qinq},                         //
		{tcp: true, payload: 10000, mss: 1448, seq: 0xffffff00, fin: true},        // the sequence number wraps
		{tcp: true, payload: 2896, mss: 1448, cwr: true, id: 9},                   // CWR on the first only
		{tcp: true, v6: true, payload: 65000, mss: 1428, fin: true, cwr: true},    //
		{tcp: true, v6: true, payload: 100, mss: 1428, fin: true, tags: qinq},     //
		{tcp: true, payload: 60000, mss: 48},                                      // TCP's least MSS
		{payload: 65507, mss: 1472},                                               // the largest UDP datagram
		{payload: 12000, mss: 8960},                                               // jumbo segments
		{v6: true, tcp: true, payload: 1, mss: 1},                                 //
		{v6: true, payload: 2 * maxSegments, mss: 2, tags: append(qinq, qinq...)}, // as many segments as allowed
	} {
		for _, tagged := range []bool{false, true} {
			name := fmt.Sprintf("v6=%v/tcp=%v/%d÷%d/tags=%d/tagged=%v", sp.v6, sp.tcp, sp.payload, sp.mss, len(sp.tags), tagged)
			t.Run(name, func(t *testing.T) {
				f, vh := sp.superFrame(t)
				orig := bytes.Clone(f)
				want := sp.segments(t, tagged)
				got, cuts := split(t, f, vh, tagged, 9300)
				require.Equal(t, orig, f, "the super-frame is left as it is")
				require.Len(t, got, len(want))
				for i := range want {
					require.False(t, cuts[i])
					require.Equal(t, want[i], got[i], "segment %d", i)
				}
				if len(want[0]) > 60 {
					// A buffer too short for a segment gets its start,
					// headers and checksums those of the whole segment.
					got, cuts = split(t, f, vh, tagged, 60)
					require.Len(t, got, len(want))
					for i := range want {
						require.Equal(t, len(want[i]) > 60, cuts[i])
						require.Equal(t, want[i][:len(got[i])], got[i], "cut segment %d", i)
					}
				}
			})
		}
	}
}

// TestSplitGSOZeroChecksum: a UDP checksum that comes out as zero is sent
// as 0xffff, as the kernel does.
func TestSplitGSOZeroChecksum(t *testing.T) {
	sp := gsoSpec{payload: 200, mss: 100}
	f, vh := sp.superFrame(t)
	want := sp.segments(t, false)
	var in frame.Info
	require.NoError(t, frame.Parse(want[0], &in))
	// Two payload bytes of the first segment that add its checksum to
	// the sum make the checksum zero.
	c := binary.BigEndian.Uint16(want[0][in.L4+6:])
	at := in.Payload + 10
	v := uint32(binary.BigEndian.Uint16(f[at:])) + uint32(c)
	binary.BigEndian.PutUint16(f[at:], uint16(v+v>>16)) // one's-complement addition
	got, _ := split(t, f, vh, false, 2048)
	require.Len(t, got, 2)
	assert.Equal(t, uint16(0xffff), binary.BigEndian.Uint16(got[0][in.L4+6:]))
	require.NoError(t, frame.Parse(got[0], &in))
	assert.True(t, frame.UDPChecksumOK(got[0], &in))
}

// TestSplitGSORefuses feeds super-frames that cannot be split: init must
// refuse them, leaving no segments, and never panic.
func TestSplitGSORefuses(t *testing.T) {
	udp4 := gsoSpec{payload: 4000, mss: 1000}
	tcp4 := gsoSpec{tcp: true, payload: 4000, mss: 1000}
	udp6 := gsoSpec{v6: true, payload: 4000, mss: 1000}
	const l3, l4 = 14, 34
	for _, tc := range []struct {
		name   string
		sp     gsoSpec
		mutate func(f []byte, vh *vnetHdr) []byte
	}{
		{"gso size 0", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoSize = 0; return f }},
		{"UFO", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = gsoUDP; return f }},
		{"unknown type", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = 2; return f }},
		{"unknown type with ECN", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = 0x7f | gsoECN; return f }},
		{"UDP type on TCP", tcp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = gsoUDPL4; return f }},
		{"TCP type on UDP", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = gsoTCPv4; return f }},
		{"TCPv6 type on IPv4", tcp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = gsoTCPv6; return f }},
		{"TCPv4 type on IPv6", udp6, func(f []byte, vh *vnetHdr) []byte { vh.gsoType = gsoTCPv4; return f }},
		{"IP length too long", udp4, func(f []byte, vh *vnetHdr) []byte { f[l3+2]++; return f }},
		{"IP length too short", udp4, func(f []byte, vh *vnetHdr) []byte { f[l3+2]--; return f }},
		{"padded", udp4, func(f []byte, vh *vnetHdr) []byte { return append(f, 0, 0) }},
		{"UDP length short", udp4, func(f []byte, vh *vnetHdr) []byte { f[l4+4]--; return f }},
		{"UDP length long", udp4, func(f []byte, vh *vnetHdr) []byte { f[l4+4]++; return f }},
		{"IPv6 length", udp6, func(f []byte, vh *vnetHdr) []byte { f[l3+4]++; return f }},
		{"fragment", udp4, func(f []byte, vh *vnetHdr) []byte { f[l3+6] |= 0x20; return f }},
		{"not IP", udp4, func(f []byte, vh *vnetHdr) []byte { f[12], f[13] = 0x88, 0xb5; return f }},
		{"ICMP", udp4, func(f []byte, vh *vnetHdr) []byte { f[l3+9] = 1; return f }},
		{"checksum elsewhere", udp4, func(f []byte, vh *vnetHdr) []byte { vh.csumStart += 50; return f }},
		{"checksum offset", udp4, func(f []byte, vh *vnetHdr) []byte { vh.csumOffset = 16; return f }},
		{"TCP data offset short", tcp4, func(f []byte, vh *vnetHdr) []byte { f[l4+12] = 4 << 4; return f }},
		{"TCP data offset past the end", tcp4, func(f []byte, vh *vnetHdr) []byte { return f[:l4+20] }},
		{"no payload", udp4, func(f []byte, vh *vnetHdr) []byte {
			f = f[:l4+8]
			binary.BigEndian.PutUint16(f[l3+2:], 28)
			binary.BigEndian.PutUint16(f[l4+4:], 8)
			return f
		}},
		{"too many segments", udp4, func(f []byte, vh *vnetHdr) []byte { vh.gsoSize = 1; return f }},
		{"longer than an IP packet", gsoSpec{payload: 65507, mss: 1472, tags: make([]testkit.Tag, 4)}, func(f []byte, vh *vnetHdr) []byte {
			return append(f, make([]byte, maxSuperFrame)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, vh := tc.sp.superFrame(t)
			f = tc.mutate(f, &vh)
			var sf superFrame
			require.False(t, sf.init(f, vh, 0, 0, false))
			require.False(t, sf.more())
		})
	}
	// Every cut of a good super-frame.
	f, vh := udp4.superFrame(t)
	for i := range f {
		var sf superFrame
		assert.False(t, sf.init(f[:i:i], vh, tpid8021Q, 1, true), "cut to %d bytes", i)
	}
}

// TestVnetHdr round-trips the header in host byte order.
func TestVnetHdr(t *testing.T) {
	h := vnetHdr{flags: 1, gsoType: gsoUDPL4, hdrLen: 42, gsoSize: 1000, csumStart: 34, csumOffset: 6}
	var b [vnetHdrLen]byte
	h.put(b[:])
	assert.Equal(t, h, parseVnetHdr(b[:]))
	assert.Equal(t, vnetHdr{}, parseVnetHdr(b[:9]))
	// What this kernel (little endian) wrote for 4 × 1,000 bytes of UDP.
	if vnetOrder.Uint16([]byte{1, 0}) == 1 {
		assert.Equal(t, h, parseVnetHdr([]byte{0x01, 0x05, 0x2a, 0x00, 0xe8, 0x03, 0x22, 0x00, 0x06, 0x00}))
	}
}
