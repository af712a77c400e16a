package host_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// The wire tests put hosts under a relay on one end of a memio pipe and
// play the rest of the link on the other end with raw frames: built with
// gopacket and golang.org/x/net/icmp, and what the hosts send decoded with
// them, so that neither direction trusts package frame.

// The station at the test's end of the wire, and the default host.
var (
	peerMAC = frame.MAC{0x02, 0, 0, 0, 2, 0x99}
	peer4   = netip.MustParseAddr("198.18.0.99")
	peer6   = netip.MustParseAddr("2001:db8::99")
	peerLL  = netip.MustParseAddr("fe80::99")
	host4   = netip.MustParseAddr("198.18.0.1")
	host6   = netip.MustParseAddr("2001:db8::1")
	hostMAC = frame.MAC(mac(1))
	allNode = netip.MustParseAddr("ff02::1")
)

// waitFor bounds every wait for a frame that should come.
const waitFor = 5 * time.Second

// quiet is how long a test watches for a frame that must not come.
const quiet = 100 * time.Millisecond

// wire is a link with hosts under relay r on one end and the test on the
// other (end), where it reads and writes raw frames on VLAN stack vl.
type wire struct {
	t   testing.TB
	r   *relay.Relay
	end *memio.Port
	vl  frame.VLANs
	buf []byte
	// mld keeps the hosts' MLD reports, which read passes over unless a
	// test is about them: a host sends some whenever it adds an IPv6
	// address.
	mld bool
}

func newWire(t testing.TB, vl frame.VLANs) *wire {
	t.Helper()
	a, b := memio.Pipe(memio.Config{QueueLen: 4096})
	w := &wire{t: t, r: relay.New(a, relay.Config{}), end: b, vl: vl, buf: make([]byte, 10000)}
	t.Cleanup(func() { w.r.Close(); b.Close() })
	return w
}

// host makes a host on the wire's VLAN stack, closed at the end of the test.
func (w *wire) host(cfg host.Config) *host.Host {
	w.t.Helper()
	cfg.VLANs = w.vl
	return mustHost(w.t, w.r, cfg)
}

// defaultHost is mac(1) with host4/24 and host6/64 (and its link-local).
func (w *wire) defaultHost(cfg host.Config) *host.Host {
	w.t.Helper()
	if cfg.MAC == nil {
		cfg.MAC = mac(1)
	}
	if cfg.Addrs == nil {
		cfg.Addrs = []netip.Prefix{netip.PrefixFrom(host4, 24), netip.PrefixFrom(host6, 64)}
	}
	return w.host(cfg)
}

func (w *wire) send(b []byte) {
	w.t.Helper()
	require.NoError(w.t, w.end.WriteFrame(b))
}

// read returns the next frame the hosts sent, decoded, or nil once d has
// passed.
func (w *wire) read(d time.Duration) gopacket.Packet {
	w.t.Helper()
	require.NoError(w.t, w.end.SetReadDeadline(time.Now().Add(d)))
	for {
		n, err := w.end.ReadFrame(w.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		require.NoError(w.t, err)
		p := gopacket.NewPacket(append([]byte(nil), w.buf[:n]...), layers.LayerTypeEthernet, gopacket.Default)
		if w.mld || !isMLD(p) {
			return p
		}
	}
}

// isMLD matches MLD reports and done messages.
func isMLD(p gopacket.Packet) bool {
	switch icmpType(p) {
	case int(frame.MLDv2Report), int(frame.MLDv1Report), int(frame.MLDv1Done):
		return ip6Of(p) != nil
	}
	return false
}

// expect reads until a frame that match accepts, skipping others, and
// fails the test if none comes within waitFor.
func (w *wire) expect(what string, match func(gopacket.Packet) bool) gopacket.Packet {
	w.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			w.t.Fatalf("no %s on the wire within %v", what, waitFor)
		}
		if p := w.read(left); p != nil && match(p) {
			return p
		}
	}
}

