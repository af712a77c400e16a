package host_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// Every ARP, ND and ICMP frame a host builds, decoded by gopacket and
// golang.org/x/net/icmp (checksums included), untagged and on VLAN 100.

var stacks = []struct {
	name string
	vl   frame.VLANs
}{{"untagged", nil}, {"vlan100", frame.VLANs{{ID: 100}}}}

var otherMAC = frame.MAC{0x02, 0, 0, 0, 2, 0x98}

// TestARPReplyFrame: a request for the host's address, broadcast or a
// unicast probe, is answered with a reply unicast to the asker with the
// host's MAC and address as sender and the asker as target.
func TestARPReplyFrame(t *testing.T) {
	for _, st := range stacks {
		for _, c := range []struct {
			name string
			dst  frame.MAC
		}{{"broadcast", frame.BroadcastMAC}, {"unicast", hostMAC}} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				w := newWire(t, st.vl)
				h := w.defaultHost(host.Config{})
				w.send(w.arp(c.dst, layers.ARPRequest, peerMAC, peer4, frame.MAC{}, host4))
				p := w.expect("ARP reply", isARP(layers.ARPReply, peer4))
				w.checkVLANs(p)
				// Unicast to the asker, which is the target.
				checkARP(t, p, peerMAC, host4, peerMAC, peer4)
				assert.Equal(t, uint64(1), h.Stats().ARPAnswered)
				n, ok := neighbor(h, peer4)
				require.True(t, ok, "the asker is learned")
				assert.Equal(t, peerMAC, n.MAC)
			})
		}
	}
}

// TestNAFrame: solicitations for the host's addresses are answered with a
// solicited, override advertisement (router flag clear) carrying the
// host's MAC as TLLA, hop limit 255, to the soliciter; a DAD solicitation
// from :: with an unsolicited one to all nodes.
func TestNAFrame(t *testing.T) {
	ll := frame.LinkLocal(hostMAC)
	for _, st := range stacks {
		for _, c := range []struct {
			name           string
			target         netip.Addr
			src, dst       netip.Addr
			ethDst         frame.MAC
			opts           [][]byte
			wantDst        netip.Addr
			wantMAC        frame.MAC
			wantSolicited  bool
			wantNeighbor   bool
			wantNeighborAt frame.MAC
		}{
			{name: "global multicast", target: host6, src: peer6, dst: frame.SolicitedNode(host6),
				opts: [][]byte{ndOpt(1, otherMAC)}, wantDst: peer6, wantMAC: otherMAC, wantSolicited: true,
				wantNeighbor: true, wantNeighborAt: otherMAC},
			{name: "link-local multicast", target: ll, src: peerLL, dst: frame.SolicitedNode(ll),
				opts: [][]byte{ndOpt(1, peerMAC)}, wantDst: peerLL, wantMAC: peerMAC, wantSolicited: true,
				wantNeighbor: true, wantNeighborAt: peerMAC},
			{name: "unicast probe", target: host6, src: peer6, dst: host6, ethDst: hostMAC,
				opts: [][]byte{ndOpt(1, peerMAC)}, wantDst: peer6, wantMAC: peerMAC, wantSolicited: true,
				wantNeighbor: true, wantNeighborAt: peerMAC},
			{name: "unicast without SLLA", target: host6, src: peer6, dst: host6, ethDst: hostMAC,
				wantDst: peer6, wantMAC: peerMAC, wantSolicited: true},
			{name: "DAD from ::", target: host6, src: netip.IPv6Unspecified(), dst: frame.SolicitedNode(host6),
				wantDst: allNode, wantMAC: frame.MAC{0x33, 0x33, 0, 0, 0, 1}},
		} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				w := newWire(t, st.vl)
				h := w.defaultHost(host.Config{})
				ethDst := c.ethDst
				if ethDst == (frame.MAC{}) {
					ethDst, _ = frame.MulticastMAC(c.dst)
				}
				w.send(w.icmp6(ethDst, c.src, c.dst, 255, 135, 0, nsBody(c.target, c.opts...)))
				p := w.expect("NA", isND(136, c.target))
				w.checkVLANs(p)
				eth := ethOf(p)
				assert.Equal(t, c.wantMAC, frame.MAC(eth.DstMAC))
				assert.Equal(t, hostMAC, frame.MAC(eth.SrcMAC))
				ip := ip6Of(p)
				assert.Equal(t, uint8(255), ip.HopLimit)
				m, src, dst := checkedICMP(t, p)
				assert.Equal(t, c.target, src, "from the target address")
				assert.Equal(t, c.wantDst, dst)
				assert.Equal(t, ipv6.ICMPTypeNeighborAdvertisement, m.Type)
				assert.Zero(t, m.Code)
				na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				assert.False(t, na.Router(), "R")
				assert.Equal(t, c.wantSolicited, na.Solicited(), "S")
				assert.True(t, na.Override(), "O")
				require.Len(t, na.Options, 1)
				assert.Equal(t, layers.ICMPv6OptTargetAddress, na.Options[0].Type)
				assert.Equal(t, hostMAC[:], na.Options[0].Data, "TLLA")
				assert.Equal(t, uint64(1), h.Stats().NDAnswered)
				n, ok := neighbor(h, c.src)
				assert.Equal(t, c.wantNeighbor, ok, "soliciter learned from its SLLA: %v", h.Neighbors())
				if ok {
					assert.Equal(t, c.wantNeighborAt, n.MAC)
				}
			})
		}
	}
}

