package frame

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addrSet is the host's addresses for a prespecified timestamp.
type addrSet []netip.Addr

func (s addrSet) HasAddr(a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

var (
	echoSelf  = netip.MustParseAddr("198.18.0.10")
	echoOther = netip.MustParseAddr("198.18.0.1") // the pinger, as its kernel records itself
	// 01:02:03.004 UT: 3,723,004 ms since midnight.
	echoNow = time.Date(2026, 12, 2, 1, 2, 3, 4_500_000, time.UTC)
)

// ipOpt builds option bytes: byte values and addresses (4 bytes each) and
// timestamps (the uint32 ms, 4 bytes).
func ipOpt(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = append(b, byte(v))
		case netip.Addr:
			b = append(b, v.AsSlice()...)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

// TestEchoReplyOptions: the options of an echo reply, as Linux builds them
// from the request's (the cases follow ip_options_compile on receive,
// __ip_options_echo and ip_options_build): the host recorded on arrival
// and on departure where the option has room; no reply where the room
// left is not a whole entry.
func TestEchoReplyOptions(t *testing.T) {
	const ms = uint32(3_723_004)
	s, o, z4 := echoSelf, echoOther, z(4)
	for _, c := range []struct {
		name    string
		req     []byte
		want    []byte // nil: no options in the reply
		noReply bool
	}{
		{"none", nil, nil, false},
		{"nop and end only", ipOpt(1, 1, 0, 0), nil, false},
		{"router alert stays behind", ipOpt(148, 4, 0, 0), nil, false},
		{"ping -R: sender recorded, room for both", ipOpt(7, 39, 8, o, z(32)),
			ipOpt(7, 39, 16, o, s, s, z(24), 0), false},
		{"record route, one free slot", ipOpt(7, 7, 4, z4), ipOpt(7, 7, 8, s, 0), false},
		{"record route full on arrival", ipOpt(7, 7, 8, o), ipOpt(7, 7, 8, o, 0), false},
		{"record route, room for one and a part", ipOpt(7, 9, 4, z(6)), nil, true},
		{"timestamps, room for both", ipOpt(68, 12, 5, 0, z(8)), ipOpt(68, 12, 13, 0, ms, ms), false},
		{"timestamps, one free slot", ipOpt(68, 8, 5, 0, z4), ipOpt(68, 8, 9, 0, ms), false},
		{"timestamps full: overflow counted", ipOpt(68, 8, 9, 0x20, ms), ipOpt(68, 8, 9, 0x30, ms), false},
		{"timestamps, room for one and a part", ipOpt(68, 10, 5, 0, z(6)), nil, true},
		{"addresses and timestamps, room for both", ipOpt(68, 20, 5, 1, z(16)), ipOpt(68, 20, 21, 1, s, ms, s, ms), false},
		{"addresses and timestamps, one free pair", ipOpt(68, 12, 5, 1, z(8)), ipOpt(68, 12, 13, 1, s, ms), false},
		{"addresses and timestamps, a pair and a half", ipOpt(68, 16, 5, 1, z(12)), nil, true},
		{"prespecified, both ours", ipOpt(68, 20, 5, 3, s, z4, s, z4), ipOpt(68, 20, 21, 3, s, ms, s, ms), false},
		{"prespecified, first not ours", ipOpt(68, 20, 5, 3, o, z4, s, z4), ipOpt(68, 20, 5, 3, o, z4, s, z4), false},
		{"prespecified, second not ours", ipOpt(68, 20, 5, 3, s, z4, o, z4), ipOpt(68, 20, 13, 3, s, ms, o, z4), false},
		{"prespecified, room for one and an address", ipOpt(68, 16, 5, 3, s, z4, z4), ipOpt(68, 16, 13, 3, s, ms, z4), false},
		{"prespecified, not unicast (Linux's inet_addr_type)", ipOpt(68, 36, 5, 3, netip.MustParseAddr("224.0.0.1"), z4,
			netip.MustParseAddr("127.0.0.1"), z4, netip.MustParseAddr("0.0.0.0"), z4, netip.MustParseAddr("255.255.255.255"), z4),
			ipOpt(68, 36, 21, 3, netip.MustParseAddr("224.0.0.1"), ms, netip.MustParseAddr("127.0.0.1"), ms,
				netip.MustParseAddr("0.0.0.0"), z4, netip.MustParseAddr("255.255.255.255"), z4), false},
		{"prespecified, class E is unicast", ipOpt(68, 12, 5, 3, netip.MustParseAddr("240.0.0.1"), z4),
			ipOpt(68, 12, 5, 3, netip.MustParseAddr("240.0.0.1"), z4), false},
		{"prespecified full: no overflow", ipOpt(68, 12, 13, 3, s, ms), ipOpt(68, 12, 13, 3, s, ms), false},
		{"unknown timestamp form: nothing recorded", ipOpt(68, 8, 5, 2, z4), ipOpt(68, 8, 5, 2, z4), false},
		{"both, behind other options: record route first", ipOpt(1, 148, 4, 0, 0, 68, 8, 5, 0, z4, 7, 7, 4, z4, 0, 0, 0),
			ipOpt(7, 7, 8, s, 68, 8, 9, 0, ms, 0), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.req) > 0 {
				require.True(t, ipv4OptionsOK(c.req), "the case's request must be one Parse accepts")
			}
			req := bytes.Clone(c.req)
			out := bytes.Repeat([]byte{0xee}, MaxIPv4Options)
			n, ok := EchoReplyOptions(out, req, s, addrSet{s}, echoNow)
			assert.Equal(t, c.req, req, "the request is not changed")
			if c.noReply {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			require.Zero(t, n%4)
			if c.want == nil {
				assert.Zero(t, n)
			} else {
				assert.Equal(t, c.want, out[:n])
			}
			if n > 0 {
				requireGopacketOptions(t, out[:n])
			}
		})
	}
}

// requireGopacketOptions checks that gopacket decodes a header with the
// options o.
func requireGopacketOptions(t *testing.T, o []byte) {
	t.Helper()
	h := IPHeader{Src: echoSelf, Dst: echoOther, Proto: ProtoICMP, Options: o}
	b := make([]byte, h.Len()+8)
	n, err := PutIP(b, &h, 8)
	require.NoError(t, err)
	var ip layers.IPv4
	require.NoError(t, ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback))
	assert.Equal(t, uint8(n/4), ip.IHL)
	assert.NotEmpty(t, ip.Options)
}

