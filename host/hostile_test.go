package host_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
)

// Hostile input: counted and dropped, never answered wrongly, never
// growing the neighbour cache past its bound.

// rawFrame is an Ethernet frame on the wire's stack carrying payload as
// given, without the padding gopacket adds, so that short packets stay
// short.
func (w *wire) rawFrame(dst frame.MAC, et uint16, payload []byte) []byte {
	var tags []testkit.Tag
	for _, v := range w.vl {
		tags = append(tags, testkit.Tag{TPID: v.EffectiveTPID(), ID: v.ID})
	}
	return testkit.Frame(dst, peerMAC, tags, et, payload)
}

// arpBody is an ARP packet for IPv4 over Ethernet, written by hand.
func arpBody(op uint16, sha frame.MAC, spa netip.Addr, tha frame.MAC, tpa netip.Addr) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, 0, 0}
	binary.BigEndian.PutUint16(b[6:], op)
	b = append(b, sha[:]...)
	b = append(b, spa.AsSlice()...)
	b = append(b, tha[:]...)
	return append(b, tpa.AsSlice()...)
}

// reqBody is the station's request for host4, to be spoiled.
func reqBody() []byte { return arpBody(1, peerMAC, peer4, frame.MAC{}, host4) }

func patched(b []byte, off int, v ...byte) []byte {
	copy(b[off:], v)
	return b
}

// counter names which counter a dropped message must show in.
type counter int

const (
	segMalformed   counter = iota // Stats.Segment.Malformed: broadcast/multicast
	hostMalformed                 // Stats.Malformed: to the host's MAC
	relayMalformed                // relay.Stats.Malformed: not even parsed
	segNotForUs                   // Stats.Segment.NotForUs
	hostNotForUs                  // Stats.NotForUs
	segConflicts                  // Stats.Segment.Conflicts
)

func (c counter) String() string {
	return [...]string{"Segment.Malformed", "Malformed", "relay Malformed", "Segment.NotForUs", "NotForUs", "Segment.Conflicts"}[c]
}

func (c counter) of(w *wire, h *host.Host) uint64 {
	st := h.Stats()
	switch c {
	case segMalformed:
		return st.Segment.Malformed
	case hostMalformed:
		return st.Malformed
	case relayMalformed:
		return w.r.Stats().Malformed
	case segNotForUs:
		return st.Segment.NotForUs
	case hostNotForUs:
		return st.NotForUs
	}
	return st.Segment.Conflicts
}

// hostile is a frame the host must drop, counting it in want, answering
// nothing and learning no neighbour.
type hostile struct {
	name  string
	frame func(w *wire) []byte
	want  counter
}

func runHostile(t *testing.T, rows []hostile, cfg host.Config) {
	for _, c := range rows {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, frame.VLANs{{ID: 7}})
			h := w.defaultHost(cfg)
			w.send(c.frame(w))
			testkit.Eventually(t, waitFor, func() bool { return c.want.of(w, h) == 1 }, "%v not 1: %+v", c.want, h.Stats())
			w.none("an answer", anyFrame)
			assert.Empty(t, h.Neighbors(), "nothing learned")
			assert.Zero(t, h.Stats().ARPAnswered+h.Stats().NDAnswered+h.Stats().EchoAnswered)
		})
	}
}

