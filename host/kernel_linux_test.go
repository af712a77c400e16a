//go:build linux

package host_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
)

// kernelLink is a veth pair: the hosts' relay on end A over AF_PACKET,
// the kernel's stack on end B with 198.18.0.2/16 and 2001:db8::2/64, and
// no static neighbour entries anywhere. With vlan, the kernel sees the
// link as VLAN 100 (eBPF tagger) and the hosts are on VLAN 100.
func kernelLink(t *testing.T, vlan bool) (*relay.Relay, *netns.Veth, frame.VLANs) {
	t.Helper()
	return kernelLinkWith(t, vlan, afpacket.Config{})
}

// kernelLinkWith is kernelLink with the hosts' AF_PACKET socket opened
// with cfg.
func kernelLinkWith(t *testing.T, vlan bool, cfg afpacket.Config) (*relay.Relay, *netns.Veth, frame.VLANs) {
	t.Helper()
	netns.Require(t)
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
	var vl frame.VLANs
	if vlan {
		v.B.TagVLANs(t, netns.VLANTag{TPID: 0x8100, ID: 100})
		vl = frame.VLANs{{ID: 100}}
	}
	v.B.AddAddr(t, pfx("198.18.0.2/16"))
	v.B.AddAddr(t, pfx("2001:db8::2/64"))
	v.B.AddAddr(t, pfx("fe80::2/64")) // the harness makes no link-local addresses
	return relayOn(t, v.A, cfg), v, vl
}

// relayOn opens an AF_PACKET socket with cfg on l and a relay over it,
// closed when t ends.
func relayOn(t *testing.T, l *netns.Link, cfg afpacket.Config) *relay.Relay {
	t.Helper()
	pio, err := l.Open(func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, cfg)
	})
	require.NoError(t, err)
	r := relay.New(pio, relay.Config{})
	t.Cleanup(func() { r.Close() })
	return r
}

func kernelHost(t *testing.T, r *relay.Relay, vl frame.VLANs) *host.Host {
	return mustHost(t, r, host.Config{MAC: mac(1), VLANs: vl,
		Addrs: []netip.Prefix{pfx("198.18.0.1/16"), pfx("2001:db8::1/64")}})
}

func run(t *testing.T, ns *netns.NS, name string, args ...string) string {
	t.Helper()
	out, err := ns.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

func requirePing(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatalf("the kernel ping test needs ping (iputils-ping): %v", err)
	}
}

// TestKernelPing: the kernel's ping and ping -6 reach a host with no
// static neighbour entries, untagged and on VLAN 100.
func TestKernelPing(t *testing.T) {
	requirePing(t)
	for _, vlan := range []bool{false, true} {
		t.Run(fmt.Sprintf("vlan=%v", vlan), func(t *testing.T) {
			r, v, vl := kernelLink(t, vlan)
			h := kernelHost(t, r, vl)
			ll := frame.LinkLocal(frame.MAC(mac(1)))
			for _, dst := range []string{"198.18.0.1", "2001:db8::1", ll.String() + "%" + v.B.Name} {
				run(t, v.B.NS, "ping", "-c", "2", "-i", "0.2", "-W", "3", dst)
			}
			st := h.Stats()
			assert.NotZero(t, st.ARPAnswered)
			assert.NotZero(t, st.NDAnswered)
			assert.GreaterOrEqual(t, st.EchoAnswered, uint64(6))
			out := run(t, v.B.NS, "ip", "neigh", "show", "dev", v.B.Name)
			assert.Contains(t, out, mac(1).String(), "the kernel learned the host by ARP/ND")
		})
	}
}

