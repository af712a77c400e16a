package rudp

import (
	"net"
	"net/netip"

	"github.com/etherconn/etherconn/relay"
)

// ReadFromUDPAddrPort reads one datagram into b and returns its length and
// source. A datagram longer than b is truncated to len(b), as net.UDPConn
// does on Linux. It allocates nothing.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	p, err := c.q.Pop()
	if err != nil {
		return 0, netip.AddrPort{}, c.opErr("read", nil, err)
	}
	n := copy(b, p.UDPPayload())
	src := srcAddrPort(p)
	p.Release()
	return n, src, nil
}

// ReadMsgUDPAddrPort reads one datagram into b, as ReadFromUDPAddrPort,
// and also returns the destination it was sent to: for a Conn bound to
// 0.0.0.0 or ::, the local address that was asked, to answer from with
// WriteToFrom (what IP_PKTINFO gives a kernel socket; x/net/ipv4's
// ControlMessage.Dst). It allocates nothing.
func (c *Conn) ReadMsgUDPAddrPort(b []byte) (n int, src, dst netip.AddrPort, err error) {
	p, err := c.q.Pop()
	if err != nil {
		return 0, src, dst, c.opErr("read", nil, err)
	}
	n = copy(b, p.UDPPayload())
	src, dst = srcAddrPort(p), dstAddrPort(p)
	p.Release()
	return n, src, dst, nil
}

func dstAddrPort(p *relay.Packet) netip.AddrPort {
	return netip.AddrPortFrom(p.Info.DstAddr(p.Frame()), p.Info.DstPort)
}

func srcAddrPort(p *relay.Packet) netip.AddrPort {
	return netip.AddrPortFrom(p.Info.SrcAddr(p.Frame()), p.Info.SrcPort)
}

// ReadFrom reads one datagram into b and returns its length and source as a
// *net.UDPAddr. Consecutive datagrams from the same source return the same
// *net.UDPAddr, so steady reads allocate nothing; treat it as read-only.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, c.udpAddr(src), nil
}

// ReadFromUDP is ReadFrom with the source as a *net.UDPAddr.
func (c *Conn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, src, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, c.udpAddr(src), nil
}

func (c *Conn) udpAddr(src netip.AddrPort) *net.UDPAddr {
	if a := c.last.Load(); a != nil && a.Port == int(src.Port()) && a.Zone == "" {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip == src.Addr() {
			return a
		}
	}
	a := net.UDPAddrFromAddrPort(src)
	c.last.Store(a)
	return a
}