// TestHostileARP: ARP that is not IPv4 over Ethernet, short, of an unknown
// operation, or from a group or zero MAC or a multicast or broadcast
// address is dropped and counted, broadcast (by the segment) or unicast
// (by the host).
func TestHostileARP(t *testing.T) {
	bad := []struct {
		name string
		body func() []byte
	}{
		{"htype 6", func() []byte { return patched(reqBody(), 0, 0, 6) }},
		{"ptype IPv6", func() []byte { return patched(reqBody(), 2, 0x86, 0xdd) }},
		{"hlen 8", func() []byte { return patched(reqBody(), 4, 8) }},
		{"plen 16", func() []byte { return patched(reqBody(), 5, 16) }},
		{"op 0", func() []byte { return patched(reqBody(), 6, 0, 0) }},
		{"op 3", func() []byte { return patched(reqBody(), 6, 0, 3) }},
		{"short 20", func() []byte { return reqBody()[:20] }},
		{"short 27", func() []byte { return reqBody()[:27] }},
		{"empty", func() []byte { return nil }},
		{"sender MAC broadcast", func() []byte { return arpBody(1, frame.BroadcastMAC, peer4, frame.MAC{}, host4) }},
		{"sender MAC multicast", func() []byte { return arpBody(1, frame.MAC{1, 0, 0x5e, 0, 0, 1}, peer4, frame.MAC{}, host4) }},
		{"sender MAC zero", func() []byte { return arpBody(1, frame.MAC{}, peer4, frame.MAC{}, host4) }},
		{"sender IP multicast", func() []byte { return arpBody(1, peerMAC, netip.MustParseAddr("224.0.0.1"), frame.MAC{}, host4) }},
		{"sender IP broadcast", func() []byte { return arpBody(1, peerMAC, netip.MustParseAddr("255.255.255.255"), frame.MAC{}, host4) }},
	}
	var rows []hostile
	for _, b := range bad {
		rows = append(rows,
			hostile{"broadcast/" + b.name, func(w *wire) []byte { return w.rawFrame(frame.BroadcastMAC, frame.EtherTypeARP, b.body()) }, segMalformed},
			hostile{"unicast/" + b.name, func(w *wire) []byte { return w.rawFrame(hostMAC, frame.EtherTypeARP, b.body()) }, hostMalformed})
	}
	rows = append(rows,
		hostile{"request for no host's address", func(w *wire) []byte {
			return w.arpRequest(netip.MustParseAddr("198.18.0.200"))
		}, segNotForUs},
		hostile{"unicast request for another address", func(w *wire) []byte {
			return w.arp(hostMAC, layers.ARPRequest, peerMAC, peer4, frame.MAC{}, netip.MustParseAddr("198.18.0.200"))
		}, hostNotForUs},
		hostile{"request for a multicast address", func(w *wire) []byte {
			return w.arpRequest(netip.MustParseAddr("224.0.0.1"))
		}, segNotForUs})
	runHostile(t, rows, host.Config{})
}

