// Package rudp implements net.PacketConn for UDP over an etherconn.Conn:
// UDP/IPv4 and UDP/IPv6 from any local address (also 0.0.0.0, ::, or one no
// interface has), built and checked entirely in user space.
//
// Several Conns can share one etherconn.Conn; datagrams are demultiplexed by
// local IP and port on the relay's read loop, straight into each Conn's
// queue. rudp attaches to the etherconn.Conn only through its public seam:
// one shared handler for IPv4 and IPv6 UDP (etherconn.Conn.LoadOrAttach), a
// receive queue per Conn (NewQueue) and frames built in place (NewFrame). A Conn with Config.AcceptAny also gets every datagram that no other
// Conn on its etherconn.Conn is bound to.
//
// Checksums are always right on send (IPv4 header, UDP over IPv4 and IPv6)
// and checked on receive; bad ones are dropped and counted in Stats.
//
// A datagram longer than the MTU (Config.MTU, or the Router's) is sent as
// IPv4 fragments or with an IPv6 Fragment header, up to 65,507 (IPv4) and
// 65,527 (IPv6) bytes of payload, unless Config.DontFragment; fragments
// received are reassembled by the relay (etherconn.Conn.Reassemble,
// relay.ReassemblyConfig) and the datagram delivered whole.
//
// Deadlines, Close and errors behave as net.UDPConn's do. Errors about
// datagrams already sent (a next hop that did not resolve) reach a Conn
// only with SetRecvErr, as with IP_RECVERR on Linux (see ReportError).
package rudp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/sockstate"
	"github.com/etherconn/etherconn/relay"
)

// Errors returned inside *net.OpError.
var (
	ErrPortInUse      = errors.New("rudp: local address already bound on this etherconn.Conn")
	ErrAcceptAnyInUse = errors.New("rudp: another Conn on this etherconn.Conn already accepts any datagram")
	ErrNoFreePort     = errors.New("rudp: no free ephemeral port")
	ErrBadAddr        = errors.New("rudp: invalid address")
	ErrResolve        = errors.New("rudp: next-hop MAC resolution failed")
	// ErrMessageTooLong is syscall.EMSGSIZE, as net.UDPConn returns it.
	ErrMessageTooLong error = syscall.EMSGSIZE
)

// Resolver returns the MAC address of the next hop towards dst. It is
// called for every datagram sent, so it should be cheap (a map lookup) and
// should return a slice it keeps rather than a new one.
type Resolver func(dst netip.Addr) (net.HardwareAddr, error)

// Config describes a Conn.
type Config struct {
	// LocalAddr is the local IP and port. The IP may be any address,
	// including 0.0.0.0 or :: (receive for any address of that family; send
	// from the unspecified address, as a DHCP client does). Port 0 picks a
	// free ephemeral port.
	LocalAddr netip.AddrPort
	// AcceptAny delivers every UDP datagram that reaches the etherconn.Conn
	// and that no other Conn is bound to, whatever its destination.
	AcceptAny bool
	// Resolve finds the next-hop MAC; nil sends every datagram to the
	// Ethernet broadcast address. Router, when set, takes its place.
	Resolve Resolver
	// Router connects the Conn to an IP host's state (host.Host is one):
	// source address selection, MTU, next hops resolved by ARP/ND, and
	// which destination addresses are local. Nil: a bare Conn (Resolve).
	Router Router
	// RemoteAddr, when valid, connects the Conn as connect(2) does a UDP
	// socket: Write sends to it, and only datagrams from it are received.
	RemoteAddr netip.AddrPort
	// TTL is the IPv4 TTL / IPv6 hop limit of sent datagrams (0: 64).
	TTL uint8
	// DSCP is the Differentiated Services code point of sent datagrams (0..63).
	DSCP uint8
	// QueueLen limits the receive queue in datagrams (default
	// relay.DefaultQueueLen).
	QueueLen int
	// MTU is the largest IP packet sent in one frame, headers included, on
	// a Conn without a Router (default DefaultMTU; the Router's MTU takes
	// its place). Longer datagrams go out as IP fragments.
	MTU int
	// DontFragment makes a datagram longer than the MTU fail with
	// ErrMessageTooLong (EMSGSIZE) instead of going out as fragments, as
	// IP_PMTUDISC_DO or IPV6_DONTFRAG do on a kernel socket.
	DontFragment bool
}

