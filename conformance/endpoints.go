package conformance

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
)

// The stack suite, RunStack: relay demux and etherconn endpoints.

func (s *suite) relay(t *testing.T, p backend.PacketIO, cfg relay.Config) *relay.Relay {
	t.Helper()
	r := relay.New(p, cfg)
	t.Cleanup(func() { closeWithin(t, "relay.Close", s.cfg.Timeout, func() { r.Close() }) })
	return r
}

func (s *suite) conn(t *testing.T, r *relay.Relay, cfg etherconn.Config) *etherconn.Conn {
	t.Helper()
	c, err := etherconn.New(r, cfg)
	must(t, err, "etherconn.New(%v, %v)", cfg.MAC, cfg.VLANs)
	t.Cleanup(func() { c.Close() })
	return c
}

// rawFrame builds a frame from src to dst with tags and a recognisable
// payload of n bytes.
func rawFrame(dst, src net.HardwareAddr, tags frame.VLANs, etherType uint16, n int) []byte {
	return testkit.PatternFrame([6]byte(dst), [6]byte(src), testkit.AsTags(tags), etherType, n)
}

// expect reads one payload from c and compares it to want.
func (s *suite) expect(t *testing.T, c *etherconn.Conn, want []byte) *etherconn.Addr {
	t.Helper()
	must(t, c.SetReadDeadline(time.Now().Add(s.cfg.Timeout)), "SetReadDeadline")
	buf := make([]byte, backend.MaxFrameLen)
	n, from, err := c.ReadFrom(buf)
	must(t, err, "ReadFrom on endpoint %v", c.LocalAddr())
	mustBytes(t, buf[:n], want, "payload read on endpoint %v", c.LocalAddr())
	return from.(*etherconn.Addr)
}

// expectNone checks that nothing reaches c for a quiet period.
func (s *suite) expectNone(t *testing.T, c *etherconn.Conn) {
	t.Helper()
	must(t, c.SetReadDeadline(time.Now().Add(s.cfg.Quiet)), "SetReadDeadline")
	buf := make([]byte, backend.MaxFrameLen)
	n, from, err := c.ReadFrom(buf)
	if err == nil {
		t.Fatalf("endpoint %v got % x from %v, want nothing", c.LocalAddr(), buf[:n], from)
	}
	mustIs(t, err, os.ErrDeadlineExceeded, "ReadFrom on endpoint %v that gets nothing", c.LocalAddr())
}

func payloadOf(f []byte, ntags int) []byte { return f[frame.HeaderLen(ntags):] }

func (s *suite) testDemux(t *testing.T) {
	a, b := s.pair(t)
	rb := s.relay(t, b, relay.Config{})
	m1, m2 := testMAC(1), testMAC(2)
	et := []uint16{etherTypeTest}
	cases := []struct {
		name string
		mac  net.HardwareAddr
		tags frame.VLANs
		ets  []uint16
	}{
		{"untagged", m1, nil, et},
		{"dot1q-100", m1, frame.VLANs{{ID: 100}}, et},
		{"dot1ad-100", m1, frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 100}}, et},
		{"qinq-100-200", m1, frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 100}, {ID: 200}}, et},
		{"other-mac-100", m2, frame.VLANs{{ID: 100}}, et},
		{"other-ethertype", m2, frame.VLANs{{ID: 100}}, []uint16{testkit.EtherTypeExp2}},
	}
	conns := make([]*etherconn.Conn, len(cases))
	for i, tc := range cases {
		conns[i] = s.conn(t, rb, etherconn.Config{MAC: tc.mac, VLANs: tc.tags, EtherTypes: tc.ets})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Different PCP/DEI must still match: only TPID and VID are keys.
			tags := append(frame.VLANs(nil), tc.tags...)
			for j := range tags {
				tags[j].PCP, tags[j].DEI = 5, true
			}
			f := rawFrame(tc.mac, testMAC(100+i), tags, tc.ets[0], 64+i)
			must(t, a.WriteFrame(f), "WriteFrame")
			from := s.expect(t, conns[i], payloadOf(f, len(tags)))
			check(t, from.MAC.String(), testMAC(100+i).String(), "sender's MAC")
			checkf(t, tags.Equal(from.VLANs), "sender's VLANs with PCP/DEI: got %v, want %v", from.VLANs, tags)
			check(t, from.EtherType, tc.ets[0], "sender's EtherType")
		})
	}
	for i := range conns {
		s.expectNone(t, conns[i])
	}
	// A stack that no endpoint has is a miss.
	before := rb.Stats().Misses
	must(t, a.WriteFrame(rawFrame(m1, testMAC(9), frame.VLANs{{ID: 999}}, etherTypeTest, 50)), "WriteFrame")
	testkit.Eventually(t, s.cfg.Timeout, func() bool { return rb.Stats().Misses > before }, "a frame for VLAN 999 counted as a miss")
}