// TestHostileND: solicitations and advertisements that break RFC 4861
// §7.1 (hop limit, code, option lengths, multicast target, DAD with SLLA
// or not to the solicited-node group, bad checksum, short), from a
// multicast source, and RAs not from a link-local router, are dropped and
// counted, multicast (segment) or unicast (host).
func TestHostileND(t *testing.T) {
	sn := frame.SolicitedNode(host6)
	snMAC, _ := frame.MulticastMAC(sn)
	allMAC, _ := frame.MulticastMAC(allNode)
	slla := ndOpt(1, peerMAC)
	// ns builds a solicitation for target, multicast to its group or
	// unicast to the host.
	type ndMsg struct {
		src, target netip.Addr
		hop, typ    uint8
		code        uint8
		body        []byte
		toAll       bool // to ff02::1 instead of the solicited-node group
	}
	build := func(m ndMsg, unicast bool) func(w *wire) []byte {
		return func(w *wire) []byte {
			dst, dstMAC := frame.SolicitedNode(m.target), snMAC
			if !m.target.IsValid() || m.toAll || !frame.SolicitedNode(m.target).IsValid() {
				dst, dstMAC = allNode, allMAC
			}
			if unicast {
				dst, dstMAC = host6, hostMAC
			}
			return w.icmp6(dstMAC, m.src, dst, m.hop, m.typ, m.code, m.body)
		}
	}
	_ = sn
	bad := []struct {
		name string
		m    ndMsg
	}{
		{"NS hop limit 64", ndMsg{src: peer6, target: host6, hop: 64, typ: 135, body: nsBody(host6, slla)}},
		{"NS hop limit 254", ndMsg{src: peer6, target: host6, hop: 254, typ: 135, body: nsBody(host6, slla)}},
		{"NS code 1", ndMsg{src: peer6, target: host6, hop: 255, typ: 135, code: 1, body: nsBody(host6, slla)}},
		{"NS option length 0", ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, []byte{1, 0, 0, 0, 0, 0, 0, 0})}},
		{"NS option past end", ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, append([]byte{1, 2}, peerMAC[:]...))}},
		{"NS option of 1 byte", ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, []byte{1})}},
		{"NS short", ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6)[:16]}},
		{"NS multicast target", ndMsg{src: peer6, target: allNode, hop: 255, typ: 135, body: nsBody(allNode, slla)}},
		{"NS from :: with SLLA", ndMsg{src: netip.IPv6Unspecified(), target: host6, hop: 255, typ: 135, body: nsBody(host6, slla)}},
		{"NS from :: to all nodes", ndMsg{src: netip.IPv6Unspecified(), target: host6, hop: 255, typ: 135, body: nsBody(host6), toAll: true}},
		{"NS from a multicast source", ndMsg{src: netip.MustParseAddr("ff02::2"), target: host6, hop: 255, typ: 135, body: nsBody(host6, slla)}},
		{"NA hop limit 64", ndMsg{src: peer6, target: peer6, hop: 64, typ: 136, body: naBody(0x20, peer6, ndOpt(2, peerMAC)), toAll: true}},
		{"NA option length 0", ndMsg{src: peer6, target: peer6, hop: 255, typ: 136, body: naBody(0x20, peer6, []byte{2, 0, 0, 0, 0, 0, 0, 0}), toAll: true}},
		{"RA from a global address", ndMsg{src: peer6, hop: 255, typ: 134, body: make([]byte, 12)}},
		{"RA hop limit 64", ndMsg{src: peerLL, hop: 64, typ: 134, body: make([]byte, 12)}},
	}
	var rows []hostile
	for _, b := range bad {
		rows = append(rows,
			hostile{"multicast/" + b.name, build(b.m, false), segMalformed},
			hostile{"unicast/" + b.name, build(b.m, true), hostMalformed})
	}
	rows = append(rows,
		hostile{"multicast/NA solicited to all nodes", build(ndMsg{src: peer6, target: peer6, hop: 255, typ: 136,
			body: naBody(0x60, peer6, ndOpt(2, peerMAC)), toAll: true}, false), segMalformed},
		hostile{"multicast/bad checksum", func(w *wire) []byte {
			f := build(ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, slla)}, false)(w)
			f[len(f)-1] ^= 0xff // the last byte of the SLLA
			return f
		}, segMalformed},
		hostile{"unicast/bad checksum", func(w *wire) []byte {
			f := build(ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, slla)}, true)(w)
			f[len(f)-1] ^= 0xff
			return f
		}, hostMalformed},
		hostile{"IPv6 payload length past the frame", func(w *wire) []byte {
			f := build(ndMsg{src: peer6, target: host6, hop: 255, typ: 135, body: nsBody(host6, slla)}, false)(w)
			binary.BigEndian.PutUint16(f[len(f)-32-40+4:], 200) // the IPv6 payload length
			return f
		}, relayMalformed},
		hostile{"multicast/NS for no host's address", build(ndMsg{src: peer6, target: peer6, hop: 255, typ: 135,
			body: nsBody(netip.MustParseAddr("2001:db8::200"), slla)}, false), segNotForUs},
	)
	runHostile(t, rows, host.Config{})
}

// TestHostileEcho: echo to a broadcast or multicast address, or from a
// broadcast, multicast or unspecified source, is not answered.
func TestHostileEcho(t *testing.T) {
	bcast := netip.MustParseAddr("198.18.0.255")
	lbcast := netip.MustParseAddr("255.255.255.255")
	allMAC, _ := frame.MulticastMAC(allNode)
	data := []byte("smurf")
	rows := []hostile{
		{"to the subnet broadcast", func(w *wire) []byte { return w.echo(frame.BroadcastMAC, peer4, bcast, 1, 1, data) }, hostNotForUs},
		{"to the limited broadcast", func(w *wire) []byte { return w.echo(frame.BroadcastMAC, peer4, lbcast, 1, 1, data) }, hostNotForUs},
		{"to the subnet broadcast, unicast MAC", func(w *wire) []byte { return w.echo(hostMAC, peer4, bcast, 1, 1, data) }, hostNotForUs},
		{"to all nodes", func(w *wire) []byte { return w.echo(allMAC, peer6, allNode, 1, 1, data) }, segNotForUs},
		{"from the limited broadcast", func(w *wire) []byte { return w.echo(hostMAC, lbcast, host4, 1, 1, data) }, hostMalformed},
		{"from multicast", func(w *wire) []byte { return w.echo(hostMAC, netip.MustParseAddr("224.0.0.1"), host4, 1, 1, data) }, hostMalformed},
		{"from 0.0.0.0", func(w *wire) []byte { return w.echo(hostMAC, netip.IPv4Unspecified(), host4, 1, 1, data) }, hostMalformed},
		{"from v6 multicast", func(w *wire) []byte { return w.echo(hostMAC, allNode, host6, 1, 1, data) }, hostMalformed},
		{"from ::", func(w *wire) []byte { return w.echo(hostMAC, netip.IPv6Unspecified(), host6, 1, 1, data) }, hostMalformed},
		{"bad checksum", func(w *wire) []byte {
			f := w.echo(hostMAC, peer4, host4, 1, 1, data)
			f[14+4*len(w.vl)+20+2] ^= 0xff // the ICMP checksum
			return f
		}, hostMalformed},
	}
	runHostile(t, rows, host.Config{Broadcast: true})
}