// TestResolutionFrames: the ARP request and the NS a host sends to resolve
// a next hop, broadcast / to the solicited-node group, and the unicast
// probes that confirm a stale neighbour.
func TestResolutionFrames(t *testing.T) {
	ll := frame.LinkLocal(hostMAC)
	for _, st := range stacks {
		for _, c := range []struct {
			name   string
			to     netip.Addr
			wantSP netip.Addr // sender address
		}{
			{"arp", peer4, host4},
			{"ns global", peer6, host6},
			{"ns link-local", peerLL, ll},
		} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				w := newWire(t, st.vl)
				// A REACHABLE entry turns STALE at once, so the second
				// datagram probes.
				h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{ReachableTime: time.Nanosecond}})
				conn := dial(t, h, c.to)
				_, err := conn.Write([]byte("first"))
				require.NoError(t, err)
				var p gopacket.Packet
				if c.to.Is4() {
					p = w.expect("ARP request", isARP(layers.ARPRequest, c.to))
					checkARPRequest(t, p, frame.BroadcastMAC, c.wantSP, c.to)
					w.send(w.arp(hostMAC, layers.ARPReply, peerMAC, c.to, hostMAC, c.wantSP))
				} else {
					p = w.expect("NS", isND(135, c.to))
					checkNS(t, p, c.wantSP, frame.SolicitedNode(c.to), c.to)
					w.send(w.na(hostMAC, c.to, c.wantSP, 0x60, c.to))
				}
				w.checkVLANs(p)
				u := w.expect("the queued datagram", isUDP)
				assert.Equal(t, peerMAC, dstMACOf(u))

				_, err = conn.Write([]byte("second"))
				require.NoError(t, err)
				if c.to.Is4() {
					p = w.expect("unicast ARP probe", isARP(layers.ARPRequest, c.to))
					checkARPRequest(t, p, peerMAC, c.wantSP, c.to)
				} else {
					p = w.expect("unicast NS", isND(135, c.to))
					checkNS(t, p, c.wantSP, c.to, c.to)
				}
				w.checkVLANs(p)
			})
		}
	}
}

// checkARPRequest checks an ARP request from the host for tpa.
func checkARPRequest(t *testing.T, p gopacket.Packet, ethDst frame.MAC, spa, tpa netip.Addr) {
	t.Helper()
	checkARP(t, p, ethDst, spa, frame.MAC{}, tpa)
}

// checkARP checks an ARP packet for IPv4 over Ethernet from the host (its
// MAC the Ethernet source and sender), to ethDst, with sender address spa
// and target tha, tpa.
func checkARP(t *testing.T, p gopacket.Packet, ethDst frame.MAC, spa netip.Addr, tha frame.MAC, tpa netip.Addr) {
	t.Helper()
	assert.Equal(t, ethDst, dstMACOf(p))
	assert.Equal(t, hostMAC, frame.MAC(ethOf(p).SrcMAC))
	a := arpOf(p)
	assert.Equal(t, layers.LinkTypeEthernet, a.AddrType)
	assert.Equal(t, layers.EthernetTypeIPv4, a.Protocol)
	assert.Equal(t, uint8(6), a.HwAddressSize)
	assert.Equal(t, uint8(4), a.ProtAddressSize)
	assert.Equal(t, hostMAC, frame.MAC(a.SourceHwAddress))
	assert.Equal(t, spa.AsSlice(), a.SourceProtAddress)
	assert.Equal(t, tha, frame.MAC(a.DstHwAddress))
	assert.Equal(t, tpa.AsSlice(), a.DstProtAddress)
}

