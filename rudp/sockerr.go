package rudp

import (
	"encoding/binary"
	"net/netip"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// Errors about sent datagrams. A write that hands a datagram to a Router
// succeeds even when the datagram waits for its next hop to resolve (as
// sendto(2) does), so a later failure can only reach the socket
// afterwards. On Linux it does so as an ICMP host unreachable (IPv4) or
// address unreachable (IPv6) that the kernel sends itself and delivers to
// the socket that sent the datagram, found by the datagram's addresses and
// ports (udp_err). Both are soft errors there: a socket without
// IP_RECVERR / IPV6_RECVERR ignores them, connected or not; one with it
// keeps EHOSTUNREACH as its pending error (sk_err), which the next send or
// receive call returns, once. ReportError and SetRecvErr are that path.

// SetRecvErr sets whether the Conn receives errors about the datagrams it
// sent, as IP_RECVERR (IPv4) and IPV6_RECVERR (IPv6) do on Linux; off by
// default, as there. On, a datagram that a Router dropped after the write
// that sent it succeeded (its next hop did not resolve: ReportError) makes
// EHOSTUNREACH the Conn's pending error: the next read (Read, ReadFrom,
// ReadMsgUDPAddrPort, ReadBatch; one blocked returns at once, and before
// datagrams already queued) or write (which then sends nothing) fails with
// it, in a *net.OpError, once. This holds for connected and unconnected
// Conns alike, as on Linux, where an unconnected socket with IP_RECVERR
// gets the error from its next sendto(2) too, whatever the destination.
// Linux's error queue (MSG_ERRQUEUE, which tells which destination failed)
// is not emulated. Turning it off stops new errors but leaves one not yet
// returned, as Linux does (it purges only the error queue).
func (c *Conn) SetRecvErr(on bool) error {
	if err := c.sock.CheckOpen(); err != nil {
		return c.opErr("set", nil, err)
	}
	c.recvErr.Store(on)
	return nil
}

// ReportError reports err (syscall.EHOSTUNREACH for a next hop that did
// not resolve) about b, a frame a Conn on ec built and handed to its
// Router, which then dropped it: the seam by which a Router tells the Conn
// that sent a datagram that it failed after Send returned. The Conn is
// found as Linux's udp_err finds it: by the datagram's source address and
// port (the Conn bound to them, or to the unspecified address and the
// port) and, for a connected Conn, its destination, which must be the
// Conn's RemoteAddr. The Conn keeps err as its pending error if it has
// SetRecvErr on, and ReportError reports whether one did. A datagram sent
// as fragments is found by its first fragment, which holds the UDP header
// (as Linux's udp_err finds it); the others are ignored, as is a frame
// that is not a UDP datagram of a Conn of ec, or not well formed. The
// Router calls it before releasing b; it keeps nothing of b.
func ReportError(ec *etherconn.Conn, b []byte, err error) bool {
	var in frame.Info
	if ec == nil || err == nil || frame.Parse(b, &in) != nil || !(in.UDP || firstUDPFragment(b, &in)) {
		return false
	}
	m := loadMux(ec)
	if m == nil {
		return false
	}
	src := netip.AddrPortFrom(in.SrcAddr(b), in.SrcPort)
	dst := netip.AddrPortFrom(in.DstAddr(b), in.DstPort)
	m.mu.RLock()
	c := m.lookup(keyOf(src), in.IPVersion == 4)
	m.mu.RUnlock()
	if c == nil || !c.recvErr.Load() || (c.remote.IsValid() && c.remote != dst) {
		return false
	}
	c.q.SetError(err)
	return true
}

// firstUDPFragment reports whether b, which Parse described in in, is the
// first fragment of a UDP datagram whose header it holds whole; if so it
// sets in's ports from that header.
func firstUDPFragment(b []byte, in *frame.Info) bool {
	f, err := frame.ParseFragment(b, in)
	if err != nil || f.Offset != 0 || f.Next != frame.ProtoUDP || f.Data+frame.UDPLen > f.DataEnd {
		return false
	}
	in.SrcPort = binary.BigEndian.Uint16(b[f.Data:])
	in.DstPort = binary.BigEndian.Uint16(b[f.Data+2:])
	return true
}

// loadMux returns the mux attached to ec, or nil: unlike muxOf it attaches
// none (a nil handler makes LoadOrAttach fail instead), since a report for
// an etherconn.Conn without Conns has nobody to reach.
func loadMux(ec *etherconn.Conn) *mux {
	h, _, err := ec.LoadOrAttach(udpProtocols[0], func() relay.Handler { return nil })
	if err != nil {
		return nil
	}
	m, _ := h.(*mux)
	return m
}