// collect returns the frames match accepts that come within d.
func (w *wire) collect(d time.Duration, match func(gopacket.Packet) bool) []gopacket.Packet {
	w.t.Helper()
	var out []gopacket.Packet
	deadline := time.Now().Add(d)
	for left := d; left > 0; left = time.Until(deadline) {
		if p := w.read(left); p != nil && match(p) {
			out = append(out, p)
		}
	}
	return out
}

// none fails the test if a frame that match accepts comes within quiet.
func (w *wire) none(what string, match func(gopacket.Packet) bool) {
	w.t.Helper()
	if got := w.collect(quiet, match); len(got) > 0 {
		w.t.Fatalf("%s on the wire: %v", what, got[0])
	}
}

func anyFrame(gopacket.Packet) bool { return true }

// Builders of the frames the test's station sends.

// frameOf serializes an Ethernet frame on the wire's VLAN stack.
func (w *wire) frameOf(dst, src frame.MAC, et layers.EthernetType, ls ...gopacket.SerializableLayer) []byte {
	w.t.Helper()
	eth := &layers.Ethernet{DstMAC: net.HardwareAddr(dst[:]), SrcMAC: net.HardwareAddr(src[:]), EthernetType: et}
	all := []gopacket.SerializableLayer{eth}
	next := &eth.EthernetType
	for _, v := range w.vl {
		*next = layers.EthernetType(v.EffectiveTPID())
		q := &layers.Dot1Q{VLANIdentifier: v.ID, Priority: v.PCP, Type: et}
		next = &q.Type
		all = append(all, q)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	require.NoError(w.t, gopacket.SerializeLayers(buf, opts, append(all, ls...)...))
	return append([]byte(nil), buf.Bytes()...)
}

// arp returns an ARP packet for IPv4 over Ethernet, built by gopacket.
func (w *wire) arp(dst frame.MAC, op uint16, sha frame.MAC, spa netip.Addr, tha frame.MAC, tpa netip.Addr) []byte {
	return w.frameOf(dst, sha, layers.EthernetTypeARP, &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: sha[:], SourceProtAddress: spa.AsSlice(),
		DstHwAddress: tha[:], DstProtAddress: tpa.AsSlice(),
	})
}

// arpRaw returns an ARP frame whose ARP packet is body as given.
func (w *wire) arpRaw(dst frame.MAC, body []byte) []byte {
	return w.frameOf(dst, peerMAC, layers.EthernetTypeARP, gopacket.Payload(body))
}

// arpRequest is the station's broadcast request for tpa.
func (w *wire) arpRequest(tpa netip.Addr) []byte {
	return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, peer4, frame.MAC{}, tpa)
}

// icmpMsg marshals an ICMP (src IPv4) or ICMPv6 message with x/net/icmp,
// which computes its checksum (with the pseudo-header for ICMPv6).
func icmpMsg(t testing.TB, src, dst netip.Addr, typ, code uint8, body icmp.MessageBody) []byte {
	t.Helper()
	m := icmp.Message{Code: int(code), Body: body}
	var psh []byte
	if src.Is4() {
		m.Type = ipv4.ICMPType(typ)
	} else {
		m.Type = ipv6.ICMPType(typ)
		psh = icmp.IPv6PseudoHeader(src.AsSlice(), dst.AsSlice())
	}
	b, err := m.Marshal(psh)
	require.NoError(t, err)
	return b
}

// ip returns an IP packet frame from src to dst carrying payload.
func (w *wire) ip(dstMAC frame.MAC, src, dst netip.Addr, ttl uint8, proto layers.IPProtocol, payload []byte) []byte {
	if src.Is4() {
		return w.frameOf(dstMAC, peerMAC, layers.EthernetTypeIPv4, &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, gopacket.Payload(payload))
	}
	return w.frameOf(dstMAC, peerMAC, layers.EthernetTypeIPv6, &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, gopacket.Payload(payload))
}

