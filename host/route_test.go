package host_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
)

// Next hops: source address selection, routes, addresses added and
// removed, and the neighbour cache that resolves the next hop (below).

func pfxs(ss ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, s := range ss {
		out = append(out, pfx(s))
	}
	return out
}

// TestSource: source address selection. IPv4: the address whose prefix
// holds the destination (the longest), else the one whose prefix holds the
// next hop (the route's gateway or the default one), else the first. IPv6
// (RFC 6724 §5 for one interface): the destination itself, then matching
// scope, then the longest prefix matched, counted at most to the source's
// prefix length as Linux does.
func TestSource(t *testing.T) {
	ll := frame.LinkLocal(hostMAC)
	for _, c := range []struct {
		name   string
		cfg    host.Config
		dst    string
		want   string // "" for none
		wantLL bool
	}{
		{name: "v4 on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/24")}, dst: "198.18.0.9", want: "198.18.0.1"},
		{name: "v4 second prefix", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "198.18.1.9", want: "198.18.1.1"},
		{name: "v4 itself", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "198.18.1.1", want: "198.18.1.1"},
		{name: "v4 longest on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/16", "198.18.5.1/24")}, dst: "198.18.5.9", want: "198.18.5.1"},
		{name: "v4 shorter on-link", cfg: host.Config{Addrs: pfxs("198.18.0.1/16", "198.18.5.1/24")}, dst: "198.18.6.9", want: "198.18.0.1"},
		{name: "v4 via the gateway's prefix", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.1.254")}, dst: "192.0.2.9", want: "198.18.1.1"},
		{name: "v4 via a route's gateway", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.0.254"), Routes: []host.Route{{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.1.253")}}},
			dst: "192.0.2.9", want: "198.18.1.1"},
		{name: "v4 default beside a route", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24"),
			Gateway4: addr("198.18.0.254"), Routes: []host.Route{{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.1.253")}}},
			dst: "198.19.0.9", want: "198.18.0.1"},
		{name: "v4 first without a gateway", cfg: host.Config{Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24")}, dst: "192.0.2.9", want: "198.18.0.1"},
		{name: "v4 none", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "198.18.0.9"},
		{name: "v6 link-local dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "fe80::9", wantLL: true},
		{name: "v6 global dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "2001:db8::9", want: "2001:db8::1"},
		{name: "v6 off-link global dst", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "2001:db8:ffff::9", want: "2001:db8::1"},
		{name: "v6 only link-local", cfg: host.Config{}, dst: "2001:db8::9", wantLL: true},
		{name: "v6 longest prefix", cfg: host.Config{Addrs: pfxs("2001:db8:1::1/64", "2001:db8:2::1/64")}, dst: "2001:db8:2::9", want: "2001:db8:2::1"},
		{name: "v6 prefix counted to the source's length", cfg: host.Config{Addrs: pfxs("2001:db8::1/48", "2001:db8::100/64")},
			dst: "2001:db8::5", want: "2001:db8::100"},
		{name: "v6 itself", cfg: host.Config{Addrs: pfxs("2001:db8:1::1/64", "2001:db8:2::1/64")}, dst: "2001:db8:1::1", want: "2001:db8:1::1"},
		{name: "v6 link-local multicast", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "ff02::1", wantLL: true},
		{name: "v6 global multicast", cfg: host.Config{Addrs: pfxs("2001:db8::1/64")}, dst: "ff0e::1", want: "2001:db8::1"},
		{name: "v6 none", cfg: host.Config{NoLinkLocal: true, Addrs: pfxs("198.18.0.1/24")}, dst: "2001:db8::9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWire(t, nil)
			c.cfg.MAC = mac(1)
			h := w.host(c.cfg)
			got := h.Source(addr(c.dst))
			switch {
			case c.wantLL:
				assert.Equal(t, ll.String(), got.String())
			case c.want == "":
				assert.False(t, got.IsValid(), "%v", got)
			default:
				assert.Equal(t, c.want, got.String())
			}
		})
	}
}

// TestRoutes: the next hop is the destination on-link, else the gateway
// of the longest matching route (a route more specific than an on-link
// prefix included, as in the kernel's FIB), else the default gateway;
// with none the write fails with ENETUNREACH, counted in NoRoute. The
// datagram's source is the address selected for the destination.
func TestRoutes(t *testing.T) {
	cfg := host.Config{MAC: mac(1), Addrs: pfxs("198.18.0.1/24", "198.18.1.1/24", "2001:db8::1/64"),
		Gateway4: addr("198.18.0.254"), Gateway6: addr("fe80::fffe"),
		Routes: []host.Route{
			{Prefix: pfx("192.0.2.0/24"), Via: addr("198.18.0.253")},
			{Prefix: pfx("192.0.2.128/25"), Via: addr("198.18.1.252")},
			{Prefix: pfx("198.18.0.128/25"), Via: addr("198.18.0.250")},
			{Prefix: pfx("2001:db8:5::/48"), Via: addr("fe80::1")},
		}}
	for _, c := range []struct {
		dst, nh, src string
	}{
		{"198.18.0.9", "198.18.0.9", "198.18.0.1"},
		{"198.18.1.9", "198.18.1.9", "198.18.1.1"},
		{"192.0.2.5", "198.18.0.253", "198.18.0.1"},
		{"192.0.2.200", "198.18.1.252", "198.18.1.1"},
		{"198.18.0.200", "198.18.0.250", "198.18.0.1"},
		{"198.19.0.1", "198.18.0.254", "198.18.0.1"},
		{"2001:db8::9", "2001:db8::9", "2001:db8::1"},
		{"2001:db8:5::1", "fe80::1", "2001:db8::1"},
		{"2001:db8:9::1", "fe80::fffe", "2001:db8::1"},
	} {
		t.Run(c.dst, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.host(cfg)
			conn := dial(t, h, addr(c.dst))
			assert.Equal(t, c.src, conn.LocalAddrPort().Addr().String(), "source")
			_, err := conn.Write([]byte("x"))
			require.NoError(t, err)
			nh := addr(c.nh)
			if nh.Is4() {
				w.expect("ARP request for "+c.nh, isARP(layers.ARPRequest, nh))
			} else {
				w.expect("NS for "+c.nh, isND(135, nh))
			}
			w.none("other solicitations", func(p gopacket.Packet) bool {
				return isARP(layers.ARPRequest, netip.Addr{})(p) || isND(135, netip.Addr{})(p)
			})
		})
	}
	t.Run("no route", func(t *testing.T) {
		w := newWire(t, nil)
		h := w.host(host.Config{MAC: mac(1), Addrs: pfxs("198.18.0.1/24", "2001:db8::1/64")})
		for i, dst := range []string{"198.19.0.1", "2001:db8:9::1"} {
			conn, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr(dst), 7))
			require.NoError(t, err)
			_, err = conn.Write([]byte("x"))
			assert.ErrorIs(t, err, syscall.ENETUNREACH, dst)
			conn.Close()
			assert.Equal(t, uint64(i+1), h.Stats().NoRoute)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := h.Ping(ctx, addr("198.19.0.1"))
		assert.ErrorIs(t, err, syscall.ENETUNREACH)
		w.none("anything", anyFrame)
	})
}

// TestAddRemoveAddr: addresses added and removed at run time; one host of
// a segment cannot take another's; a removed address is no longer
// answered and can be taken by another host.
func TestAddRemoveAddr(t *testing.T) {
	w := newWire(t, nil)
	ha := w.defaultHost(host.Config{})
	hb := w.host(host.Config{MAC: mac(2)})
	for _, a := range []netip.Prefix{pfx("198.18.0.1/24"), pfx("2001:db8::1/64"), netip.PrefixFrom(frame.LinkLocal(hostMAC), 64)} {
		assert.ErrorIs(t, hb.AddAddr(a), host.ErrAddrInUse, "%v", a)
	}
	_, err := host.New(w.r, host.Config{MAC: mac(3), Addrs: pfxs("198.18.0.1/24")})
	assert.ErrorIs(t, err, host.ErrAddrInUse)
	for _, bad := range []netip.Prefix{{}, pfx("224.0.0.1/24"), pfx("0.0.0.0/0"), pfx("::/0"), pfx("ff02::1/64"),
		pfx("::ffff:198.18.0.9/120")} {
		assert.ErrorIs(t, ha.AddAddr(bad), host.ErrBadConfig, "%v", bad)
	}
	assert.ErrorIs(t, ha.RemoveAddr(addr("198.18.0.77")), host.ErrBadConfig)
	require.NoError(t, ha.AddAddr(pfx("198.18.0.1/24")), "again: nothing to do")
	assert.Len(t, ha.Addrs(), 3, "%v", ha.Addrs())

	require.NoError(t, ha.AddAddr(pfx("198.18.0.3/24")))
	any4, err := ha.ListenUDP(netip.MustParseAddrPort("0.0.0.0:54"))
	require.NoError(t, err)
	defer any4.Close()

	require.NoError(t, ha.RemoveAddr(host4))
	require.NoError(t, ha.RemoveAddr(host6))
	assert.False(t, ha.HasAddr(host4))
	w.send(w.arpRequest(host4))
	w.send(w.ns(host6))
	testkit.Eventually(t, waitFor, func() bool { return ha.Stats().Segment.NotForUs == 2 }, "%+v", ha.Stats())
	w.none("an answer for a removed address", anyFrame)
	assert.Zero(t, ha.Stats().ARPAnswered+ha.Stats().NDAnswered)
	_, err = ha.ListenUDP(netip.MustParseAddrPort("198.18.0.1:55"))
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr)
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
	// A socket on the unspecified address no longer takes datagrams to
	// it (the host has another IPv4 address), but still to the others.
	w.send(w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.MustParseAddrPort("198.18.0.1:54"), []byte("removed")))
	w.send(w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.MustParseAddrPort("198.18.0.3:54"), []byte("kept")))
	require.NoError(t, any4.SetReadDeadline(time.Now().Add(waitFor)))
	buf := make([]byte, 100)
	n, _, dst, err := any4.ReadMsgUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(buf[:n]))
	assert.Equal(t, "198.18.0.3:54", dst.String())
	require.NoError(t, any4.SetReadDeadline(time.Now().Add(quiet)))
	_, _, err = any4.ReadFromUDPAddrPort(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a datagram to a removed address was received")

	// Now another host may take it, and answers for it.
	require.NoError(t, hb.AddAddr(pfx("198.18.0.1/24")))
	w.send(w.arpRequest(host4))
	p := w.expect("ARP reply from the new owner", isARP(layers.ARPReply, peer4))
	assert.Equal(t, frame.MAC(mac(2)), frame.MAC(arpOf(p).SourceHwAddress))

	ha.Close()
	assert.ErrorIs(t, ha.AddAddr(pfx("198.18.0.5/24")), net.ErrClosed)
}

