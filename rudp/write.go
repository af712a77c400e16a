package rudp

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
	if err := c.write(b, dst, src); err != nil {
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

// errFragment is build's answer for a datagram longer than the MTU.
var errFragment = errors.New("rudp: datagram needs fragments")

// headers is what every frame of one datagram carries: the IP and UDP
// headers, the next hop's MAC (zero: the Router fills it in) and the
// EtherType.
type headers struct {
	udp  frame.UDPHeader
	next frame.MAC
	et   uint16
}

// header works out the headers of a datagram from src to dst, once per
// datagram: it takes an IPv4 identification and asks the resolver.
func (c *Conn) header(dst netip.AddrPort, src netip.Addr) (headers, error) {
	dip, sip := dst.Addr().Unmap(), src.Unmap()
	if !dip.IsValid() || !sip.IsValid() || dip.Is4() != sip.Is4() {
		return headers{}, fmt.Errorf("%w: cannot send from %v to %v", ErrBadAddr, src, dst)
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
	next := frame.BroadcastMAC
	if c.router != nil {
		next = frame.MAC{}
	} else if c.resolve != nil {
		hw, err := c.resolve(dip)
		if err == nil {
			next, err = frame.MACFrom(hw)
		}
		if err != nil {
			return headers{}, fmt.Errorf("%w: %v: %w", ErrResolve, dip, err)
		}
	}
	h := frame.UDPHeader{
		Src: netip.AddrPortFrom(sip, c.local.Port()), Dst: netip.AddrPortFrom(dip, dst.Port()),
		TTL: c.ttl, TOS: c.tos, ID: uint16(c.ipID.Add(1)),
	}
	return headers{h, next, et}, nil
}

// mtu is the largest IP packet a frame may carry: the Router's, else
// Config.MTU, and never more than a frame holds.
func (c *Conn) mtu() int {
	m := c.mtuCfg
	if c.router != nil {
		m = c.router.MTU()
	}
	return min(m, backend.MaxFrameLen-c.ec.HeaderLen())
}

// build makes the frame carrying payload with headers hs and returns it
// with the length of its Ethernet payload (IP header, UDP header and
// payload). The caller releases the frame. A datagram longer than the MTU
// gets errFragment, or ErrMessageTooLong with Config.DontFragment.
func (c *Conn) build(payload []byte, hs *headers) (*etherconn.Frame, int, error) {
	il := frame.IPUDPLen(hs.udp.Dst.Addr())
	if il+len(payload) > c.mtu() {
		if c.dontFrag {
			return nil, 0, ErrMessageTooLong
		}
		return nil, 0, errFragment
	}
	f := c.ec.NewFrame(hs.next, hs.et)
	copy(f.Payload()[il:], payload)
	n, err := frame.PutUDP(f.Payload(), &hs.udp, len(payload))
	if err != nil {
		f.Release()
		return nil, 0, err
	}
	return f, n, nil
}

// write sends one datagram: one frame, or its fragments.
func (c *Conn) write(payload []byte, dst netip.AddrPort, src netip.Addr) error {
	hs, err := c.header(dst, src)
	if err != nil {
		return err
	}
	f, n, err := c.build(payload, &hs)
	if err == errFragment {
		return c.writeFragments(payload, &hs)
	}
	if err != nil {
		return err
	}
	return c.send(f, n, hs.udp.Dst.Addr())
}

// writeFragments sends a datagram longer than the MTU as IP fragments
// (DF clear; IPv6: a Fragment header with a random identification, RFC
// 7739), at most MaxBatch frames per backend call, from pooled frames;
// past what IP can carry it fails with ErrMessageTooLong.
func (c *Conn) writeFragments(payload []byte, hs *headers) error {
	b := batchPool.Get().(*batch)
	defer batchPool.Put(b)
	fr := &b.frag
	if err := fr.Init(&hs.udp, payload, c.mtu(), rand.Uint32()); err != nil {
		return ErrMessageTooLong
	}
	for !fr.Done() {
		k := 0
		for ; k < MaxBatch && !fr.Done(); k++ {
			f := c.ec.NewFrame(hs.next, hs.et)
			b.out[k], b.frames[k], b.dst[k] = f, f.Bytes(fr.Next(f.Payload())), hs.udp.Dst.Addr()
		}
		if sent, err := c.sendFrames(b, k); sent < k {
			return err
		}
	}
	return nil
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

// sendFrames sends b's first k frames (b.out, b.frames, b.dst) and
// releases them: through the Router one at a time, as each may wait for
// its own next hop, else in one backend call. It returns how many leading
// frames were sent and the error that stopped it.
func (c *Conn) sendFrames(b *batch, k int) (sent int, err error) {
	if c.router != nil {
		for sent < k && err == nil {
			f := b.out[sent]
			b.out[sent] = nil // the Router owns it now
			if err = c.router.Send(c.ec, f, len(b.frames[sent])-c.ec.HeaderLen(), b.dst[sent]); err == nil {
				sent++
			}
		}
	} else {
		sent, err = c.ec.WriteFrames(b.frames[:k])
	}
	for i := range k {
		if b.out[i] != nil {
			b.out[i].Release()
			b.out[i] = nil
		}
	}
	clear(b.frames[:k])
	return sent, err
}
