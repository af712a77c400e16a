package conformance

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

func (s *suite) relay(t *testing.T, p backend.PacketIO, cfg relay.Config) *relay.Relay {
	t.Helper()
	r := relay.New(p, cfg)
	t.Cleanup(func() { r.Close() })
	return r
}

func (s *suite) conn(t *testing.T, r *relay.Relay, cfg etherconn.Config) *etherconn.Conn {
	t.Helper()
	c, err := etherconn.New(r, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// expect reads one payload from c and compares it to want.
func (s *suite) expect(t *testing.T, c *etherconn.Conn, want []byte) *etherconn.Addr {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(s.cfg.Timeout)))
	buf := make([]byte, backend.MaxFrameLen)
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err, "endpoint %v", c.LocalAddr())
	require.Equal(t, want, buf[:n], "endpoint %v", c.LocalAddr())
	return from.(*etherconn.Addr)
}

// expectNone checks that nothing reaches c for a quiet period.
func (s *suite) expectNone(t *testing.T, c *etherconn.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(s.cfg.Quiet)))
	buf := make([]byte, backend.MaxFrameLen)
	n, from, err := c.ReadFrom(buf)
	require.Error(t, err, "endpoint %v got % x from %v", c.LocalAddr(), buf[:n], from)
	require.ErrorIs(t, err, timeoutErr)
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
		{"other-ethertype", m2, frame.VLANs{{ID: 100}}, []uint16{0x88b6}},
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
			require.NoError(t, a.WriteFrame(f))
			from := s.expect(t, conns[i], payloadOf(f, len(tags)))
			assert.Equal(t, testMAC(100+i), from.MAC)
			assert.True(t, tags.Equal(from.VLANs), "sender's VLANs with PCP/DEI: %v", from.VLANs)
			assert.Equal(t, tc.ets[0], from.EtherType)
		})
	}
	for i := range conns {
		s.expectNone(t, conns[i])
	}
	// A stack that no endpoint has is a miss.
	before := rb.Stats().Misses
	require.NoError(t, a.WriteFrame(rawFrame(m1, testMAC(9), frame.VLANs{{ID: 999}}, etherTypeTest, 50)))
	eventually(t, s.cfg.Timeout, func() bool { return rb.Stats().Misses > before }, "miss counted")
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
	bcOther := s.conn(t, rb, etherconn.Config{MAC: testMAC(5), VLANs: v100, EtherTypes: []uint16{0x88b6}, Broadcast: true})

	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f := rawFrame(bcast, testMAC(50), v100, etherTypeTest, 60)
	require.NoError(t, a.WriteFrame(f))
	s.expect(t, bc100, payloadOf(f, 1))

	mcast := net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	f = rawFrame(mcast, testMAC(51), v100, etherTypeTest, 61)
	require.NoError(t, a.WriteFrame(f))
	s.expect(t, mc100, payloadOf(f, 1))

	f = rawFrame(bcast, testMAC(52), v200, etherTypeTest, 62)
	require.NoError(t, a.WriteFrame(f))
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
			require.NoError(t, err)
			_, err = rb.RegisterDefault(relay.DefaultEndpointConfig{})
			require.ErrorIs(t, err, relay.ErrKeyInUse, "only one default endpoint")
			ep := s.conn(t, rb, etherconn.Config{MAC: testMAC(1), EtherTypes: []uint16{etherTypeTest}})

			matched := rawFrame(testMAC(1), testMAC(60), nil, etherTypeTest, 70)
			unmatched := rawFrame(testMAC(2), testMAC(61), nil, etherTypeTest, 71)
			require.NoError(t, a.WriteFrame(matched))
			require.NoError(t, a.WriteFrame(unmatched))
			s.expect(t, ep, payloadOf(matched, 0))

			def.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
			var got [][]byte
			for {
				p, err := def.Read()
				require.NoError(t, err)
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
			if mirror {
				assert.Equal(t, [][]byte{matched, unmatched}, got)
			} else {
				assert.Equal(t, [][]byte{unmatched}, got)
			}
			assert.Zero(t, rb.Stats().Misses, "a default endpoint takes what would be misses")
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
	require.NoError(t, err)
	from := s.expect(t, cb, msg)
	assert.Equal(t, testMAC(1), from.MAC)
	assert.True(t, tags.Equal(from.VLANs), "%v", from.VLANs)
	assert.Equal(t, uint16(etherTypeTest), from.EtherType)

	// net.PacketConn form: reply to the address ReadFrom returned.
	_, err = cb.WriteTo([]byte("reply"), from)
	require.NoError(t, err)
	s.expect(t, ca, []byte("reply"))

	// Another source MAC on the same stack, as a proxy would send.
	_, err = ca.WriteToFrom([]byte("proxied"), testMAC(2), etherTypeTest, testMAC(7), tags)
	require.NoError(t, err)
	from = s.expect(t, cb, []byte("proxied"))
	assert.Equal(t, testMAC(7), from.MAC)

	_, err = ca.WriteTo([]byte("x"), &net.UDPAddr{})
	require.Error(t, err, "WriteTo needs an *etherconn.Addr")
	_, err = ca.WriteToMAC(make([]byte, backend.MaxFrameLen), testMAC(2), etherTypeTest)
	require.Error(t, err, "oversize payload")
}