// checkNS checks an NS from the host for target with its SLLA, hop limit
// 255, from src to dst (its Ethernet destination: the group's MAC, or the
// neighbour's for a unicast probe).
func checkNS(t *testing.T, p gopacket.Packet, src, dst, target netip.Addr) {
	t.Helper()
	wantMAC := peerMAC
	if dst.IsMulticast() {
		wantMAC, _ = frame.MulticastMAC(dst)
		a := target.As16()
		assert.Equal(t, frame.MAC{0x33, 0x33, 0xff, a[13], a[14], a[15]}, wantMAC)
	}
	assert.Equal(t, wantMAC, dstMACOf(p))
	assert.Equal(t, uint8(255), ip6Of(p).HopLimit)
	m, s, d := checkedICMP(t, p)
	assert.Equal(t, ipv6.ICMPTypeNeighborSolicitation, m.Type)
	assert.Zero(t, m.Code)
	assert.Equal(t, src, s)
	assert.Equal(t, dst, d)
	ns := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	assert.Equal(t, target.AsSlice(), []byte(ns.TargetAddress))
	require.Len(t, ns.Options, 1)
	assert.Equal(t, layers.ICMPv6OptSourceAddress, ns.Options[0].Type)
	assert.Equal(t, hostMAC[:], ns.Options[0].Data, "SLLA")
}

// TestEchoReplyFrames: echo requests are answered to the MAC they came
// from, addresses swapped, with their identifier, sequence number and data
// and right checksums.
func TestEchoReplyFrames(t *testing.T) {
	ll := frame.LinkLocal(hostMAC)
	for _, st := range stacks {
		for _, c := range []struct {
			name     string
			src, dst netip.Addr
			data     []byte
		}{
			{"v4", peer4, host4, bytes.Repeat([]byte{0xa5}, 56)},
			{"v4 odd", peer4, host4, []byte("odd")},
			{"v4 empty", peer4, host4, nil},
			{"v6", peer6, host6, bytes.Repeat([]byte{0x5a}, 56)},
			{"v6 odd", peer6, host6, []byte("odd")},
			{"v6 link-local", peerLL, ll, []byte("link-local")},
			{"v4 1400", peer4, host4, bytes.Repeat([]byte{7}, 1400)},
		} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				w := newWire(t, st.vl)
				h := w.defaultHost(host.Config{})
				w.send(w.echo(hostMAC, c.src, c.dst, 0x4321, 0x8765, c.data))
				want := 0
				if c.src.Is6() {
					want = 129
				}
				p := w.expect("echo reply", isICMP(want))
				w.checkVLANs(p)
				assert.Equal(t, peerMAC, dstMACOf(p))
				m, src, dst := checkedICMP(t, p)
				assert.Equal(t, c.dst, src)
				assert.Equal(t, c.src, dst)
				assert.Zero(t, m.Code)
				e, ok := m.Body.(*icmp.Echo)
				require.True(t, ok, "%T", m.Body)
				assert.Equal(t, 0x4321, e.ID)
				assert.Equal(t, 0x8765, e.Seq)
				assert.Equal(t, len(c.data), len(e.Data))
				assert.True(t, bytes.Equal(c.data, e.Data), "data echoed")
				if c.src.Is4() {
					assert.Equal(t, ipv4.ICMPTypeEchoReply, m.Type)
					assert.NotZero(t, ip4Of(p).TTL)
				} else {
					assert.Equal(t, ipv6.ICMPTypeEchoReply, m.Type)
					assert.NotZero(t, ip6Of(p).HopLimit)
				}
				assert.Equal(t, uint64(1), h.Stats().EchoAnswered)
			})
		}
	}
}