// icmp6 returns an ICMPv6 frame whose message is typ, code and body (the
// bytes after the checksum), with a right checksum.
func (w *wire) icmp6(dstMAC frame.MAC, src, dst netip.Addr, hop uint8, typ, code uint8, body []byte) []byte {
	return w.ip(dstMAC, src, dst, hop, layers.IPProtocolICMPv6, icmpMsg(w.t, src, dst, typ, code, &icmp.RawBody{Data: body}))
}

// ndOpt is a link-layer address option of type typ (1 source, 2 target).
func ndOpt(typ byte, m frame.MAC) []byte { return append([]byte{typ, 1}, m[:]...) }

// nsBody is the body of a neighbor solicitation for target with options.
func nsBody(target netip.Addr, opts ...[]byte) []byte {
	b := append(make([]byte, 4), target.AsSlice()...)
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

// naBody is the body of a neighbor advertisement.
func naBody(flags byte, target netip.Addr, opts ...[]byte) []byte {
	b := nsBody(target, opts...)
	b[0] = flags
	return b
}

// ns is the station's solicitation for target, from src (peer6 by
// default) to target's solicited-node group, with its SLLA.
func (w *wire) ns(target netip.Addr) []byte {
	return w.nsFrom(peer6, target)
}

func (w *wire) nsFrom(src, target netip.Addr) []byte {
	sn := frame.SolicitedNode(target)
	m, _ := frame.MulticastMAC(sn)
	return w.icmp6(m, src, sn, 255, 135, 0, nsBody(target, ndOpt(1, peerMAC)))
}

// na is the station's advertisement of target with flags and its TLLA,
// unicast to the host (dst, dstMAC).
func (w *wire) na(dstMAC frame.MAC, src, dst netip.Addr, flags byte, target netip.Addr) []byte {
	return w.icmp6(dstMAC, src, dst, 255, 136, 0, naBody(flags, target, ndOpt(2, peerMAC)))
}

// echo returns an echo request frame from src (the station) to dst.
func (w *wire) echo(dstMAC frame.MAC, src, dst netip.Addr, id, seq int, data []byte) []byte {
	typ, proto := uint8(8), layers.IPProtocolICMPv4
	if src.Is6() {
		typ, proto = 128, layers.IPProtocolICMPv6
	}
	return w.ip(dstMAC, src, dst, 64, proto, icmpMsg(w.t, src, dst, typ, 0, &icmp.Echo{ID: id, Seq: seq, Data: data}))
}

// udp returns a UDP datagram frame from the station.
func (w *wire) udp(dstMAC frame.MAC, src, dst netip.AddrPort, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var nl gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		require.NoError(w.t, u.SetNetworkLayerForChecksum(ip))
		nl = ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		require.NoError(w.t, u.SetNetworkLayerForChecksum(ip))
		nl, et = ip, layers.EthernetTypeIPv6
	}
	return w.frameOf(dstMAC, peerMAC, et, nl, u, gopacket.Payload(payload))
}

// Decoders of what the hosts send.

func ethOf(p gopacket.Packet) *layers.Ethernet {
	l, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	return l
}

func dstMACOf(p gopacket.Packet) frame.MAC {
	if e := ethOf(p); e != nil {
		return frame.MAC(e.DstMAC)
	}
	return frame.MAC{}
}

func arpOf(p gopacket.Packet) *layers.ARP {
	l, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	return l
}

// isARP matches ARP packets of operation op whose target address is tpa
// (any when invalid).
func isARP(op uint16, tpa netip.Addr) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		a := arpOf(p)
		return a != nil && a.Operation == op && (!tpa.IsValid() || netip.AddrFrom4([4]byte(a.DstProtAddress)) == tpa)
	}
}

func ip6Of(p gopacket.Packet) *layers.IPv6 {
	l, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	return l
}

func ip4Of(p gopacket.Packet) *layers.IPv4 {
	l, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	return l
}

