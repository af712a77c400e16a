package main

import (
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

// TestHostsKernelPingSweep runs "etherconn hosts --prefix 198.18.0.0/16
// --count 1000" in this process on one end of a veth pair; the kernel in
// the other namespace, with no static neighbour entries, pings all 1,000
// addresses from a raw ICMP socket and every one answers. SIGINT then ends
// the command, which prints its summary. It skips without root.
func TestHostsKernelPingSweep(t *testing.T) {
	const n = 1000
	netns.Require(t)
	v := netns.NewVeth(t, nil)
	v.B.AddAddr(t, netip.MustParsePrefix("198.18.255.254/16"))

	var stdout, stderr hostsLog
	done := testkit.Go(func() int {
		code := -1
		_ = v.A.NS.Do(func() error {
			// --duration only bounds a test that fails before its SIGINT.
			code = run([]string{"hosts", "--interface", v.A.Name, "--prefix", "198.18.0.0/16", "--count", "1000",
				"--duration", "2m"}, &stdout, &stderr)
			return nil
		})
		return code
	})
	// The test catches SIGINT too, so that one sent as the command ends
	// (in a failed run) cannot kill the test binary.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT)
	stopped := false
	stop := func() int {
		if stopped {
			return 0
		}
		stopped = true
		require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
		return testkit.Await(t, done, 30*time.Second, "etherconn hosts did not stop on SIGINT")
	}
	t.Cleanup(func() { // before the namespaces go, also on failure
		stop()
		signal.Stop(sig)
	})
	stderr.waitFor(t, "1000 hosts up on "+v.A.Name)

	addrs := make([]netip.Addr, n)
	for i, a := 0, netip.MustParseAddr("198.18.0.1"); i < n; i, a = i+1, a.Next() {
		addrs[i] = a
	}
	missing := v.B.NS.PingSweep(t, netip.MustParseAddr("198.18.255.254"), addrs, 30*time.Second)
	assert.Empty(t, missing, "hosts that did not answer the kernel's ping")

	require.Equal(t, 0, stop(), "stderr: %s", stderr.String())
	out := stdout.String()
	t.Log("\n" + out)
	assert.Contains(t, out, "hosts: 1000 on "+v.A.Name+", 198.18.0.1 to 198.18.3.232/16")
	assert.Contains(t, out, "(interrupted)\n")
	assert.Regexp(t, `answered: ARP \d{4,}, ND 0, echo 1000 \(0 over the echo rate\)\n`, out)
}
