package interop_test

import (
	"bytes"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/relay"
)

// requireProgram fails t when a peer program is missing: CI installs it
// (.ci/run), so a missing one is a broken machine, not a reason to skip.
func requireProgram(t *testing.T, name, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("this test runs %s against a host: install it (apt-get install %s; .ci/run does): %v", name, debianPackage, err)
	}
}

// hostLink makes a veth pair: a relay over AF_PACKET on end A for the
// hosts, the kernel's stack on end B with the addresses given and no
// static neighbour entries. It skips without privileges.
func hostLink(t *testing.T, ipv6 bool, kernelAddrs ...string) (*relay.Relay, *netns.Veth) {
	t.Helper()
	netns.Require(t)
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: ipv6}})
	for _, a := range kernelAddrs {
		v.B.AddAddr(t, netip.MustParsePrefix(a))
	}
	pio, err := v.A.Open(func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	})
	require.NoError(t, err)
	r := relay.New(pio, relay.Config{})
	t.Cleanup(func() { r.Close() })
	return r, v
}

// newHost makes a host closed when t ends, before its relay.
func newHost(t *testing.T, r *relay.Relay, cfg host.Config) *host.Host {
	t.Helper()
	h, err := host.New(r, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

// run runs a command in ns and returns its output; it fails t on error.
func run(t *testing.T, ns *netns.NS, name string, args ...string) string {
	t.Helper()
	out, err := ns.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// logBuffer collects a daemon's output for the test's messages; the
// daemon writes from a goroutine of os/exec.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