// DefaultMTU is Config.MTU's default, Ethernet's.
const DefaultMTU = 1500

// Conn is a UDP endpoint over an etherconn.Conn. It implements
// net.PacketConn and is safe for concurrent use.
type Conn struct {
	ec        *etherconn.Conn
	m         *mux
	resolve   Resolver
	router    Router
	local     netip.AddrPort
	remote    netip.AddrPort // valid when connected
	bound     bindKey
	ttl, tos  uint8
	mtuCfg    int
	dontFrag  bool
	v4        bool
	acceptAny bool
	q         *relay.Queue
	ipID      atomic.Uint32
	sock      sockstate.State
	// last caches the *net.UDPAddr ReadFrom returned, so a run of datagrams
	// from one peer costs no allocation.
	last atomic.Pointer[net.UDPAddr]
	st   counters
	// recvErr is SetRecvErr's IP_RECVERR (sockerr.go).
	recvErr atomic.Bool
}

type counters struct {
	in, inBytes, badChecksum, queueDrops, out, outBytes, otherSource atomic.Uint64
}

// Stats are a Conn's counters.
type Stats struct {
	DatagramsIn  uint64 // datagrams queued for reading
	BytesIn      uint64 // UDP payload bytes queued
	BadChecksum  uint64 // datagrams dropped for a bad IPv4 header or UDP checksum
	QueueDrops   uint64 // datagrams dropped because the receive queue was full
	OtherSource  uint64 // datagrams a connected Conn dropped: not from its RemoteAddr
	DatagramsOut uint64
	BytesOut     uint64
}

// New binds a Conn to cfg.LocalAddr on ec. The Conn does not own ec:
// closing it leaves ec open.
func New(ec *etherconn.Conn, cfg Config) (*Conn, error) {
	if !cfg.LocalAddr.Addr().IsValid() {
		return nil, fmt.Errorf("rudp: new: %w: local address %v", ErrBadAddr, cfg.LocalAddr)
	}
	if cfg.DSCP > 63 {
		return nil, fmt.Errorf("rudp: new: %w: DSCP %d is above 63", ErrBadAddr, cfg.DSCP)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = relay.DefaultQueueLen
	}
	m, err := muxOf(ec)
	if err != nil {
		return nil, fmt.Errorf("rudp: new %v: %w", cfg.LocalAddr, err)
	}
	local := netip.AddrPortFrom(cfg.LocalAddr.Addr().Unmap(), cfg.LocalAddr.Port())
	if cfg.MTU <= 0 {
		cfg.MTU = DefaultMTU
	}
	c := &Conn{ec: ec, m: m, resolve: cfg.Resolve, router: cfg.Router, local: local, ttl: cfg.TTL, tos: cfg.DSCP << 2,
		mtuCfg: cfg.MTU, dontFrag: cfg.DontFragment, v4: local.Addr().Is4(), acceptAny: cfg.AcceptAny}
	// A random first IPv4 identification, so that the datagrams of Conns
	// made at once toward one peer do not share identifications.
	c.ipID.Store(rand.Uint32())
	if cfg.RemoteAddr.IsValid() {
		ra := netip.AddrPortFrom(cfg.RemoteAddr.Addr().Unmap(), cfg.RemoteAddr.Port())
		if ra.Addr().Is4() != c.v4 || ra.Addr().IsUnspecified() || ra.Port() == 0 {
			return nil, fmt.Errorf("rudp: new %v: %w: remote address %v", cfg.LocalAddr, ErrBadAddr, cfg.RemoteAddr)
		}
		c.remote = ra
	}
	c.q = ec.NewQueue(cfg.QueueLen)
	if err := c.m.bind(c); err != nil {
		return nil, fmt.Errorf("rudp: new %v: %w", cfg.LocalAddr, err)
	}
	return c, nil
}

