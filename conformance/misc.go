package conformance

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

func (s *suite) testMalformed(t *testing.T) {
	a, b := s.pair(t)
	rb := s.relay(t, b, relay.Config{})
	eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2)})
	to := netip.MustParseAddrPort("198.18.0.2:2000")
	cb := udpConn(t, eb, rudp.Config{LocalAddr: to})
	from := netip.MustParseAddrPort("198.18.0.1:1000")
	good := udpFrame(t, testMAC(2), testMAC(1), nil, from, to, []byte("still alive"))
	const ip = frame.EthernetLen

	fiveTags := rawFrame(testMAC(2), testMAC(1), frame.VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}, 0x8100, 40)
	// The shortest tagged frame a Linux receiver passes on: a tag, the
	// inner EtherType (IPv4) and 2 bytes of a header that needs 20.
	shortTagged := rawFrame(testMAC(2), testMAC(1), frame.VLANs{{ID: 100}}, frame.EtherTypeIPv4, 2)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	// A frame cut inside its VLAN tag is left to the relay's own tests: a
	// Linux receiver drops tagged frames shorter than 20 bytes before any
	// packet socket sees them.
	cases := map[string][]byte{
		"tag-then-2-bytes": shortTagged,
		"five-tags":        fiveTags,
		"ipv4-short":       mutate(func(b []byte) []byte { return b[:ip+10] }),
		"ipv4-ihl":         mutate(func(b []byte) []byte { b[ip] = 0x4f; return b }),
		"ipv4-version":     mutate(func(b []byte) []byte { b[ip] = 0x55; return b }),
		"ipv4-total":       mutate(func(b []byte) []byte { b[ip+2], b[ip+3] = 0xff, 0xff; return b }),
		"udp-length":       mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0xff, 0x00; return b }),
		"udp-short":        mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0, 4; return b }),
	}
	before := rb.Stats().Malformed
	for name, f := range cases {
		require.NoError(t, a.WriteFrame(f), name)
	}
	require.NoError(t, a.WriteFrame(good))
	got, _ := readUDP(t, cb, s.cfg.Timeout)
	assert.Equal(t, "still alive", string(got), "the relay survives malformed input")
	eventually(t, s.cfg.Timeout, func() bool { return rb.Stats().Malformed-before >= uint64(len(cases)) },
		"%d malformed frames counted, have %d", len(cases), rb.Stats().Malformed-before)
}

// testConcurrency runs request/response flows in parallel on shared relays,
// for the race detector and for cross-talk between endpoints.
func (s *suite) testConcurrency(t *testing.T) {
	a, b := s.pair(t)
	ra, rb := s.relay(t, a, relay.Config{}), s.relay(t, b, relay.Config{})
	const flows, rounds = 8, 50
	var failures atomic.Int64
	servers := make([]*rudp.Conn, flows)
	clients := make([]*rudp.Conn, flows)
	for i := range flows {
		tags := frame.VLANs{{ID: uint16(10 + i)}}
		ea := s.conn(t, ra, etherconn.Config{MAC: testMAC(100 + i), VLANs: tags})
		eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(200 + i), VLANs: tags})
		ipA := netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
		ipB := netip.AddrFrom4([4]byte{198, 18, 2, byte(i)})
		clients[i] = udpConn(t, ea, rudp.Config{LocalAddr: netip.AddrPortFrom(ipA, 1000),
			Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipB: testMAC(200 + i)})})
		servers[i] = udpConn(t, eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 2000),
			Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipA: testMAC(100 + i)})})
	}
	echo := func(c *rudp.Conn) {
		buf := make([]byte, 2048)
		for {
			c.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	}
	for _, c := range servers {
		go echo(c)
	}
	parallel(flows, func(i int) {
		c := clients[i]
		buf := make([]byte, 2048)
		for r := range rounds {
			msg := fmt.Sprintf("flow %d round %d", i, r)
			if _, err := c.WriteToUDPAddrPort([]byte(msg), servers[i].LocalAddrPort()); err != nil {
				failures.Add(1)
				return
			}
			c.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != msg {
				failures.Add(1)
				return
			}
		}
	})
	assert.Zero(t, failures.Load(), "every request answered, on its own flow")
	for _, c := range servers {
		c.Close() // ends the echo goroutines
	}
}

func (s *suite) testCounters(t *testing.T) {
	a, b := s.pair(t)
	ra, rb := s.relay(t, a, relay.Config{}), s.relay(t, b, relay.Config{})
	et := []uint16{etherTypeTest}
	ea := s.conn(t, ra, etherconn.Config{MAC: testMAC(1), EtherTypes: et})
	eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2), EtherTypes: et, QueueLen: 3})
	const sent, size = 10, 100
	for range sent {
		_, err := ea.WriteToMAC(make([]byte, size), testMAC(2), etherTypeTest)
		require.NoError(t, err)
	}
	eventually(t, s.cfg.Timeout, func() bool {
		st := eb.Stats()
		return st.FramesIn+st.QueueDrops == sent
	}, "receiver accounted for every frame: %+v", eb.Stats())
	stB, stA := eb.Stats(), ea.Stats()
	assert.Equal(t, uint64(3), stB.FramesIn, "queue holds 3")
	assert.Equal(t, uint64(sent-3), stB.QueueDrops)
	assert.Equal(t, uint64(3*(14+size)), stB.BytesIn)
	assert.Equal(t, uint64(sent), stA.FramesOut)
	assert.Equal(t, uint64(sent*(14+size)), stA.BytesOut)
	rs, rr := ra.Stats(), rb.Stats()
	assert.GreaterOrEqual(t, rs.FramesOut, uint64(sent))
	assert.GreaterOrEqual(t, rr.FramesIn, uint64(sent))
	assert.GreaterOrEqual(t, rr.QueueDrops, uint64(sent-3))
	assert.GreaterOrEqual(t, rr.Delivered, uint64(3))
}
