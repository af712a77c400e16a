//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/sys/unix"
)

// openTx opens the send-only socket (see conn.tx). Without one, writes use
// the main socket, so a failure here costs speed, not function.
func (c *Conn) openTx(cfg Config) {
	if !c.sys.ignoresOutgoing {
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
	c.sys.tx = fd
}

// closeTx closes the send-only socket, once no write is using it.
func (c *Conn) closeTx() {
	s := &c.sys
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if s.tx >= 0 {
		_ = unix.Close(s.tx)
		s.tx = -1
	}
}

// write runs the write callback plain on the send-only socket and, when
// that does not finish it (no such socket, or it would block), on the main
// socket, where the network poller waits for room. With PACKET_VNET_HDR the
// main socket takes a virtio_net_hdr in front of every frame, as the kernel
// puts one in front of every frame it receives (without it, the kernel
// would take the frame's first ten bytes for one): there the write runs
// withHdr, which sends each frame behind a zero header (no offload asked
// for). The send-only socket has no vnet headers, so the usual path sends
// frames as they are.
func (c *Conn) write(plain, withHdr func(fd uintptr) bool) error {
	if c.writeTx(plain) {
		return nil
	}
	if c.sys.vnet {
		return c.sys.rc.Write(withHdr)
	}
	return c.sys.rc.Write(plain)
}

// vnetZero is the virtio_net_hdr in front of frames sent on a socket that
// has vnet headers: no checksum to complete, no segmentation.
var vnetZero [vnetHdrLen]byte

// writeTx runs the write callback fn on the send-only socket and reports
// whether it finished.
func (c *Conn) writeTx(fn func(fd uintptr) bool) bool {
	s := &c.sys
	s.txMu.RLock()
	defer s.txMu.RUnlock()
	if s.tx < 0 {
		return false
	}
	if !fn(uintptr(s.tx)) {
		s.txBlocks.Add(1)
		return false
	}
	return true
}

// sender is one writer's system call state, pooled so that concurrent
// writers allocate nothing in steady state. Each frame has two iovecs, the
// zero vnet header and the frame: the calls on a socket with vnet headers
// send both, the others the frame alone.
type sender struct {
	frame []byte
	errno syscall.Errno
	iov   [2]unix.Iovec // vnetZero, frame: writev on a socket with vnet headers
	fn    func(fd uintptr) bool
	vfn   func(fd uintptr) bool

	// batch state
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec // two a message: vnetZero, frame
	withHdrs bool         // hdrs point at both iovecs of their message
	count    int          // frames to send
	sent     int
	bfn      func(fd uintptr) bool
	vbfn     func(fd uintptr) bool
}

func newSender() *sender {
	s := &sender{}
	s.iov[0].Base = &vnetZero[0]
	s.iov[0].SetLen(vnetHdrLen)
	s.fn, s.vfn = s.writeOne, s.writeOneHdr
	s.bfn, s.vbfn = s.writeBatch, s.writeBatchHdrs
	return s
}

// writeOne is the RawConn.Write callback of writeFrame.
func (s *sender) writeOne(fd uintptr) bool {
	return s.call(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.frame[0])), uintptr(len(s.frame)))
}

// writeOneHdr is writeOne on a socket with vnet headers: one writev(2).
func (s *sender) writeOneHdr(fd uintptr) bool {
	s.iov[1].Base = &s.frame[0]
	s.iov[1].SetLen(len(s.frame))
	done := s.call(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.iov[0])), 2)
	s.iov[1].Base = nil
	return done
}

