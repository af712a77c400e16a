package host_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mac(i byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 1, i} }

// pair returns two relays over a memio pipe: two separate links' ends.
func pair(t testing.TB) (ra, rb *relay.Relay) {
	a, b := memio.Pipe(memio.Config{QueueLen: 1024})
	ra, rb = relay.New(a, relay.Config{}), relay.New(b, relay.Config{})
	t.Cleanup(func() { ra.Close(); rb.Close() })
	return ra, rb
}

func mustHost(t testing.TB, r *relay.Relay, cfg host.Config) *host.Host {
	t.Helper()
	h, err := host.New(r, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

func pfx(s string) netip.Prefix  { return netip.MustParsePrefix(s) }
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func addr(s string) netip.Addr   { return netip.MustParseAddr(s) }
