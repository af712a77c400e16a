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

// write runs the write callback fn on the send-only socket and, when that
// does not finish it (no such socket, or it would block), on the main
// socket, where the network poller waits for room.
func (c *Conn) write(fn func(fd uintptr) bool) error {
	if c.writeTx(fn) {
		return nil
	}
	return c.sys.rc.Write(fn)
}

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

// writeOne is the RawConn.Write callback of writeFrame.
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

// ensure makes room for n messages in a sender's batch state.
func (s *sender) ensure(n int) {
	if len(s.hdrs) >= n {
		return
	}
	s.hdrs, s.iovs = mmsgHdrs(n)
}

// writeBatch is the RawConn.Write callback of writeFrames. It returns false
// to wait for room in the socket's send buffer, resuming where it stopped.
func (s *sender) writeBatch(fd uintptr) bool {
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
	err := c.write(s.fn)
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
			s.iovs[i].Base = &f[0]
			s.iovs[i].SetLen(len(f))
		}
		s.count, s.sent, s.errno = chunk, 0, 0
		err := c.write(s.bfn)
		sent, errno := s.sent, s.errno
		for i := 0; i < chunk; i++ {
			s.iovs[i].Base = nil
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
