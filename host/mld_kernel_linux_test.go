//go:build linux

package host_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/netns"
)

// TestKernelMLDSnooping: a kernel bridge with MLD snooping, as a switch
// that delivers a group only to the ports that reported it, learns the
// hosts' solicited-node groups on their port and keeps them past its
// membership interval, because the hosts answer its queries; it drops a
// group soon after the host leaves it. A host with NoMLD is never learned.
func TestKernelMLDSnooping(t *testing.T) {
	netns.Require(t)
	lan := netns.NewLAN(t, 1, &netns.Options{IPv6: true})
	br, port := lan.Bridge.Name, lan.Ports[0].Name
	// Timers in hundredths of a second: a query every second, answers
	// within half of one, groups forgotten 3 s after their last report.
	lan.Hub.MustIP(t, "link", "set", br, "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1",
		"mcast_query_interval", "100", "mcast_startup_query_interval", "100", "mcast_query_response_interval", "50",
		"mcast_membership_interval", "300", "mcast_last_member_interval", "20", "mcast_last_member_count", "2")
	lan.Bridge.AddAddr(t, pfx("fe80::fe/64")) // the querier's source
	r := relayOn(t, lan.Hosts[0], afpacket.Config{})
	h := mustHost(t, r, host.Config{MAC: mac(1), Addrs: []netip.Prefix{pfx("2001:db8::1/64")}})
	mustHost(t, r, host.Config{MAC: mac(2), NoMLD: true, Addrs: []netip.Prefix{pfx("2001:db8::2/64")}})

	gLL, g1 := frame.SolicitedNode(frame.LinkLocal(frame.MAC(mac(1)))), frame.SolicitedNode(netip.MustParseAddr("2001:db8::1"))
	gNo := frame.SolicitedNode(netip.MustParseAddr("2001:db8::2"))
	learned := func() map[netip.Addr]bool {
		out, err := lan.Hub.Command("bridge", "mdb", "show", "dev", br).CombinedOutput()
		require.NoError(t, err, "%s", out)
		m := map[netip.Addr]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "grp" && strings.Contains(l, "port "+port+" ") {
					if a, err := netip.ParseAddr(f[i+1]); err == nil {
						m[a] = true
					}
				}
			}
		}
		return m
	}
	waitLearned := func(what string, cond func(map[netip.Addr]bool) bool) map[netip.Addr]bool {
		t.Helper()
		var m map[netip.Addr]bool
		require.Eventually(t, func() bool { m = learned(); return cond(m) }, 10*time.Second, 100*time.Millisecond, "%s: %v", what, m)
		return m
	}
	waitLearned("the host's groups", func(m map[netip.Addr]bool) bool { return m[gLL] && m[g1] })
	time.Sleep(4 * time.Second) // past the membership interval
	m := learned()
	assert.True(t, m[gLL] && m[g1], "kept by answers to the bridge's queries: %v", m)
	assert.False(t, m[gNo], "a host with NoMLD is not learned")

	require.NoError(t, h.RemoveAddr(netip.MustParseAddr("2001:db8::1")))
	left := time.Now()
	waitLearned("the left group gone", func(m map[netip.Addr]bool) bool { return !m[g1] && m[gLL] })
	// The leave, then the bridge's two last-member queries 0.2 s apart;
	// without the leave it would take the 3 s membership interval.
	assert.Less(t, time.Since(left), 1500*time.Millisecond, "the group went on the host's leave")
}
