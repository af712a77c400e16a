// Package etherconn sends and receives Ethernet payloads for one emulated
// endpoint: a MAC address and a VLAN stack that no OS interface has.
//
// A Conn is registered with a relay.Relay, which demultiplexes the frames of
// one backend (a real interface, a capture, or memory) by destination MAC,
// VLAN stack and EtherType. Conn implements net.PacketConn with *Addr as the
// address type, so it can be used by code written for any packet connection;
// WriteToMAC and WriteToFrom are the direct forms. Protocol layers such as
// rudp build whole frames with HeaderLen, PutHeader and WriteFrame.
package etherconn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/frame"
	"github.com/etherconn/etherconn/relay"
)

// VLAN is one 802.1Q/802.1ad tag: TPID (0x8100 when zero, 0x88a8, 0x9100),
// PCP, DEI and VLAN ID.
type VLAN = frame.VLAN

// VLANs is a VLAN stack, outermost tag first. Its text form, read by
// ParseVLANs and UnmarshalText, is tags joined by '.' or '|', each
// [TPID:]VID[/pPCP][/dei]: "100", "100.200", "0x88a8:100.200", "100/p5".
type VLANs = frame.VLANs

// ParseVLANs reads a VLAN stack in its text form (see VLANs).
func ParseVLANs(text string) (VLANs, error) { return frame.ParseVLANs(text) }

// EtherTypes of the payloads a Conn receives unless Config says otherwise.
const (
	EtherTypeIPv4 = frame.EtherTypeIPv4
	EtherTypeARP  = frame.EtherTypeARP
	EtherTypeIPv6 = frame.EtherTypeIPv6
)

// DefaultEtherTypes are received when Config.EtherTypes is empty.
var DefaultEtherTypes = []uint16{EtherTypeARP, EtherTypeIPv4, EtherTypeIPv6}

// Config describes the endpoint a Conn emulates.
type Config struct {
	// MAC is the endpoint's own address: the source of what it sends, the
	// destination of what it receives. It must be a unicast address.
	MAC net.HardwareAddr
	// VLANs is the endpoint's VLAN stack, outermost first. Frames it sends
	// carry these tags (with their PCP and DEI); frames it receives must
	// carry tags with the same TPIDs and VIDs.
	VLANs VLANs
	// EtherTypes are the payload types received (default DefaultEtherTypes).
	EtherTypes []uint16
	// Broadcast and Multicast also deliver frames sent to the broadcast
	// address or to any multicast address on the same VLAN stack. They are
	// opt-in because with 50,000 endpoints on one VLAN each broadcast is
	// 50,000 deliveries.
	Broadcast, Multicast bool
	// QueueLen limits the receive queue in frames (default: the relay's).
	QueueLen int
}

// Addr is a link-layer address: a MAC, the VLAN stack a frame carries, and
// the EtherType of its payload. It implements net.Addr.
type Addr struct {
	MAC       net.HardwareAddr
	VLANs     VLANs
	EtherType uint16
}

// Network returns "ether".
func (a *Addr) Network() string { return "ether" }

// String prints the address as MAC, then "%" and the VLAN stack if any, then
// "#" and the EtherType if set: "02:00:00:00:00:01%100.200#0x0800".
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	s := a.MAC.String()
	if len(a.VLANs) > 0 {
		s += "%" + a.VLANs.String()
	}
	if a.EtherType != 0 {
		s += fmt.Sprintf("#%#04x", a.EtherType)
	}
	return s
}

// Errors returned inside *net.OpError.
var (
	// ErrBadAddr reports an address argument that is not usable.
	ErrBadAddr = errors.New("etherconn: invalid address")
	// ErrMessageTooLong is syscall.EMSGSIZE, as the net package returns it.
	ErrMessageTooLong error = syscall.EMSGSIZE
)

// Conn is one emulated endpoint. It is safe for concurrent use.
type Conn struct {
	ep    *relay.Endpoint
	mac   frame.MAC
	vlans VLANs
	hlen  int
	wdl   atomic.Int64 // write deadline in Unix ns; 0: none
}

