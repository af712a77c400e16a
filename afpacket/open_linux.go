//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ethPAll is ETH_P_ALL: every protocol.
const ethPAll = 0x0003

// dropAll is a classic BPF program that rejects every frame. The socket is
// opened with it so that nothing is queued before the socket is fully set up.
var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

// conn is the Linux side of a Conn: the packet socket and what reading and
// writing it needs.
type conn struct {
	pc      *packet.Conn
	rc      syscall.RawConn
	promisc bool
	closed  atomic.Bool

	errClosedRead  error
	errClosedWrite error
	errShort       error

	// recv takes frames in, the way Open chose once by Config.Receive: from
	// a TPACKET_V2 or V3 ring, or from the socket's queue (recvmsg,
	// recvmmsg).
	// The single-reader contract lets its state live here, built once, so
	// that a read allocates nothing.
	recv    receiver
	rx      rxSock        // how the receivers run their callbacks
	adapt   *adaptiveRing // recv when it is one: its second socket
	readErr error         // sticky read error: reads after it fail at once
	link    linkMon       // link loss: down periods, removal (link_linux.go)

	wpool sync.Pool // of *sender

	// tx is a second socket, bound to the interface for sending only, that
	// the Go runtime's poller does not watch; -1 if it could not be opened.
	// The kernel reports write space on a socket after every frame it
	// frees, and on a socket the poller watches each such report wakes the
	// poller's thread while any read waits: measured on a veth pair, that
	// cost the sender a quarter of its rate (490k -> 370k frames/s).
	// Writes go through tx until it would block, then finish on the main
	// socket, where waiting is the poller's job. txMu keeps Close from
	// closing tx under a write.
	txMu     sync.RWMutex
	tx       int
	txBlocks atomic.Uint64 // writes that tx would have blocked

	// vnet is set when the socket has PACKET_VNET_HDR: the kernel puts a
	// virtio_net_hdr in front of every frame it receives, which tells
	// super-frames from frames (see gso.go), and expects one in front of
	// every frame sent on it (see Conn.write).
	vnet bool

	// ignoresOutgoing is set when the kernel keeps outgoing frames from
	// the socket (or its fanout group). A socket never gets the frames it
	// sent itself, but without this it would get a copy of each frame tx
	// sent, only to drop it: then tx is not opened.
	ignoresOutgoing bool
}

// fanoutSeq makes fallback fanout group ids unique within the process.
var fanoutSeq atomic.Uint32

