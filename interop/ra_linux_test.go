package interop_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
)

// TestRouterAdvertDnsmasq: a host with AcceptRA solicits a router, dnsmasq
// (router advertisements only, no DHCPv6) answers the solicitation, and
// the host then sends off-link traffic through dnsmasq's link-local
// address, resolving it by ND.
func TestRouterAdvertDnsmasq(t *testing.T) {
	requireProgram(t, "dnsmasq", "dnsmasq-base")
	r, v := hostLink(t, true, "fe80::fe/64", "2001:db8::fe/64")
	log := &logBuffer{}
	runDnsmasq(t, v.B, log, "--enable-ra", "--dhcp-range=2001:db8::,ra-only,64,2m")
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "router advertisement") },
		"dnsmasq does not advertise: %s", log)

	h := newHost(t, r, host.Config{MAC: dhcpClientMAC, AcceptRA: true, Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8::10/64")}})
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(log.String(), "RTR-SOLICIT") },
		"dnsmasq saw no solicitation: %s", log)
	router := netip.MustParseAddr("fe80::fe")
	c, err := h.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("[2001:db8:ffff::1]:9"))
	require.NoError(t, err)
	defer c.Close()
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, _ = c.Write([]byte("off the link"))
		for _, n := range h.Neighbors() {
			if n.Addr == router && n.MAC.String() == v.B.MAC.String() {
				return true
			}
		}
		return false
	}, "the host did not route through dnsmasq's %v: neighbours %v", router, h.Neighbors())
}
