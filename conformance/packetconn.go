package conformance

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// MakePacketPair returns two connected net.PacketConns: a datagram c1 writes
// to c2.LocalAddr() is read by c2, and the other way round. The test closes
// them; MakePacketPair registers any other cleanup with t.Cleanup.
type MakePacketPair func(t *testing.T) (c1, c2 net.PacketConn)

// TestPacketConn checks that a net.PacketConn behaves as Go users expect of
// net.UDPConn: datagram boundaries, truncation, deadlines, Close and
// concurrent use. Each subtest gets a fresh pair from mk and runs under a
// watchdog of DefaultWatchdog, which closes the pair if the subtest hangs.
func TestPacketConn(t *testing.T, mk MakePacketPair) {
	testPacketConn(t, mk, DefaultWatchdog)
}

// testPacketConn is TestPacketConn with the watchdog's limit.
func testPacketConn(t *testing.T, mk MakePacketPair, limit time.Duration) {
	tests := []struct {
		name string
		f    func(t *testing.T, c1, c2 net.PacketConn)
	}{
		{"BasicIO", testBasicIO},
		{"Truncate", testTruncate},
		{"PastDeadline", testPastDeadline},
		{"FutureDeadline", testFutureDeadline},
		{"DeadlineWhileBlocked", testDeadlineWhileBlocked},
		{"ExtendDeadline", testExtendDeadline},
		{"ClearDeadline", testClearDeadline},
		{"WriteDeadline", testWriteDeadline},
		{"CloseUnblocksRead", testCloseUnblocksPacketRead},
		{"UseAfterClose", testUseAfterClose},
		{"ConcurrentMethods", testConcurrentMethods},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWatchdog(limit)
			w.run(t, func() {
				c1, c2 := mk(t)
				w.add(c1, c2)
				t.Cleanup(func() {
					c1.Close()
					c2.Close()
				})
				tc.f(t, c1, c2)
			})
		})
	}
}

const packetTimeout = 5 * time.Second

func readWithin(t *testing.T, c net.PacketConn, buf []byte) (int, net.Addr) {
	t.Helper()
	must(t, c.SetReadDeadline(time.Now().Add(packetTimeout)), "SetReadDeadline")
	n, from, err := c.ReadFrom(buf)
	must(t, err, "ReadFrom on %v", c.LocalAddr())
	return n, from
}

func testBasicIO(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 2048)
	for _, size := range []int{0, 1, 100, 1000} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		n, err := c1.WriteTo(msg, c2.LocalAddr())
		must(t, err, "WriteTo of %d bytes", size)
		check(t, n, size, "WriteTo's count")
		n, from := readWithin(t, c2, buf)
		checkBytes(t, buf[:n], msg, "one datagram of %d bytes, boundaries kept", size)
		check(t, from.String(), c1.LocalAddr().String(), "ReadFrom's address")
		check(t, from.Network(), c1.LocalAddr().Network(), "ReadFrom's address's network")

		_, err = c2.WriteTo(msg, from)
		must(t, err, "reply to the address ReadFrom returned")
		n, from = readWithin(t, c1, buf)
		checkBytes(t, buf[:n], msg, "the reply of %d bytes", size)
		check(t, from.String(), c2.LocalAddr().String(), "the reply's address")
	}
}

func testTruncate(t *testing.T, c1, c2 net.PacketConn) {
	_, err := c1.WriteTo([]byte("0123456789abcdef"), c2.LocalAddr())
	must(t, err, "WriteTo")
	buf := make([]byte, 10)
	n, _ := readWithin(t, c2, buf)
	check(t, string(buf[:n]), "0123456789", "a long datagram is truncated to the buffer, as on Linux")
	// The rest of the datagram is gone: the next read gets the next one.
	_, err = c1.WriteTo([]byte("next"), c2.LocalAddr())
	must(t, err, "WriteTo")
	n, _ = readWithin(t, c2, buf)
	check(t, string(buf[:n]), "next", "the datagram after a truncated one")
}

// assertTimeout checks that err is a deadline's: os.ErrDeadlineExceeded in
// a *net.OpError that is a net.Error with Timeout() true.
func assertTimeout(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded; want a deadline's error")
	}
	checkTimeout(t, err, "a call past its deadline")
	var oe *net.OpError
	checkf(t, errors.As(err, &oe), "%v (%T) is not a *net.OpError", err, err)
}

func testPastDeadline(t *testing.T, c1, c2 net.PacketConn) {
	// Even with a datagram waiting, a past deadline fails at once.
	_, err := c1.WriteTo([]byte("waiting"), c2.LocalAddr())
	must(t, err, "WriteTo")
	time.Sleep(50 * time.Millisecond)
	must(t, c2.SetReadDeadline(time.Now().Add(-time.Second)), "SetReadDeadline")
	start := time.Now()
	_, _, err = c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	checkf(t, time.Since(start) < time.Second, "ReadFrom past its deadline took %v, want it at once", time.Since(start))
}

func testFutureDeadline(t *testing.T, c1, c2 net.PacketConn) {
	const d = 50 * time.Millisecond
	must(t, c2.SetReadDeadline(time.Now().Add(d)), "SetReadDeadline")
	start := time.Now()
	_, _, err := c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	checkf(t, time.Since(start) >= d-5*time.Millisecond, "ReadFrom returned after %v, before its deadline of %v", time.Since(start), d)
	// Still failing on later reads until the deadline changes.
	_, _, err = c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
}

// blockedRead starts a ReadFrom on c into buf and returns where its error
// arrives.
func blockedRead(c net.PacketConn, buf []byte) <-chan error {
	return testkit.Go(func() error {
		_, _, err := c.ReadFrom(buf)
		return err
	})
}

