package conformance

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// The stack suite, RunStack: rudp over etherconn over the relay.

var udpFamilies = []struct {
	name   string
	a, b   string
	other  string
	wildV4 bool
}{
	{"ipv4", "198.18.0.1", "198.18.0.2", "198.18.0.3", true},
	{"ipv6", "2001:db8::1", "2001:db8::2", "2001:db8::3", false},
}

// udpHosts is two emulated stations on VLAN 100 on the two ends of a pair.
type udpHosts struct {
	ra, rb *relay.Relay
	ea, eb *etherconn.Conn
	defB   *relay.Endpoint // mirror of everything b receives
}

func (s *suite) udpHosts(t *testing.T, mirror bool) *udpHosts {
	a, b := s.pair(t)
	h := &udpHosts{ra: s.relay(t, a, relay.Config{}), rb: s.relay(t, b, relay.Config{})}
	tags := frame.VLANs{{ID: 100}}
	h.ea = s.conn(t, h.ra, etherconn.Config{MAC: testMAC(1), VLANs: tags})
	h.eb = s.conn(t, h.rb, etherconn.Config{MAC: testMAC(2), VLANs: tags})
	if mirror {
		var err error
		h.defB, err = h.rb.RegisterDefault(relay.DefaultEndpointConfig{Mirror: true, QueueLen: 1024})
		must(t, err, "RegisterDefault")
	}
	return h
}

// next MACs by IP, as a user's ARP/ND cache would.
func resolverFor(macs map[netip.Addr]net.HardwareAddr) rudp.Resolver {
	return func(ip netip.Addr) (net.HardwareAddr, error) {
		if m, ok := macs[ip]; ok {
			return m, nil
		}
		return nil, net.UnknownNetworkError("no neighbour " + ip.String())
	}
}

func udpConn(t *testing.T, ec *etherconn.Conn, cfg rudp.Config) *rudp.Conn {
	t.Helper()
	c, err := rudp.New(ec, cfg)
	must(t, err, "rudp.New(%v)", cfg.LocalAddr)
	t.Cleanup(func() { c.Close() })
	return c
}

func readUDP(t *testing.T, c *rudp.Conn, timeout time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	must(t, c.SetReadDeadline(time.Now().Add(timeout)), "SetReadDeadline")
	buf := make([]byte, 65536)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	must(t, err, "ReadFromUDPAddrPort on %v", c.LocalAddrPort())
	return buf[:n], from
}

// nextOurFrame returns the next frame from the suite's MACs on a mirror.
func nextOurFrame(t *testing.T, ep *relay.Endpoint, timeout time.Duration) []byte {
	t.Helper()
	ep.SetReadDeadline(time.Now().Add(timeout))
	for {
		p, err := ep.Read()
		must(t, err, "Read on the mirror")
		f := append([]byte(nil), p.Frame()...)
		p.Release()
		if ours(f) {
			return f
		}
	}
}

// decodedUDP is a UDP frame as gopacket sees it, with its checksums
// recomputed by gopacket.
type decodedUDP struct {
	src, dst      netip.AddrPort
	payload       []byte
	ttl, tos      uint8
	vlans         int
	ipOK, udpOK   bool
	lengthsAgreed bool
}

func decodeUDP(t *testing.T, f []byte) decodedUDP {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode % x: %v", f, el.Error())
	}
	var d decodedUDP
	for _, l := range pkt.Layers() {
		if _, ok := l.(*layers.Dot1Q); ok {
			d.vlans++
		}
	}
	udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	mustf(t, ok, "gopacket finds no UDP layer in % x", f)
	d.payload = udp.Payload
	var nl gopacket.NetworkLayer
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		nl = ip4
		d.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), uint16(udp.SrcPort))
		d.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.DstIP.To4())), uint16(udp.DstPort))
		d.ttl, d.tos = ip4.TTL, ip4.TOS
		cp := *ip4
		buf := gopacket.NewSerializeBuffer()
		must(t, cp.SerializeTo(buf, opts), "gopacket serializing the IPv4 header")
		d.ipOK = binary.BigEndian.Uint16(buf.Bytes()[10:]) == ip4.Checksum
		d.lengthsAgreed = int(ip4.Length) == 20+int(udp.Length)
	} else {
		ip6 := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		nl = ip6
		d.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip6.SrcIP)), uint16(udp.SrcPort))
		d.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip6.DstIP)), uint16(udp.DstPort))
		d.ttl, d.tos = ip6.HopLimit, ip6.TrafficClass
		d.ipOK = true // IPv6 has no header checksum
		d.lengthsAgreed = int(ip6.Length) == int(udp.Length)
	}
	cp := *udp
	must(t, cp.SetNetworkLayerForChecksum(nl), "gopacket SetNetworkLayerForChecksum")
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, opts, &cp, gopacket.Payload(udp.Payload)), "gopacket serializing the UDP header")
	d.udpOK = udp.Checksum != 0 && binary.BigEndian.Uint16(buf.Bytes()[6:]) == udp.Checksum
	d.lengthsAgreed = d.lengthsAgreed && int(udp.Length) == 8+len(udp.Payload)
	return d
}

