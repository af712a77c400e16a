package netns_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/internal/netns"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAddresses(t *testing.T) {
	bench := netip.MustParsePrefix("198.18.0.0/15")
	doc := netip.MustParsePrefix("2001:db8::/32")
	for _, i := range []int{-5, 0, 1, 2, 255, 256, 65535, 65536, 131070, 131071, 1 << 40} {
		a := netns.IPv4(i)
		assert.True(t, bench.Contains(a), "IPv4(%d) = %s", i, a)
		assert.NotEqual(t, netip.MustParseAddr("198.18.0.0"), a)
		assert.NotEqual(t, netip.MustParseAddr("198.19.255.255"), a)
		assert.True(t, doc.Contains(netns.IPv6(i)), "IPv6(%d) = %s", i, netns.IPv6(i))
	}
	assert.Equal(t, "198.18.0.1", netns.IPv4(1).String())
	assert.Equal(t, "198.18.1.0", netns.IPv4(256).String())
	assert.Equal(t, "198.19.0.0", netns.IPv4(65536).String())
	assert.Equal(t, "2001:db8::7", netns.IPv6(7).String())
	for i := 0; i < 100; i++ {
		m := netns.RandomMAC()
		require.Len(t, m, 6)
		assert.Equal(t, byte(0x02), m[0])
	}
}

// readSysctl reads a sysctl inside ns.
func readSysctl(t *testing.T, ns *netns.NS, path string) string {
	t.Helper()
	var v string
	require.NoError(t, ns.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + path)
		v = strings.TrimSpace(string(b))
		return err
	}))
	return v
}

func TestVethIsolated(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	require.NotEqual(t, v.A.NS.Name, v.B.NS.Name)

	// Each end exists only in its own namespace.
	require.NoError(t, v.A.NS.Do(func() error {
		ifi, err := net.InterfaceByName(v.A.Name)
		if err != nil {
			return err
		}
		assert.Equal(t, v.A.MAC, ifi.HardwareAddr)
		assert.NotZero(t, ifi.Flags&net.FlagUp)
		_, err = net.InterfaceByName(v.B.Name)
		assert.Error(t, err, "peer must not be in A's namespace")
		return nil
	}))
	_, err := net.InterfaceByName(v.A.Name)
	assert.Error(t, err, "veth must not be in the test's own namespace")
	idx, err := v.B.Index()
	require.NoError(t, err)
	assert.Positive(t, idx)

	// IPv6 is off in the namespaces, not in ours.
	assert.Equal(t, "1", readSysctl(t, v.A.NS, "net/ipv6/conf/"+v.A.Name+"/disable_ipv6"))
	assert.Equal(t, "1", readSysctl(t, v.B.NS, "net/ipv6/conf/default/disable_ipv6"))
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6"); err == nil {
		assert.Equal(t, "0", strings.TrimSpace(string(b)), "the test's own namespace must not change")
	}
}

// kernelUDP sends msg from a kernel UDP socket bound to src (port 0) in
// from to one listening on dst:9000 in to, and checks that it arrives, from
// src.
func kernelUDP(t *testing.T, network string, from, to *netns.NS, src, dst netip.Addr, msg string) {
	t.Helper()
	srv, err := to.ListenUDP(network, netip.AddrPortFrom(dst, 9000))
	require.NoError(t, err)
	defer srv.Close()
	cli, err := from.ListenUDP(network, netip.AddrPortFrom(src, 0))
	require.NoError(t, err)
	defer cli.Close()

	_, err = cli.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(dst, 9000))
	require.NoError(t, err)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, got, err := srv.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, msg, string(buf[:n]))
	assert.Equal(t, src, got.Addr())
}

func TestKernelUDPAcrossVeth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		network string
		a, b    netip.Addr
		bits    int
	}{
		{"v4", "udp4", netns.IPv4(1), netns.IPv4(2), 24},
		{"v6", "udp6", netns.IPv6(1), netns.IPv6(2), 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
			v.A.AddAddr(t, netip.PrefixFrom(tc.a, tc.bits))
			v.B.AddAddr(t, netip.PrefixFrom(tc.b, tc.bits))
			assert.Equal(t, "0", readSysctl(t, v.A.NS, "net/ipv6/conf/"+v.A.Name+"/accept_ra"))
			kernelUDP(t, tc.network, v.A.NS, v.B.NS, tc.a, tc.b, "ping")
		})
	}
}

func TestVLANAndSameNS(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, &netns.VethOptions{SameNS: true})
	require.Equal(t, v.A.NS, v.B.NS)
	q := v.A.AddVLAN(t, 0x8100, 100)
	ad := v.B.AddVLAN(t, 0x88a8, 4094)
	assert.Equal(t, v.A.Name+".100", q.Name)
	assert.Equal(t, "1", readSysctl(t, ad.NS, "net/ipv6/conf/"+ad.Name+"/disable_ipv6"))
	require.NoError(t, q.NS.IP("link", "show", "dev", ad.Name))
}

func TestLAN(t *testing.T) {
	t.Parallel()
	lan := netns.NewLAN(t, 3, nil)
	require.Len(t, lan.Hosts, 3)
	for i, h := range lan.Hosts {
		h.AddAddr(t, netip.PrefixFrom(netns.IPv4(10+i), 24))
	}
	kernelUDP(t, "udp4", lan.Hosts[0].NS, lan.Hosts[2].NS, netns.IPv4(10), netns.IPv4(12), "hi")
}

func TestDoPanicAndThread(t *testing.T) {
	ns := netns.New(t, nil)
	assert.PanicsWithValue(t, "boom", func() {
		_ = ns.Do(func() error { panic("boom") })
	})
	// After Do the calling goroutine is still in the original namespace.
	_, err := net.InterfaceByName("lo")
	require.NoError(t, err)
	var inside []net.Interface
	require.NoError(t, ns.Do(func() error {
		var err error
		inside, err = net.Interfaces()
		return err
	}))
	require.Len(t, inside, 1, "a new namespace has only lo")
}

func TestCleanupRemovesNamespace(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		ns := netns.New(t, nil)
		name = ns.Name
		_, err := os.Stat("/run/netns/" + name)
		require.NoError(t, err)
	})
	if name == "" {
		t.Skip("harness unavailable")
	}
	_, err := os.Stat("/run/netns/" + name)
	assert.True(t, os.IsNotExist(err), "namespace %s left behind", name)
}
