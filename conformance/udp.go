package conformance

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

var timeoutErr = os.ErrDeadlineExceeded

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
		require.NoError(t, err)
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
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func readUDP(t *testing.T, c *rudp.Conn, timeout time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(timeout)))
	buf := make([]byte, 65536)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	return buf[:n], from
}

// nextOurFrame returns the next frame from the suite's MACs on a mirror.
func nextOurFrame(t *testing.T, ep *relay.Endpoint, timeout time.Duration) []byte {
	t.Helper()
	ep.SetReadDeadline(time.Now().Add(timeout))
	for {
		p, err := ep.Read()
		require.NoError(t, err)
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
	require.Nil(t, pkt.ErrorLayer(), "gopacket cannot decode % x", f)
	var d decodedUDP
	for _, l := range pkt.Layers() {
		if _, ok := l.(*layers.Dot1Q); ok {
			d.vlans++
		}
	}
	udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	require.True(t, ok, "no UDP layer")
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
		require.NoError(t, cp.SerializeTo(buf, opts))
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
	require.NoError(t, cp.SetNetworkLayerForChecksum(nl))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, opts, &cp, gopacket.Payload(udp.Payload)))
	d.udpOK = udp.Checksum != 0 && binary.BigEndian.Uint16(buf.Bytes()[6:]) == udp.Checksum
	d.lengthsAgreed = d.lengthsAgreed && int(udp.Length) == 8+len(udp.Payload)
	return d
}

func (s *suite) testUDP(t *testing.T) {
	for _, fam := range udpFamilies {
		t.Run(fam.name, func(t *testing.T) {
			h := s.udpHosts(t, true)
			ipA, ipB := netip.MustParseAddr(fam.a), netip.MustParseAddr(fam.b)
			ca := udpConn(t, h.ea, rudp.Config{
				LocalAddr: netip.AddrPortFrom(ipA, 1067), TTL: 7, DSCP: 46,
				Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipB: testMAC(2)}),
			})
			cb := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1068)})
			for _, size := range []int{0, 1, 64, 555, s.cfg.MaxPayload - 48 - 4} {
				msg := make([]byte, size)
				for i := range msg {
					msg[i] = byte(i * 13)
				}
				n, err := ca.WriteToUDPAddrPort(msg, cb.LocalAddrPort())
				require.NoError(t, err)
				require.Equal(t, size, n)

				got, from := readUDP(t, cb, s.cfg.Timeout)
				assert.Equal(t, msg, got)
				assert.Equal(t, ca.LocalAddrPort(), from)

				f := nextOurFrame(t, h.defB, s.cfg.Timeout)
				d := decodeUDP(t, f)
				assert.Equal(t, testMAC(2), net.HardwareAddr(f[0:6]), "resolver's next hop is the destination MAC")
				assert.Equal(t, 1, d.vlans)
				assert.True(t, d.ipOK, "IPv4 header checksum, as gopacket computes it")
				assert.True(t, d.udpOK, "UDP checksum, as gopacket computes it")
				assert.True(t, d.lengthsAgreed, "IP and UDP lengths")
				assert.Equal(t, uint8(7), d.ttl)
				assert.Equal(t, uint8(46<<2), d.tos)
				assert.Equal(t, ca.LocalAddrPort(), d.src)
				assert.Equal(t, cb.LocalAddrPort(), d.dst)
				assert.Equal(t, msg, d.payload)
			}
			// Without a resolver, datagrams go to the broadcast MAC; b did
			// not opt in to broadcast, so only the mirror sees it.
			noRes := udpConn(t, h.ea, rudp.Config{LocalAddr: netip.AddrPortFrom(ipA, 1069)})
			_, err := noRes.WriteToUDPAddrPort([]byte("to broadcast"), cb.LocalAddrPort())
			require.NoError(t, err)
			f := nextOurFrame(t, h.defB, s.cfg.Timeout)
			assert.Equal(t, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, net.HardwareAddr(f[0:6]))
			assert.Equal(t, []byte("to broadcast"), decodeUDP(t, f).payload)
		})
	}
}

// udpFrame builds a UDP frame with our own builder, for tests that then
// damage or pad it.
func udpFrame(t *testing.T, dst, src net.HardwareAddr, tags frame.VLANs, from, to netip.AddrPort, payload []byte) []byte {
	t.Helper()
	hl := frame.HeaderLen(len(tags))
	il := frame.IPUDPLen(to.Addr())
	b := make([]byte, hl+il+len(payload))
	et := frame.EtherTypeIPv6
	if to.Addr().Is4() {
		et = frame.EtherTypeIPv4
	}
	frame.PutEthernet(b, [6]byte(dst), [6]byte(src), tags, et)
	copy(b[hl+il:], payload)
	_, err := frame.PutUDP(b[hl:], &frame.UDPHeader{Src: from, Dst: to}, len(payload))
	require.NoError(t, err)
	return b
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
				f := udpFrame(t, testMAC(2), testMAC(1), tags, from, to, []byte("tiny"))
				f = append(f, make([]byte, pad)...)
				for i := len(f) - pad; i < len(f); i++ {
					f[i] = 0xee // padding that is not zero must not leak either
				}
				require.NoError(t, a.WriteFrame(f))
				got, src := readUDP(t, cb, s.cfg.Timeout)
				assert.Equal(t, "tiny", string(got), "padding is trimmed by IP/UDP length")
				assert.Equal(t, from, src)
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
			good := udpFrame(t, testMAC(2), testMAC(1), nil, from, to, []byte("payload"))
			il := frame.IPUDPLen(to.Addr())
			badUDP := append([]byte(nil), good...)
			badUDP[frame.EthernetLen+il+1] ^= 0x40 // payload bit
			wantBad := uint64(1)
			require.NoError(t, a.WriteFrame(badUDP))
			if to.Addr().Is4() {
				badIP := append([]byte(nil), good...)
				badIP[frame.EthernetLen+8] ^= 0x01 // TTL changes, header checksum does not
				require.NoError(t, a.WriteFrame(badIP))
				wantBad++
			}
			require.NoError(t, a.WriteFrame(good))
			got, _ := readUDP(t, cb, s.cfg.Timeout)
			assert.Equal(t, "payload", string(got), "the good datagram comes after the bad ones")
			assert.Equal(t, wantBad, cb.Stats().BadChecksum)
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
	assert.NotZero(t, cEph.LocalAddrPort().Port(), "port 0 picks an ephemeral port")

	_, err := rudp.New(h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1001)})
	require.ErrorIs(t, err, rudp.ErrPortInUse)
	_, err = rudp.New(h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 5), AcceptAny: true})
	require.ErrorIs(t, err, rudp.ErrAcceptAnyInUse)

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
		require.NoError(t, err)
		got, _ := readUDP(t, tc.want, s.cfg.Timeout)
		assert.Equal(t, string(msg), string(got))
	}
	// Closing one Conn frees its port and leaves the others working.
	require.NoError(t, c1.Close())
	again := udpConn(t, h.eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 1001)})
	_, err = sender.WriteToUDPAddrPort([]byte("again"), again.LocalAddrPort())
	require.NoError(t, err)
	got, _ := readUDP(t, again, s.cfg.Timeout)
	assert.Equal(t, "again", string(got))
}
