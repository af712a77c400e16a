package testkit_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
)

// A Tag and a frame.VLAN convert to each other, as the package
// documentation promises; this does not compile otherwise.
var (
	_ = frame.VLAN(testkit.Tag{})
	_ = testkit.Tag(frame.VLAN{})
	_ = testkit.Frame(frame.MAC{}, frame.BroadcastMAC, nil, 0, nil) // frame.MAC is a [6]byte argument
)

var stacks = [][]testkit.Tag{
	nil,
	{{ID: 100}},
	{{ID: 101, PCP: 5, DEI: true}},
	{{TPID: testkit.TPIDDot1AD, ID: 200, PCP: 3}, {ID: 201}},
	{{TPID: testkit.TPID9100, ID: 4095, PCP: 7, DEI: true}},
	{{TPID: testkit.TPIDDot1AD, ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}},
}

func vlans(tags []testkit.Tag) frame.VLANs {
	v := make(frame.VLANs, len(tags))
	for i, t := range tags {
		v[i] = frame.VLAN(t)
	}
	return v
}

func TestTagTCI(t *testing.T) {
	for _, tags := range stacks {
		for _, tg := range tags {
			if got, want := tg.TCI(), frame.VLAN(tg).TCI(); got != want {
				t.Errorf("%+v: TCI %#04x, frame says %#04x", tg, got, want)
			}
			back := testkit.TagFromTCI(tg.WireTPID(), tg.TCI())
			if want := (testkit.Tag{TPID: tg.WireTPID(), PCP: tg.PCP, DEI: tg.DEI, ID: tg.ID}); back != want {
				t.Errorf("TagFromTCI(%#x, %#x) = %+v, want %+v", tg.WireTPID(), tg.TCI(), back, want)
			}
		}
	}
	for _, tags := range stacks {
		if got := testkit.AsTags(vlans(tags)); !slices.Equal(got, tags) {
			t.Errorf("AsTags(%+v) = %+v", vlans(tags), got)
		}
	}
	if got := testkit.Dot1Q(10, 20); len(got) != 2 || got[0] != (testkit.Tag{ID: 10}) || got[1] != (testkit.Tag{ID: 20}) {
		t.Errorf("Dot1Q(10, 20) = %+v", got)
	}
}

// TestFrameMatchesFrameBuilder checks the kit's Ethernet builder against
// frame.PutEthernet and gopacket's decoder.
func TestFrameMatchesFrameBuilder(t *testing.T) {
	dst, src := testkit.MAC(1), testkit.MAC(0x123456)
	for _, tags := range stacks {
		payload := testkit.Pattern(50)
		f := testkit.Frame(dst, src, tags, testkit.EtherTypeExp1, payload)
		want := make([]byte, frame.HeaderLen(len(tags))+len(payload))
		n := frame.PutEthernet(want, dst, src, vlans(tags), testkit.EtherTypeExp1)
		copy(want[n:], payload)
		if !bytes.Equal(f, want) {
			t.Errorf("tags %v:\n got % x\nwant % x", tags, f, want)
		}
		if got := testkit.PayloadOffset(f); got != n {
			t.Errorf("tags %v: PayloadOffset %d, want %d", tags, got, n)
		}
		if got := testkit.Tags(f); fmt.Sprint(got) != fmt.Sprint(withWireTPIDs(tags)) {
			t.Errorf("Tags = %v, want %v", got, withWireTPIDs(tags))
		}
		if tags == nil || tags[0].WireTPID() != testkit.TPID9100 { // gopacket does not know 0x9100
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			var got int
			for _, l := range pkt.Layers() {
				if _, ok := l.(*layers.Dot1Q); ok {
					got++
				}
			}
			if got != len(tags) {
				t.Errorf("tags %v: gopacket decodes %d tags", tags, got)
			}
		}
	}
}

func TestFromTestMAC(t *testing.T) {
	other := [6]byte{0x02, 0x00, 0x5e, 0, 0, 1}
	if !testkit.FromTestMAC(testkit.Frame(other, testkit.MAC(7), nil, 0, nil)) {
		t.Error("a frame from MAC(7) is not FromTestMAC")
	}
	if testkit.FromTestMAC(testkit.Frame(testkit.MAC(7), other, nil, 0, nil)) {
		t.Error("a frame from 02:00:5e:00:00:01 (to MAC(7)) is FromTestMAC")
	}
	if testkit.FromTestMAC(make([]byte, 11)) {
		t.Error("an 11-byte frame is FromTestMAC")
	}
}

func withWireTPIDs(tags []testkit.Tag) []testkit.Tag {
	var out []testkit.Tag
	for _, t := range tags {
		t.TPID = t.WireTPID()
		out = append(out, t)
	}
	return out
}

func TestSeqFrame(t *testing.T) {
	for _, tags := range stacks {
		for _, size := range []int{0, 60, 1514} {
			f := testkit.SeqFrame(testkit.MAC(1), testkit.MAC(2), tags, testkit.EtherTypeExp2, 0xdeadbeef, size)
			if want := max(size, testkit.HeaderLen(len(tags))+4); len(f) != want {
				t.Errorf("tags %v size %d: %d bytes, want %d", tags, size, len(f), want)
			}
			if seq, ok := testkit.SeqOf(f); !ok || seq != 0xdeadbeef {
				t.Errorf("tags %v size %d: SeqOf = %#x, %v", tags, size, seq, ok)
			}
		}
	}
	if _, ok := testkit.SeqOf(make([]byte, 15)); ok {
		t.Error("SeqOf of a 15-byte frame succeeded")
	}
	if got := testkit.PayloadOffset([]byte{0: 0, 12: 0x81, 13: 0, 15: 0}); got != -1 {
		t.Errorf("PayloadOffset of a frame cut after its tag = %d, want -1", got)
	}
}