// TestPortUnreachableFrames: with Config.PortUnreachable, UDP to a closed
// port is answered with ICMP port unreachable quoting the datagram (as
// much as fits in 576 / 1280 bytes); to an open port, or without the
// option, it is not.
func TestPortUnreachableFrames(t *testing.T) {
	for _, st := range stacks {
		for _, c := range []struct {
			name     string
			src, dst netip.Addr
			size     int
			typ      int
			code     int
			limit    int // the longest quote
		}{
			{"v4", peer4, host4, 20, 3, 3, 576 - 28},
			{"v4 long", peer4, host4, 1400, 3, 3, 576 - 28},
			{"v6", peer6, host6, 20, 1, 4, 1280 - 48},
			{"v6 long", peer6, host6, 1400, 1, 4, 1280 - 48},
		} {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				w := newWire(t, st.vl)
				h := w.defaultHost(host.Config{PortUnreachable: true})
				open, err := h.ListenUDP(netip.AddrPortFrom(c.dst, 53))
				require.NoError(t, err)
				defer open.Close()

				in := w.udp(hostMAC, netip.AddrPortFrom(c.src, 4000), netip.AddrPortFrom(c.dst, 9), bytes.Repeat([]byte{1}, c.size))
				w.send(in)
				p := w.expect("port unreachable", isICMP(c.typ))
				w.checkVLANs(p)
				assert.Equal(t, peerMAC, dstMACOf(p))
				m, src, dst := checkedICMP(t, p)
				assert.Equal(t, c.dst, src)
				assert.Equal(t, c.src, dst)
				assert.Equal(t, c.code, m.Code)
				du, ok := m.Body.(*icmp.DstUnreach)
				require.True(t, ok, "%T", m.Body)
				l3 := 14 + 4*len(st.vl)
				quote := in[l3:]
				quote = quote[:min(len(quote), c.limit)]
				assert.Equal(t, quote, du.Data, "the offending packet quoted")
				assert.Equal(t, uint64(1), h.Stats().UnreachSent)

				// To the open port: delivered, no ICMP.
				w.send(w.udp(hostMAC, netip.AddrPortFrom(c.src, 4000), netip.AddrPortFrom(c.dst, 53), []byte("q")))
				require.NoError(t, open.SetReadDeadline(time.Now().Add(waitFor)))
				buf := make([]byte, 100)
				n, _, err := open.ReadFromUDPAddrPort(buf)
				require.NoError(t, err)
				assert.Equal(t, "q", string(buf[:n]))
				w.none("ICMP for an open port", isICMP(c.typ))
			})
		}
	}
	t.Run("off by default", func(t *testing.T) {
		w := newWire(t, nil)
		h := w.defaultHost(host.Config{})
		w.send(w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.AddrPortFrom(host4, 9), []byte("x")))
		w.send(w.udp(hostMAC, netip.AddrPortFrom(peer6, 4000), netip.AddrPortFrom(host6, 9), []byte("x")))
		w.none("port unreachable", func(p gopacket.Packet) bool { return icmpType(p) == 3 || icmpType(p) == 1 })
		assert.Zero(t, h.Stats().UnreachSent)
	})
}

// TestGratuitousARPFrame: with Config.GratuitousARP an added IPv4 address
// is announced: a broadcast request with the address as sender and target.
func TestGratuitousARPFrame(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			w := newWire(t, st.vl)
			h := w.defaultHost(host.Config{GratuitousARP: true, Addrs: []netip.Prefix{}})
			added := netip.MustParseAddr("198.18.0.7")
			require.NoError(t, h.AddAddr(netip.PrefixFrom(added, 24)))
			p := w.expect("gratuitous ARP", isARP(layers.ARPRequest, added))
			w.checkVLANs(p)
			assert.Equal(t, frame.BroadcastMAC, dstMACOf(p))
			a := arpOf(p)
			assert.Equal(t, hostMAC, frame.MAC(a.SourceHwAddress))
			assert.Equal(t, added.AsSlice(), a.SourceProtAddress)
			assert.Equal(t, added.AsSlice(), a.DstProtAddress)
			assert.Equal(t, frame.MAC{}, frame.MAC(a.DstHwAddress))
			// An IPv6 address is not announced by ARP.
			require.NoError(t, h.AddAddr(netip.MustParsePrefix("2001:db8::7/64")))
			w.none("a second announcement", isARP(layers.ARPRequest, netip.Addr{}))
		})
	}
}

