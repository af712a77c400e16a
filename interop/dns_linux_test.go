package interop_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/host"
)

// TestDNSServerDig: miekg/dns serving on a host's ListenUDP sockets bound
// to 0.0.0.0:53 and [::]:53 answers the kernel's dig over IPv4 and IPv6,
// each side resolving the other by ARP/ND; the answers come from the
// address asked, not the unspecified one (a kernel would drop those).
func TestDNSServerDig(t *testing.T) {
	requireProgram(t, "dig", "dnsutils")
	r, v := hostLink(t, true, "198.18.0.1/16", "2001:db8::1/64", "fe80::1/64")
	mac := net.HardwareAddr{0x02, 0xdd, 0, 0, 0, 0x53}
	h := newHost(t, r, host.Config{MAC: mac,
		Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.53/16"), netip.MustParsePrefix("2001:db8::53/64")}})
	answers := map[uint16]string{dns.TypeA: "192.0.2.7", dns.TypeAAAA: "2001:db8::7"}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if a, ok := answers[qq.Qtype]; ok && qq.Name == "www.example.test." {
				rr, err := dns.NewRR(qq.Name + " 60 IN " + dns.TypeToString[qq.Qtype] + " " + a)
				if err == nil {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	for _, laddr := range []string{"0.0.0.0:53", "[::]:53"} {
		pc, err := h.ListenUDP(netip.MustParseAddrPort(laddr))
		require.NoError(t, err)
		started := make(chan struct{})
		srv := &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { close(started) }}
		served := make(chan error, 1)
		go func() { served <- srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() {
			assert.NoError(t, srv.Shutdown())
			<-served
		})
	}
	for _, tc := range []struct{ server, qtype, want string }{
		{"198.18.0.53", "A", "192.0.2.7"},
		{"2001:db8::53", "AAAA", "2001:db8::7"},
	} {
		start := time.Now()
		out := run(t, v.B.NS, "dig", "@"+tc.server, "+short", "+time=2", "+tries=3", "www.example.test.", tc.qtype)
		assert.Equal(t, tc.want, strings.TrimSpace(out), "dig @%s %s", tc.server, tc.qtype)
		t.Logf("dig @%s %s: %v", tc.server, tc.qtype, time.Since(start))
	}
	st := h.Stats()
	assert.NotZero(t, st.ARPAnswered, "the kernel resolved the host by ARP")
	assert.NotZero(t, st.NDAnswered, "the kernel resolved the host by ND")
}