// call makes the system call trap until it is not interrupted, and returns
// false to wait for room when it would block. The memory a1 points at is
// kept alive by s.
func (s *sender) call(trap, fd, a1, a2 uintptr) bool {
	for {
		_, _, e := unix.Syscall(trap, fd, a1, a2)
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

// ensure makes room for n messages in a sender's batch state.
func (s *sender) ensure(n int) {
	if len(s.hdrs) >= n {
		return
	}
	s.hdrs, s.iovs = mmsgHdrs(n, 2)
	for i := range s.hdrs {
		s.iovs[2*i].Base = &vnetZero[0]
		s.iovs[2*i].SetLen(vnetHdrLen)
	}
	s.withHdrs = true
}

// aim points the message headers at both iovecs of their message (the
// vnet header and the frame) or at the frame alone.
func (s *sender) aim(withHdrs bool) {
	if s.withHdrs == withHdrs {
		return
	}
	for i := range s.hdrs {
		h := &s.hdrs[i].Hdr
		if withHdrs {
			h.Iov = &s.iovs[2*i]
			h.SetIovlen(2)
		} else {
			h.Iov = &s.iovs[2*i+1]
			h.SetIovlen(1)
		}
	}
	s.withHdrs = withHdrs
}

// writeBatch is the RawConn.Write callback of writeFrames. It returns false
// to wait for room in the socket's send buffer, resuming where it stopped.
func (s *sender) writeBatch(fd uintptr) bool {
	s.aim(false)
	return s.sendmmsg(fd)
}

// writeBatchHdrs is writeBatch on a socket with vnet headers.
func (s *sender) writeBatchHdrs(fd uintptr) bool {
	s.aim(true)
	return s.sendmmsg(fd)
}

// sendmmsg sends the batch from s.sent on with sendmmsg(2) calls.
func (s *sender) sendmmsg(fd uintptr) bool {
	for s.sent < s.count {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.sent])), uintptr(s.count-s.sent), 0, 0, 0)
		switch e {
		case 0:
			if r == 0 {
				return false
			}
			s.sent += int(r)
		case unix.EAGAIN:
			return false
		case unix.EINTR:
		default:
			s.errno = e
			return true
		}
	}
	return true
}

// writeFrame is WriteFrame on Linux: one write(2).
func (c *Conn) writeFrame(frame []byte) error {
	if c.sys.closed.Load() {
		return c.sys.errClosedWrite
	}
	if len(frame) < backend.MinFrameLen {
		return c.sys.errShort
	}
	s := c.sys.wpool.Get().(*sender)
	s.frame = frame
	s.errno = 0
	err := c.write(s.fn, s.vfn)
	errno := s.errno
	s.frame = nil
	c.sys.wpool.Put(s)
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return c.writeError(err, len(frame))
	}
	c.counters.Out(len(frame))
	return nil
}

// writeFrames is WriteFrames on Linux: sendmmsg(2), maxBatch frames at the
// most a call.
func (c *Conn) writeFrames(frames [][]byte) (int, error) {
	if c.sys.closed.Load() {
		return 0, c.sys.errClosedWrite
	}
	valid := len(frames)
	for i, f := range frames {
		if len(f) < backend.MinFrameLen {
			valid = i
			break
		}
	}
	s := c.sys.wpool.Get().(*sender)
	defer c.sys.wpool.Put(s)
	done := 0
	for done < valid {
		chunk := min(valid-done, maxBatch)
		s.ensure(chunk)
		for i := 0; i < chunk; i++ {
			f := frames[done+i]
			s.iovs[2*i+1].Base = &f[0]
			s.iovs[2*i+1].SetLen(len(f))
		}
		s.count, s.sent, s.errno = chunk, 0, 0
		err := c.write(s.bfn, s.vbfn)
		sent, errno := s.sent, s.errno
		for i := 0; i < chunk; i++ {
			s.iovs[2*i+1].Base = nil
		}
		c.counters.OutBatch(frames[done : done+sent])
		done += sent
		if err == nil && errno != 0 {
			err = os.NewSyscallError("sendmmsg", errno)
		}
		if err != nil {
			size := 0
			if done < len(frames) {
				size = len(frames[done])
			}
			return done, c.writeError(err, size)
		}
	}
	if valid < len(frames) {
		return done, c.sys.errShort
	}
	return done, nil
}

// writeError wraps a write failure.
func (c *Conn) writeError(err error, size int) error {
	if c.sys.closed.Load() {
		return c.sys.errClosedWrite
	}
	if errors.Is(err, unix.EMSGSIZE) {
		return fmt.Errorf("afpacket: write %s: %d-byte frame: %w: %w", c.ifname, size, backend.ErrFrameTooLong, err)
	}
	if linkGone(err) {
		c.linkSuspect()
		if c.sys.link.removed.Load() {
			return fmt.Errorf("afpacket: write %s: interface removed: %w", c.ifname, err)
		}
		return fmt.Errorf("afpacket: write %s: interface down or removed: %w", c.ifname, err)
	}
	if errors.Is(err, unix.ENOBUFS) {
		return fmt.Errorf("afpacket: write %s: transmit queue full or no carrier: %w", c.ifname, err)
	}
	return fmt.Errorf("afpacket: write %s: %w", c.ifname, err)
}
