package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/etherconn/etherconn/internal/netns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoAfpacket runs "etherconn demo --backend afpacket" on the two ends
// of a veth pair that share one namespace made for the test; the command runs
// in this process, on a thread inside that namespace. It skips without root.
func TestDemoAfpacket(t *testing.T) {
	for _, tc := range []struct{ backend, vlan string }{
		{"afpacket", "100"}, {"afpacket", "0x88a8:100.200"}, {"afpacket-frames", "100"}, {"afpacket-socket", "100"}, {"afpacket-ring", "100"},
	} {
		backend, vlan := tc.backend, tc.vlan
		t.Run(backend+"/"+vlan, func(t *testing.T) {
			v := netns.NewVeth(t, &netns.VethOptions{SameNS: true})
			var out, errOut bytes.Buffer
			var code int
			require.NoError(t, v.A.NS.Do(func() error {
				code = run([]string{"demo", "--backend", backend, "--interface", v.A.Name, "--peer", v.B.Name,
					"--count", "3", "--vlan", vlan}, &out, &errOut)
				return nil
			}))
			require.Equal(t, 0, code, "stderr: %s\nstdout: %s", errOut.String(), out.String())
			s := out.String()
			t.Log("\n" + s)
			for _, fam := range []string{"IPv4", "IPv6"} {
				for i := 0; i < 3; i++ {
					assert.Contains(t, s, fmt.Sprintf(`B received "hello %d from A to B over %s"`, i, fam))
					assert.Contains(t, s, fmt.Sprintf(`A received "hello %d from B to A over %s"`, i, fam))
				}
			}
			// Each relay reads the 6 datagrams sent to its host and nothing
			// else (IPv6 is off in the namespace, so the kernel is quiet).
			// Counters are bumped before a datagram is queued, so they are
			// exact as soon as the last one has been read.
			for _, h := range []string{"A", "B"} {
				assert.Regexp(t, fmt.Sprintf(`relay of host %s: in 6 frames/\d+ bytes, out 6 frames/\d+ bytes, delivered 6, misses 0, malformed 0, queue drops 0, write errors 0, hairpinned 0`, h), s)
			}
		})
	}
}

// TestDemoAfpacketErrors needs no privileges.
func TestDemoAfpacketErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"demo", "--backend", "afpacket"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "backend afpacket needs --interface")

	errOut.Reset()
	require.Equal(t, 1, run([]string{"demo", "--backend", "nope", "--interface", "x"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "afpacket", "the unknown-backend message lists afpacket")

	errOut.Reset()
	require.Equal(t, 1, run([]string{"demo", "--backend", "afpacket", "--interface", "nosuch0"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "afpacket: open nosuch0")
}