// TestClaimsOfOurAddresses: ARP and NA from another station claiming an
// address of a host of the segment are counted as conflicts; the address
// stays the host's (answered with its MAC) and the neighbour cache gets no
// entry for it; a request or solicitation from such a claimed address is
// not answered (Linux drops it as a martian source).
func TestClaimsOfOurAddresses(t *testing.T) {
	hostB4 := netip.MustParseAddr("198.18.0.2")
	hostB6 := netip.MustParseAddr("2001:db8::2")
	ll := frame.LinkLocal(hostMAC)
	for _, c := range []struct {
		name    string
		frame   func(w *wire) []byte
		claimed netip.Addr
	}{
		{"ARP reply unicast", func(w *wire) []byte {
			return w.arp(hostMAC, layers.ARPReply, peerMAC, host4, hostMAC, host4)
		}, host4},
		{"ARP reply broadcast", func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPReply, peerMAC, host4, frame.MAC{}, hostB4)
		}, host4},
		{"gratuitous ARP", func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, host4, frame.MAC{}, host4)
		}, host4},
		{"ARP request from our address to another host", func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, host4, frame.MAC{}, hostB4)
		}, host4},
		{"NA unicast", func(w *wire) []byte { return w.na(hostMAC, peer6, host6, 0x60, host6) }, host6},
		{"NA unsolicited to all nodes", func(w *wire) []byte {
			m, _ := frame.MulticastMAC(allNode)
			return w.na(m, peer6, allNode, 0x20, host6)
		}, host6},
		{"NA for the link-local", func(w *wire) []byte {
			m, _ := frame.MulticastMAC(allNode)
			return w.na(m, peerLL, allNode, 0x20, ll)
		}, ll},
		{"NS from our address to another host", func(w *wire) []byte { return w.nsFrom(host6, hostB6) }, host6},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, nil)
			h := w.defaultHost(host.Config{})
			hb := w.host(host.Config{MAC: mac(2), Addrs: []netip.Prefix{netip.PrefixFrom(hostB4, 24), netip.PrefixFrom(hostB6, 64)}})
			w.send(c.frame(w))
			testkit.Eventually(t, waitFor, func() bool { return h.Stats().Segment.Conflicts == 1 }, "conflicts: %+v", h.Stats())
			w.none("an answer", anyFrame)
			_, ok := neighbor(h, c.claimed)
			assert.False(t, ok, "an entry for our own address: %v", h.Neighbors())
			assert.Empty(t, h.Neighbors())
			assert.Zero(t, hb.Stats().ARPAnswered+hb.Stats().NDAnswered, "answered a claimed source")
			// Still ours.
			if c.claimed.Is4() {
				w.send(w.arpRequest(c.claimed))
				p := w.expect("ARP reply", isARP(layers.ARPReply, peer4))
				assert.Equal(t, hostMAC, frame.MAC(arpOf(p).SourceHwAddress))
			} else {
				src := peer6
				if c.claimed.IsLinkLocalUnicast() {
					src = peerLL
				}
				w.send(w.nsFrom(src, c.claimed))
				p := w.expect("NA", isND(136, c.claimed))
				assert.Equal(t, hostMAC, frame.MAC(ethOf(p).SrcMAC))
			}
			assert.True(t, h.HasAddr(c.claimed))
		})
	}
}

