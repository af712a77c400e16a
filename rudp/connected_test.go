package rudp_test

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/rudp"
)

// TestConnected: a Conn with RemoteAddr is a net.Conn that talks to its
// peer only, as a connected net.UDPConn.
func TestConnected(t *testing.T) {
	ha, hb := newHosts(t)
	srv := mustConn(t, hb.ec, "198.18.0.2:53")
	other := mustConn(t, hb.ec, "198.18.0.2:5000")
	cl, err := rudp.New(ha.ec, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:0"),
		RemoteAddr: srv.LocalAddrPort()})
	require.NoError(t, err)
	defer cl.Close()
	var _ net.Conn = cl
	assert.Equal(t, srv.LocalAddr().String(), cl.RemoteAddr().String())

	assert.Equal(t, cl.LocalAddrPort(), testkit.Exchange(t, cl, srv, "query", 5*time.Second))
	buf := make([]byte, 100)

	// A datagram from another source is not delivered; the peer's is.
	_, err = other.WriteToUDPAddrPort([]byte("spoof"), cl.LocalAddrPort())
	require.NoError(t, err)
	_, err = srv.WriteToUDPAddrPort([]byte("answer"), cl.LocalAddrPort())
	require.NoError(t, err)
	require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := cl.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "answer", string(buf[:n]))
	assert.Equal(t, uint64(1), cl.Stats().OtherSource)

	_, err = cl.WriteTo([]byte("x"), srv.LocalAddr())
	assert.ErrorIs(t, err, net.ErrWriteToConnected)
	_, err = srv.Write([]byte("x"))
	assert.ErrorIs(t, err, syscall.EDESTADDRREQ)
	assert.Nil(t, srv.RemoteAddr())

	_, err = rudp.New(ha.ec, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:0"),
		RemoteAddr: netip.MustParseAddrPort("[2001:db8::1]:53")})
	assert.ErrorIs(t, err, rudp.ErrBadAddr, "remote of the other family")
}

// TestEphemeralPortsRandom: port 0 picks from Linux's 32768–60999 with a
// random start (RFC 6056), never a bound port.
func TestEphemeralPortsRandom(t *testing.T) {
	seen := map[uint16]bool{}
	for range 50 {
		ha, _ := newHosts(t)
		c := mustConn(t, ha.ec, "198.18.0.1:0")
		p := c.LocalAddrPort().Port()
		assert.True(t, p >= 32768 && p <= 60999, "port %d", p)
		seen[p] = true
	}
	// 50 fresh endpoints: with a counter they would all get the same port.
	assert.Greater(t, len(seen), 40, "ports of fresh endpoints repeat: %v", seen)

	ha, _ := newHosts(t)
	taken := map[uint16]bool{}
	for range 200 {
		c := mustConn(t, ha.ec, "198.18.0.1:0")
		p := c.LocalAddrPort().Port()
		assert.False(t, taken[p], "port %d given twice", p)
		taken[p] = true
	}
}

// TestDestinationOnReceive: a server on the unspecified address learns
// which local address each datagram was sent to and answers from it.
func TestDestinationOnReceive(t *testing.T) {
	ha, hb := newHosts(t)
	srv := mustConn(t, hb.ec, "0.0.0.0:53")
	cl := mustConn(t, ha.ec, "198.18.0.1:4000")
	buf := make([]byte, 100)
	for _, local := range []string{"198.18.0.2:53", "198.18.0.3:53"} {
		_, err := cl.WriteToUDPAddrPort([]byte("q"), ap(local))
		require.NoError(t, err)
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, src, dst, err := srv.ReadMsgUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, ap(local), dst)
		_, err = srv.WriteToFrom([]byte("a"), src, dst.Addr())
		require.NoError(t, err)
		require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, from, err := cl.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, ap(local), from, "answered from the address asked")
	}
	// The batch forms carry it too.
	_, err := cl.WriteToUDPAddrPort([]byte("q"), ap("198.18.0.4:53"))
	require.NoError(t, err)
	ms := []rudp.Message{{Buf: make([]byte, 100)}}
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := srv.ReadBatch(ms)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, ap("198.18.0.4:53"), ms[0].Local)
	ms[0].Buf, ms[0].Local = []byte("a"), netip.AddrPortFrom(ms[0].Local.Addr(), 0)
	_, err = srv.WriteBatch(ms)
	require.NoError(t, err)
	require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, from, err := cl.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, ap("198.18.0.4:53"), from)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