// The neighbour cache's states and timers, with short timers.

// families are the two ways a neighbour is resolved.
var families = []struct {
	name string
	peer netip.Addr
	src  netip.Addr // the host's address toward it
}{{"arp", peer4, host4}, {"nd", peer6, host6}}

// isSolicit matches a broadcast/multicast resolution of target.
func isSolicit(target netip.Addr) func(gopacket.Packet) bool {
	if target.Is4() {
		return func(p gopacket.Packet) bool {
			return isARP(layers.ARPRequest, target)(p) && dstMACOf(p) == frame.BroadcastMAC
		}
	}
	return func(p gopacket.Packet) bool { return isND(135, target)(p) && dstMACOf(p).IsGroup() }
}

// isProbe matches a unicast probe of target (to peerMAC).
func isProbe(target netip.Addr) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		ok := isND(135, target)(p)
		if target.Is4() {
			ok = isARP(layers.ARPRequest, target)(p)
		}
		return ok && dstMACOf(p) == peerMAC
	}
}

// answer is the station's solicited answer for peer, to the host.
func (w *wire) answer(peer, to netip.Addr) []byte {
	if peer.Is4() {
		return w.arp(hostMAC, layers.ARPReply, peerMAC, peer, hostMAC, to)
	}
	return w.na(hostMAC, peer, to, 0x60, peer)
}

