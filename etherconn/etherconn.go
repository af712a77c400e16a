package etherconn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/sockstate"
	"github.com/etherconn/etherconn/relay"
)

// DefaultEtherTypes returns the EtherTypes received when Config.EtherTypes
// is empty: ARP, IPv4 and IPv6. It is a function so that no caller can
// change the default for everyone.
func DefaultEtherTypes() []uint16 {
	return []uint16{frame.EtherTypeARP, frame.EtherTypeIPv4, frame.EtherTypeIPv6}
}

// Config describes the endpoint a Conn emulates.
type Config struct {
	// MAC is the endpoint's own address: the source of what it sends, the
	// destination of what it receives. It must be a unicast address.
	MAC net.HardwareAddr
	// VLANs is the endpoint's VLAN stack, outermost first. Frames it sends
	// carry these tags (with their PCP and DEI); frames it receives must
	// carry tags with the same TPIDs and VIDs.
	VLANs frame.VLANs
	// EtherTypes are the payload types received (default DefaultEtherTypes()).
	EtherTypes []uint16
	// Broadcast and Multicast also deliver frames sent to the broadcast
	// address or to any multicast address on the same VLAN stack. They are
	// opt-in because with 50,000 endpoints on one VLAN each broadcast is
	// 50,000 deliveries.
	Broadcast, Multicast bool
	// QueueLen limits the receive queue in frames (0: the relay's). -1
	// means no queue: for a Conn used only through attached layers (rudp),
	// frames none of them takes (ARP, UDP to unbound ports) are dropped and
	// counted instead of waiting in memory.
	QueueLen int
}

// Addr is a link-layer address: a MAC, the VLAN stack a frame carries, and
// the EtherType of its payload. It implements net.Addr.
type Addr struct {
	MAC       net.HardwareAddr
	VLANs     frame.VLANs
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
	vlans frame.VLANs
	hlen  int
	st    sockstate.State
	local *Addr
	disp  dispatcher
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
		ets = DefaultEtherTypes()
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
	c.local = &Addr{MAC: mac.HardwareAddr(), VLANs: c.vlans}
	c.disp.ep = ep
	ep.SetHandler(&c.disp)
	return c, nil
}

// MAC returns the endpoint's MAC address.
func (c *Conn) MAC() net.HardwareAddr { return c.mac.HardwareAddr() }

// VLANs returns the endpoint's VLAN stack.
func (c *Conn) VLANs() frame.VLANs { return append(frame.VLANs(nil), c.vlans...) }

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
func (c *Conn) PutHeader(b []byte, dst frame.MAC, etherType uint16) int {
	return frame.PutEthernet(b, dst, c.mac, c.vlans, etherType)
}

// WriteFrame sends a whole frame (built with NewFrame or PutHeader),
// honouring the write deadline. The frame is not retained. Errors are
// *net.OpError.
func (c *Conn) WriteFrame(b []byte) error {
	if err := c.st.CheckWrite(); err != nil {
		return c.opErr("write", nil, err)
	}
	if err := c.ep.Send(b); err != nil {
		return c.opErr("write", nil, err)
	}
	return nil
}

// WriteFrames sends whole frames (built with NewFrame or PutHeader), in one
// backend call where the backend can, and returns how many leading frames
// were sent. Errors are *net.OpError.
func (c *Conn) WriteFrames(frames [][]byte) (int, error) {
	if err := c.st.CheckWrite(); err != nil {
		return 0, c.opErr("write", nil, err)
	}
	n, err := c.ep.SendBatch(frames)
	if err != nil {
		return n, c.opErr("write", nil, err)
	}
	return n, nil
}