// receive runs on the relay's read loop for a datagram addressed to c.
func (c *Conn) receive(p *relay.Packet) {
	b := p.Frame()
	if c.remote.IsValid() && srcAddrPort(p) != c.remote {
		c.st.otherSource.Add(1)
		return
	}
	if (p.Info.IPVersion == 4 && !frame.IPv4ChecksumOK(b, &p.Info)) || !frame.UDPChecksumOK(b, &p.Info) {
		c.st.badChecksum.Add(1)
		return
	}
	// Counted before the push, so that a reader who has the datagram never
	// sees a counter that lags; a failed push takes the count back.
	n := uint64(p.Info.PayloadEnd - p.Info.Payload)
	c.st.in.Add(1)
	c.st.inBytes.Add(n)
	if !c.q.Push(p) {
		c.st.in.Add(^uint64(0))
		c.st.inBytes.Add(-n)
		c.st.queueDrops.Add(1)
	}
}

// end stops the Conn's receiving: closed (reads return net.ErrClosed) or
// input ended (reads drain, then return the error).
func (c *Conn) end(err error) {
	if errors.Is(err, net.ErrClosed) && !errors.Is(err, relay.ErrInputEnded) {
		c.q.Close()
	} else {
		c.q.End(err) // queued datagrams stay readable
	}
}

// LocalAddr returns the bound address as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// LocalAddrPort returns the bound address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.local }

// EtherConn returns the etherconn.Conn the Conn sends and receives on.
func (c *Conn) EtherConn() *etherconn.Conn { return c.ec }

// Stats returns the Conn's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		DatagramsIn: c.st.in.Load(), BytesIn: c.st.inBytes.Load(),
		BadChecksum: c.st.badChecksum.Load(), QueueDrops: c.st.queueDrops.Load(),
		DatagramsOut: c.st.out.Load(), BytesOut: c.st.outBytes.Load(),
		OtherSource: c.st.otherSource.Load(),
	}
}

// SetReadBuffer sets the receive queue's size in bytes, as SO_RCVBUF does
// for a kernel socket (default relay.DefaultQueueBytes, Linux's
// rmem_default): datagrams that would pass it are dropped and counted in
// Stats().QueueDrops. A queued datagram counts the buffer it pins (see
// relay.Config.QueueBytes). 0 restores the default. Unlike Linux, the
// value is not doubled for overhead: the count is of the buffers
// themselves.
func (c *Conn) SetReadBuffer(bytes int) error {
	if err := c.checkBufferSize(bytes); err != nil {
		return err
	}
	c.q.SetByteLimit(bytes)
	return nil
}

// SetWriteBuffer accepts any size, so that code written for net.UDPConn
// (quic-go) works unchanged: writes are handed to the backend at once and
// never queue in the Conn, so there is no send buffer to size.
func (c *Conn) SetWriteBuffer(bytes int) error { return c.checkBufferSize(bytes) }

// checkBufferSize fails a buffer size on a closed Conn, or a negative one
// (EINVAL, as setsockopt's).
func (c *Conn) checkBufferSize(bytes int) error {
	err := c.sock.CheckOpen()
	if err == nil && bytes < 0 {
		err = syscall.EINVAL
	}
	if err != nil {
		return c.opErr("set", nil, err)
	}
	return nil
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline with net.Conn semantics: reads
// past it fail with an error satisfying errors.Is(err,
// os.ErrDeadlineExceeded) and net.Error.Timeout(); zero means none; a new
// deadline applies to a read already blocked.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.sock.CheckOpen(); err != nil {
		return c.opErr("set", nil, err)
	}
	c.q.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the write deadline. Writes never wait for a slow
// receiver, so it only makes writes after it fail.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.sock.SetWriteDeadline(t); err != nil {
		return c.opErr("set", nil, err)
	}
	return nil
}

// Close unbinds the Conn and unblocks its readers with net.ErrClosed. The
// etherconn.Conn stays open. The first Close returns nil, also after the
// relay or etherconn.Conn was closed; later ones an error wrapping
// net.ErrClosed, as net.UDPConn's.
func (c *Conn) Close() error {
	if !c.sock.Close() {
		return c.opErr("close", nil, net.ErrClosed)
	}
	c.m.unbind(c)
	c.q.Close()
	return nil
}

func (c *Conn) opErr(op string, addr net.Addr, err error) error {
	return sockstate.OpError(op, c.network(), c.LocalAddr(), addr, err)
}

func (c *Conn) network() string {
	if c.v4 {
		return "udp4"
	}
	return "udp6"
}