// open is Open on Linux; Open adds the operation and the interface to its
// errors.
func open(ifname string, cfg Config) (*Conn, error) {
	if cfg.Fanout < FanoutNone || cfg.Fanout > FanoutQM {
		return nil, fmt.Errorf("invalid fanout mode %d", int(cfg.Fanout))
	}
	if len(cfg.Filter) > 0xffff {
		return nil, fmt.Errorf("BPF filter of %d instructions is too long", len(cfg.Filter))
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("lookup interface: %w", err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface is down: %w", unix.ENETDOWN)
	}
	// Start with a filter that drops everything so that no frame reaches
	// the queue before the options below (auxdata above all) are set.
	pc, err := packet.Listen(ifi, packet.Raw, ethPAll, &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, err
	}
	c := &Conn{
		ifname:  ifname,
		ifindex: ifi.Index,
		hwaddr:  ifi.HardwareAddr,
		sys:     conn{pc: pc, tx: -1},
	}
	if err := c.setup(cfg, ifi); err != nil {
		_ = pc.Close()
		if c.sys.recv != nil {
			c.sys.recv.close()
		}
		return nil, err
	}
	c.openTx(cfg)
	return c, nil
}

// setup configures a freshly bound socket on ifi that still drops every
// frame.
func (c *Conn) setup(cfg Config, ifi *net.Interface) error {
	s := &c.sys
	rc, err := s.pc.SyscallConn()
	if err != nil {
		return err
	}
	s.rc = rc
	s.rx.rc = rc
	s.errClosedRead = fmt.Errorf("afpacket: read %s: %w", c.ifname, net.ErrClosed)
	s.errClosedWrite = fmt.Errorf("afpacket: write %s: %w", c.ifname, net.ErrClosed)
	s.errShort = fmt.Errorf("afpacket: write %s: %w", c.ifname, backend.ErrFrameTooShort)
	s.wpool.New = func() any { return newSender() }

	if err := c.setInt(unix.SOL_PACKET, unix.PACKET_AUXDATA, 1, "PACKET_AUXDATA"); err != nil {
		return err
	}
	// Before the ring, which the kernel does not let it follow. Best effort:
	// without it a Conn cannot tell super-frames from frames and returns
	// them as the kernel gives them, as it did before.
	s.vnet = c.setInt(unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR") == nil
	// Best effort: kernels before 4.20 lack it, and the receivers drop
	// outgoing frames by their packet type anyway.
	s.ignoresOutgoing = c.setInt(unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING") == nil
	mode, err := receiveMode(cfg)
	if err != nil {
		return err
	}
	if cfg.ReadBufferSize == 0 && mode != ReceiveBlockRing {
		cfg.ReadBufferSize = DefaultReadBufferSize
	}
	if cfg.ReadBufferSize > 0 {
		if err := c.setBuffer(unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, cfg.ReadBufferSize); err != nil {
			return err
		}
	}
	if cfg.WriteBufferSize > 0 {
		if err := c.setBuffer(unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, cfg.WriteBufferSize); err != nil {
			return err
		}
	}
	// The receive path is chosen here, once: reads do not branch on it.
	if s.recv, err = c.receiver(cfg, mode, ifi); err != nil {
		return err
	}
	switch s.recv.(type) {
	case *adaptiveRing:
		c.receive = ReceiveAdaptive
	case *frameRing:
		c.receive = ReceiveFrameRing
	case *rxRing:
		c.receive = ReceiveBlockRing
	default:
		c.receive = ReceiveSocket
	}
	if cfg.Fanout != FanoutNone {
		if err := c.joinFanout(cfg); err != nil {
			return err
		}
	}
	if !cfg.NoPromiscuous {
		if err := s.pc.SetPromiscuous(true); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
		s.promisc = true
	}
	// Open the gates: the caller's filter replaces the drop-all program, or
	// the filter goes away. Either way the queue is empty at this point.
	if a := s.adapt; a != nil {
		if err := setBPF(a.side, a.sideRx.rc, cfg.Filter); err != nil {
			return err
		}
	}
	return setBPF(s.pc, s.rc, cfg.Filter)
}

// setBPF attaches filter to pc, whose RawConn is rc, or detaches the one
// it has when filter is empty.
func setBPF(pc *packet.Conn, rc syscall.RawConn, filter []bpf.RawInstruction) error {
	if len(filter) > 0 {
		if err := pc.SetBPF(filter); err != nil {
			return fmt.Errorf("attach BPF filter: %w", err)
		}
		return nil
	}
	if err := setInt(rc, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0, "SO_DETACH_FILTER"); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// receiveMode is the receive mode cfg asks for, ReceiveDefault resolved.
func receiveMode(cfg Config) (ReceiveMode, error) {
	switch m := cfg.Receive; {
	case m == ReceiveDefault && cfg.Ring != nil:
		return ReceiveBlockRing, nil
	case m == ReceiveDefault && cfg.Fanout != FanoutNone:
		return ReceiveFrameRing, nil
	case m == ReceiveDefault:
		return ReceiveAdaptive, nil
	case m < ReceiveDefault || m > ReceiveAdaptive:
		return 0, fmt.Errorf("invalid receive mode %d", int(m))
	case cfg.Ring != nil && m != ReceiveBlockRing && m != ReceiveAdaptive:
		return 0, fmt.Errorf("Config.Ring sizes a block ring, not a %s receive", m)
	case m == ReceiveAdaptive && cfg.Fanout != FanoutNone:
		return 0, fmt.Errorf("an adaptive receive is a fanout group of its own: it cannot join Config.Fanout's")
	default:
		return m, nil
	}
}

// receiver makes the receive path of mode. A frame ring that the kernel
// refuses falls back to the socket's queue when nothing about it was asked
// for (no Receive, no FrameRingSize), so that the default opens wherever
// the socket does.
func (c *Conn) receiver(cfg Config, mode ReceiveMode, ifi *net.Interface) (receiver, error) {
	s := &c.sys
	mtu := ifi.MTU
	switch mode {
	case ReceiveAdaptive:
		fr, err := c.setupFrameRing(cfg.FrameRingSize, mtu)
		if err != nil {
			if cfg.Receive != ReceiveDefault || cfg.FrameRingSize != 0 {
				return nil, err
			}
			break
		}
		a, err := c.setupAdaptive(ifi, fr, cfg)
		if err == nil {
			s.adapt = a
			return a, nil
		}
		if cfg.Receive != ReceiveDefault {
			fr.close()
			return nil, err
		}
		// The default: the frame ring alone, as on kernels before 6.10.
		return fr, nil
	case ReceiveBlockRing:
		rc := cfg.Ring
		if rc == nil {
			rc = &RingConfig{}
		}
		r, err := c.setupRing(&s.rx, rc, true)
		if err != nil {
			return nil, err
		}
		return r, nil
	case ReceiveFrameRing:
		r, err := c.setupFrameRing(cfg.FrameRingSize, mtu)
		if err == nil {
			return r, nil
		}
		if cfg.Receive != ReceiveDefault || cfg.FrameRingSize != 0 {
			return nil, err
		}
		// The ring may be half set up: a version without a ring is harmless
		// for a socket read with recvmsg.
	}
	return newSocketReceiver(&s.rx, s.vnet, &c.gso), nil
}

// setInt sets an integer option of the Conn's socket.
func (c *Conn) setInt(level, opt, value int, name string) error {
	return setInt(c.sys.rc, level, opt, value, name)
}

// setInt sets an integer option of rc's socket.
func setInt(rc syscall.RawConn, level, opt, value int, name string) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), level, opt, value)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("setsockopt %s: %w", name, err)
	}
	return nil
}