// udpPayloads returns the payloads of the UDP datagrams in ps.
func udpPayloads(ps []gopacket.Packet) []string {
	var out []string
	for _, p := range ps {
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			out = append(out, string(u.Payload))
		}
	}
	return out
}

func stateOf(h *host.Host, a netip.Addr) host.NeighborState {
	n, _ := neighbor(h, a)
	return n.State
}

// TestResolutionFlushesInOrder: datagrams written while the next hop is
// INCOMPLETE wait and are sent in order once it resolves; it is then
// REACHABLE.
func TestResolutionFlushesInOrder(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: 20 * time.Millisecond, Probes: 50}})
			c := dial(t, h, f.peer)
			var want []string
			for i := range 5 {
				want = append(want, fmt.Sprint(i))
				_, err := c.Write([]byte(want[i]))
				require.NoError(t, err, "a write that waits for resolution succeeds")
			}
			w.expect("solicitation", isSolicit(f.peer))
			assert.Equal(t, host.Incomplete, stateOf(h, f.peer))
			assert.Equal(t, 5, h.Stats().Segment.PendingNow)
			w.send(w.answer(f.peer, f.src))
			got := w.collectN(5, isUDP)
			assert.Equal(t, want, udpPayloads(got))
			for _, p := range got {
				assert.Equal(t, peerMAC, dstMACOf(p))
			}
			assert.Equal(t, host.Reachable, stateOf(h, f.peer))
			assert.Zero(t, h.Stats().Segment.PendingNow)
			assert.Zero(t, h.Stats().Unresolved)
		})
	}
}