// TestFloods: floods of requests for no host's address, of broadcast
// replies and of requests from 100,000 distinct spoofed senders keep the
// neighbour cache within NeighborConfig.MaxEntries, evictions counted.
func TestFloods(t *testing.T) {
	const maxEntries = 500
	spoofed := func(i int) (frame.MAC, netip.Addr) {
		return frame.MAC{0x02, 0xee, 0, byte(i >> 16), byte(i >> 8), byte(i)},
			netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
	}
	spoofed6 := func(i int) (frame.MAC, netip.Addr) {
		m, _ := spoofed(i)
		return m, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
	}
	for _, c := range []struct {
		name    string
		n       int
		frame   func(w *wire, i int) []byte
		counted func(st host.Stats) uint64 // answered or dropped
		entries int                        // neighbour entries at the end
	}{
		{"requests for no host", 10000, func(w *wire, i int) []byte {
			m, a := spoofed(i)
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, m, a, frame.MAC{}, netip.MustParseAddr("198.18.0.200"))
		}, func(st host.Stats) uint64 { return st.Segment.NotForUs }, 0},
		{"broadcast replies", 10000, func(w *wire, i int) []byte {
			m, a := spoofed(i)
			return w.arp(frame.BroadcastMAC, layers.ARPReply, m, a, frame.MAC{}, host4)
		}, func(st host.Stats) uint64 { return st.Segment.NotForUs }, 0},
		{"solicitations for no host", 10000, func(w *wire, i int) []byte {
			m, a := spoofed6(i)
			f := w.nsFrom(a, netip.MustParseAddr("2001:db8::200"))
			copy(f[6:12], m[:])
			return f
		}, func(st host.Stats) uint64 { return st.Segment.NotForUs }, 0},
		{"spoofed requests for the host", 100000, func(w *wire, i int) []byte {
			m, a := spoofed(i)
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, m, a, frame.MAC{}, host4)
		}, func(st host.Stats) uint64 { return st.ARPAnswered }, maxEntries},
		{"spoofed solicitations for the host", 20000, func(w *wire, i int) []byte {
			m, a := spoofed6(i)
			sn := frame.SolicitedNode(host6)
			smac, _ := frame.MulticastMAC(sn)
			return w.icmp6(smac, a, sn, 255, 135, 0, nsBody(host6, ndOpt(1, m)))
		}, func(st host.Stats) uint64 { return st.NDAnswered }, maxEntries},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{MaxEntries: maxEntries}})
			// Sent in batches, each waited for: a memio queue drops what
			// overflows it, and every frame must reach the host.
			const batch = 1000
			frames := make([][]byte, batch)
			for i := 0; i < c.n; i += batch {
				for j := range frames {
					frames[j] = c.frame(w, i+j)
				}
				_, err := w.end.WriteFrames(frames)
				require.NoError(t, err)
				want := uint64(i + batch)
				testkit.Eventually(t, 30*time.Second, func() bool { return c.counted(h.Stats()) >= want },
					"%d sent, stats %+v", want, h.Stats())
				require.LessOrEqual(t, len(h.Neighbors()), maxEntries, "after %d", i+batch)
			}
			st := h.Stats()
			assert.Equal(t, c.entries, st.Segment.Neighbors, "%+v", st)
			assert.Len(t, h.Neighbors(), c.entries)
			if c.entries > 0 {
				assert.Equal(t, uint64(c.n-c.entries), st.Segment.Evicted, "evictions counted")
			}
			t.Logf("%d frames: %+v", c.n, st)
		})
	}
}

// TestEchoRate: echo requests beyond Config.EchoRate a second are not
// answered and are counted in EchoLimited; EchoRate < 0 answers none.
func TestEchoRate(t *testing.T) {
	for _, c := range []struct {
		name string
		rate int
	}{{"rate 5", 5}, {"none", -1}} {
		t.Run(c.name, func(t *testing.T) {
			w := newWire(t, nil)
			h := w.defaultHost(host.Config{EchoRate: c.rate})
			const n = 20
			start := time.Now()
			for i := range n {
				w.send(w.echo(hostMAC, peer4, host4, 1, i, nil))
			}
			testkit.Eventually(t, waitFor, func() bool {
				st := h.Stats()
				return st.EchoAnswered+st.EchoLimited == n
			}, "%+v", h.Stats())
			elapsed := time.Since(start)
			st := h.Stats()
			// A burst of rate, and rate a second after.
			most := uint64(max(c.rate, 0)) + uint64(elapsed.Seconds()*float64(max(c.rate, 0))) + 1
			if c.rate < 0 {
				most = 0
			}
			assert.LessOrEqual(t, st.EchoAnswered, most, "%+v after %v", st, elapsed)
			assert.GreaterOrEqual(t, st.EchoAnswered, uint64(max(c.rate, 0)), "the burst")
			assert.Positive(t, st.EchoLimited)
			replies := w.collect(quiet, isICMP(0))
			assert.Len(t, replies, int(st.EchoAnswered))
		})
	}
}