func (s *suite) testGroup(t *testing.T) {
	a, b := s.pair(t)
	rb := s.relay(t, b, relay.Config{})
	v100, v200 := frame.VLANs{{ID: 100}}, frame.VLANs{{ID: 200}}
	et := []uint16{etherTypeTest}
	bc100 := s.conn(t, rb, etherconn.Config{MAC: testMAC(1), VLANs: v100, EtherTypes: et, Broadcast: true})
	plain100 := s.conn(t, rb, etherconn.Config{MAC: testMAC(2), VLANs: v100, EtherTypes: et})
	bc200 := s.conn(t, rb, etherconn.Config{MAC: testMAC(3), VLANs: v200, EtherTypes: et, Broadcast: true})
	mc100 := s.conn(t, rb, etherconn.Config{MAC: testMAC(4), VLANs: v100, EtherTypes: et, Multicast: true})
	bcOther := s.conn(t, rb, etherconn.Config{MAC: testMAC(5), VLANs: v100, EtherTypes: []uint16{testkit.EtherTypeExp2}, Broadcast: true})

	bcast, mcast := net.HardwareAddr(testkit.Broadcast[:]), net.HardwareAddr(testkit.Multicast[:])
	f := rawFrame(bcast, testMAC(50), v100, etherTypeTest, 60)
	must(t, a.WriteFrame(f), "WriteFrame")
	s.expect(t, bc100, payloadOf(f, 1))

	f = rawFrame(mcast, testMAC(51), v100, etherTypeTest, 61)
	must(t, a.WriteFrame(f), "WriteFrame")
	s.expect(t, mc100, payloadOf(f, 1))

	f = rawFrame(bcast, testMAC(52), v200, etherTypeTest, 62)
	must(t, a.WriteFrame(f), "WriteFrame")
	s.expect(t, bc200, payloadOf(f, 1))

	for _, c := range []*etherconn.Conn{bc100, plain100, bc200, mc100, bcOther} {
		s.expectNone(t, c)
	}
}

func (s *suite) testDefault(t *testing.T) {
	for _, mirror := range []bool{false, true} {
		name := map[bool]string{false: "unmatched", true: "mirror"}[mirror]
		t.Run(name, func(t *testing.T) {
			a, b := s.pair(t)
			rb := s.relay(t, b, relay.Config{})
			def, err := rb.RegisterDefault(relay.DefaultEndpointConfig{Mirror: mirror})
			must(t, err, "RegisterDefault")
			_, err = rb.RegisterDefault(relay.DefaultEndpointConfig{})
			mustIs(t, err, relay.ErrKeyInUse, "a second RegisterDefault (only one default endpoint)")
			ep := s.conn(t, rb, etherconn.Config{MAC: testMAC(1), EtherTypes: []uint16{etherTypeTest}})

			matched := rawFrame(testMAC(1), testMAC(60), nil, etherTypeTest, 70)
			unmatched := rawFrame(testMAC(2), testMAC(61), nil, etherTypeTest, 71)
			must(t, a.WriteFrame(matched), "WriteFrame")
			must(t, a.WriteFrame(unmatched), "WriteFrame")
			s.expect(t, ep, payloadOf(matched, 0))

			def.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
			var got [][]byte
			for {
				p, err := def.Read()
				must(t, err, "Read on the default endpoint")
				f := append([]byte(nil), p.Frame()...)
				p.Release()
				if !ours(f) {
					continue
				}
				got = append(got, f)
				if string(f) == string(unmatched) {
					break
				}
			}
			want := [][]byte{unmatched}
			if mirror {
				want = [][]byte{matched, unmatched}
			}
			checkf(t, len(got) == len(want), "the default endpoint got %d frames, want %d", len(got), len(want))
			for i := range min(len(got), len(want)) {
				checkBytes(t, got[i], want[i], "frame %d on the default endpoint", i)
			}
			check(t, rb.Stats().Misses, 0, "misses (a default endpoint takes what would be misses)")
		})
	}
}

func (s *suite) testEtherConn(t *testing.T) {
	a, b := s.pair(t)
	ra, rb := s.relay(t, a, relay.Config{}), s.relay(t, b, relay.Config{})
	tags := frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 10, PCP: 3}, {ID: 20}}
	ca := s.conn(t, ra, etherconn.Config{MAC: testMAC(1), VLANs: tags, EtherTypes: []uint16{etherTypeTest}})
	cb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2), VLANs: tags, EtherTypes: []uint16{etherTypeTest}})

	msg := []byte("hello over a QinQ stack no interface has")
	_, err := ca.WriteToMAC(msg, testMAC(2), etherTypeTest)
	must(t, err, "WriteToMAC")
	from := s.expect(t, cb, msg)
	check(t, from.MAC.String(), testMAC(1).String(), "sender's MAC")
	checkf(t, tags.Equal(from.VLANs), "sender's VLANs: got %v, want %v", from.VLANs, tags)
	check(t, from.EtherType, etherTypeTest, "sender's EtherType")

	// net.PacketConn form: reply to the address ReadFrom returned.
	_, err = cb.WriteTo([]byte("reply"), from)
	must(t, err, "WriteTo the address ReadFrom returned")
	s.expect(t, ca, []byte("reply"))

	// Another source MAC on the same stack, as a proxy would send.
	_, err = ca.WriteToFrom([]byte("proxied"), testMAC(2), etherTypeTest, testMAC(7), tags)
	must(t, err, "WriteToFrom")
	from = s.expect(t, cb, []byte("proxied"))
	check(t, from.MAC.String(), testMAC(7).String(), "the proxied source MAC")

	_, err = ca.WriteTo([]byte("x"), &net.UDPAddr{})
	mustf(t, err != nil, "WriteTo a *net.UDPAddr succeeded; it needs an *etherconn.Addr")
	_, err = ca.WriteToMAC(make([]byte, backend.MaxFrameLen), testMAC(2), etherTypeTest)
	mustf(t, err != nil, "WriteToMAC of a %d-byte payload succeeded; it is too long", backend.MaxFrameLen)
}