// TestKernelPingOptions: the kernel's ping -R and ping -T see the host
// in the options of its replies, twice (as the request came, as the reply
// left), as they see a Linux host; a large ping -R comes back in
// fragments whose first carries the route.
func TestKernelPingOptions(t *testing.T) {
	requirePing(t)
	r, v, vl := kernelLink(t, false)
	kernelHost(t, r, vl)
	for _, c := range []struct {
		args []string
		want string // what ping prints of the reply's option
	}{
		{[]string{"-R"}, "RR: \t198.18.0.2\n\t198.18.0.1\n\t198.18.0.1\n\t198.18.0.2\n"},
		{[]string{"-R", "-s", "4000"}, "RR: \t198.18.0.2\n\t198.18.0.1\n\t198.18.0.1\n\t198.18.0.2\n"},
		{[]string{"-T", "tsandaddr"}, "TS: \t198.18.0.2\t"},
		{[]string{"-T", "tsonly"}, "TS: \t"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out := run(t, v.B.NS, "ping", append([]string{"-c", "1", "-W", "3"}, append(c.args, "198.18.0.1")...)...)
			assert.Contains(t, out, "1 received")
			assert.Contains(t, out, c.want, "ping's view of the reply's option:\n%s", out)
			if c.args[0] == "-T" {
				// Four timestamps: the kernel's, the host's two, then the
				// kernel's again on the way back; ping prints them one a
				// line, up to a blank one.
				i := strings.Index(out, "TS:")
				require.GreaterOrEqual(t, i, 0)
				entries, _, _ := strings.Cut(out[i:], "\n\n")
				lines := strings.Split(strings.TrimSpace(entries), "\n")
				require.Len(t, lines, 4, out)
				if c.args[1] == "tsandaddr" {
					assert.Contains(t, lines[1], "198.18.0.1\t")
					assert.Contains(t, lines[2], "198.18.0.1\t")
				}
			}
		})
	}
}

// TestKernelICMPQueries: the same raw ICMP queries, from a raw socket of
// the kernel on end B, to a host and to the kernel of end A (given
// 198.18.0.3), get the same answers: an echo with code 9 comes back with
// code 9; a timestamp request with a whole or a bare originate timestamp
// is answered with 20 bytes, one with 2 bytes not at all.
func TestKernelICMPQueries(t *testing.T) {
	r, v, vl := kernelLink(t, false)
	kernelHost(t, r, vl)
	v.A.AddAddr(t, pfx("198.18.0.3/16"))
	c, err := v.B.NS.ListenPacket("ip4:icmp", "198.18.0.2")
	require.NoError(t, err)
	defer c.Close()
	query := func(to string, typ, code byte, data []byte) []byte {
		t.Helper()
		msg := append([]byte{typ, code, 0, 0, 0x12, 0x34, 0, 1}, data...)
		binary.BigEndian.PutUint16(msg[2:], ^testkit.OnesSum(msg))
		_, err := c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(to)})
		require.NoError(t, err)
		buf := make([]byte, 1500)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Second)))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return nil // no answer within a second
			}
			if from.String() == to && n >= 8 && buf[0] != 8 && buf[0] != 13 {
				return append([]byte(nil), buf[:n]...)
			}
		}
	}
	for _, q := range []struct {
		name       string
		typ, code  byte
		data       []byte
		answer     bool
		wantType   byte
		wantLength int
	}{
		{"echo code 9", 8, 9, []byte("abcd"), true, 0, 12},
		{"timestamp", 13, 0, make([]byte, 12), true, 14, 20},
		{"timestamp, bare originate", 13, 0, []byte{0, 0, 0, 1}, true, 14, 20},
		{"timestamp, 2 bytes", 13, 0, []byte{0, 1}, false, 0, 0},
	} {
		t.Run(q.name, func(t *testing.T) {
			for _, to := range []string{"198.18.0.3", "198.18.0.1"} {
				got := query(to, q.typ, q.code, q.data)
				if !q.answer {
					assert.Nil(t, got, "%s answered", to)
					continue
				}
				require.NotNil(t, got, "%s did not answer", to)
				assert.Equal(t, q.wantType, got[0], to)
				assert.Equal(t, q.wantLength, len(got), to)
				if q.typ == 8 {
					assert.Equal(t, q.code, got[1], "%s: the request's code", to)
				} else {
					assert.Zero(t, got[1], to)
					assert.Equal(t, q.data[:4], got[8:12], "%s: originate timestamp", to)
					assert.Equal(t, got[12:16], got[16:20], "%s: receive and transmit", to)
				}
			}
		})
	}
}

