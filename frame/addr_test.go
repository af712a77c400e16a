package frame

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSolicitedNode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2001:db8::1", "ff02::1:ff00:1"},
		{"2001:db8::abcd:ef12:3456", "ff02::1:ff12:3456"},
		{"fe80::5eff:fe10:1%eth0", "ff02::1:ff10:1"}, // the zone is not part of the group
		{"::", "ff02::1:ff00:0"},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "ff02::1:ffff:ffff"},
		{"::ffff:192.0.2.1", "ff02::1:ff00:201"}, // IPv6 in form, so it has one
		{"192.0.2.1", ""},
		{"", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			var a netip.Addr
			if c.in != "" {
				a = netip.MustParseAddr(c.in)
			}
			got := SolicitedNode(a)
			if c.want == "" {
				assert.False(t, got.IsValid(), "%v", got)
				return
			}
			want := netip.MustParseAddr(c.want)
			assert.Equal(t, want, got)
			// RFC 4291 §2.7.1: in ff02::1:ff00:0/104, with a's low 24 bits.
			assert.True(t, netip.MustParsePrefix("ff02::1:ff00:0/104").Contains(got))
			assert.True(t, got.IsLinkLocalMulticast())
		})
	}
}

func TestMulticastMAC(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"224.0.0.1", "01:00:5e:00:00:01"},
		{"224.0.0.251", "01:00:5e:00:00:fb"},
		{"239.255.255.250", "01:00:5e:7f:ff:fa"},
		{"224.128.0.1", "01:00:5e:00:00:01"}, // only 23 bits map: 224.0.0.1 shares it
		{"239.129.2.3", "01:00:5e:01:02:03"},
		{"::ffff:224.0.0.251", "01:00:5e:00:00:fb"},
		{"ff02::1", "33:33:00:00:00:01"},
		{"ff02::1:ff00:1", "33:33:ff:00:00:01"},
		{"ff05::1:3", "33:33:00:01:00:03"},
		{"ff0e::db8:1234:5678", "33:33:12:34:56:78"},
		{"192.0.2.1", ""},
		{"255.255.255.255", ""},
		{"2001:db8::1", ""},
		{"fe80::1", ""},
		{"", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			var a netip.Addr
			if c.in != "" {
				a = netip.MustParseAddr(c.in)
			}
			m, ok := MulticastMAC(a)
			if c.want == "" {
				assert.False(t, ok)
				assert.Equal(t, MAC{}, m)
				return
			}
			require.True(t, ok)
			assert.Equal(t, c.want, m.String())
			assert.True(t, m.IsGroup())
		})
	}
}

func TestLinkLocal(t *testing.T) {
	for _, c := range []struct{ mac, want string }{
		// RFC 4291 App. A: ff:fe in the middle, the U/L bit (0x02) inverted.
		{"02:00:5e:10:00:01", "fe80::5eff:fe10:1"},
		{"02:ab:cd:ef:12:34", "fe80::ab:cdff:feef:1234"},
		{"06:00:00:00:00:00", "fe80::400:ff:fe00:0"},
		{"fe:ff:ff:ff:ff:ff", "fe80::fcff:ffff:feff:ffff"},
	} {
		t.Run(c.mac, func(t *testing.T) {
			hw := mustMAC(t, c.mac)
			got := LinkLocal(hw)
			assert.Equal(t, netip.MustParseAddr(c.want), got)
			assert.True(t, got.IsLinkLocalUnicast())
			assert.True(t, netip.MustParsePrefix("fe80::/64").Contains(got))
		})
	}
}

func TestAddrAllocs(t *testing.T) {
	a6, g4 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("224.0.0.1")
	m := MAC{0x02, 1, 2, 3, 4, 5}
	var sink byte
	allocs := testing.AllocsPerRun(100, func() {
		s := SolicitedNode(a6)
		mm, _ := MulticastMAC(s)
		m4, _ := MulticastMAC(g4)
		l := LinkLocal(m)
		sink += mm[5] + m4[5] + l.As16()[15]
	})
	assert.Zero(t, allocs)
	_ = sink
}

// mustMAC parses a colon-separated Ethernet address.
func mustMAC(tb testing.TB, s string) MAC {
	tb.Helper()
	hw, err := net.ParseMAC(s)
	require.NoError(tb, err)
	m, err := MACFrom(hw)
	require.NoError(tb, err)
	return m
}