// collectN reads until n frames that match accepts came, failing after
// waitFor.
func (w *wire) collectN(n int, match func(gopacket.Packet) bool) []gopacket.Packet {
	w.t.Helper()
	var out []gopacket.Packet
	for len(out) < n {
		out = append(out, w.expect(fmt.Sprintf("frame %d of %d", len(out)+1, n), match))
	}
	return out
}

// TestUnresolvedDropped: a next hop that does not answer Probes
// solicitations, RetransTime apart, is given up: its queued datagrams are
// dropped and counted in Stats.Unresolved, though each write returned nil
// (as sendto on a kernel socket does); the next write resolves again.
func TestUnresolvedDropped(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: 20 * time.Millisecond, Probes: 3}})
			c := dial(t, h, f.peer)
			for range 3 {
				_, err := c.Write([]byte("lost"))
				require.NoError(t, err)
			}
			var solicits []gopacket.Packet
			testkit.Eventually(t, waitFor, func() bool {
				solicits = append(solicits, w.collect(10*time.Millisecond, isSolicit(f.peer))...)
				return h.Stats().Unresolved == 3
			}, "unresolved: %+v", h.Stats())
			solicits = append(solicits, w.collect(quiet, isSolicit(f.peer))...)
			assert.Len(t, solicits, 3, "Probes solicitations")
			assert.Equal(t, uint64(3), h.Stats().Solicits)
			assert.Empty(t, h.Neighbors(), "the failed entry is removed")
			assert.Zero(t, h.Stats().Segment.PendingNow)
			w.none("a datagram", isUDP)

			_, err := c.Write([]byte("again"))
			require.NoError(t, err)
			w.expect("a new solicitation", isSolicit(f.peer))
		})
	}
}