// TestKernelPingMulticast: the kernel's ping to all-nodes gets an answer
// from a host with Config.EchoMulticast, from its link-local address, as
// from a Linux host; a host without it does not answer.
func TestKernelPingMulticast(t *testing.T) {
	requirePing(t)
	r, v, vl := kernelLink(t, false)
	mustHost(t, r, host.Config{MAC: mac(1), VLANs: vl, EchoMulticast: true, Addrs: []netip.Prefix{pfx("2001:db8::1/64")}})
	mustHost(t, r, host.Config{MAC: mac(2), VLANs: vl, Addrs: []netip.Prefix{pfx("2001:db8::3/64")}})
	out, _ := v.B.NS.Command("ping", "-c", "2", "-w", "3", "ff02::1%"+v.B.Name).CombinedOutput()
	assert.Contains(t, string(out), "from "+frame.LinkLocal(frame.MAC(mac(1))).String()+"%", "%s", out)
	assert.NotContains(t, string(out), "from "+frame.LinkLocal(frame.MAC(mac(2))).String()+"%", "%s", out)
}

// TestKernelUDP: kernel UDP sockets and a host's ListenUDP/DialUDP talk
// both ways, v4 and v6, each side resolving the other; after the kernel's
// neighbour entry is flushed (a DHCP renewal's situation) they still do.
func TestKernelUDP(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		t.Run(fmt.Sprintf("vlan=%v", vlan), func(t *testing.T) {
			r, v, vl := kernelLink(t, vlan)
			h := kernelHost(t, r, vl)
			for _, fam := range []struct{ kern, host, any string }{
				{"198.18.0.2", "198.18.0.1", "0.0.0.0"},
				{"2001:db8::2", "2001:db8::1", "::"},
			} {
				kern, err := v.B.NS.ListenUDP("udp", netip.AddrPortFrom(addr(fam.kern), 9000))
				require.NoError(t, err)
				defer kern.Close()
				// Host dials the kernel.
				cl, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr(fam.kern), 9000))
				require.NoError(t, err)
				defer cl.Close()
				from := testkit.Exchange(t, cl, kern, "to kernel", 5*time.Second)
				assert.Equal(t, addr(fam.host), from.Addr().Unmap())
				_, err = kern.WriteToUDPAddrPort([]byte("to host"), from)
				require.NoError(t, err)
				require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
				buf := make([]byte, 100)
				n, err := cl.Read(buf)
				require.NoError(t, err)
				assert.Equal(t, "to host", string(buf[:n]))

				// The kernel sends to a server bound to the unspecified
				// address, which answers from the address asked; then again
				// after the kernel forgot the host.
				srv, err := h.ListenUDP(netip.AddrPortFrom(addr(fam.any), 7000))
				require.NoError(t, err)
				defer srv.Close()
				for round := range 2 {
					if round == 1 {
						run(t, v.B.NS, "ip", "neigh", "flush", "dev", v.B.Name)
					}
					_, err = kern.WriteToUDPAddrPort([]byte("to server"), netip.AddrPortFrom(addr(fam.host), 7000))
					require.NoError(t, err)
					require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
					n, from, err = srv.ReadFromUDPAddrPort(buf)
					require.NoError(t, err, "round %d", round)
					assert.Equal(t, "to server", string(buf[:n]))
					_, err = srv.WriteToUDPAddrPort([]byte("answer"), from)
					require.NoError(t, err)
					require.NoError(t, kern.SetReadDeadline(time.Now().Add(5*time.Second)))
					n, from2, err := kern.ReadFromUDPAddrPort(buf)
					require.NoError(t, err, "round %d", round)
					assert.Equal(t, "answer", string(buf[:n]))
					assert.Equal(t, netip.AddrPortFrom(addr(fam.host), 7000), netip.AddrPortFrom(from2.Addr().Unmap(), from2.Port()))
				}
			}
		})
	}
}