// icmpType returns the ICMP or ICMPv6 type of p, or -1.
func icmpType(p gopacket.Packet) int {
	if l, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		return int(l.TypeCode.Type())
	}
	if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		return int(l.TypeCode.Type())
	}
	return -1
}

// isICMP matches ICMP/ICMPv6 messages of type typ.
func isICMP(typ int) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool { return icmpType(p) == typ }
}

// ndTarget returns the target of an NS or NA, or the zero Addr.
func ndTarget(p gopacket.Packet) netip.Addr {
	switch l := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(type) {
	case *layers.ICMPv6NeighborSolicitation:
		a, _ := netip.AddrFromSlice(l.TargetAddress)
		return a
	}
	switch l := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(type) {
	case *layers.ICMPv6NeighborAdvertisement:
		a, _ := netip.AddrFromSlice(l.TargetAddress)
		return a
	}
	return netip.Addr{}
}

// isND matches NS (135) or NA (136) for target (any when invalid).
func isND(typ int, target netip.Addr) func(gopacket.Packet) bool {
	return func(p gopacket.Packet) bool {
		return icmpType(p) == typ && (!target.IsValid() || ndTarget(p) == target)
	}
}

// isUDP matches UDP datagrams.
func isUDP(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil }

// checkedICMP decodes the ICMP or ICMPv6 message of p with x/net/icmp and
// checks its checksum (by marshalling it again, with x/net's own checksum
// code) and, for IPv4, the IP header checksum. It returns the message and
// the IP source and destination.
func checkedICMP(t testing.TB, p gopacket.Packet) (m *icmp.Message, src, dst netip.Addr) {
	t.Helper()
	var raw []byte
	var psh []byte
	proto := 1
	if ip := ip4Of(p); ip != nil {
		require.Equal(t, layers.IPProtocolICMPv4, ip.Protocol)
		hdr := ip.Contents
		require.Equal(t, uint16(0xffff), testkit.OnesSum(hdr), "IPv4 header checksum")
		src, dst = netip.AddrFrom4([4]byte(ip.SrcIP.To4())), netip.AddrFrom4([4]byte(ip.DstIP.To4()))
		raw = ip.Payload
	} else {
		ip := ip6Of(p)
		require.NotNil(t, ip, "not IP: %v", p)
		require.Equal(t, layers.IPProtocolICMPv6, ip.NextHeader)
		src, dst = netip.AddrFrom16([16]byte(ip.SrcIP)), netip.AddrFrom16([16]byte(ip.DstIP))
		raw = ip.Payload
		psh, proto = icmp.IPv6PseudoHeader(ip.SrcIP, ip.DstIP), 58
	}
	m, err := icmp.ParseMessage(proto, raw)
	require.NoError(t, err)
	again, err := m.Marshal(psh)
	require.NoError(t, err)
	require.Equal(t, binary.BigEndian.Uint16(again[2:]), binary.BigEndian.Uint16(raw[2:]), "ICMP checksum")
	require.Equal(t, again, raw, "x/net reads and writes it back differently")
	return m, src, dst
}

// checkVLANs checks that p carries the wire's VLAN stack.
func (w *wire) checkVLANs(p gopacket.Packet) {
	w.t.Helper()
	var got []uint16
	for _, l := range p.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			got = append(got, q.VLANIdentifier)
		}
	}
	var want []uint16
	for _, v := range w.vl {
		want = append(want, v.ID)
	}
	require.Equal(w.t, want, got, "VLAN stack")
}

// dial connects a UDP socket of h to port 7 of to, closed with the test.
func dial(t testing.TB, h *host.Host, to netip.Addr) *rudp.Conn {
	t.Helper()
	c, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(to, 7))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// neighbor returns h's neighbour entry for a.
func neighbor(h *host.Host, a netip.Addr) (host.Neighbor, bool) {
	for _, n := range h.Neighbors() {
		if n.Addr == a {
			return n, true
		}
	}
	return host.Neighbor{}, false
}