func TestMsSinceMidnight(t *testing.T) {
	assert.Equal(t, uint32(3_723_004), MillisSinceMidnight(echoNow))
	assert.Equal(t, uint32(0), MillisSinceMidnight(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	// Another zone's clock reads the same instant.
	assert.Equal(t, uint32(3_723_004), MillisSinceMidnight(echoNow.In(time.FixedZone("x", 5*3600))))
	assert.Equal(t, uint32(86_399_999), MillisSinceMidnight(time.Date(2026, 1, 1, 23, 59, 59, 999_999_999, time.UTC)))
}

// TestPutIPOptions: a header with options has its IHL, total length and
// checksum over them, and gopacket and Parse read it back.
func TestPutIPOptions(t *testing.T) {
	o := ipOpt(7, 11, 4, z(8), 0)
	h := IPHeader{Src: echoSelf, Dst: echoOther, Proto: ProtoICMP, TOS: 0xb8, ID: 7, Options: o}
	require.Equal(t, IPv4Len+12, h.Len())
	b := make([]byte, h.Len()+8)
	n, err := PutIP(b, &h, 8)
	require.NoError(t, err)
	require.Equal(t, h.Len(), n)
	assert.Equal(t, uint16(0xffff), ^Checksum(b[:n]), "header checksum covers the options")
	var ip layers.IPv4
	require.NoError(t, ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback))
	assert.Equal(t, uint8(8), ip.IHL)
	assert.Equal(t, uint16(n+8), ip.Length)
	require.Len(t, ip.Options, 2)
	assert.Equal(t, uint8(7), uint8(ip.Options[0].OptionType))

	f := make([]byte, EthernetLen+len(b))
	PutEthernet(f, BroadcastMAC, MAC(macSrc), nil, EtherTypeIPv4)
	copy(f[EthernetLen:], b)
	var in Info
	require.NoError(t, Parse(f, &in))
	assert.Equal(t, EthernetLen+n, in.L4)
	assert.Equal(t, o, in.IPv4Options(f))
	assert.Equal(t, uint8(0xb8), in.TOS(f))

	for _, bad := range []IPHeader{
		{Src: echoSelf, Dst: echoOther, Options: []byte{1, 1, 1}},
		{Src: echoSelf, Dst: echoOther, Options: make([]byte, 44)},
		{Src: a6Src, Dst: a6Dst, Options: []byte{1, 1, 1, 1}},
	} {
		_, err := PutIP(make([]byte, 100), &bad, 0)
		assert.ErrorIs(t, err, ErrBadHeader)
		var fr Fragmenter
		assert.Error(t, fr.InitIP(&bad, nil, make([]byte, 100), 576, 1))
	}
}

// TestFragmenterOptions: a packet with options cut into fragments has them
// in the first, no-operations of the same length in the others (record
// route and timestamp are not copied, RFC 791), and gopacket's reassembler
// puts the payload back together.
func TestFragmenterOptions(t *testing.T) {
	o := ipOpt(7, 11, 8, echoSelf, z(4), 0)
	h := IPHeader{Src: echoSelf, Dst: echoOther, Proto: ProtoICMP, TOS: 0x10, ID: 0x4242, Options: o}
	body := bytes.Repeat([]byte("0123456789"), 300)
	head := []byte{0, 0, 0xaa, 0xbb, 1, 2, 3, 4}
	var fr Fragmenter
	require.NoError(t, fr.InitIP(&h, head, body, 576, 0))
	d := ip4defrag.NewIPv4Defragmenter()
	var whole *layers.IPv4
	frags := 0
	for !fr.Done() {
		b := make([]byte, 576)
		n := fr.Next(b)
		require.LessOrEqual(t, n, 576)
		var ip layers.IPv4
		require.NoError(t, ip.DecodeFromBytes(b[:n], gopacket.NilDecodeFeedback))
		assert.Equal(t, uint8(8), ip.IHL, "every fragment has the options' length")
		assert.Equal(t, uint16(0x4242), ip.Id)
		assert.Equal(t, uint16(0xffff), ^Checksum(b[:IPv4Len+len(o)]))
		if frags == 0 {
			assert.Equal(t, o, b[IPv4Len:IPv4Len+len(o)], "the first fragment carries the options")
		} else {
			assert.Equal(t, ipOpt(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0), b[IPv4Len:IPv4Len+len(o)], "later ones no-operations")
		}
		frags++
		out, err := d.DefragIPv4(&ip)
		require.NoError(t, err)
		if out != nil {
			whole = out
		}
	}
	require.Greater(t, frags, 2)
	require.NotNil(t, whole, "gopacket reassembled the fragments")
	assert.Equal(t, append(bytes.Clone(head), body...), whole.Payload)
}

// FuzzEchoReplyOptions: for any options Parse accepts, the reply's options
// are whole (a multiple of 4, at most 40 bytes), hold only record route and
// timestamp, leave the request alone, and never panic.
func FuzzEchoReplyOptions(f *testing.F) {
	f.Add(ipOpt(7, 39, 8, echoOther, z(32)))
	f.Add(ipOpt(68, 40, 5, 1, z(36)))
	f.Add(ipOpt(68, 20, 5, 3, echoSelf, z(4), echoOther, z(4)))
	f.Add(ipOpt(1, 148, 4, 0, 0, 68, 8, 9, 0xe0, z(4), 7, 7, 4, z(4), 0, 0, 0))
	f.Fuzz(func(t *testing.T, req []byte) {
		if len(req) > MaxIPv4Options || !ipv4OptionsOK(req) {
			return
		}
		in := bytes.Clone(req)
		out := make([]byte, MaxIPv4Options)
		n, ok := EchoReplyOptions(out, in, echoSelf, addrSet{echoSelf}, echoNow)
		require.Equal(t, req, in)
		if !ok {
			require.Zero(t, n)
			return
		}
		require.Zero(t, n%4)
		require.LessOrEqual(t, n, MaxIPv4Options)
		for o := out[:n]; len(o) > 0 && o[0] != ip4OptEnd; o = o[o[1]:] {
			require.Contains(t, []byte{ip4OptRR, ip4OptTS}, o[0])
			require.GreaterOrEqual(t, int(o[1]), 2)
		}
	})
}

// z is n zero bytes, for empty option slots.
func z(n int) []byte { return make([]byte, n) }

// TestEchoReplyOptionsAllocs: a reply's options and its header with them
// cost no allocation.
func TestEchoReplyOptionsAllocs(t *testing.T) {
	req := ipOpt(7, 11, 4, z(8), 68, 20, 5, 1, z(16), 0)
	ours := &addrSet{echoSelf} // a pointer, as a *host.Host is: no boxing
	b := make([]byte, 128)
	allocs := testing.AllocsPerRun(100, func() {
		var out [MaxIPv4Options]byte
		n, ok := EchoReplyOptions(out[:], req, echoSelf, ours, echoNow)
		h := IPHeader{Src: echoSelf, Dst: echoOther, Proto: ProtoICMP, Options: out[:n]}
		if _, err := PutIP(b, &h, 8); !ok || n != 32 || err != nil {
			panic("unexpected")
		}
	})
	assert.Zero(t, allocs)
}
