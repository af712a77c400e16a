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
	"unsafe"

	"github.com/etherconn/etherconn/backend"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ethPAll is ETH_P_ALL: every protocol.
const ethPAll = 0x0003

// oobSize is the control buffer of one received message: room for the
// PACKET_AUXDATA message and some slack.
const oobSize = 64

// sizeofAuxdata is the size of struct tpacket_auxdata.
const sizeofAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// dropAll is a classic BPF program that rejects every frame. The socket is
// opened with it so that nothing is queued before the socket is fully set up.
var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

// Conn is an AF_PACKET socket on one interface. It implements
// backend.PacketIO, backend.BatchReader, backend.BatchWriter and
// backend.StatsReporter. It is safe for one reader (ReadFrame or ReadFrames,
// not both at once) and any number of concurrent writers.
type Conn struct {
	ifname  string
	ifindex int
	hwaddr  net.HardwareAddr
	pc      *packet.Conn
	rc      syscall.RawConn
	promisc bool
	group   uint16

	closed    atomic.Bool
	closeOnce sync.Once

	errClosedRead  error
	errClosedWrite error
	errShort       error

	// Reader state. The single-reader contract lets it live here, built
	// once, so that a read allocates nothing.
	rmsg    unix.Msghdr
	riov    unix.Iovec
	rname   unix.RawSockaddrLinklayer
	roob    []byte
	rn      int
	rflags  int32
	rerrno  syscall.Errno
	readFn  func(fd uintptr) bool
	readErr error // sticky read error: reads after it fail at once
	batch   recvBatch
	ring    *rxRing // nil: recvmsg/recvmmsg

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

	// ignoresOutgoing is set when the kernel keeps outgoing frames from
	// the socket (or its fanout group). A socket never gets the frames it
	// sent itself, but without this it would get a copy of each frame tx
	// sent, only to drop it: then tx is not opened.
	ignoresOutgoing bool

	framesIn  atomic.Uint64
	bytesIn   atomic.Uint64
	framesOut atomic.Uint64
	bytesOut  atomic.Uint64

	statsMu sync.Mutex
	dropped uint64
}

// fanoutSeq makes fallback fanout group ids unique within the process.
var fanoutSeq atomic.Uint32

// Open opens an AF_PACKET socket on the interface ifname, in the network
// namespace of the calling thread, and configures it as cfg says. The
// interface must exist and be up.
func Open(ifname string, cfg Config) (*Conn, error) {
	if cfg.Fanout < FanoutNone || cfg.Fanout > FanoutQM {
		return nil, fmt.Errorf("afpacket: open %s: invalid fanout mode %d", ifname, int(cfg.Fanout))
	}
	if len(cfg.Filter) > 0xffff {
		return nil, fmt.Errorf("afpacket: open %s: BPF filter of %d instructions is too long", ifname, len(cfg.Filter))
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket: open %s: lookup interface: %w", ifname, err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("afpacket: open %s: interface is down: %w", ifname, unix.ENETDOWN)
	}
	// Start with a filter that drops everything so that no frame reaches
	// the queue before the options below (auxdata above all) are set.
	pc, err := packet.Listen(ifi, packet.Raw, ethPAll, &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, openError(ifname, err)
	}
	c := &Conn{
		ifname:  ifname,
		ifindex: ifi.Index,
		hwaddr:  ifi.HardwareAddr,
		pc:      pc,
		roob:    make([]byte, oobSize),
		tx:      -1,
	}
	if err := c.setup(cfg); err != nil {
		_ = pc.Close()
		if c.ring != nil {
			c.ring.unmap()
		}
		return nil, openError(ifname, err)
	}
	c.openTx(cfg)
	return c, nil
}

