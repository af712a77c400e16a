package rudp_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// host is one emulated station: a relay on one end of a memio pipe and an
// etherconn.Conn on VLAN 100.
type host struct {
	r  *relay.Relay
	ec *etherconn.Conn
}

func newHosts(t testing.TB) (a, b host) {
	t.Helper()
	pa, pb := memio.Pipe(memio.Config{QueueLen: 1024})
	vlans, err := frame.ParseVLANs("100")
	require.NoError(t, err)
	mk := func(p *memio.Port, mac net.HardwareAddr) host {
		r := relay.New(p, relay.Config{})
		t.Cleanup(func() { r.Close() })
		ec, err := etherconn.New(r, etherconn.Config{MAC: mac, VLANs: vlans, Broadcast: true})
		require.NoError(t, err)
		return host{r, ec}
	}
	return mk(pa, macA), mk(pb, macB)
}

func mustConn(t testing.TB, ec *etherconn.Conn, addr string) *rudp.Conn {
	t.Helper()
	c, err := rudp.New(ec, rudp.Config{LocalAddr: netip.MustParseAddrPort(addr)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExchange(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"ipv4", "198.18.0.1:1000", "198.18.0.2:2000"},
		{"ipv6", "[2001:db8::1]:1000", "[2001:db8::2]:2000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := newHosts(t)
			ca, cb := mustConn(t, ha.ec, tc.a), mustConn(t, hb.ec, tc.b)
			require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err := ca.WriteTo([]byte("ping"), cb.LocalAddr())
			require.NoError(t, err)
			buf := make([]byte, 100)
			n, from, err := cb.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "ping", string(buf[:n]))
			assert.Equal(t, ca.LocalAddr().String(), from.String())

			_, err = cb.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			require.NoError(t, ca.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err = ca.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "pong", string(buf[:n]))
			assert.Equal(t, cb.LocalAddr().String(), from.String())
		})
	}
}

func TestDeadlineAndClose(t *testing.T) {
	ha, _ := newHosts(t)
	c := mustConn(t, ha.ec, "198.18.0.1:1000")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, _, err := c.ReadFrom(make([]byte, 10))
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	done := make(chan error, 1)
	go func() { _, _, err := c.ReadFrom(make([]byte, 10)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
}

func BenchmarkWriteToReadFrom(b *testing.B) {
	ha, hb := newHosts(b)
	ca, cb := mustConn(b, ha.ec, "198.18.0.1:1000"), mustConn(b, hb.ec, "198.18.0.2:2000")
	payload := make([]byte, 64)
	buf := make([]byte, 1500)
	dst := cb.LocalAddr()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ca.WriteTo(payload, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := cb.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

var errDeadline = os.ErrDeadlineExceeded

func TestInputEnded(t *testing.T) {
	// A finite backend: the relay's input ends at once.
	r := relay.New(endless{}, relay.Config{})
	t.Cleanup(func() { r.Close() })
	ec, err := etherconn.New(r, etherconn.Config{MAC: macA})
	require.NoError(t, err)
	before := mustConn(t, ec, "198.18.0.1:1")
	<-r.Done()
	after := mustConn(t, ec, "198.18.0.1:2")
	for _, c := range []*rudp.Conn{before, after} {
		_, _, err := c.ReadFrom(make([]byte, 10))
		assert.ErrorIs(t, err, relay.ErrInputEnded)
		assert.ErrorIs(t, err, io.EOF)
	}
}

// endless is a PacketIO whose input is already over.
type endless struct{}

func (endless) ReadFrame([]byte) (int, error) { return 0, io.EOF }
func (endless) WriteFrame([]byte) error       { return nil }
func (endless) Close() error                  { return nil }
