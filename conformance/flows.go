package conformance

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// The stack suite, RunStack: malformed input, concurrent flows, counters.

func (s *suite) testMalformed(t *testing.T) {
	a, b := s.pair(t)
	rb := s.relay(t, b, relay.Config{})
	eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2)})
	to := netip.MustParseAddrPort("198.18.0.2:2000")
	cb := udpConn(t, eb, rudp.Config{LocalAddr: to})
	from := netip.MustParseAddrPort("198.18.0.1:1000")
	// A frame cut inside its VLAN tag (testkit.ShortTagged) is left to the
	// relay's own tests: a Linux receiver drops tagged frames shorter than
	// 20 bytes before any packet socket sees them.
	good, bad := testkit.MalformedUDP(mac6(2), mac6(1), from, to, []byte("still alive"))
	before := rb.Stats().Malformed
	for _, c := range bad {
		must(t, a.WriteFrame(c.Frame), "WriteFrame of malformed frame %q", c.Name)
	}
	must(t, a.WriteFrame(good), "WriteFrame")
	got, _ := readUDP(t, cb, s.cfg.Timeout)
	check(t, string(got), "still alive", "the datagram after the malformed frames (the relay survives malformed input)")
	var st relay.Stats
	testkit.Eventually(t, s.cfg.Timeout, func() bool {
		st = rb.Stats()
		return st.Malformed-before >= uint64(len(bad))
	}, "%d malformed frames counted as Malformed (%d before): relay stats %+v", len(bad), before, &st)
}

// testConcurrentFlows runs request/response flows in parallel on shared
// relays, for the race detector and for cross-talk between endpoints.
func (s *suite) testConcurrentFlows(t *testing.T) {
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
	testkit.Parallel(flows, func(i int) {
		c := clients[i]
		buf := make([]byte, 2048)
		for r := range rounds {
			msg := fmt.Sprintf("flow %d round %d", i, r)
			if _, err := c.WriteToUDPAddrPort([]byte(msg), servers[i].LocalAddrPort()); err != nil {
				t.Errorf("flow %d round %d: WriteToUDPAddrPort: %v", i, r, err)
				failures.Add(1)
				return
			}
			c.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != msg {
				t.Errorf("flow %d round %d: got %q, %v; want the echo %q", i, r, buf[:n], err, msg)
				failures.Add(1)
				return
			}
		}
	})
	check(t, failures.Load(), 0, "flows that failed (every request is answered, on its own flow)")
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
	for i := range sent {
		_, err := ea.WriteToMAC(make([]byte, size), testMAC(2), etherTypeTest)
		must(t, err, "WriteToMAC %d", i)
	}
	st := eb.Stats()
	testkit.Eventually(t, s.cfg.Timeout, func() bool {
		st = eb.Stats()
		return st.FramesIn+st.QueueDrops == sent
	}, "receiver accounted for every frame: %+v", &st)
	stB, stA := eb.Stats(), ea.Stats()
	check(t, stB.FramesIn, 3, "receiver's FramesIn (its queue holds 3)")
	check(t, stB.QueueDrops, sent-3, "receiver's QueueDrops")
	check(t, stB.BytesIn, 3*(14+size), "receiver's BytesIn")
	check(t, stA.FramesOut, sent, "sender's FramesOut")
	check(t, stA.BytesOut, sent*(14+size), "sender's BytesOut")
	rs, rr := ra.Stats(), rb.Stats()
	checkf(t, rs.FramesOut >= sent, "sending relay's FramesOut %d, want at least %d", rs.FramesOut, sent)
	checkf(t, rr.FramesIn >= sent, "receiving relay's FramesIn %d, want at least %d", rr.FramesIn, sent)
	checkf(t, rr.QueueDrops >= sent-3, "receiving relay's QueueDrops %d, want at least %d", rr.QueueDrops, sent-3)
	checkf(t, rr.Delivered >= 3, "receiving relay's Delivered %d, want at least 3", rr.Delivered)
}