// TestKernelRouter: a host reaches an off-link kernel peer through a
// kernel router namespace, resolving only its gateway.
func TestKernelRouter(t *testing.T) {
	netns.Require(t)
	opt := &netns.Options{IPv6: true}
	hostNS, routerNS, peerNS := netns.New(t, opt), netns.New(t, opt), netns.New(t, opt)
	l1 := netns.NewVethBetween(t, hostNS, routerNS)
	l2 := netns.NewVethBetween(t, routerNS, peerNS)
	routerNS.MustSysctl(t, "net/ipv4/ip_forward", "1")
	routerNS.MustSysctl(t, "net/ipv6/conf/all/forwarding", "1")
	l1.B.AddAddr(t, pfx("198.18.0.254/24"))
	l1.B.AddAddr(t, pfx("2001:db8::fe/64"))
	l2.A.AddAddr(t, pfx("198.18.1.254/24"))
	l2.A.AddAddr(t, pfx("2001:db8:1::fe/64"))
	l2.B.AddAddr(t, pfx("198.18.1.2/24"))
	l2.B.AddAddr(t, pfx("2001:db8:1::2/64"))
	// The harness makes no link-local addresses; kernel ND needs them.
	l1.B.AddAddr(t, pfx("fe80::fe/64"))
	l2.A.AddAddr(t, pfx("fe80::1:fe/64"))
	l2.B.AddAddr(t, pfx("fe80::1:2/64"))
	peerNS.MustIP(t, "route", "add", "default", "via", "198.18.1.254")
	peerNS.MustIP(t, "-6", "route", "add", "default", "via", "2001:db8:1::fe")
	pio, err := l1.A.Open(func(ifname string) (backend.PacketIO, error) { return afpacket.Open(ifname, afpacket.Config{}) })
	require.NoError(t, err)
	r := relay.New(pio, relay.Config{})
	defer r.Close()
	h := mustHost(t, r, host.Config{MAC: mac(1), Addrs: []netip.Prefix{pfx("198.18.0.1/24"), pfx("2001:db8::1/64")},
		Gateway4: addr("198.18.0.254"), Gateway6: addr("2001:db8::fe")})
	for _, peer := range []string{"198.18.1.2", "2001:db8:1::2"} {
		kern, err := peerNS.ListenUDP("udp", netip.AddrPortFrom(addr(peer), 9000))
		require.NoError(t, err)
		defer kern.Close()
		cl, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr(peer), 9000))
		require.NoError(t, err)
		defer cl.Close()
		_, err = cl.Write([]byte("via gateway"))
		require.NoError(t, err)
		buf := make([]byte, 100)
		require.NoError(t, kern.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, from, err := kern.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Logf("host: %+v; neighbours %v", h.Stats(), h.Neighbors())
			t.Log(run(t, routerNS, "ip", "-6", "neigh"), run(t, routerNS, "ip", "-6", "addr"), run(t, routerNS, "ip", "-6", "route"))
		}
		require.NoError(t, err, peer)
		assert.Equal(t, "via gateway", string(buf[:n]))
		_, err = kern.WriteToUDPAddrPort([]byte("back"), from)
		require.NoError(t, err)
		require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err = cl.Read(buf)
		require.NoError(t, err, peer)
		assert.Equal(t, "back", string(buf[:n]))
	}
	nbs := h.Neighbors()
	for _, nb := range nbs {
		assert.NotEqual(t, addr("198.18.1.2"), nb.Addr, "an off-link peer is not a neighbour")
	}
}

// TestKernelPingSweep: the kernel pings 1,000 hosts on one relay; every
// one answers, each resolved by the kernel's own ARP.
func TestKernelPingSweep(t *testing.T) {
	const n = 1000
	r, v, vl := kernelLink(t, false)
	hosts := make([]*host.Host, n)
	for i := range hosts {
		a := netns.IPv4(256 + i) // 198.18.1.0 and up
		hosts[i] = mustHost(t, r, host.Config{MAC: net.HardwareAddr{0x02, 0, 0, 1, byte(i >> 8), byte(i)},
			VLANs: vl, Addrs: []netip.Prefix{netip.PrefixFrom(a, 16)}, NoLinkLocal: true})
	}
	dsts := make([]netip.Addr, n)
	for i := range dsts {
		dsts[i] = netns.IPv4(256 + i)
	}
	missing := v.B.NS.PingSweep(t, addr("198.18.0.2"), dsts, 20*time.Second)
	assert.Empty(t, missing, "hosts that did not answer")
	var answered uint64
	for _, h := range hosts {
		answered += h.Stats().EchoAnswered
	}
	t.Logf("%d hosts answered %d echo requests; segment %+v", n, answered, hosts[0].Stats().Segment)
}