// checkEtherType refuses values that would not be read back as the
// EtherType: 802.3 lengths, and TPIDs, which would read as a VLAN tag.
func checkEtherType(et uint16) error {
	if et < 0x0600 || frame.IsTPID(et) {
		return fmt.Errorf("%w: EtherType %#04x", ErrBadAddr, et)
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
func (c *Conn) WriteToFrom(b []byte, dst net.HardwareAddr, etherType uint16, src net.HardwareAddr, vlans frame.VLANs) (int, error) {
	s, err := frame.MACFrom(src)
	if err != nil {
		return 0, c.opErr("write", nil, fmt.Errorf("%w: source: %w", ErrBadAddr, err))
	}
	if err := vlans.Validate(); err != nil {
		return 0, c.opErr("write", nil, fmt.Errorf("%w: %w", ErrBadAddr, err))
	}
	return c.write(b, dst, etherType, s, vlans)
}

func (c *Conn) write(b []byte, dst net.HardwareAddr, etherType uint16, src frame.MAC, vlans frame.VLANs) (int, error) {
	to := &Addr{MAC: dst, EtherType: etherType}
	d, err := frame.MACFrom(dst)
	if err != nil {
		return 0, c.opErr("write", to, fmt.Errorf("%w: %w", ErrBadAddr, err))
	}
	if err := checkEtherType(etherType); err != nil {
		return 0, c.opErr("write", to, err)
	}
	hl := frame.HeaderLen(len(vlans))
	if hl+len(b) > backend.MaxFrameLen {
		return 0, c.opErr("write", to, ErrMessageTooLong)
	}
	if err := c.st.CheckWrite(); err != nil {
		return 0, c.opErr("write", to, err)
	}
	f := getFrame()
	defer f.Release()
	frame.PutEthernet(f.buf[:], d, src, vlans, etherType)
	n := copy(f.buf[hl:], b)
	if err := c.ep.Send(f.buf[:hl+n]); err != nil {
		return 0, c.opErr("write", to, err)
	}
	return len(b), nil
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for reads, with net.Conn semantics: a
// read past it fails with an error that satisfies
// errors.Is(err, os.ErrDeadlineExceeded); zero means none; a new deadline
// applies to a read already blocked.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.st.CheckOpen(); err != nil {
		return c.opErr("set", nil, err)
	}
	c.ep.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for writes. Writes never wait for
// a slow receiver, so it only makes writes after it fail.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.st.SetWriteDeadline(t); err != nil {
		return c.opErr("set", nil, err)
	}
	return nil
}

// Close unregisters the endpoint; blocked reads return net.ErrClosed, and
// attached handlers that are relay.EndNotifiers are told. As with
// net.UDPConn, the first Close returns nil (also after the relay was
// closed) and later ones an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	if !c.st.Close() {
		return c.opErr("close", nil, net.ErrClosed)
	}
	return c.ep.Close()
}

func (c *Conn) opErr(op string, addr net.Addr, err error) error {
	return sockstate.OpError(op, "ether", c.local, addr, err)
}

// Frame is an outgoing frame built in place (see NewFrame): a pooled buffer
// of backend.MaxFrameLen bytes holding the Conn's Ethernet header, with the
// payload to be written after it.
type Frame struct {
	buf [backend.MaxFrameLen]byte
	hl  int
}

// Sending takes a buffer from the pool, builds in it, hands it to the
// backend (which copies or transmits it before returning) and puts it back.
var framePool = sync.Pool{New: func() any { return new(Frame) }}

func getFrame() *Frame { return framePool.Get().(*Frame) }

// NewFrame returns a pooled frame to dst with etherType whose Ethernet
// header (source MAC and VLAN tags of c) is written: fill Payload, send
// Bytes(n) with WriteFrame or WriteFrames, then Release it. Steady sending
// this way allocates nothing and copies the payload once, into Payload.
func (c *Conn) NewFrame(dst frame.MAC, etherType uint16) *Frame {
	f := getFrame()
	f.hl = frame.PutEthernet(f.buf[:], dst, c.mac, c.vlans, etherType)
	return f
}

// Payload returns the room after the Ethernet header:
// backend.MaxFrameLen - HeaderLen() bytes.
func (f *Frame) Payload() []byte { return f.buf[f.hl:] }

// Bytes returns the whole frame with a payload of n bytes (at most
// len(Payload())).
func (f *Frame) Bytes(n int) []byte { return f.buf[:f.hl+n] }

// Release returns f to the pool; f must not be used after.
func (f *Frame) Release() { framePool.Put(f) }
