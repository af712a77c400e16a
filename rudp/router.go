package rudp

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/etherconn/etherconn/etherconn"
)

// Router is what an IP host layer gives its Conns (Config.Router): the
// host's addresses, routes and neighbour resolution. host.Host implements
// it; a bare Conn uses Config.Resolve instead.
type Router interface {
	// Source returns the address to send to dst from, for a Conn bound to
	// the unspecified address: the host's address that fits dst best. An
	// invalid Addr (no address of dst's family) leaves the unspecified
	// one, as a DHCP client's DISCOVER needs.
	Source(dst netip.Addr) netip.Addr
	// MTU is the largest IP packet, headers included, that may be sent.
	MTU() int
	// Send sends f, built by ec with an Ethernet payload of n bytes, to
	// dst: it finds the next hop, fills in the destination MAC and writes
	// the frame, now or once the next hop is resolved. It owns f from the
	// call on and releases it. A datagram that waits for resolution is not
	// an error (as sendto(2) on a kernel socket succeeds); one dropped
	// because resolution failed is counted by the Router and reported
	// with ReportError (syscall.EHOSTUNREACH) before f is released, which
	// a Conn with SetRecvErr returns from its next call.
	Send(ec *etherconn.Conn, f *etherconn.Frame, n int, dst netip.Addr) error
	// IsLocal reports whether a datagram to dst is for this host: its own
	// addresses, broadcast and multicast. Datagrams to other addresses are
	// not delivered, whatever the Conn is bound to (after an address is
	// removed, a Conn bound to it receives nothing, as on Linux).
	IsLocal(dst netip.Addr) bool
}

// RemoteAddr returns the address a connected Conn is connected to, or nil.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.remote.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.remote)
}

// RemoteAddrPort returns the address a connected Conn is connected to (an
// invalid AddrPort when not connected).
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.remote }

// Read reads one datagram from the connected peer into b, as
// net.UDPConn.Read does (truncated to len(b)).
func (c *Conn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(b)
	return n, err
}

// Write sends b as one datagram to the connected peer. On a Conn that is
// not connected it fails with EDESTADDRREQ, as net.UDPConn's does.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.remote.IsValid() {
		return 0, c.opErr("write", nil, syscall.EDESTADDRREQ)
	}
	return c.WriteToUDPAddrPort(b, c.remote)
}