// TestUDPFrameMatchesFrameBuilder checks the kit's UDP builder against
// frame.PutUDP (same defaults, byte for byte) and gopacket's checksums.
func TestUDPFrameMatchesFrameBuilder(t *testing.T) {
	pairs := [][2]string{
		{"198.18.0.1:1000", "198.18.0.2:2000"},
		{"[2001:db8::1]:5353", "[2001:db8:ffff::2]:53"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.2:65535"},
	}
	for _, p := range pairs {
		from, to := netip.MustParseAddrPort(p[0]), netip.MustParseAddrPort(p[1])
		for _, tags := range stacks[:4] {
			for _, n := range []int{0, 1, 7, 100, 1471} {
				payload := testkit.Pattern(n)
				f := testkit.UDPFrame(testkit.MAC(1), testkit.MAC(2), tags, from, to, payload)
				hl, il := frame.HeaderLen(len(tags)), frame.IPUDPLen(to.Addr().Unmap())
				want := make([]byte, hl+il+n)
				et := frame.EtherTypeIPv6
				if to.Addr().Unmap().Is4() {
					et = frame.EtherTypeIPv4
				}
				frame.PutEthernet(want, testkit.MAC(1), testkit.MAC(2), vlans(tags), et)
				copy(want[hl+il:], payload)
				if _, err := frame.PutUDP(want[hl:], &frame.UDPHeader{Src: from, Dst: to}, n); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(f, want) {
					t.Errorf("%v to %v, tags %v, %d bytes:\n got % x\nwant % x", from, to, tags, n, f, want)
				}
				var in frame.Info
				if err := frame.Parse(f, &in); err != nil || !in.UDP || !frame.UDPChecksumOK(f, &in) ||
					(in.IPVersion == 4 && !frame.IPv4ChecksumOK(f, &in)) {
					t.Errorf("%v to %v, %d bytes: frame.Parse: %v, UDP %v", from, to, n, err, in.UDP)
				}
				checkWithGopacket(t, f, payload)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("UDPFrame from IPv4 to IPv6 did not panic")
		}
	}()
	testkit.UDPFrame(testkit.MAC(1), testkit.MAC(2), nil, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("[2001:db8::1]:1"), nil)
}

// checkWithGopacket decodes f with gopacket and checks the payload and,
// reserialized by gopacket, the checksums.
func checkWithGopacket(t *testing.T, f, payload []byte) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok {
		t.Fatalf("gopacket finds no UDP in % x", f)
	}
	if !bytes.Equal(udp.Payload, payload) {
		t.Errorf("gopacket's UDP payload % x, want % x", udp.Payload, payload)
	}
	var nl gopacket.NetworkLayer
	if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		nl = ip4
		cp := *ip4
		buf := gopacket.NewSerializeBuffer()
		if err := cp.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
			t.Fatal(err)
		}
		if c := buf.Bytes()[10:12]; c[0] != byte(ip4.Checksum>>8) || c[1] != byte(ip4.Checksum) {
			t.Errorf("IPv4 checksum %#04x, gopacket computes % x", ip4.Checksum, c)
		}
	} else {
		nl = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	}
	cp := *udp
	if err := cp.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &cp, gopacket.Payload(udp.Payload)); err != nil {
		t.Fatal(err)
	}
	if c := buf.Bytes()[6:8]; c[0] != byte(udp.Checksum>>8) || c[1] != byte(udp.Checksum) {
		t.Errorf("UDP checksum %#04x, gopacket computes % x", udp.Checksum, c)
	}
}

// TestMalformed checks that frame.Parse refuses every frame of the
// malformed tables and accepts the good one.
func TestMalformed(t *testing.T) {
	from, to := netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000")
	good, bad := testkit.MalformedUDP(testkit.MAC(2), testkit.MAC(1), from, to, []byte("still alive"))
	var in frame.Info
	if err := frame.Parse(good, &in); err != nil || !in.UDP || string(good[in.Payload:in.PayloadEnd]) != "still alive" {
		t.Errorf("the good frame: Parse %v, UDP %v", err, in.UDP)
	}
	names := map[string]bool{}
	for _, c := range append(bad, testkit.ShortTagged(testkit.MAC(2), testkit.MAC(1))...) {
		names[c.Name] = true
		if err := frame.Parse(c.Frame, &in); err == nil {
			t.Errorf("%s: frame.Parse accepts % x", c.Name, c.Frame)
		}
		if [6]byte(c.Frame[0:6]) != testkit.MAC(2) {
			t.Errorf("%s: not to the given destination", c.Name)
		}
	}
	if len(names) != len(bad)+2 {
		t.Errorf("names are not unique: %v", names)
	}
	for _, c := range bad {
		if len(c.Frame) < 20 {
			t.Errorf("%s: %d bytes; a Linux receiver drops tagged frames under 20", c.Name, len(c.Frame))
		}
	}
	for _, c := range testkit.ShortTagged(testkit.MAC(2), testkit.MAC(1)) {
		if len(c.Frame) >= 20 {
			t.Errorf("%s: %d bytes, want fewer than 20", c.Name, len(c.Frame))
		}
	}
}

func TestOnesSum(t *testing.T) {
	// RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
	if got := testkit.OnesSum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != 0xddf2 {
		t.Fatalf("OnesSum = %#04x, want 0xddf2", got)
	}
	if got := testkit.OnesSum([]byte{0xff}); got != 0xff00 {
		t.Fatalf("odd length: OnesSum = %#04x, want 0xff00", got)
	}
}