// OpenGroup opens n sockets on ifname that share its incoming frames through
// one PACKET_FANOUT group. cfg.Fanout defaults to FanoutHash; the group is
// new unless cfg names one (FanoutGroup, FanoutJoin).
func OpenGroup(ifname string, cfg Config, n int) ([]*Conn, error) {
	if n < 1 {
		return nil, fmt.Errorf("afpacket: open %s: group of %d sockets", ifname, n)
	}
	if cfg.Fanout == FanoutNone {
		cfg.Fanout = FanoutHash
	}
	conns := make([]*Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := Open(ifname, cfg)
		if err != nil {
			for _, o := range conns {
				_ = o.Close()
			}
			return nil, err
		}
		cfg.FanoutGroup, cfg.FanoutJoin = c.FanoutGroup(), true
		conns = append(conns, c)
	}
	return conns, nil
}

// openError wraps err with the operation and the interface, and explains a
// permission error.
func openError(ifname string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("afpacket: open %s: %w (packet sockets need CAP_NET_RAW: run as root or grant it with setcap cap_net_raw,cap_net_admin+ep)", ifname, err)
	}
	return fmt.Errorf("afpacket: open %s: %w", ifname, err)
}

// setup configures a freshly bound socket that still drops every frame.
func (c *Conn) setup(cfg Config) error {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return err
	}
	c.rc = rc
	c.readFn = c.recvOne
	c.errClosedRead = fmt.Errorf("afpacket: read %s: %w", c.ifname, net.ErrClosed)
	c.errClosedWrite = fmt.Errorf("afpacket: write %s: %w", c.ifname, net.ErrClosed)
	c.errShort = fmt.Errorf("afpacket: write %s: %w", c.ifname, backend.ErrFrameTooShort)
	c.rmsg.Name = (*byte)(unsafe.Pointer(&c.rname))
	c.rmsg.Iov = &c.riov
	c.rmsg.SetIovlen(1)
	c.rmsg.Control = &c.roob[0]
	c.wpool.New = func() any { return newSender() }

	if err := c.setInt(unix.SOL_PACKET, unix.PACKET_AUXDATA, 1, "PACKET_AUXDATA"); err != nil {
		return err
	}
	// Best effort: kernels before 4.20 lack it, and recv drops outgoing
	// frames by their packet type anyway.
	c.ignoresOutgoing = c.setInt(unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING") == nil
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
	if cfg.Ring != nil {
		if err := c.setupRing(cfg.Ring); err != nil {
			return err
		}
	}
	if cfg.Fanout != FanoutNone {
		if err := c.joinFanout(cfg); err != nil {
			return err
		}
	}
	if !cfg.NoPromiscuous {
		if err := c.pc.SetPromiscuous(true); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
		c.promisc = true
	}
	// Open the gate: the caller's filter replaces the drop-all program, or
	// the filter goes away. Either way the queue is empty at this point.
	if len(cfg.Filter) > 0 {
		if err := c.pc.SetBPF(cfg.Filter); err != nil {
			return fmt.Errorf("attach BPF filter: %w", err)
		}
		return nil
	}
	return c.setInt(unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0, "SO_DETACH_FILTER")
}

// openTx opens the send-only socket. Without one, writes use the main
// socket, so a failure here costs speed, not function.
func (c *Conn) openTx(cfg Config) {
	if !c.ignoresOutgoing {
		return
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	// Protocol 0: the socket is bound to the interface but takes in no
	// frames at all.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: c.ifindex}); err != nil {
		_ = unix.Close(fd)
		return
	}
	if cfg.WriteBufferSize > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.WriteBufferSize) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.WriteBufferSize)
		}
	}
	c.tx = fd
}

// writeTx runs the write callback fn on the send-only socket and reports
// whether it finished. When it did not (no such socket, or it would block),
// the caller finishes with fn on the main socket.
func (c *Conn) writeTx(fn func(fd uintptr) bool) bool {
	c.txMu.RLock()
	defer c.txMu.RUnlock()
	if c.tx < 0 {
		return false
	}
	if !fn(uintptr(c.tx)) {
		c.txBlocks.Add(1)
		return false
	}
	return true
}