// New registers an endpoint on r. It fails if cfg is invalid or another
// endpoint already receives one of its (MAC, VLAN stack, EtherType) keys.
func New(r *relay.Relay, cfg Config) (*Conn, error) {
	mac, err := frame.MACFrom(cfg.MAC)
	if err != nil {
		return nil, fmt.Errorf("etherconn: new: %w", err)
	}
	ets := cfg.EtherTypes
	if len(ets) == 0 {
		ets = DefaultEtherTypes
	}
	ep, err := r.Register(relay.EndpointConfig{
		MAC: mac, VLANs: cfg.VLANs, EtherTypes: ets,
		Broadcast: cfg.Broadcast, Multicast: cfg.Multicast, QueueLen: cfg.QueueLen,
	})
	if err != nil {
		return nil, fmt.Errorf("etherconn: new: %w", err)
	}
	c := &Conn{ep: ep, mac: mac, vlans: ep.Config().VLANs}
	c.hlen = frame.HeaderLen(len(c.vlans))
	return c, nil
}

// Endpoint returns the relay endpoint behind c, for protocol layers that
// take packets on the relay's read loop (relay.Handler).
func (c *Conn) Endpoint() *relay.Endpoint { return c.ep }

// MAC returns the endpoint's MAC address.
func (c *Conn) MAC() net.HardwareAddr { return c.mac.HardwareAddr() }

// VLANs returns the endpoint's VLAN stack.
func (c *Conn) VLANs() VLANs { return append(VLANs(nil), c.vlans...) }

// LocalAddr returns the endpoint's MAC and VLAN stack as an *Addr.
func (c *Conn) LocalAddr() net.Addr {
	return &Addr{MAC: c.MAC(), VLANs: c.VLANs()}
}

// Stats returns the endpoint's counters.
func (c *Conn) Stats() relay.EndpointStats { return c.ep.Stats() }

// HeaderLen returns the length of the Ethernet header, VLAN tags included,
// that PutHeader writes.
func (c *Conn) HeaderLen() int { return c.hlen }

// PutHeader writes the Ethernet header of a frame from this endpoint to dst
// into b[:HeaderLen()], and returns HeaderLen().
func (c *Conn) PutHeader(b []byte, dst [6]byte, etherType uint16) int {
	return frame.PutEthernet(b, dst, c.mac, c.vlans, etherType)
}

// WriteFrame sends a whole frame built with PutHeader, honouring the write
// deadline. The frame is not retained.
func (c *Conn) WriteFrame(b []byte) error {
	if err := c.checkWriteDeadline(); err != nil {
		return err
	}
	return c.ep.Send(b)
}

// WriteFrames sends whole frames built with PutHeader, in one backend call
// where the backend can, and returns how many leading frames were sent.
func (c *Conn) WriteFrames(frames [][]byte) (int, error) {
	if err := c.checkWriteDeadline(); err != nil {
		return 0, err
	}
	return c.ep.SendBatch(frames)
}

func (c *Conn) checkWriteDeadline() error {
	if d := c.wdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// ReadPacket returns the next received packet as the relay parsed it; the
// caller must Release it. It is the allocation-free way to read.
func (c *Conn) ReadPacket() (*relay.Packet, error) {
	p, err := c.ep.Read()
	if err != nil {
		return nil, c.opErr("read", nil, err)
	}
	return p, nil
}

// ReadPackets blocks until a packet is received, then fills ps with as many
// received packets as are queued, and returns how many. The caller must
// Release each. It is the batch form of ReadPacket.
func (c *Conn) ReadPackets(ps []*relay.Packet) (int, error) {
	n, err := c.ep.ReadBatch(ps)
	if err != nil {
		return 0, c.opErr("read", nil, err)
	}
	return n, nil
}

// ReadFrom copies the payload of the next received frame into b and returns
// its length and the sender as an *Addr (MAC, VLAN stack with PCP/DEI,
// EtherType). A payload longer than b is truncated to len(b), as
// net.UDPConn does. Ethernet padding is removed from IP payloads.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	p, err := c.ReadPacket()
	if err != nil {
		return 0, nil, err
	}
	defer p.Release()
	n := copy(b, p.Payload())
	from := &Addr{
		MAC:       frame.SrcMAC(p.Frame()).HardwareAddr(),
		VLANs:     p.Info.VLANs(),
		EtherType: p.Info.Key.EtherType,
	}
	return n, from, nil
}

