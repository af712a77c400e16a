package frame

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// benchParse parses frame b.N times and reports packets per second; the
// frame must parse as a UDP datagram.
func benchParse(b *testing.B, frame []byte) {
	var in Info
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := Parse(frame, &in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	if !in.UDP {
		b.Fatal("not parsed as UDP")
	}
}

func BenchmarkParse(b *testing.B) {
	benchParse(b, udp4Frame(b, VLANs{{ID: 100, PCP: 5}}, testPayload(64)))
}

func BenchmarkParseIPv6ExtHeaders(b *testing.B) {
	ip := newIPv6(layers.IPProtocolIPv6HopByHop)
	benchParse(b, buildFrame(b, VLANs{{TPID: TPIDDot1AD, ID: 1}, {ID: 2}}, EtherTypeIPv6, ip,
		hopByHop(layers.IPProtocolIPv6Destination), dstOpts(layers.IPProtocolUDP, 4),
		newUDP(b, ip), gopacket.Payload(testPayload(64))))
}

// BenchmarkParseIPv4Options parses the longest options area, a record route
// option with room for nine addresses.
func BenchmarkParseIPv4Options(b *testing.B) {
	benchParse(b, ipv4RecordRouteFrame(b))
}

// BenchmarkParseIPv6LongChain parses the worst a hostile sender can do with
// extension headers: a jumbo frame full of minimal destination options
// headers, which Parse walks to the end, as Linux before 7.1 does.
func BenchmarkParseIPv6LongChain(b *testing.B) {
	benchParse(b, longChainFrame(b))
}

func BenchmarkPutUDP(b *testing.B) {
	for _, c := range []struct {
		name string
		h    UDPHeader
	}{
		{"ipv4", UDPHeader{Src: netip.MustParseAddrPort("192.0.2.1:68"), Dst: netip.MustParseAddrPort("255.255.255.255:67")}},
		{"ipv6", UDPHeader{Src: netip.MustParseAddrPort("[fe80::1]:546"), Dst: netip.MustParseAddrPort("[ff02::1:2]:547")}},
	} {
		b.Run(c.name, func(b *testing.B) {
			tags := VLANs{{ID: 100, PCP: 5}}
			hl := HeaderLen(len(tags))
			buf := make([]byte, hl+IPUDPLen(c.h.Src.Addr())+64)
			copy(buf[hl+IPUDPLen(c.h.Src.Addr()):], testPayload(64))
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				PutEthernet(buf, BroadcastMAC, MAC{2}, tags, EtherTypeIPv4)
				if _, err := PutUDP(buf[hl:], &c.h, 64); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUDPChecksumOK(b *testing.B) {
	frame := udp4Frame(b, VLANs{{ID: 100}}, testPayload(1472))
	var in Info
	require.NoError(b, Parse(frame, &in))
	b.ReportAllocs()
	b.SetBytes(int64(in.PayloadEnd - in.L4))
	for b.Loop() {
		if !UDPChecksumOK(frame, &in) {
			b.Fatal("bad checksum")
		}
	}
}

// TestZeroAllocs pins what the benchmarks report: the hot paths do not
// allocate.
func TestZeroAllocs(t *testing.T) {
	frame := udp4Frame(t, VLANs{{ID: 100, PCP: 5}}, testPayload(64))
	var in Info
	assert0 := func(name string, f func()) {
		t.Helper()
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs per run", name, n)
		}
	}
	assert0("Parse", func() { _ = Parse(frame, &in) })
	assert0("UDPChecksumOK", func() { _ = UDPChecksumOK(frame, &in) })
	assert0("IPv4ChecksumOK", func() { _ = IPv4ChecksumOK(frame, &in) })
	h := UDPHeader{Src: netip.MustParseAddrPort("[2001:db8::1]:1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:2")}
	buf := make([]byte, HeaderLen(1)+IPUDPLen(h.Src.Addr())+64)
	tags := VLANs{{ID: 100}}
	assert0("PutEthernet+PutUDP", func() {
		PutEthernet(buf, BroadcastMAC, MAC{2}, tags, EtherTypeIPv6)
		_, _ = PutUDP(buf[HeaderLen(1):], &h, 64)
	})
	assert0("Checksum", func() { _ = Checksum(frame) })

	opts, chain := ipv4RecordRouteFrame(t), longChainFrame(t)
	assert0("Parse IPv4 options", func() { _ = Parse(opts, &in) })
	assert0("Parse IPv6 long chain", func() { _ = Parse(chain, &in) })
	bad := bytes.Clone(chain)
	bad[EthernetLen+IPv6Len+100*8+2] = 0x80 // an unknown option to discard with ICMP
	require.ErrorIs(t, Parse(bad, &in), ErrIPv6Option)
	assert0("Parse refused", func() { _ = Parse(bad, &in) })
}
