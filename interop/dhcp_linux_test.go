package interop_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

var dhcpClientMAC = net.HardwareAddr{0x02, 0xdc, 0, 0, 0, 0x01}

// startDnsmasq runs dnsmasq as a DHCP server (DNS off) on link l until t
// ends, and returns its log and lease file once it serves.
func startDnsmasq(t *testing.T, l *netns.Link) (log *logBuffer, leases string) {
	t.Helper()
	requireProgram(t, "dnsmasq", "dnsmasq-base")
	leases = filepath.Join(t.TempDir(), "leases")
	log = &logBuffer{}
	// --no-ping: dnsmasq would otherwise ping an address before offering
	// it and delay the offer by seconds.
	exited := runDnsmasq(t, l, log, "--no-ping",
		"--dhcp-range=198.18.0.100,198.18.0.200,255.255.0.0,2m", "--dhcp-leasefile="+leases)
	exitedOrServes := func() bool {
		select {
		case <-exited:
			return true
		default:
			return strings.Contains(log.String(), "DHCP, IP range")
		}
	}
	testkit.Eventually(t, 10*time.Second, exitedOrServes, "dnsmasq does not serve: %s", log)
	select {
	case <-exited:
		t.Fatalf("dnsmasq exited: %s", log)
	default:
	}
	return log, leases
}

// runDnsmasq runs dnsmasq on link l with DNS off and args, logging to log,
// until t ends; the channel is closed when it exits.
func runDnsmasq(t *testing.T, l *netns.Link, log *logBuffer, args ...string) <-chan struct{} {
	t.Helper()
	// --no-daemon: no fork, no pid file, no change of user.
	cmd := l.NS.Command("dnsmasq", append([]string{"--no-daemon", "--conf-file=/dev/null", "--interface=" + l.Name,
		"--bind-interfaces", "--except-interface=lo", "--port=0", "--no-hosts", "--log-dhcp", "--log-facility=-"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", log)
		}
	})
	return exited
}

// TestDHCPRenewDnsmasq: an unmodified nclient4 on a host (no IPv4 address
// yet, a rudp.Conn on 0.0.0.0:68 as its net.PacketConn) gets a lease from
// dnsmasq, installs it with AddAddr, and renews it twice after the
// server's kernel forgot the client's MAC: broadcast (nclient4's default
// server address; dnsmasq answers unicast to the lease, so its kernel
// must resolve the client by ARP, which the host answers: the renewal
// that failed before the host layer) and unicast to the server (RFC 2131
// RENEWING; the host resolves the server by ARP).
func TestDHCPRenewDnsmasq(t *testing.T) {
	r, v := hostLink(t, false, "198.18.0.1/16")
	log, leases := startDnsmasq(t, v.B)
	h := newHost(t, r, host.Config{MAC: dhcpClientMAC, Broadcast: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	newClient := func(opts ...nclient4.ClientOpt) *nclient4.Client {
		conn, err := h.ListenUDP(netip.MustParseAddrPort("0.0.0.0:68"))
		require.NoError(t, err)
		opts = append([]nclient4.ClientOpt{nclient4.WithTimeout(2 * time.Second), nclient4.WithRetry(4)}, opts...)
		cl, err := nclient4.NewWithConn(conn, dhcpClientMAC, opts...)
		require.NoError(t, err)
		return cl
	}
	cl := newClient()
	defer cl.Close()
	start := time.Now()
	lease, err := cl.Request(ctx)
	require.NoError(t, err, "DORA")
	t.Logf("lease in %v", time.Since(start))
	yiaddr, ok := netip.AddrFromSlice(lease.ACK.YourIPAddr.To4())
	require.True(t, ok, "lease %v", lease.ACK.YourIPAddr)
	require.True(t, netip.MustParsePrefix("198.18.0.0/24").Contains(yiaddr) && yiaddr.As4()[3] >= 100 && yiaddr.As4()[3] <= 200,
		"lease %v from the range", yiaddr)
	ones, bits := lease.ACK.SubnetMask().Size()
	require.Equal(t, []int{16, 32}, []int{ones, bits}, "mask of the lease")
	require.NoError(t, h.AddAddr(netip.PrefixFrom(yiaddr, ones)))
	server := lease.ACK.ServerIdentifier()
	require.Equal(t, "198.18.0.1", server.String())

	renew := func(cl *nclient4.Client, lease *nclient4.Lease, what string) *nclient4.Lease {
		t.Helper()
		// dnsmasq wrote the client into its kernel's ARP table to send
		// the first ACK; a renewal comes when that entry is long gone.
		run(t, v.B.NS, "ip", "neigh", "flush", "dev", v.B.Name)
		before := h.Stats().ARPAnswered
		start := time.Now()
		renewed, err := cl.Renew(ctx, lease)
		require.NoError(t, err, "%s renewal; host %+v", what, h.Stats())
		t.Logf("%s renewal: ACK in %v", what, time.Since(start))
		assert.Equal(t, dhcpv4.MessageTypeAck, renewed.ACK.MessageType(), what)
		assert.True(t, renewed.ACK.YourIPAddr.Equal(lease.ACK.YourIPAddr), "%s renewal: same address", what)
		out := run(t, v.B.NS, "ip", "neigh", "show", yiaddr.String(), "dev", v.B.Name)
		assert.Contains(t, out, dhcpClientMAC.String(), "%s renewal: the server's kernel learned the host", what)
		if what == "broadcast" {
			assert.Greater(t, h.Stats().ARPAnswered, before, "the host answered the server kernel's ARP for the lease")
		}
		return renewed
	}
	lease = renew(cl, lease, "broadcast")
	require.NoError(t, cl.Close()) // closes its conn: port 68 is free again

	cl2 := newClient(nclient4.WithServerAddr(&net.UDPAddr{IP: server, Port: nclient4.ServerPort}))
	defer cl2.Close()
	renew(cl2, lease, "unicast")

	assert.GreaterOrEqual(t, strings.Count(log.String(), "DHCPACK("+v.B.Name+") "+yiaddr.String()+" "+dhcpClientMAC.String()), 3,
		"dnsmasq acknowledged the lease and both renewals")
	b, err := os.ReadFile(leases)
	require.NoError(t, err)
	assert.Contains(t, string(b), dhcpClientMAC.String()+" "+yiaddr.String(), "dnsmasq's lease file")
}