// TestDADProbeFrames: with Config.DAD an added address is probed first:
// an RFC 5227 ARP probe (sender 0.0.0.0, target MAC zero, broadcast), or
// an NS from :: to the solicited-node group without SLLA, hop limit 255.
func TestDADProbeFrames(t *testing.T) {
	for _, st := range stacks {
		for _, a := range []netip.Addr{netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("2001:db8::7")} {
			t.Run(st.name+"/"+a.String(), func(t *testing.T) {
				t.Parallel()
				w := newWire(t, st.vl)
				h := w.host(host.Config{MAC: mac(1), DAD: true, NoLinkLocal: true})
				done := make(chan error, 1)
				go func() { done <- h.AddAddr(prefixOf(a)) }()
				var p gopacket.Packet
				if a.Is4() {
					p = w.expect("ARP probe", isARP(layers.ARPRequest, a))
					checkARPRequest(t, p, frame.BroadcastMAC, netip.AddrFrom4([4]byte{}), a)
				} else {
					p = w.expect("DAD NS", isND(135, a))
					sn := frame.SolicitedNode(a)
					m, _ := frame.MulticastMAC(sn)
					assert.Equal(t, m, dstMACOf(p))
					assert.Equal(t, uint8(255), ip6Of(p).HopLimit)
					msg, src, dst := checkedICMP(t, p)
					assert.Equal(t, ipv6.ICMPTypeNeighborSolicitation, msg.Type)
					assert.Equal(t, netip.IPv6Unspecified(), src)
					assert.Equal(t, sn, dst)
					ns := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
					assert.Empty(t, ns.Options, "no SLLA from ::")
				}
				w.checkVLANs(p)
				require.NoError(t, <-done)
				assert.True(t, h.HasAddr(a))
			})
		}
	}
}

// prefixOf is a with the test link's prefix length: /24 or /64.
func prefixOf(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.PrefixFrom(a, 24)
	}
	return netip.PrefixFrom(a, 64)
}

// TestARPAnsweredKept: a host's ARPAnswered sums the answers for all its
// IPv4 addresses and keeps those of addresses removed, and all of them
// after Close; a host that gets a removed address starts from zero.
func TestARPAnsweredKept(t *testing.T) {
	w := newWire(t, nil)
	second := netip.MustParseAddr("198.18.0.2")
	h := w.defaultHost(host.Config{Addrs: []netip.Prefix{netip.PrefixFrom(host4, 24), netip.PrefixFrom(second, 24)}})
	ask := func(a netip.Addr) {
		t.Helper()
		w.send(w.arpRequest(a))
		w.expect("ARP reply", isARP(layers.ARPReply, peer4))
	}
	ask(host4)
	ask(second)
	ask(second)
	assert.Equal(t, uint64(3), h.Stats().ARPAnswered)
	require.NoError(t, h.RemoveAddr(second))
	assert.Equal(t, uint64(3), h.Stats().ARPAnswered, "the removed address's answers stay")
	other := w.host(host.Config{MAC: mac(2), Addrs: []netip.Prefix{netip.PrefixFrom(second, 24)}})
	ask(second)
	ask(host4)
	assert.Equal(t, uint64(1), other.Stats().ARPAnswered)
	assert.Equal(t, uint64(4), h.Stats().ARPAnswered)
	require.NoError(t, h.Close())
	assert.Equal(t, uint64(4), h.Stats().ARPAnswered, "after Close")
}