// WriteTo sends b as the payload of one frame to addr, which must be an
// *Addr with a MAC and an EtherType; its VLANs are ignored (the Conn's own
// stack is used).
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*Addr)
	if !ok || a == nil {
		return 0, c.opErr("write", addr, fmt.Errorf("%w: %T is not an *etherconn.Addr", ErrBadAddr, addr))
	}
	return c.WriteToMAC(b, a.MAC, a.EtherType)
}

// WriteToMAC sends b as the payload of one frame to dst with etherType.
func (c *Conn) WriteToMAC(b []byte, dst net.HardwareAddr, etherType uint16) (int, error) {
	return c.write(b, dst, etherType, c.mac, c.vlans)
}

// WriteToFrom sends b like WriteToMAC but with another source MAC and VLAN
// stack, for protocols that answer on behalf of other stations. The relay
// still delivers replies only to registered endpoints.
func (c *Conn) WriteToFrom(b []byte, dst net.HardwareAddr, etherType uint16, src net.HardwareAddr, vlans VLANs) (int, error) {
	s, err := frame.MACFrom(src)
	if err != nil {
		return 0, c.opErr("write", nil, fmt.Errorf("%w: source: %w", ErrBadAddr, err))
	}
	if err := vlans.Validate(); err != nil {
		return 0, c.opErr("write", nil, fmt.Errorf("%w: %w", ErrBadAddr, err))
	}
	return c.write(b, dst, etherType, s, vlans)
}

func (c *Conn) write(b []byte, dst net.HardwareAddr, etherType uint16, src frame.MAC, vlans VLANs) (int, error) {
	d, err := frame.MACFrom(dst)
	if err != nil {
		return 0, c.opErr("write", nil, fmt.Errorf("%w: %w", ErrBadAddr, err))
	}
	hl := frame.HeaderLen(len(vlans))
	if hl+len(b) > backend.MaxFrameLen {
		return 0, c.opErr("write", nil, ErrMessageTooLong)
	}
	buf := getBuf()
	defer putBuf(buf)
	frame.PutEthernet(*buf, d, src, vlans, etherType)
	n := copy((*buf)[hl:], b)
	if err := c.WriteFrame((*buf)[:hl+n]); err != nil {
		return 0, c.opErr("write", nil, err)
	}
	return len(b), nil
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for reads, with net.Conn semantics: a
// read past it fails with an error that satisfies
// errors.Is(err, os.ErrDeadlineExceeded); zero means none; a new deadline
// applies to a read already blocked.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.ep.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for writes. Writes never wait for
// a slow receiver, so it only makes writes after it fail.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.wdl.Store(0)
	} else {
		c.wdl.Store(t.UnixNano())
	}
	return nil
}

// Close unregisters the endpoint; blocked reads return net.ErrClosed.
func (c *Conn) Close() error {
	c.ep.Close()
	return nil
}

func (c *Conn) opErr(op string, addr net.Addr, err error) error {
	if errors.Is(err, net.ErrClosed) {
		err = net.ErrClosed
	}
	oe := &net.OpError{Op: op, Net: "ether", Err: err}
	src := &Addr{MAC: c.mac.HardwareAddr(), VLANs: c.vlans}
	if op == "read" {
		oe.Addr = src
	} else {
		oe.Source, oe.Addr = src, addr
	}
	return oe
}
