package rudp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
)

// WriteTo sends b as one datagram to addr, a *net.UDPAddr. On a connected
// Conn it fails with net.ErrWriteToConnected, as net.UDPConn's.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.remote.IsValid() {
		return 0, c.opErr("write", addr, net.ErrWriteToConnected)
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opErr("write", addr, fmt.Errorf("%w: %T is not a *net.UDPAddr", ErrBadAddr, addr))
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok || ua.Port < 0 || ua.Port > 0xffff {
		return 0, c.opErr("write", addr, fmt.Errorf("%w: %v", ErrBadAddr, addr))
	}
	return c.WriteToUDPAddrPort(b, netip.AddrPortFrom(ip, uint16(ua.Port)))
}

// WriteToUDPAddrPort sends b as one datagram to dst. It allocates nothing.
func (c *Conn) WriteToUDPAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	return c.WriteToFrom(b, dst, c.local.Addr())
}

// WriteToFrom sends b to dst from source address src instead of the bound
// one (the port stays the bound port): for a Conn bound to 0.0.0.0 that
// answers from the address a datagram was sent to, or to emulate many hosts.
func (c *Conn) WriteToFrom(b []byte, dst netip.AddrPort, src netip.Addr) (int, error) {
	if err := c.checkWrite(); err != nil {
		err.(*net.OpError).Addr = net.UDPAddrFromAddrPort(dst)
		return 0, err
	}
	f, n, err := c.build(b, dst, src)
	if err == nil {
		err = c.send(f, n, dst.Addr().Unmap())
	}
	if err != nil {
		return 0, c.opErr("write", net.UDPAddrFromAddrPort(dst), err)
	}
	c.st.out.Add(1)
	c.st.outBytes.Add(uint64(len(b)))
	return len(b), nil
}

// checkWrite fails writes on a closed Conn, past the write deadline, or
// with a pending error.
func (c *Conn) checkWrite() error {
	err := c.sock.CheckWrite()
	if err == nil {
		err = c.q.TakeError() // a pending error (SetRecvErr) fails one write
	}
	if err != nil {
		return c.opErr("write", nil, err)
	}
	return nil
}

// build makes the frame carrying payload and returns it with the length of
// its Ethernet payload (IP header, UDP header and payload). The caller
// releases the frame.
func (c *Conn) build(payload []byte, dst netip.AddrPort, src netip.Addr) (*etherconn.Frame, int, error) {
	dip, sip := dst.Addr().Unmap(), src.Unmap()
	if !dip.IsValid() || !sip.IsValid() || dip.Is4() != sip.Is4() {
		return nil, 0, fmt.Errorf("%w: cannot send from %v to %v", ErrBadAddr, src, dst)
	}
	if c.router != nil && sip.IsUnspecified() {
		if s := c.router.Source(dip); s.IsValid() {
			sip = s
		}
	}
	et := frame.EtherTypeIPv6
	if dip.Is4() {
		et = frame.EtherTypeIPv4
	}
	il := frame.IPUDPLen(dip)
	if c.ec.HeaderLen()+il+len(payload) > backend.MaxFrameLen ||
		(c.router != nil && il+len(payload) > c.router.MTU()) {
		return nil, 0, ErrMessageTooLong
	}
	next := frame.BroadcastMAC
	if c.router != nil {
		next = frame.MAC{} // the Router fills it in
	} else if c.resolve != nil {
		hw, err := c.resolve(dip)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v: %w", ErrResolve, dip, err)
		}
		if next, err = frame.MACFrom(hw); err != nil {
			return nil, 0, fmt.Errorf("%w: %v: %w", ErrResolve, dip, err)
		}
	}
	f := c.ec.NewFrame(next, et)
	b := f.Payload()
	copy(b[il:], payload)
	h := frame.UDPHeader{
		Src: netip.AddrPortFrom(sip, c.local.Port()), Dst: netip.AddrPortFrom(dip, dst.Port()),
		TTL: c.ttl, TOS: c.tos, ID: uint16(c.ipID.Add(1)),
	}
	n, err := frame.PutUDP(b, &h, len(payload))
	if err != nil {
		f.Release()
		return nil, 0, err
	}
	return f, n, nil
}

// send sends a frame from build and releases it: through the Router,
// which may hold it until the next hop toward dst is resolved, or at once.
func (c *Conn) send(f *etherconn.Frame, n int, dst netip.Addr) error {
	if c.router != nil {
		return c.router.Send(c.ec, f, n, dst)
	}
	err := c.ec.WriteFrame(f.Bytes(n))
	f.Release()
	return err
}
