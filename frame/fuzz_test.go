package frame

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// The checked-in seed corpora are testdata/fuzz/FuzzParse and
// testdata/fuzz/FuzzParseVLANs; these seeds are added on top of them.

func FuzzParse(f *testing.F) {
	tags2 := VLANs{{TPID: TPIDDot1AD, ID: 200, PCP: 3}, {ID: 300, DEI: true}}
	f.Add(udp4Frame(f, VLANs{{ID: 100, PCP: 5}}, testPayload(64)))
	f.Add(udp6Frame(f, tags2, testPayload(13)))
	f.Add(udp4Frame(f, nil, nil))
	ip := newIPv6(layers.IPProtocolIPv6HopByHop)
	f.Add(buildFrame(f, nil, EtherTypeIPv6, ip, hopByHop(layers.IPProtocolIPv6Fragment),
		fragment6(layers.IPProtocolIPv6Destination, 0, false), dstOpts(layers.IPProtocolUDP, 4),
		newUDP(f, ip), gopacket.Payload(testPayload(5))))
	f.Add(udp4Frame(f, tags2, testPayload(30))[:40])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0x81, 0x00}, 20))

	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:len(b):len(b)] // a read past len(b) panics
		orig := bytes.Clone(b)
		var in Info
		err := Parse(b, &in)
		if !bytes.Equal(orig, b) {
			t.Fatal("Parse modified the frame")
		}
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		requireConsistent(t, b, &in)
		if in.UDP {
			UDPChecksumOK(b, &in)
		}
		if in.Fragment {
			if fr, err := ParseFragment(b, &in); err == nil {
				if fr.Data < in.L3 || fr.Data > fr.DataEnd || fr.DataEnd > in.End || fr.Unfrag > fr.Data || fr.Offset%8 != 0 {
					t.Fatalf("fragment fields out of the frame: %+v, %+v", fr, in)
				}
			} else if !errors.Is(err, ErrBadFragment) {
				t.Fatalf("unexpected ParseFragment error %v", err)
			}
		}
		if in.IPVersion == 4 {
			IPv4ChecksumOK(b, &in)
		}
		if in.IPVersion != 0 {
			// Bytes after the IP packet (Ethernet padding) change nothing.
			var cut, padded Info
			if err := Parse(b[:in.End:in.End], &cut); err != nil || cut != in {
				t.Fatalf("cut to End: %v\n%+v\n%+v", err, in, cut)
			}
			if err := Parse(append(bytes.Clone(b), 0, 0xff, 0x81, 0x00), &padded); err != nil || padded != in {
				t.Fatalf("padded: %v\n%+v\n%+v", err, in, padded)
			}
		}
	})
}

func FuzzParseVLANs(f *testing.F) {
	for _, s := range []string{
		"", "100", "100.200", "100|200", "0x88a8:100.200", "100/p5/dei", "0x9100:4095/p7/dei.0x88a8:1|2.3",
		"4096", "-1", "100..200", ".100", "100.", "0x1234:100", "100/p8", "100/x", "1.2.3.4.5", " 7 ",
		"34984:1", "0X88A8:0/dei/p1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseVLANs(text)
		if err != nil {
			require.ErrorIs(t, err, ErrBadVLAN)
			require.Nil(t, s)
			return
		}
		require.NoError(t, s.Validate())
		str := s.String()
		again, err := ParseVLANs(str)
		require.NoError(t, err, "String() = %q does not parse", str)
		require.True(t, s.Equal(again), "%q -> %v -> %q -> %v", text, s, str, again)
		require.Equal(t, str, again.String(), "String() is not canonical")
		require.Equal(t, s.Key(), again.Key())
		mt, err := s.MarshalText()
		require.NoError(t, err)
		require.Equal(t, str, string(mt))

		// On the wire and back.
		b := make([]byte, HeaderLen(len(s))+46)
		PutEthernet(b, BroadcastMAC, MAC{2}, s, EtherTypeARP)
		var in Info
		require.NoError(t, Parse(b, &in))
		require.True(t, s.Equal(in.VLANs()), "%v != %v", s, in.VLANs())
		require.Equal(t, s.Key(), in.Key.Stack)
	})
}

// FuzzPutUDP builds datagrams from arbitrary addresses, ports, header fields
// and payloads, and checks that they parse back with good checksums.
func FuzzPutUDP(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, []byte{255, 255, 255, 255}, uint16(68), uint16(67), uint8(0), uint8(0x10), uint32(0), []byte("hello"))
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("ff02::1:2").AsSlice(), uint16(546), uint16(547), uint8(1), uint8(0xb8), uint32(0xabcde), []byte{0})
	f.Add(netip.MustParseAddr("::ffff:192.0.2.1").AsSlice(), []byte{198, 18, 0, 2}, uint16(1), uint16(2), uint8(255), uint8(0), uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, src, dst []byte, sport, dport uint16, ttl, tos uint8, flow uint32, payload []byte) {
		s, ok1 := netip.AddrFromSlice(src)
		d, ok2 := netip.AddrFromSlice(dst)
		h := UDPHeader{Src: netip.AddrPortFrom(s, sport), Dst: netip.AddrPortFrom(d, dport), TTL: ttl, TOS: tos, ID: sport ^ dport, FlowLabel: flow}
		if !ok1 || !ok2 || s.Unmap().Is4() != d.Unmap().Is4() {
			_, err := PutUDP(nil, &h, len(payload))
			require.ErrorIs(t, err, ErrAddrFamily)
			return
		}
		il := IPUDPLen(s)
		maxPlen := 0xffff - UDPLen // IPv6 limits the UDP length
		if il == IPv4Len+UDPLen {
			maxPlen = 0xffff - IPv4Len - UDPLen // IPv4 the total length
		}
		if len(payload) > maxPlen {
			_, err := PutUDP(nil, &h, len(payload))
			require.ErrorIs(t, err, ErrTooLong)
			return
		}
		b := make([]byte, EthernetLen+il+len(payload))
		copy(b[EthernetLen+il:], payload)
		PutEthernet(b, BroadcastMAC, MAC{2}, nil, etherTypeOf(s))
		n, err := PutUDP(b[EthernetLen:], &h, len(payload))
		require.NoError(t, err)
		require.Equal(t, il+len(payload), n)
		var in Info
		require.NoError(t, Parse(b, &in))
		requireConsistent(t, b, &in)
		require.True(t, in.UDP)
		require.Equal(t, sport, in.SrcPort)
		require.Equal(t, dport, in.DstPort)
		require.Equal(t, payload, b[in.Payload:in.PayloadEnd])
		require.Equal(t, s.Unmap().AsSlice(), in.SrcIP(b))
		require.Equal(t, d.Unmap().AsSlice(), in.DstIP(b))
		require.True(t, UDPChecksumOK(b, &in))
		if in.IPVersion == 4 {
			require.True(t, IPv4ChecksumOK(b, &in))
		}
	})
}