// setInt sets an integer socket option.
func (c *Conn) setInt(level, opt, value int, name string) error {
	var serr error
	err := c.rc.Control(func(fd uintptr) {
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
	c.ignoresOutgoing = err == nil
	if errors.Is(err, unix.EINVAL) {
		err = join(flags)
	}
	if err != nil {
		return err
	}
	var val int
	var gerr error
	if err := c.rc.Control(func(fd uintptr) {
		val, gerr = unix.GetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT)
	}); err != nil {
		return err
	}
	if gerr != nil {
		return fmt.Errorf("getsockopt PACKET_FANOUT: %w", gerr)
	}
	c.group = uint16(val)
	return nil
}

// Name returns the name of the interface the Conn is bound to.
func (c *Conn) Name() string { return c.ifname }

// Index returns the index of the interface the Conn is bound to.
func (c *Conn) Index() int { return c.ifindex }

// HardwareAddr returns the MAC address the interface had when the Conn was
// opened.
func (c *Conn) HardwareAddr() net.HardwareAddr { return c.hwaddr }

// FanoutGroup returns the PACKET_FANOUT group id the Conn joined (0 is a
// valid id; see Config.FanoutJoin), or 0 without fanout.
func (c *Conn) FanoutGroup() uint16 { return c.group }

// SetReadDeadline sets a deadline for ReadFrame and ReadFrames; a read that
// times out returns an error satisfying errors.Is(err,
// os.ErrDeadlineExceeded) and the Conn stays usable. A zero t means no
// deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.errClosedRead
	}
	if err := c.pc.SetReadDeadline(t); err != nil {
		return c.opError("set deadline", err)
	}
	return nil
}

// SetBPF replaces the socket's classic BPF filter. Unlike Config.Filter it
// does not drain frames queued before the change. See the package
// documentation for how the filter sees VLAN tags.
func (c *Conn) SetBPF(filter []bpf.RawInstruction) error {
	if c.closed.Load() {
		return c.errClosedWrite
	}
	if len(filter) == 0 {
		if err := c.setInt(unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0, "SO_DETACH_FILTER"); err != nil && !errors.Is(err, unix.ENOENT) {
			return c.opError("set BPF", err)
		}
		return nil
	}
	if len(filter) > 0xffff {
		return fmt.Errorf("afpacket: set BPF %s: filter of %d instructions is too long", c.ifname, len(filter))
	}
	if err := c.pc.SetBPF(filter); err != nil {
		return c.opError("set BPF", err)
	}
	return nil
}

// opError wraps err for operation op, turning errors after Close into
// net.ErrClosed.
func (c *Conn) opError(op string, err error) error {
	if c.closed.Load() {
		return fmt.Errorf("afpacket: %s %s: %w", op, c.ifname, net.ErrClosed)
	}
	return fmt.Errorf("afpacket: %s %s: %w", op, c.ifname, err)
}

// recvOne is the RawConn.Read callback of ReadFrame: one recvmsg, skipping
// outgoing frames. It returns false to wait for the socket to be readable.
func (c *Conn) recvOne(fd uintptr) bool {
	for {
		c.rmsg.Namelen = unix.SizeofSockaddrLinklayer
		c.rmsg.SetControllen(len(c.roob))
		c.rmsg.Flags = 0
		r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.rmsg)), 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		default:
			c.rerrno = e
			return true
		}
		if c.rname.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		c.rn = int(r)
		c.rflags = c.rmsg.Flags
		return true
	}
}

