package testkit

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// UDPReader is the receiving side of Exchange: a host's or rudp's Conn, or
// a kernel's *net.UDPConn.
type UDPReader interface {
	SetReadDeadline(t time.Time) error
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
}

// Exchange writes msg on from and reads one datagram of up to 1,500 bytes on
// to, waiting up to timeout; it fails tb unless that datagram is msg, and
// returns where it came from.
func Exchange(tb testing.TB, from io.Writer, to UDPReader, msg string, timeout time.Duration) netip.AddrPort {
	tb.Helper()
	if _, err := from.Write([]byte(msg)); err != nil {
		tb.Fatalf("write %q: %v", msg, err)
	}
	if err := to.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		tb.Fatalf("set read deadline: %v", err)
	}
	buf := make([]byte, 1500)
	n, src, err := to.ReadFromUDPAddrPort(buf)
	if err != nil {
		tb.Fatalf("read %q: %v", msg, err)
	}
	if got := string(buf[:n]); got != msg {
		tb.Fatalf("read %q, want %q", got, msg)
	}
	return src
}
