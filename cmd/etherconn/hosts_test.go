package main

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

// TestParseHosts: the addresses, MACs and gateways the flags of
// etherconn hosts give, and a clear error for each bad input.
func TestParseHosts(t *testing.T) {
	base := []string{"--interface", "eth9"}
	for _, tc := range []struct {
		name                string
		args                []string
		n                   int
		first, last         string // IPv4 addresses with prefix length
		first6, last6       string
		gw4, gw6            string
		firstMAC, lastMAC   string
		wantErr, wantErrNot string
		echoMulticast       bool
	}{
		{name: "range", args: []string{"--range", "198.18.0.10-198.18.3.255"}, n: 1014,
			first: "198.18.0.10/21", last: "198.18.3.255/21",
			firstMAC: "02:ec:01:00:00:00", lastMAC: "02:ec:01:00:03:f5"},
		{name: "range with length", args: []string{"--range", "198.18.0.10-198.18.0.20/16"}, n: 11,
			first: "198.18.0.10/16", last: "198.18.0.20/16"},
		{name: "range of one", args: []string{"--range", "198.18.0.10-198.18.0.10"}, n: 1,
			first: "198.18.0.10/30", last: "198.18.0.10/30"},
		{name: "range of a /24's hosts", args: []string{"--range", "198.18.0.1-198.18.0.254"}, n: 254,
			first: "198.18.0.1/24", last: "198.18.0.254/24"},
		{name: "prefix network", args: []string{"--prefix", "198.18.0.0/16", "--count", "1000"}, n: 1000,
			first: "198.18.0.1/16", last: "198.18.3.232/16"},
		{name: "prefix from an address", args: []string{"--prefix", "198.18.0.10/16", "--count", "2"}, n: 2,
			first: "198.18.0.10/16", last: "198.18.0.11/16"},
		{name: "prefix full", args: []string{"--prefix", "198.18.0.0/30", "--count", "2"}, n: 2,
			first: "198.18.0.1/30", last: "198.18.0.2/30"},
		{name: "point-to-point", args: []string{"--prefix", "198.18.0.0/31", "--count", "2"}, n: 2,
			first: "198.18.0.0/31", last: "198.18.0.1/31"},
		{name: "v6 and gateways", args: []string{"--prefix", "198.18.0.0/24", "--count", "3", "--v6", "2001:db8::/64",
			"--gateway", "198.18.0.254", "--gateway", "fe80::1", "--mac", "02:00:00:00:00:fe"}, n: 3,
			first: "198.18.0.1/24", last: "198.18.0.3/24", first6: "2001:db8::1/64", last6: "2001:db8::3/64",
			gw4: "198.18.0.254", gw6: "fe80::1", firstMAC: "02:00:00:00:00:fe", lastMAC: "02:00:00:00:01:00"},
		{name: "v6 from an address", args: []string{"--range", "198.18.0.1-198.18.0.2", "--v6", "2001:db8::110/120",
			"--gateway", "2001:db8::1ff"}, n: 2,
			first6: "2001:db8::110/120", last6: "2001:db8::111/120", gw6: "2001:db8::1ff"},

		{name: "no interface", args: []string{"--interface", "", "--prefix", "198.18.0.0/24", "--count", "1"}, wantErr: "--interface is required"},
		{name: "no addresses", wantErr: "either --range or --prefix"},
		{name: "both", args: []string{"--range", "198.18.0.1-198.18.0.2", "--prefix", "198.18.0.0/24"}, wantErr: "either --range or --prefix"},
		{name: "count with range", args: []string{"--range", "198.18.0.1-198.18.0.2", "--count", "2"}, wantErr: "--count goes with --prefix"},
		{name: "prefix without count", args: []string{"--prefix", "198.18.0.0/24"}, wantErr: "--count must be positive"},
		{name: "negative count", args: []string{"--prefix", "198.18.0.0/24", "--count", "-1"}, wantErr: "--count must be positive"},
		{name: "too many", args: []string{"--prefix", "198.18.0.0/8", "--count", "300000"}, wantErr: "more than 262144 hosts"},
		{name: "no room", args: []string{"--prefix", "198.18.0.0/30", "--count", "3"}, wantErr: "room for 2 hosts from 198.18.0.1, not 3"},
		{name: "no room at all", args: []string{"--prefix", "198.18.0.255/24", "--count", "1"}, wantErr: "room for 0 hosts from 198.18.0.255"},
		{name: "bad prefix", args: []string{"--prefix", "198.18.0.0", "--count", "1"}, wantErr: "--prefix: netip.ParsePrefix"},
		{name: "v6 prefix", args: []string{"--prefix", "2001:db8::/64", "--count", "1"}, wantErr: "IPv4 only (IPv6 addresses come from --v6)"},
		{name: "multicast prefix", args: []string{"--prefix", "224.0.0.0/24", "--count", "1"}, wantErr: "not a unicast prefix"},
		{name: "range without dash", args: []string{"--range", "198.18.0.1"}, wantErr: "want FIRST-LAST[/LEN]"},
		{name: "range not addresses", args: []string{"--range", "a-b"}, wantErr: `ParseAddr("a")`},
		{name: "range reversed", args: []string{"--range", "198.18.0.9-198.18.0.1"}, wantErr: "198.18.0.9 comes after 198.18.0.1"},
		{name: "range v6", args: []string{"--range", "2001:db8::1-2001:db8::2"}, wantErr: "IPv4 addresses only"},
		{name: "range too big", args: []string{"--range", "198.18.0.0-198.22.0.0"}, wantErr: "more than 262144 hosts"},
		{name: "range bad length", args: []string{"--range", "198.18.0.1-198.18.0.2/33"}, wantErr: `prefix length "33" is not 0 to 32`},
		{name: "range outside length", args: []string{"--range", "198.18.0.1-198.18.1.2/24"}, wantErr: "198.18.1.2 is outside 198.18.0.0/24"},
		{name: "range holds broadcast", args: []string{"--range", "198.18.0.10-198.18.3.255/22"}, wantErr: "holds the network or broadcast address of 198.18.0.0/22"},
		{name: "v6 not v6", args: []string{"--range", "198.18.0.1-198.18.0.2", "--v6", "198.19.0.0/16"}, wantErr: "--v6 198.19.0.0/16: want an IPv6 prefix"},
		{name: "v6 no room", args: []string{"--range", "198.18.0.1-198.18.0.9", "--v6", "2001:db8::/126"}, wantErr: "--v6 2001:db8::/126: room for 3 hosts"},
		{name: "bad gateway", args: []string{"--range", "198.18.0.1-198.18.0.2", "--gateway", "x"}, wantErr: "--gateway: ParseAddr"},
		{name: "gateway off link", args: []string{"--range", "198.18.0.1-198.18.0.2/24", "--gateway", "198.19.0.1"}, wantErr: "not on the hosts' link 198.18.0.0/24"},
		{name: "gateway is a host", args: []string{"--prefix", "198.18.0.0/24", "--count", "9", "--gateway", "198.18.0.5"}, wantErr: "one of the hosts' addresses (198.18.0.1 to 198.18.0.9)"},
		{name: "two v4 gateways", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--gateway", "198.18.0.254", "--gateway", "198.18.0.253"}, wantErr: "already have 198.18.0.254"},
		{name: "v6 gateway without v6", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--gateway", "fe80::1"}, wantErr: "an IPv6 gateway needs --v6"},
		{name: "multicast gateway", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--gateway", "224.0.0.1"}, wantErr: "not a unicast address"},
		{name: "group MAC", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--mac", "03:00:00:00:00:01"}, wantErr: "not a unicast Ethernet address"},
		{name: "MAC overflow", args: []string{"--prefix", "198.18.0.0/24", "--count", "2", "--mac", "02:ff:ff:ff:ff:ff"}, wantErr: "2 hosts would run past 02:ff:ff:ff:ff:ff"},
		{name: "bad MAC", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--mac", "zz"}, wantErr: "--mac:"},
		{name: "bad vlan", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--vlan", "4096"}, wantErr: "--vlan:"},
		{name: "negative duration", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--duration", "-1s"}, wantErr: "--duration -1s is negative"},
		{name: "echo multicast", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--v6", "2001:db8::/64", "--echo-multicast"}, n: 1,
			first6: "2001:db8::1/64", last6: "2001:db8::1/64", echoMulticast: true},
		{name: "unknown backend", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "--backend", "nope"}, wantErr: `unknown backend "nope"`},
		{name: "extra argument", args: []string{"--prefix", "198.18.0.0/24", "--count", "1", "eth0"}, wantErr: `unexpected argument "eth0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := backends["afpacket"]; !ok && tc.wantErr == "" {
				t.Skip("the afpacket backend is Linux-only")
			}
			c, err := parseHosts(append(append([]string{}, base...), tc.args...), io.Discard)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, c.v4, tc.n)
			if tc.first != "" {
				assert.Equal(t, tc.first, c.v4[0].String())
				assert.Equal(t, tc.last, c.v4[tc.n-1].String())
			}
			if tc.first6 != "" {
				require.Len(t, c.v6, tc.n)
				assert.Equal(t, tc.first6, c.v6[0].String())
				assert.Equal(t, tc.last6, c.v6[tc.n-1].String())
			} else {
				assert.Empty(t, c.v6)
			}
			assert.Equal(t, tc.echoMulticast, c.echoMulticast)
			assert.Equal(t, tc.gw4, addrString(c.gw4))
			assert.Equal(t, tc.gw6, addrString(c.gw6))
			if tc.firstMAC != "" {
				assert.Equal(t, tc.firstMAC, c.macAt(0).String())
				assert.Equal(t, tc.lastMAC, c.macAt(tc.n-1).String())
			}
			seen := map[string]bool{}
			for i := range tc.n {
				seen[c.macAt(i).String()] = true
			}
			assert.Len(t, seen, tc.n, "MACs are distinct")
		})
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// hostsLog is an io.Writer the command writes to from its goroutine while
// the test reads it.
type hostsLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *hostsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *hostsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits up to 20 s for s to appear in l.
func (l *hostsLog) waitFor(t *testing.T, s string) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() bool { return strings.Contains(l.String(), s) },
		"no %q in the output:\n%s", s, l)
}

func hostsSerialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes()
}

// TestHostsMemio runs etherconn hosts over a memio pipe, whose other end
// the test holds (no privileges needed): three hosts answer an ARP request,
// a Neighbor Solicitation and IPv4 and IPv6 echo, each checked by gopacket;
// the status line comes once a second, and the summary when --duration
// ends counts exactly what was sent.
func TestHostsMemio(t *testing.T) {
	peerCh := make(chan *memio.Port, 1)
	backends["memtest"] = func(string) (backend.PacketIO, error) {
		a, b := memio.Pipe(memio.Config{})
		peerCh <- b
		return a, nil
	}
	t.Cleanup(func() { delete(backends, "memtest") })
	var stdout, stderr hostsLog
	done := testkit.Go(func() int {
		return run([]string{"hosts", "--backend", "memtest", "--interface", "x", "--prefix", "198.18.0.0/24",
			"--count", "3", "--v6", "2001:db8::/64", "--duration", "1500ms"}, &stdout, &stderr)
	})
	peer := <-peerCh
	defer peer.Close()
	stderr.waitFor(t, "3 hosts up on x in ")

	me := net.HardwareAddr{0x02, 0, 0, 0, 0, 0xfe}
	hostMAC := func(i byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0xec, 0x01, 0, 0, i} }
	me4, me6 := net.IP{198, 18, 0, 254}, net.ParseIP("2001:db8::fe")
	eth := func(dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: me, DstMAC: dst, EthernetType: et}
	}
	ip6 := func(dst net.IP, hop uint8) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolICMPv6, SrcIP: me6, DstIP: dst}
	}
	icmp6 := func(ip *layers.IPv6, tc layers.ICMPv6TypeCode) *layers.ICMPv6 {
		l := &layers.ICMPv6{TypeCode: tc}
		require.NoError(t, l.SetNetworkLayerForChecksum(ip))
		return l
	}
	nsIP := ip6(net.ParseIP("ff02::1:ff00:1"), 255)
	echo6IP := ip6(net.ParseIP("2001:db8::3"), 64)
	for _, f := range [][]byte{
		hostsSerialize(t, eth(layers.EthernetBroadcast, layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: me, SourceProtAddress: me4,
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 0, 2}}),
		hostsSerialize(t, eth(hostMAC(2), layers.EthernetTypeIPv4),
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: me4, DstIP: net.IP{198, 18, 0, 3}},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1},
			gopacket.Payload("ping4")),
		hostsSerialize(t, eth(net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, layers.EthernetTypeIPv6), nsIP,
			icmp6(nsIP, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)),
			&layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("2001:db8::1"),
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: me}}}),
		hostsSerialize(t, eth(hostMAC(2), layers.EthernetTypeIPv6), echo6IP,
			icmp6(echo6IP, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)),
			&layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("ping6")),
	} {
		require.NoError(t, peer.WriteFrame(f))
	}

	got, reporters := map[string]bool{}, map[string]bool{}
	buf := make([]byte, 2048)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	for len(got) < 4 {
		n, err := peer.ReadFrame(buf)
		require.NoError(t, err, "answers so far: %v", got)
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.Default)
		require.Nil(t, p.ErrorLayer(), "%v", p)
		e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if p.Layer(layers.LayerTypeMLDv2MulticastListenerReport) != nil {
			// The hosts report their solicited-node groups as they come up.
			reporters[e.SrcMAC.String()] = true
			continue
		}
		assert.Equal(t, me, e.DstMAC, "answers go to the asker")
		switch {
		case p.Layer(layers.LayerTypeARP) != nil:
			a := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			assert.Equal(t, uint16(layers.ARPReply), a.Operation)
			assert.Equal(t, []byte(hostMAC(1)), a.SourceHwAddress)
			assert.Equal(t, []byte{198, 18, 0, 2}, a.SourceProtAddress)
			got["arp"] = true
		case p.Layer(layers.LayerTypeICMPv4) != nil:
			ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			assert.Equal(t, uint8(layers.ICMPv4TypeEchoReply), ic.TypeCode.Type())
			assert.Equal(t, "ping4", string(ic.Payload))
			assert.Equal(t, net.IP{198, 18, 0, 3}, p.NetworkLayer().(*layers.IPv4).SrcIP.To4())
			got["echo4"] = true
		case p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement) != nil:
			na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			assert.Equal(t, "2001:db8::1", na.TargetAddress.String())
			assert.True(t, na.Solicited())
			assert.Equal(t, uint8(255), p.NetworkLayer().(*layers.IPv6).HopLimit)
			got["na"] = true
		case p.Layer(layers.LayerTypeICMPv6Echo) != nil:
			assert.Equal(t, "ping6", string(p.Layer(layers.LayerTypeICMPv6Echo).LayerPayload()))
			assert.Equal(t, "2001:db8::3", p.NetworkLayer().(*layers.IPv6).SrcIP.String())
			got["echo6"] = true
		default:
			t.Errorf("unexpected frame %v", p)
		}
	}

	assert.Len(t, reporters, 3, "every host reported its groups (MLD) before it answered")
	code := testkit.Await(t, done, 20*time.Second, "etherconn hosts did not stop after --duration")
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	out := stdout.String()
	t.Log("\n" + stderr.String() + out)
	assert.Regexp(t, `\n3 hosts up; answered ARP \d+, ND \d+, echo \d+ \(\d+ over rate\); neighbours \d+; relay in \d+, out \d+ frames, \d+ dropped\n`,
		stderr.String(), "the status line")
	for _, want := range []string{
		"hosts: 3 on x, 198.18.0.1 to 198.18.0.3/24, 2001:db8::1 to 2001:db8::3/64, MAC 02:ec:01:00:00:00 to 02:ec:01:00:00:02; stopped after ",
		"(--duration 1.5s elapsed)\n",
		"answered: ARP 1, ND 1, echo 2 (0 over the echo rate)\n",
		"dropped: unresolved 0, no route 0, malformed 0, not for us 0\n",
		"neighbours: 2 (evicted 0)\n",
		"relay: in 4 frames/",
	} {
		assert.Contains(t, out, want)
	}
}

// TestHostsUsage: -h prints the command's usage and succeeds; a bad flag
// fails with the usage on stderr.
func TestHostsUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"hosts", "-h"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "usage: etherconn hosts --interface IF")
	assert.Contains(t, stderr.String(), "-gateway")
	stderr.Reset()
	require.Equal(t, 1, run([]string{"hosts", "--nope"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "flag provided but not defined: -nope")
	stderr.Reset()
	require.Equal(t, 1, run([]string{"hosts", "--interface", "x", "--range", "198.18.0.1"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "etherconn hosts: --range \"198.18.0.1\": want FIRST-LAST[/LEN]")
}