// ReadFrame blocks until a frame arrives and copies it into b, with the VLAN
// tag the kernel took off put back. A frame longer than b is cut to len(b)
// and returned with backend.ErrTruncated. It never returns frames sent out of
// the interface.
func (c *Conn) ReadFrame(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.errClosedRead
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.ring != nil {
		return c.readFrameRing(b)
	}
	if len(b) > 0 {
		c.riov.Base = &b[0]
	} else {
		c.riov.Base = nil
	}
	c.riov.SetLen(len(b))
	c.rerrno = 0
	err := c.rc.Read(c.readFn)
	c.riov.Base = nil
	if err == nil && c.rerrno != 0 {
		err = os.NewSyscallError("recvmsg", c.rerrno)
	}
	if err != nil {
		return 0, c.readError(err)
	}
	n := c.rn
	trunc := c.rflags&unix.MSG_TRUNC != 0
	ctl := int(c.rmsg.Controllen)
	if ctl > len(c.roob) {
		ctl = len(c.roob)
	}
	var lost bool
	n, lost = restore(b, n, c.roob[:ctl])
	trunc = trunc || lost
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(n))
	if trunc {
		return n, backend.ErrTruncated
	}
	return n, nil
}

// readError turns a read failure into the error ReadFrame returns: closed
// after Close, temporary for a deadline, else final (sticky).
func (c *Conn) readError(err error) error {
	if c.closed.Load() {
		return c.errClosedRead
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("afpacket: read %s: %w", c.ifname, err)
	}
	if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		err = fmt.Errorf("afpacket: read %s: interface went down or was removed: %w", c.ifname, err)
	} else {
		err = fmt.Errorf("afpacket: read %s: %w", c.ifname, err)
	}
	c.readErr = err
	return err
}

// findAuxdata returns the PACKET_AUXDATA control message in oob, or nil.
// The returned pointer points into oob.
func findAuxdata(oob []byte) *unix.TpacketAuxdata {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return nil
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= unix.CmsgLen(sizeofAuxdata) {
			return (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		}
		next := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if next <= 0 || next >= len(oob) {
			return nil
		}
		oob = oob[next:]
	}
	return nil
}

// auxVLAN returns the VLAN tag the kernel removed from the frame, if any.
func auxVLAN(aux *unix.TpacketAuxdata) (tpid, tci uint16, ok bool) {
	// Old kernels flag a tag only by a non-zero TCI.
	if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 && aux.Vlan_tci == 0 {
		return 0, 0, false
	}
	tpid = tpid8021Q
	if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && aux.Vlan_tpid != 0 {
		tpid = aux.Vlan_tpid
	}
	return tpid, aux.Vlan_tci, true
}

// parseAuxdata finds the PACKET_AUXDATA control message in oob and returns
// the VLAN tag the kernel removed from the frame, if any.
func parseAuxdata(oob []byte) (tpid, tci uint16, ok bool) {
	aux := findAuxdata(oob)
	if aux == nil {
		return 0, 0, false
	}
	return auxVLAN(aux)
}

// restore turns the n bytes the kernel gave into b back into the frame as it
// was on the wire, as the frame's PACKET_AUXDATA (in oob) says: the outer
// VLAN tag is put back, and a checksum the sender left to the hardware
// (TP_STATUS_CSUMNOTREADY) is completed. It returns the new length and
// whether bytes were lost because b was too short for the restored tag.
func restore(b []byte, n int, oob []byte) (int, bool) {
	aux := findAuxdata(oob)
	if aux == nil {
		return n, false
	}
	return restoreAux(b, n, aux)
}

// restoreAux is restore with the frame's side information at hand: from a
// control message, or from the frame's header in a ring.
func restoreAux(b []byte, n int, aux *unix.TpacketAuxdata) (int, bool) {
	lost := false
	if tpid, tci, ok := auxVLAN(aux); ok {
		n, lost = insertTag(b, n, tpid, tci)
	}
	if aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0 && !lost && int(aux.Snaplen) == int(aux.Len) {
		completeChecksum(b[:n])
	}
	return n, lost
}

// sender is one writer's system call state, pooled so that concurrent
// writers allocate nothing in steady state.
type sender struct {
	frame []byte
	errno syscall.Errno
	fn    func(fd uintptr) bool

	// batch state
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	count int // frames to send
	sent  int
	bfn   func(fd uintptr) bool
}

func newSender() *sender {
	s := &sender{}
	s.fn = s.writeOne
	s.bfn = s.writeBatch
	return s
}

