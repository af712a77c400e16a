package rudp_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// takesError writes on c and reports whether the write failed with
// EHOSTUNREACH: c had a pending error, which the write took.
func takesError(t *testing.T, c *rudp.Conn) bool {
	t.Helper()
	var err error
	if c.RemoteAddr() != nil {
		_, err = c.Write([]byte("x"))
	} else {
		dst := ap("198.18.0.200:7")
		if c.LocalAddrPort().Addr().Is6() {
			dst = ap("[2001:db8::200]:7")
		}
		_, err = c.WriteToUDPAddrPort([]byte("x"), dst)
	}
	if err == nil {
		return false
	}
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "write", oe.Op)
	require.ErrorIs(t, err, syscall.EHOSTUNREACH)
	return true
}

// TestReportError: ReportError finds the Conn that sent a datagram as
// Linux's udp_err does (source address and port, the unspecified address
// too; for a connected Conn also its remote address) and gives it the
// error only with SetRecvErr on. Anything else is ignored, without panic.
func TestReportError(t *testing.T) {
	ec, _ := onWire(t, etherconn.Config{MAC: macA})
	newConn := func(local, remote string, on bool) *rudp.Conn {
		cfg := rudp.Config{LocalAddr: ap(local)}
		if remote != "" {
			cfg.RemoteAddr = ap(remote)
		}
		c, err := rudp.New(ec, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.SetRecvErr(on))
		return c
	}
	conns := map[string]*rudp.Conn{
		"connected":   newConn("198.18.0.1:1000", "198.18.0.9:7", true),
		"wildcard":    newConn("0.0.0.0:2000", "", true),
		"plain":       newConn("198.18.0.1:3000", "198.18.0.9:7", false),
		"connected6":  newConn("[2001:db8::1]:1000", "[2001:db8::9]:7", true),
		"unconnected": newConn("[2001:db8::1]:2000", "", true),
	}
	mine := frame.MAC(macA)
	udp := func(from, to string) []byte {
		return testkit.UDPFrame(testkit.MAC(9), mine, nil, ap(from), ap(to), []byte("lost"))
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string // the Conn that gets it, or none
	}{
		{"connected: its datagram", udp("198.18.0.1:1000", "198.18.0.9:7"), "connected"},
		{"connected: to another destination", udp("198.18.0.1:1000", "198.18.0.8:7"), ""},
		{"connected: another remote port", udp("198.18.0.1:1000", "198.18.0.9:8"), ""},
		{"bound to 0.0.0.0", udp("198.18.0.5:2000", "198.18.0.8:7"), "wildcard"},
		{"without SetRecvErr", udp("198.18.0.1:3000", "198.18.0.9:7"), ""},
		{"IPv6 connected", udp("[2001:db8::1]:1000", "[2001:db8::9]:7"), "connected6"},
		{"IPv6 unconnected", udp("[2001:db8::1]:2000", "[2001:db8::7]:53"), "unconnected"},
		{"IPv6 source, IPv4 Conn's port", udp("[2001:db8::5]:2000", "[2001:db8::7]:53"), ""},
		{"no Conn on the port", udp("198.18.0.1:4000", "198.18.0.9:7"), ""},
		{"not UDP", testkit.Frame(testkit.MAC(9), mine, nil, frame.EtherTypeARP, make([]byte, 28)), ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want != "", rudp.ReportError(ec, tc.b, syscall.EHOSTUNREACH))
			for name, c := range conns {
				assert.Equal(t, name == tc.want, takesError(t, c), "%s", name)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		b := udp("198.18.0.1:1000", "198.18.0.9:7")
		for n := range len(b) - len("lost") {
			assert.False(t, rudp.ReportError(ec, b[:n], syscall.EHOSTUNREACH), "%d bytes", n)
		}
		assert.False(t, takesError(t, conns["connected"]))
	})
	t.Run("nil error or Conn", func(t *testing.T) {
		b := udp("198.18.0.1:1000", "198.18.0.9:7")
		assert.False(t, rudp.ReportError(ec, b, nil))
		assert.False(t, rudp.ReportError(nil, b, syscall.EHOSTUNREACH))
		assert.False(t, takesError(t, conns["connected"]))
	})
}

// TestReportErrorAttachesNothing: on an etherconn.Conn without Conns,
// ReportError finds nobody and leaves UDP free for another handler.
func TestReportErrorAttachesNothing(t *testing.T) {
	ec, _ := onWire(t, etherconn.Config{MAC: macA})
	b := testkit.UDPFrame(testkit.MAC(9), frame.MAC(macA), nil, ap("198.18.0.1:1000"), ap("198.18.0.9:7"), nil)
	assert.False(t, rudp.ReportError(ec, b, syscall.EHOSTUNREACH))
	for _, et := range []uint16{frame.EtherTypeIPv4, frame.EtherTypeIPv6} {
		err := ec.Attach(etherconn.Protocol{EtherType: et, IPProto: frame.ProtoUDP}, ignoreAll{})
		assert.False(t, errors.Is(err, etherconn.ErrAttached), "%v", err)
		require.NoError(t, err)
	}
}

// ignoreAll is a handler that passes every packet on.
type ignoreAll struct{}

func (ignoreAll) Handle(*relay.Packet) bool { return false }