func (s *suite) testUDP(t *testing.T) {
	for _, fam := range udpFamilies {
		t.Run(fam.name, func(t *testing.T) {
			h := s.udpHosts(t, true)
			ipA, ipB := netip.MustParseAddr(fam.a), netip.MustParseAddr(fam.b)
			mtu := s.cfg.MaxPayload - 4 // one VLAN tag
			ca := udpConn(t, h.ea, rudp.Config{
				LocalAddr: netip.AddrPortFrom(ipA, 1067), TTL: 7, DSCP: 46, MTU: mtu,
				Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipB: testMAC(2)}),
			})
			cb := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1068)})
			for _, size := range []int{0, 1, 64, 555, s.cfg.MaxPayload - 48 - 4} {
				msg := make([]byte, size)
				for i := range msg {
					msg[i] = byte(i * 13)
				}
				n, err := ca.WriteToUDPAddrPort(msg, cb.LocalAddrPort())
				must(t, err, "WriteToUDPAddrPort of %d bytes", size)
				check(t, n, size, "WriteToUDPAddrPort's count")

				got, from := readUDP(t, cb, s.cfg.Timeout)
				checkBytes(t, got, msg, "the %d-byte datagram read", size)
				check(t, from, ca.LocalAddrPort(), "the datagram's source")

				f := nextOurFrame(t, h.defB, s.cfg.Timeout)
				d := decodeUDP(t, f)
				check(t, [6]byte(f[0:6]), mac6(2), "destination MAC (the resolver's next hop)")
				check(t, d.vlans, 1, "VLAN tags")
				checkf(t, d.ipOK, "IPv4 header checksum wrong, as gopacket computes it")
				checkf(t, d.udpOK, "UDP checksum wrong, as gopacket computes it")
				checkf(t, d.lengthsAgreed, "IP and UDP lengths disagree with each other or the payload")
				check(t, d.ttl, 7, "TTL")
				check(t, d.tos, 46<<2, "TOS (DSCP 46)")
				check(t, d.src, ca.LocalAddrPort(), "IP/UDP source")
				check(t, d.dst, cb.LocalAddrPort(), "IP/UDP destination")
				checkBytes(t, d.payload, msg, "the payload as gopacket decodes it")
			}
			// Past the MTU: fragments, each within it, and the whole
			// datagram read.
			big := make([]byte, 3*mtu)
			for i := range big {
				big[i] = byte(i * 7)
			}
			_, err := ca.WriteToUDPAddrPort(big, cb.LocalAddrPort())
			must(t, err, "WriteToUDPAddrPort of %d bytes, over the MTU", len(big))
			got, _ := readUDP(t, cb, s.cfg.Timeout)
			checkBytes(t, got, big, "the datagram over the MTU, reassembled")
			for range 4 {
				f := nextOurFrame(t, h.defB, s.cfg.Timeout)
				checkf(t, len(f)-frame.HeaderLen(1) <= mtu, "a fragment of %d bytes passes the MTU %d", len(f)-frame.HeaderLen(1), mtu)
			}
			// Without a resolver, datagrams go to the broadcast MAC; b did
			// not opt in to broadcast, so only the mirror sees it.
			noRes := udpConn(t, h.ea, rudp.Config{LocalAddr: netip.AddrPortFrom(ipA, 1069)})
			_, err = noRes.WriteToUDPAddrPort([]byte("to broadcast"), cb.LocalAddrPort())
			must(t, err, "WriteToUDPAddrPort without a resolver")
			f := nextOurFrame(t, h.defB, s.cfg.Timeout)
			check(t, [6]byte(f[0:6]), testkit.Broadcast, "destination MAC without a resolver")
			checkBytes(t, decodeUDP(t, f).payload, []byte("to broadcast"), "the payload as gopacket decodes it")
		})
	}
}

// udpFrame builds a UDP frame with the test kit's builder, independent of
// the stack's, for tests that then damage or pad it.
func udpFrame(dst, src net.HardwareAddr, tags frame.VLANs, from, to netip.AddrPort, payload []byte) []byte {
	return testkit.UDPFrame([6]byte(dst), [6]byte(src), testkit.AsTags(tags), from, to, payload)
}