// waitErr returns the error of a read blockedRead started, failing the test
// if it has not returned within packetTimeout.
func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	return testkit.Await(t, done, packetTimeout, "blocked read did not return")
}

func testDeadlineWhileBlocked(t *testing.T, c1, c2 net.PacketConn) {
	done := blockedRead(c2, make([]byte, 100))
	time.Sleep(30 * time.Millisecond)
	must(t, c2.SetReadDeadline(time.Now().Add(30*time.Millisecond)), "SetReadDeadline")
	assertTimeout(t, waitErr(t, done))

	// Shortening a deadline that was far away also applies at once.
	must(t, c2.SetReadDeadline(time.Now().Add(time.Hour)), "SetReadDeadline")
	done = blockedRead(c2, make([]byte, 100))
	time.Sleep(30 * time.Millisecond)
	must(t, c2.SetReadDeadline(time.Now().Add(-time.Second)), "SetReadDeadline")
	assertTimeout(t, waitErr(t, done))
}

func testExtendDeadline(t *testing.T, c1, c2 net.PacketConn) {
	must(t, c2.SetReadDeadline(time.Now().Add(50*time.Millisecond)), "SetReadDeadline")
	buf := make([]byte, 100)
	done := blockedRead(c2, buf)
	must(t, c2.SetReadDeadline(time.Now().Add(packetTimeout)), "SetReadDeadline")
	time.Sleep(150 * time.Millisecond)
	_, err := c1.WriteTo([]byte("late"), c2.LocalAddr())
	must(t, err, "WriteTo")
	must(t, waitErr(t, done), "the extended deadline applies to the blocked read")
	check(t, string(buf[:4]), "late", "the datagram read")
}

func testClearDeadline(t *testing.T, c1, c2 net.PacketConn) {
	must(t, c2.SetReadDeadline(time.Now().Add(-time.Second)), "SetReadDeadline")
	_, _, err := c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	must(t, c2.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	_, err = c1.WriteTo([]byte("after"), c2.LocalAddr())
	must(t, err, "WriteTo")
	done := blockedRead(c2, make([]byte, 100))
	must(t, waitErr(t, done), "a zero deadline means none")
}

func testWriteDeadline(t *testing.T, c1, c2 net.PacketConn) {
	must(t, c1.SetWriteDeadline(time.Now().Add(-time.Second)), "SetWriteDeadline")
	_, err := c1.WriteTo([]byte("x"), c2.LocalAddr())
	assertTimeout(t, err)
	must(t, c1.SetDeadline(time.Time{}), "SetDeadline(zero)")
	_, err = c1.WriteTo([]byte("x"), c2.LocalAddr())
	must(t, err, "WriteTo after the deadline was cleared")
}

func testCloseUnblocksPacketRead(t *testing.T, c1, c2 net.PacketConn) {
	done := blockedRead(c2, make([]byte, 100))
	time.Sleep(30 * time.Millisecond)
	must(t, c2.Close(), "Close")
	err := waitErr(t, done)
	checkClosed(t, err, "a ReadFrom blocked when Close was called")
	var oe *net.OpError
	checkf(t, errors.As(err, &oe), "%v (%T) is not a *net.OpError", err, err)
}

func testUseAfterClose(t *testing.T, c1, c2 net.PacketConn) {
	dst := c2.LocalAddr()
	must(t, c1.Close(), "Close")
	if err := c1.Close(); err != nil {
		checkClosed(t, err, "a second Close")
	}
	_, _, err := c1.ReadFrom(make([]byte, 10))
	checkClosed(t, err, "ReadFrom after Close")
	_, err = c1.WriteTo([]byte("x"), dst)
	checkClosed(t, err, "WriteTo after Close")
	err = c1.SetDeadline(time.Now())
	checkClosed(t, err, "SetDeadline after Close")
}

func testConcurrentMethods(t *testing.T, c1, c2 net.PacketConn) {
	const n = 4
	var wg sync.WaitGroup
	dst := c2.LocalAddr()
	for range n {
		wg.Add(4)
		go func() {
			defer wg.Done()
			for range 20 {
				c1.WriteTo([]byte("concurrent"), dst)
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for range 20 {
				c2.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
				c2.ReadFrom(buf)
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				c2.SetDeadline(time.Now().Add(time.Second))
				_ = c2.LocalAddr()
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				c1.SetWriteDeadline(time.Time{})
				_ = c1.LocalAddr().String()
			}
		}()
	}
	wg.Wait()
	must(t, c1.Close(), "Close")
	must(t, c2.Close(), "Close")
}

// packetConnPair is the rudp.Conn pair the suite runs TestPacketConn on:
// two emulated hosts on VLAN 100 on the two ends of the backend pair.
func (s *suite) packetConnPair(t *testing.T) (net.PacketConn, net.PacketConn) {
	a, b := s.pair(t)
	ra, rb := s.relay(t, a, relay.Config{}), s.relay(t, b, relay.Config{})
	tags := frame.VLANs{{ID: 100}}
	ea := s.conn(t, ra, etherconn.Config{MAC: testMAC(1), VLANs: tags})
	eb := s.conn(t, rb, etherconn.Config{MAC: testMAC(2), VLANs: tags})
	ipA, ipB := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	c1, err := rudp.New(ea, rudp.Config{LocalAddr: netip.AddrPortFrom(ipA, 1000),
		Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipB: testMAC(2)})})
	must(t, err, "rudp.New")
	c2, err := rudp.New(eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 2000),
		Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipA: testMAC(1)})})
	must(t, err, "rudp.New")
	return c1, c2
}