// writeOne is the RawConn.Write callback of WriteFrame.
func (s *sender) writeOne(fd uintptr) bool {
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.frame[0])), uintptr(len(s.frame)))
		switch e {
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		}
		s.errno = e
		return true
	}
}

// WriteFrame sends frame out of the interface exactly as given: no padding,
// tags as they are in the frame. It does not keep frame. A frame shorter than
// 14 bytes fails with backend.ErrFrameTooShort, one longer than the interface
// allows with backend.ErrFrameTooLong. The kernel allows the MTU plus 14
// bytes, and 4 more when the outer TPID is 0x8100.
func (c *Conn) WriteFrame(frame []byte) error {
	if c.closed.Load() {
		return c.errClosedWrite
	}
	if len(frame) < backend.MinFrameLen {
		return c.errShort
	}
	s := c.wpool.Get().(*sender)
	s.frame = frame
	s.errno = 0
	var err error
	if !c.writeTx(s.fn) {
		err = c.rc.Write(s.fn)
	}
	errno := s.errno
	s.frame = nil
	c.wpool.Put(s)
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return c.writeError(err, len(frame))
	}
	c.framesOut.Add(1)
	c.bytesOut.Add(uint64(len(frame)))
	return nil
}

// writeError wraps a write failure.
func (c *Conn) writeError(err error, size int) error {
	if c.closed.Load() {
		return c.errClosedWrite
	}
	if errors.Is(err, unix.EMSGSIZE) {
		return fmt.Errorf("afpacket: write %s: %d-byte frame: %w: %w", c.ifname, size, backend.ErrFrameTooLong, err)
	}
	if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("afpacket: write %s: interface down or removed: %w", c.ifname, err)
	}
	if errors.Is(err, unix.ENOBUFS) {
		return fmt.Errorf("afpacket: write %s: transmit queue full or no carrier: %w", c.ifname, err)
	}
	return fmt.Errorf("afpacket: write %s: %w", c.ifname, err)
}

// Stats returns the Conn's frame and byte counters and the frames the kernel
// dropped because the socket's receive queue was full. It makes one
// getsockopt(PACKET_STATISTICS) call, which resets the kernel's counter; the
// Conn adds it up, so Dropped only grows.
func (c *Conn) Stats() backend.Stats {
	c.statsMu.Lock()
	c.pollDrops()
	dropped := c.dropped
	c.statsMu.Unlock()
	return backend.Stats{
		FramesIn:  c.framesIn.Load(),
		BytesIn:   c.bytesIn.Load(),
		FramesOut: c.framesOut.Load(),
		BytesOut:  c.bytesOut.Load(),
		Dropped:   dropped,
	}
}

// pollDrops adds the kernel's drop counter, which reading resets, to
// c.dropped. The caller holds statsMu.
func (c *Conn) pollDrops() {
	if c.closed.Load() {
		return
	}
	var st *unix.TpacketStats
	_ = c.rc.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st != nil {
		c.dropped += uint64(st.Drops)
	}
}

// Close closes the socket, which drops its promiscuous membership, and
// unblocks a blocked read. It is idempotent: calls after the first return
// nil. Every
// other call after Close fails with an error satisfying errors.Is(err,
// net.ErrClosed).
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.statsMu.Lock()
		c.pollDrops()
		c.closed.Store(true)
		c.statsMu.Unlock()
		if c.promisc {
			_ = c.pc.SetPromiscuous(false)
		}
		// Closing the socket waits for a read callback that is running,
		// so nothing reads the ring once it is unmapped.
		if cerr := c.pc.Close(); cerr != nil {
			err = fmt.Errorf("afpacket: close %s: %w", c.ifname, cerr)
		}
		c.txMu.Lock()
		if c.tx >= 0 {
			_ = unix.Close(c.tx)
			c.tx = -1
		}
		c.txMu.Unlock()
		if c.ring != nil {
			c.ring.unmap()
		}
	})
	return err
}
