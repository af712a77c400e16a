package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// go test ./cmd/etherconn -run Golden -update rewrites the captures in
// testdata/ from captures_test.go and the golden outputs from them. Review
// the diff of the .golden files before committing it.
var update = flag.Bool("update", false, "rewrite testdata/*.pcap* and testdata/*.golden")

// goldenCases replay a capture with a set of endpoints; the exact stdout is
// kept in testdata/NAME.golden. want and notWant are the facts the output
// must show: they are checked with -update too, so a regression cannot be
// blessed by accident.
var goldenCases = []struct {
	name    string
	capture string
	flags   []string
	want    []string
	notWant []string
}{
	{
		name:    "dhcp-vlan100",
		capture: "dhcp-vlan100.pcap",
		// The server takes IPv4 only, so the client's ARP probe is not its.
		flags: []string{"--endpoint", dhcpClient + "/100", "--endpoint", dhcpServer + "/100#0x0800", "--unmatched"},
		want: []string{
			"endpoint " + dhcpClient + "/100: 5 frames",
			"endpoint " + dhcpServer + "/100#0x0800: 2 frames",
			dhcpClient + " > ff:ff:ff:ff:ff:ff vlan 100 type 0x0800 len 346 udp 0.0.0.0:68 > 255.255.255.255:67 payload 300",
			dhcpServer + " > " + dhcpClient + " vlan 100 type 0x0800 len 346 udp 192.0.2.1:67 > 192.0.2.100:68 payload 300",
			dhcpClient + " > ff:ff:ff:ff:ff:ff vlan 100 type 0x0806 len 60",
			"unmatched: 1 frames\n  1: " + dhcpClient2 + " > ff:ff:ff:ff:ff:ff vlan 200",
			"relay: in 6 frames/1790 bytes, delivered 8, misses 0, malformed 0, queue drops 0",
		},
		notWant: []string{"bad-checksum", "error"},
	},
	{
		name:    "qinq-outbound",
		capture: "qinq.pcapng",
		flags:   []string{"--outbound", "--endpoint", qinqA + "/" + qinqStack, "--endpoint", qinqB + "/" + qinqStack, "--unmatched"},
		want: []string{
			"endpoint " + qinqA + "/" + qinqStack + ": 2 frames",
			"endpoint " + qinqB + "/" + qinqStack + ": 4 frames",
			"vlan 0x88a8:100/p5.200/p3/dei type 0x0800",
			"unmatched: 4 frames",
			"vlan 100.200 type 0x0800", "vlan 0x88a8:100 type 0x0800", "vlan 0x88a8:100.201 type", "vlan 0x88a8:100.200.300 type",
			"relay: in 10 frames",
		},
		notWant: []string{"bad-checksum", "malformed 1", "error"},
	},
	{
		// Without --outbound, the frames host A sent are not replayed.
		name:    "qinq-inbound",
		capture: "qinq.pcapng",
		flags:   []string{"--endpoint", qinqA + "/" + qinqStack, "--endpoint", qinqB + "/" + qinqStack, "--unmatched"},
		want: []string{
			"endpoint " + qinqA + "/" + qinqStack + ": 2 frames",
			"endpoint " + qinqB + "/" + qinqStack + ": 1 frames",
			"unmatched: 4 frames",
			"relay: in 7 frames",
		},
		notWant: []string{"ping", "error"},
	},
	{
		name:    "ipv6-ext",
		capture: "ipv6-ext.pcap",
		flags:   []string{"--endpoint", v6A, "--endpoint", v6B, "--unmatched"},
		want: []string{
			"endpoint " + v6B + ": 7 frames",
			"endpoint " + v6A + ": 1 frames",
			"udp [2001:db8:6::1]:7000 > [2001:db8:6::2]:7001 payload 36\n", // hop-by-hop + destination options
			"ipv6 proto 59",
			"ipv6 proto 17 fragment",
			"unmatched: 0 frames",
			"malformed 0",
		},
		notWant: []string{"bad-checksum", "error"},
	},
	{
		name:    "runts",
		capture: "runts.pcap",
		flags:   []string{"--endpoint", runtB, "--endpoint", runtB + "/100", "--unmatched"},
		want: []string{
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 0\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 1\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 5\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 17\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 18\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 4\n",
			"len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 3\n", // IPv4 options
			"vlan 100 type 0x0800 len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 2\n",
			"vlan 100 type 0x0800 len 60 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 14\n",
			"vlan 100 type 0x0800 len 64 udp 198.18.2.1:4000 > 198.18.2.2:4001 payload 3\n",
			"unmatched: 0 frames",
			"malformed 0",
		},
		notWant: []string{"bad-checksum", "error"},
	},
	{
		name:    "malformed",
		capture: "malformed.pcap",
		flags:   []string{"--endpoint", malB + "/100", "--unmatched"},
		want: []string{
			"endpoint " + malB + "/100: 1 frames",
			"payload 36\nunmatched: 0 frames",
			"relay: in 10 frames/", "misses 0, malformed 9,",
		},
		notWant: []string{"bad-checksum", "error"},
	},
	{
		name:    "bad-checksum",
		capture: "bad-checksum.pcap",
		flags:   []string{"--endpoint", csB},
		want: []string{
			"endpoint " + csB + ": 7 frames",
			"payload 18\n",                 // good IPv4
			"payload 21 bad-checksum\n",    // bad IPv4 UDP checksum
			"payload 27\n",                 // IPv4 without checksum: fine
			"payload 24 bad-ip-checksum\n", // bad IPv4 header checksum
			"payload 21 bad-checksum\n",    // bad IPv6 UDP checksum
			"payload 31 bad-checksum\n",    // zero checksum, invalid in IPv6
			"malformed 0",
		},
		notWant: []string{"error"},
	},
}

func TestGolden(t *testing.T) {
	// The captures first: with -update the replays below read the new ones.
	for _, c := range captureFiles {
		t.Run("capture/"+c.name, func(t *testing.T) {
			path := filepath.Join("testdata", c.name)
			got := c.encode(t)
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./cmd/etherconn -run Golden -update")
			require.True(t, bytes.Equal(want, got),
				"%s differs from what captures_test.go builds: run go test ./cmd/etherconn -run Golden -update and review the diff", path)
		})
	}
	for _, tc := range goldenCases {
		t.Run("replay/"+tc.name, func(t *testing.T) {
			args := append([]string{"replay"}, tc.flags...)
			args = append(args, filepath.Join("testdata", tc.capture))
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			require.Equal(t, 0, code, "etherconn %s\n%s", strings.Join(args, " "), stderr.String())
			assert.Empty(t, stderr.String())
			got := stdout.String()
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, got, w)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./cmd/etherconn -run Golden -update")
			assert.Equal(t, string(want), got, "output of etherconn %s differs from %s", strings.Join(args, " "), path)
		})
	}
}

// TestReplayDeterministic replays one capture many times: the output must
// not depend on goroutine scheduling.
func TestReplayDeterministic(t *testing.T) {
	tc := goldenCases[0]
	args := append(append([]string{"replay"}, tc.flags...), filepath.Join("testdata", tc.capture))
	var first string
	for i := range 20 {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, run(args, &stdout, &stderr), stderr.String())
		if i == 0 {
			first = stdout.String()
			continue
		}
		require.Equal(t, first, stdout.String(), "run %d", i)
	}
}