// TestPendingBounds: at most 212,992 bytes of frames wait per neighbour
// (the oldest dropped beyond, as the kernel's unres_qlen_bytes) and 4,096
// frames per segment; a neighbour met when the segment's queue is full is
// still resolved.
func TestPendingBounds(t *testing.T) {
	t.Run("per neighbour", func(t *testing.T) {
		w := newWire(t, nil)
		h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: 200 * time.Millisecond, Probes: 10}})
		c := dial(t, h, peer4)
		// 1,028-byte IP packets: 207 fit in 212,992 bytes.
		const sent, fit = 220, 212992 / 1028
		var want []string
		for i := range sent {
			p := fmt.Sprintf("%-1000d", i)
			_, err := c.Write([]byte(p))
			require.NoError(t, err)
			if i >= sent-fit {
				want = append(want, p)
			}
		}
		assert.Equal(t, fit, h.Stats().Segment.PendingNow)
		assert.Equal(t, uint64(sent-fit), h.Stats().Unresolved)
		w.expect("ARP request", isSolicit(peer4))
		w.send(w.answer(peer4, host4))
		assert.Equal(t, want, udpPayloads(w.collectN(fit, isUDP)), "the newest that fit, in order")
	})
	t.Run("per segment", func(t *testing.T) {
		w := newWire(t, nil)
		const retrans = 2 * time.Second
		h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: retrans, Probes: 1}})
		c, err := h.ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
		require.NoError(t, err)
		defer c.Close()
		const neighbours, per = 130, 40
		target := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)}) }
		start := time.Now()
		for i := range neighbours {
			for range per {
				_, err := c.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(target(i), 7))
				require.NoError(t, err)
			}
		}
		// Unless the machine was too slow for it, nothing failed yet.
		if st := h.Stats(); time.Since(start) < retrans {
			assert.Equal(t, 4096, st.Segment.PendingNow)
			assert.Equal(t, uint64(neighbours*per-4096), st.Unresolved)
		}
		asked := map[netip.Addr]bool{}
		testkit.Eventually(t, waitFor, func() bool {
			for _, p := range w.collect(10*time.Millisecond, isARP(layers.ARPRequest, netip.Addr{})) {
				asked[netip.AddrFrom4([4]byte(arpOf(p).DstProtAddress))] = true
			}
			return len(asked) == neighbours
		}, "not all %d neighbours solicited: %v", neighbours, asked)
		testkit.Eventually(t, 2*waitFor, func() bool {
			return len(h.Neighbors()) == 0 && h.Stats().Segment.PendingNow == 0
		}, "entries left behind: %v", h.Neighbors())
		assert.Equal(t, uint64(neighbours*per), h.Stats().Unresolved)
	})
}

// TestStaleProbe: a REACHABLE neighbour turns STALE after ReachableTime;
// a datagram to a STALE one is sent at once and a unicast probe confirms
// it (PROBE, then REACHABLE again); when UnicastProbes probes go
// unanswered the entry is removed.
func TestStaleProbe(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			w := newWire(t, nil)
			const retrans, reachable, nProbes = 50 * time.Millisecond, 100 * time.Millisecond, 5
			h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: retrans,
				ReachableTime: reachable, Probes: 50, UnicastProbes: nProbes}})
			c := dial(t, h, f.peer)
			_, err := c.Write([]byte("0"))
			require.NoError(t, err)
			w.expect("solicitation", isSolicit(f.peer))
			answered := time.Now()
			w.send(w.answer(f.peer, f.src))
			w.expect("datagram", isUDP)
			// States are checked only where the test was quick enough to
			// see them: on a loaded machine the timers may have run on.
			if st := stateOf(h, f.peer); time.Since(answered) < reachable {
				require.Equal(t, host.Reachable, st)
			}
			testkit.Eventually(t, waitFor, func() bool { return stateOf(h, f.peer) == host.Stale }, "%v", h.Neighbors())

			written := time.Now()
			_, err = c.Write([]byte("1"))
			require.NoError(t, err)
			if st := stateOf(h, f.peer); time.Since(written) < retrans*nProbes {
				assert.Equal(t, host.Probe, st)
			}
			var udp, probes []gopacket.Packet
			for len(udp) == 0 || len(probes) == 0 {
				p := w.expect("datagram and probe", func(p gopacket.Packet) bool { return isUDP(p) || isProbe(f.peer)(p) })
				if isUDP(p) {
					udp = append(udp, p)
				} else {
					probes = append(probes, p)
				}
			}
			assert.Equal(t, []string{"1"}, udpPayloads(udp), "sent at once to the stale MAC")
			w.send(w.answer(f.peer, f.src))
			// Confirmed: REACHABLE, or STALE already; an unconfirmed
			// PROBE entry is removed instead.
			testkit.Eventually(t, waitFor, func() bool {
				st := stateOf(h, f.peer)
				return st == host.Reachable || st == host.Stale
			}, "%v", h.Neighbors())

			// Unanswered, now.
			testkit.Eventually(t, waitFor, func() bool { return stateOf(h, f.peer) == host.Stale }, "%v", h.Neighbors())
			_, err = c.Write([]byte("2"))
			require.NoError(t, err)
			probes = nil
			testkit.Eventually(t, waitFor, func() bool {
				probes = append(probes, w.collect(10*time.Millisecond, isProbe(f.peer))...)
				_, ok := neighbor(h, f.peer)
				return !ok
			}, "entry kept: %v", h.Neighbors())
			probes = append(probes, w.collect(quiet, isProbe(f.peer))...)
			assert.Len(t, probes, nProbes, "UnicastProbes probes")
			w.none("a broadcast solicitation", isSolicit(f.peer))
		})
	}
}

