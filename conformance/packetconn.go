package conformance

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// MakePacketPair returns two connected net.PacketConns: a datagram c1 writes
// to c2.LocalAddr() is read by c2, and the other way round. The test closes
// them; MakePacketPair registers any other cleanup with t.Cleanup.
type MakePacketPair func(t *testing.T) (c1, c2 net.PacketConn)

// TestPacketConn checks that a net.PacketConn behaves as Go users expect of
// net.UDPConn: datagram boundaries, truncation, deadlines, Close and
// concurrent use.
func TestPacketConn(t *testing.T, mk MakePacketPair) {
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
			c1, c2 := mk(t)
			t.Cleanup(func() {
				c1.Close()
				c2.Close()
			})
			tc.f(t, c1, c2)
		})
	}
}

const packetTimeout = 5 * time.Second

func readWithin(t *testing.T, c net.PacketConn, buf []byte) (int, net.Addr) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(packetTimeout)))
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err)
	return n, from
}

func testBasicIO(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 2048)
	for _, size := range []int{0, 1, 100, 1000} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		n, err := c1.WriteTo(msg, c2.LocalAddr())
		require.NoError(t, err)
		require.Equal(t, size, n)
		n, from := readWithin(t, c2, buf)
		assert.Equal(t, msg, buf[:n], "one datagram, boundaries kept")
		assert.Equal(t, c1.LocalAddr().String(), from.String())
		assert.Equal(t, c1.LocalAddr().Network(), from.Network())

		_, err = c2.WriteTo(msg, from)
		require.NoError(t, err, "reply to the address ReadFrom returned")
		n, from = readWithin(t, c1, buf)
		assert.Equal(t, msg, buf[:n])
		assert.Equal(t, c2.LocalAddr().String(), from.String())
	}
}

func testTruncate(t *testing.T, c1, c2 net.PacketConn) {
	_, err := c1.WriteTo([]byte("0123456789abcdef"), c2.LocalAddr())
	require.NoError(t, err)
	buf := make([]byte, 10)
	n, _ := readWithin(t, c2, buf)
	assert.Equal(t, "0123456789", string(buf[:n]), "a long datagram is truncated to the buffer, as on Linux")
	// The rest of the datagram is gone: the next read gets the next one.
	_, err = c1.WriteTo([]byte("next"), c2.LocalAddr())
	require.NoError(t, err)
	n, _ = readWithin(t, c2, buf)
	assert.Equal(t, "next", string(buf[:n]))
}

func assertTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "errors.Is(%v, os.ErrDeadlineExceeded)", err)
	var ne net.Error
	require.True(t, errors.As(err, &ne), "%T is not a net.Error", err)
	assert.True(t, ne.Timeout(), "Timeout()")
	var oe *net.OpError
	assert.True(t, errors.As(err, &oe), "%T is not a *net.OpError", err)
}

func testPastDeadline(t *testing.T, c1, c2 net.PacketConn) {
	// Even with a datagram waiting, a past deadline fails at once.
	_, err := c1.WriteTo([]byte("waiting"), c2.LocalAddr())
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(-time.Second)))
	start := time.Now()
	_, _, err = c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	assert.Less(t, time.Since(start), time.Second)
}

func testFutureDeadline(t *testing.T, c1, c2 net.PacketConn) {
	const d = 50 * time.Millisecond
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(d)))
	start := time.Now()
	_, _, err := c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	assert.GreaterOrEqual(t, time.Since(start), d-5*time.Millisecond, "returned before the deadline")
	// Still failing on later reads until the deadline changes.
	_, _, err = c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
}

func blockedRead(c net.PacketConn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 100))
		done <- err
	}()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(packetTimeout):
		t.Fatal("blocked read did not return")
		return nil
	}
}

func testDeadlineWhileBlocked(t *testing.T, c1, c2 net.PacketConn) {
	done := blockedRead(c2)
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	assertTimeout(t, waitErr(t, done))

	// Shortening a deadline that was far away also applies at once.
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(time.Hour)))
	done = blockedRead(c2)
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(-time.Second)))
	assertTimeout(t, waitErr(t, done))
}

func testExtendDeadline(t *testing.T, c1, c2 net.PacketConn) {
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	done := make(chan error, 1)
	buf := make([]byte, 100)
	go func() {
		_, _, err := c2.ReadFrom(buf)
		done <- err
	}()
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(packetTimeout)))
	time.Sleep(150 * time.Millisecond)
	_, err := c1.WriteTo([]byte("late"), c2.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, waitErr(t, done), "the extended deadline applies to the blocked read")
	assert.Equal(t, "late", string(buf[:4]))
}

func testClearDeadline(t *testing.T, c1, c2 net.PacketConn) {
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(-time.Second)))
	_, _, err := c2.ReadFrom(make([]byte, 100))
	assertTimeout(t, err)
	require.NoError(t, c2.SetReadDeadline(time.Time{}))
	_, err = c1.WriteTo([]byte("after"), c2.LocalAddr())
	require.NoError(t, err)
	done := blockedRead(c2)
	require.NoError(t, waitErr(t, done), "a zero deadline means none")
}

func testWriteDeadline(t *testing.T, c1, c2 net.PacketConn) {
	require.NoError(t, c1.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err := c1.WriteTo([]byte("x"), c2.LocalAddr())
	assertTimeout(t, err)
	require.NoError(t, c1.SetDeadline(time.Time{}))
	_, err = c1.WriteTo([]byte("x"), c2.LocalAddr())
	require.NoError(t, err)
}

func testCloseUnblocksPacketRead(t *testing.T, c1, c2 net.PacketConn) {
	done := blockedRead(c2)
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, c2.Close())
	err := waitErr(t, done)
	assert.True(t, errors.Is(err, net.ErrClosed), "errors.Is(%v, net.ErrClosed)", err)
	var oe *net.OpError
	assert.True(t, errors.As(err, &oe), "%T is not a *net.OpError", err)
}

func testUseAfterClose(t *testing.T, c1, c2 net.PacketConn) {
	dst := c2.LocalAddr()
	require.NoError(t, c1.Close())
	if err := c1.Close(); err != nil {
		assert.True(t, errors.Is(err, net.ErrClosed), "second Close: %v", err)
	}
	_, _, err := c1.ReadFrom(make([]byte, 10))
	assert.True(t, errors.Is(err, net.ErrClosed), "ReadFrom: %v", err)
	_, err = c1.WriteTo([]byte("x"), dst)
	assert.True(t, errors.Is(err, net.ErrClosed), "WriteTo: %v", err)
	err = c1.SetDeadline(time.Now())
	assert.True(t, errors.Is(err, net.ErrClosed), "SetDeadline: %v", err)
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
	require.NoError(t, c1.Close())
	require.NoError(t, c2.Close())
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
	require.NoError(t, err)
	c2, err := rudp.New(eb, rudp.Config{LocalAddr: netip.AddrPortFrom(ipB, 2000),
		Resolve: resolverFor(map[netip.Addr]net.HardwareAddr{ipA: testMAC(1)})})
	require.NoError(t, err)
	return c1, c2
}