// setBuffer sets a socket buffer size, trying the privileged option first.
func (c *Conn) setBuffer(force, plain, size int) error {
	if c.setInt(unix.SOL_SOCKET, force, size, "") == nil {
		return nil
	}
	return c.setInt(unix.SOL_SOCKET, plain, size, "buffer size")
}

// joinFanout joins the socket to the fanout group cfg asks for.
func (c *Conn) joinFanout(cfg Config) error {
	mode := uint32(cfg.Fanout - 1) // FanoutHash is PACKET_FANOUT_HASH (0), and so on
	var flags uint32
	if cfg.FanoutDefrag {
		flags |= unix.PACKET_FANOUT_FLAG_DEFRAG
	}
	if cfg.FanoutRollover {
		flags |= unix.PACKET_FANOUT_FLAG_ROLLOVER
	}
	try := func(id uint16, flags uint32) error {
		return c.setInt(unix.SOL_PACKET, unix.PACKET_FANOUT, int(uint32(id)|(mode|flags)<<16), "PACKET_FANOUT")
	}
	join := func(flags uint32) error {
		if cfg.FanoutGroup != 0 || cfg.FanoutJoin {
			return try(cfg.FanoutGroup, flags)
		}
		// Let the kernel pick an unused id (Linux 4.3 and later); else
		// derive one from the process id and a counter.
		err := try(0, flags|unix.PACKET_FANOUT_FLAG_UNIQUEID)
		if err == nil || !errors.Is(err, unix.EINVAL) {
			return err
		}
		id := uint16(os.Getpid()) ^ uint16(fanoutSeq.Add(1)*0x9e37)
		if id == 0 {
			id = 1
		}
		return try(id, flags)
	}
	// The group itself ignores outgoing frames on Linux 6.10 and later; the
	// socket's own PACKET_IGNORE_OUTGOING does not apply once it is in a
	// group.
	err := join(flags | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING)
	c.sys.ignoresOutgoing = err == nil
	if errors.Is(err, unix.EINVAL) {
		err = join(flags)
	}
	if err != nil {
		return err
	}
	c.group, err = fanoutGroup(c.sys.rc)
	return err
}

// fanoutGroup is the id of the fanout group rc's socket is in.
func fanoutGroup(rc syscall.RawConn) (uint16, error) {
	var val int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		val, gerr = unix.GetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT)
	}); err != nil {
		return 0, err
	}
	if gerr != nil {
		return 0, fmt.Errorf("getsockopt PACKET_FANOUT: %w", gerr)
	}
	return uint16(val), nil
}

// setReadDeadline is SetReadDeadline on Linux.
func (c *Conn) setReadDeadline(t time.Time) error {
	if c.sys.closed.Load() {
		return c.sys.errClosedRead
	}
	if err := c.pollDeadline(t); err != nil {
		return c.opError("set deadline", err)
	}
	return nil
}

// pollDeadline sets the deadline of the waits in the network poller: on
// the Conn's socket and, for an adaptive receive, on its second one.
func (c *Conn) pollDeadline(t time.Time) error {
	if a := c.sys.adapt; a != nil {
		return a.setDeadline(t, c.sys.pc.SetReadDeadline)
	}
	return c.sys.pc.SetReadDeadline(t)
}

// setBPF is SetBPF on Linux.
func (c *Conn) setBPF(filter []bpf.RawInstruction) error {
	if c.sys.closed.Load() {
		return c.sys.errClosedWrite
	}
	if len(filter) > 0xffff {
		return fmt.Errorf("afpacket: set BPF %s: filter of %d instructions is too long", c.ifname, len(filter))
	}
	if a := c.sys.adapt; a != nil {
		if err := setBPF(a.side, a.sideRx.rc, filter); err != nil {
			return c.opError("set BPF", err)
		}
	}
	if err := setBPF(c.sys.pc, c.sys.rc, filter); err != nil {
		return c.opError("set BPF", err)
	}
	return nil
}

// opError wraps err for operation op, turning errors after Close into
// net.ErrClosed.
func (c *Conn) opError(op string, err error) error {
	if c.sys.closed.Load() {
		return fmt.Errorf("afpacket: %s %s: %w", op, c.ifname, net.ErrClosed)
	}
	return fmt.Errorf("afpacket: %s %s: %w", op, c.ifname, err)
}