func (s *suite) testPadding(t *testing.T) {
	for _, fam := range udpFamilies {
		t.Run(fam.name, func(t *testing.T) {
			a, b := s.pair(t)
			rb := s.relay(t, b, relay.Config{})
			tags := frame.VLANs{{ID: 100}}
			eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2), VLANs: tags})
			to := netip.AddrPortFrom(netip.MustParseAddr(fam.b), 2000)
			cb := udpConn(t, eb, rudp.Config{LocalAddr: to})
			from := netip.AddrPortFrom(netip.MustParseAddr(fam.a), 1000)
			for _, pad := range []int{1, 10, 30} {
				f := udpFrame(testMAC(2), testMAC(1), tags, from, to, []byte("tiny"))
				f = append(f, make([]byte, pad)...)
				for i := len(f) - pad; i < len(f); i++ {
					f[i] = 0xee // padding that is not zero must not leak either
				}
				must(t, a.WriteFrame(f), "WriteFrame")
				got, src := readUDP(t, cb, s.cfg.Timeout)
				check(t, string(got), "tiny", "the datagram with %d bytes of padding (trimmed by IP/UDP length)", pad)
				check(t, src, from, "the datagram's source")
			}
		})
	}
}

func (s *suite) testBadChecksum(t *testing.T) {
	for _, fam := range udpFamilies {
		t.Run(fam.name, func(t *testing.T) {
			a, b := s.pair(t)
			rb := s.relay(t, b, relay.Config{})
			eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2)})
			to := netip.AddrPortFrom(netip.MustParseAddr(fam.b), 2000)
			cb := udpConn(t, eb, rudp.Config{LocalAddr: to})
			from := netip.AddrPortFrom(netip.MustParseAddr(fam.a), 1000)
			good := udpFrame(testMAC(2), testMAC(1), nil, from, to, []byte("payload"))
			il := frame.IPUDPLen(to.Addr())
			badUDP := append([]byte(nil), good...)
			badUDP[frame.EthernetLen+il+1] ^= 0x40 // payload bit
			wantBad := uint64(1)
			must(t, a.WriteFrame(badUDP), "WriteFrame")
			if to.Addr().Is4() {
				badIP := append([]byte(nil), good...)
				badIP[frame.EthernetLen+8] ^= 0x01 // TTL changes, header checksum does not
				must(t, a.WriteFrame(badIP), "WriteFrame")
				wantBad++
			}
			must(t, a.WriteFrame(good), "WriteFrame")
			got, _ := readUDP(t, cb, s.cfg.Timeout)
			check(t, string(got), "payload", "the good datagram, which comes after the bad ones")
			check(t, cb.Stats().BadChecksum, wantBad, "BadChecksum")
		})
	}
}

func (s *suite) testShared(t *testing.T) {
	h := s.udpHosts(t, false)
	ipB := netip.MustParseAddr("198.18.0.2")
	c1 := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1001)})
	c2 := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1002)})
	cWild := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.MustParseAddrPort("0.0.0.0:67")})
	c6 := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.MustParseAddrPort("[2001:db8::2]:1001")})
	cAny := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.99:9"), AcceptAny: true})
	cEph := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 0)})
	checkf(t, cEph.LocalAddrPort().Port() != 0, "port 0 must pick an ephemeral port, got %v", cEph.LocalAddrPort())

	_, err := rudp.New(h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1001)})
	mustIs(t, err, rudp.ErrPortInUse, "rudp.New on a port in use")
	_, err = rudp.New(h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 5), AcceptAny: true})
	mustIs(t, err, rudp.ErrAcceptAnyInUse, "a second AcceptAny rudp.New")

	toB := func(netip.Addr) (net.HardwareAddr, error) { return testMAC(2), nil }
	sender := udpConn(t, h.ea, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:5000"), Resolve: toB})
	sender6 := udpConn(t, h.ea, rudp.Config{LocalAddr: netip.MustParseAddrPort("[2001:db8::1]:5000"), Resolve: toB})
	cases := []struct {
		to   string
		via  *rudp.Conn
		want *rudp.Conn
	}{
		{"198.18.0.2:1001", sender, c1},
		{"198.18.0.2:1002", sender, c2},
		{"198.18.0.77:67", sender, cWild},
		{"[2001:db8::2]:1001", sender6, c6},
		{"198.18.0.2:4444", sender, cAny},
		{"[2001:db8::2]:4444", sender6, cAny},
		{cEph.LocalAddrPort().String(), sender, cEph},
	}
	for _, tc := range cases {
		msg := []byte("to " + tc.to)
		_, err := tc.via.WriteToUDPAddrPort(msg, netip.MustParseAddrPort(tc.to))
		must(t, err, "WriteToUDPAddrPort to %s", tc.to)
		got, _ := readUDP(t, tc.want, s.cfg.Timeout)
		check(t, string(got), string(msg), "the datagram sent to %s", tc.to)
	}
	// Closing one Conn frees its port and leaves the others working.
	must(t, c1.Close(), "Close")
	again := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1001)})
	_, err = sender.WriteToUDPAddrPort([]byte("again"), again.LocalAddrPort())
	must(t, err, "WriteToUDPAddrPort")
	got, _ := readUDP(t, again, s.cfg.Timeout)
	check(t, string(got), "again", "the datagram to the port freed and taken again")
}