// TestSharedGateway: 50 hosts of one segment sending through one gateway
// at once resolve it once: one ARP request or NS on the wire, and every
// host's datagram goes to its MAC.
func TestSharedGateway(t *testing.T) {
	for _, f := range []struct {
		name string
		gw   netip.Addr
		dst  netip.AddrPort
		addr func(i int) netip.Prefix
	}{
		{"arp", netip.MustParseAddr("198.18.0.254"), netip.MustParseAddrPort("192.0.2.1:7"),
			func(i int) netip.Prefix {
				return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}), 24)
			}},
		{"nd", netip.MustParseAddr("fe80::fffe"), netip.MustParseAddrPort("[2001:db8:ffff::1]:7"),
			func(i int) netip.Prefix {
				return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(10 + i)}), 64)
			}},
	} {
		t.Run(f.name, func(t *testing.T) {
			w := newWire(t, nil)
			const n = 50
			hosts := make([]*host.Host, n)
			for i := range hosts {
				// A retransmission would be a second solicitation.
				cfg := host.Config{MAC: mac(byte(10 + i)), Addrs: []netip.Prefix{f.addr(i)},
					Neighbor: host.NeighborConfig{RetransTime: time.Minute}}
				if f.gw.Is4() {
					cfg.Gateway4 = f.gw
				} else {
					cfg.Gateway6 = f.gw
				}
				hosts[i] = w.host(cfg)
			}
			var failed atomic.Int32
			testkit.Parallel(n, func(i int) {
				c, err := hosts[i].DialUDP(netip.AddrPort{}, f.dst)
				if err == nil {
					_, err = c.Write([]byte("through the gateway"))
					defer c.Close()
				}
				if err != nil {
					failed.Add(1)
					t.Error(err)
				}
			})
			require.Zero(t, failed.Load())
			first := w.expect("solicitation of the gateway", isSolicit(f.gw))
			var src netip.Addr
			if f.gw.Is4() {
				src = netip.AddrFrom4([4]byte(arpOf(first).SourceProtAddress))
			} else {
				src = netip.AddrFrom16([16]byte(ip6Of(first).SrcIP))
			}
			// The answer goes to the host that asked.
			asker := hostMAC
			copy(asker[:], ethOf(first).SrcMAC)
			if f.gw.Is4() {
				w.send(w.arp(asker, layers.ARPReply, peerMAC, f.gw, asker, src))
			} else {
				w.send(w.icmp6(asker, f.gw, src, 255, 136, 0, naBody(0x60, f.gw, ndOpt(2, peerMAC))))
			}
			froms := map[string]bool{}
			var solicits int
			for len(froms) < n {
				p := w.expect("the hosts' datagrams", func(p gopacket.Packet) bool { return isUDP(p) || isSolicit(f.gw)(p) })
				if !isUDP(p) {
					solicits++
					continue
				}
				assert.Equal(t, peerMAC, dstMACOf(p), "to the gateway's MAC")
				froms[ethOf(p).SrcMAC.String()] = true
			}
			assert.Zero(t, solicits, "solicitations after the first")
			var sum uint64
			for _, h := range hosts {
				sum += h.Stats().Solicits
			}
			assert.Equal(t, uint64(1), sum, "solicitations sent by all hosts")
		})
	}
}