// TestDAD: with Config.DAD, AddAddr fails with ErrDuplicate when the
// station at the other end of the wire answers the probe, uses the
// address, or probes it too (RFC 5227 §2.1.1, RFC 4862 §5.4.3-5.4.4); a
// station that merely resolves the tentative address is not a conflict,
// and is not answered while the address is tentative. Hosts of one segment
// cannot hold the same address, so the conflicting station is played by
// the test.
func TestDAD(t *testing.T) {
	a4 := netip.MustParseAddr("198.18.0.7")
	a6 := netip.MustParseAddr("2001:db8::7")
	zero4 := netip.IPv4Unspecified()
	allMAC, _ := frame.MulticastMAC(allNode)
	for _, c := range []struct {
		name     string
		addr     netip.Addr
		reaction func(w *wire) []byte // sent on seeing the probe
		dup      bool
	}{
		{"v4 reply to the probe, unicast", a4, func(w *wire) []byte {
			return w.arp(hostMAC, layers.ARPReply, peerMAC, a4, hostMAC, zero4)
		}, true},
		{"v4 reply to the probe, broadcast", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPReply, peerMAC, a4, hostMAC, zero4)
		}, true},
		{"v4 announcement", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, a4, frame.MAC{}, a4)
		}, true},
		{"v4 request from the address", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, a4, frame.MAC{}, peer4)
		}, true},
		{"v4 probe of the address", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, zero4, frame.MAC{}, a4)
		}, true},
		{"v4 request for the address", a4, func(w *wire) []byte { return w.arpRequest(a4) }, false},
		{"v6 NA to all nodes", a6, func(w *wire) []byte { return w.na(allMAC, peer6, allNode, 0x20, a6) }, true},
		{"v6 NA unicast", a6, func(w *wire) []byte { return w.na(hostMAC, peer6, a6, 0x20, a6) }, true},
		{"v6 DAD of the address", a6, func(w *wire) []byte {
			sn := frame.SolicitedNode(a6)
			m, _ := frame.MulticastMAC(sn)
			return w.icmp6(m, netip.IPv6Unspecified(), sn, 255, 135, 0, nsBody(a6))
		}, true},
		{"v6 NS for the address", a6, func(w *wire) []byte { return w.ns(a6) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, nil)
			h := w.host(host.Config{MAC: mac(1), DAD: true, NoLinkLocal: true})
			done := make(chan error, 1)
			go func() { done <- h.AddAddr(prefixOf(c.addr)) }()
			if c.addr.Is4() {
				w.expect("ARP probe", isARP(layers.ARPRequest, c.addr))
			} else {
				w.expect("DAD NS", isND(135, c.addr))
			}
			w.send(c.reaction(w))
			err := <-done
			// Nothing answered for the tentative address.
			w.none("an answer", anyFrame)
			if !c.dup {
				require.NoError(t, err)
				assert.True(t, h.HasAddr(c.addr))
				assert.Zero(t, h.Stats().Duplicates)
				assert.Zero(t, h.Stats().ARPAnswered+h.Stats().NDAnswered)
				return
			}
			require.ErrorIs(t, err, host.ErrDuplicate)
			assert.False(t, h.HasAddr(c.addr))
			assert.Equal(t, uint64(1), h.Stats().Duplicates)
			// Not answered afterwards either.
			if c.addr.Is4() {
				w.send(w.arpRequest(c.addr))
			} else {
				w.send(w.ns(c.addr))
			}
			w.none("an answer for the duplicate", anyFrame)
		})
	}
	t.Run("held by another host", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		h := w.host(host.Config{MAC: mac(2), DAD: true, NoLinkLocal: true})
		assert.ErrorIs(t, h.AddAddr(netip.PrefixFrom(host4, 24)), host.ErrAddrInUse)
	})
}

// fragments cuts the ICMPv6 message msg from src to dst into IPv6
// fragments of 16 bytes of data, as frames to the host.
func (w *wire) fragments(src, dst netip.Addr, hop uint8, msg []byte) [][]byte {
	var fr frame.Fragmenter
	ip := frame.IPHeader{Src: src, Dst: dst, Proto: frame.ProtoICMPv6, TTL: hop}
	require.NoError(w.t, fr.InitIP(&ip, msg[:8], msg[8:], frame.IPv6Len+frame.IPv6FragmentLen+16, 77))
	var out [][]byte
	for !fr.Done() {
		b := make([]byte, 200)
		n := fr.Next(b)
		out = append(out, w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv6, gopacket.Payload(b[:n])))
	}
	return out
}

// TestFragmentedICMPv6: an echo request that comes in fragments is
// reassembled and answered; a neighbor solicitation that comes in
// fragments is ignored (RFC 6980), as Linux ignores it.
func TestFragmentedICMPv6(t *testing.T) {
	w := newWire(t, nil)
	w.defaultHost(host.Config{})
	echo := icmpMsg(t, peer6, host6, 128, 0, &icmp.Echo{ID: 7, Seq: 1, Data: make([]byte, 40)})
	for _, f := range w.fragments(peer6, host6, 64, echo) {
		w.send(f)
	}
	w.expect("an echo reply", isICMP(129))

	ns := icmpMsg(t, peer6, host6, 135, 0, &icmp.RawBody{Data: nsBody(host6, ndOpt(1, peerMAC))})
	for _, f := range w.fragments(peer6, host6, 255, ns) {
		w.send(f)
	}
	w.none("an advertisement for a fragmented solicitation", isND(136, host6))
}
