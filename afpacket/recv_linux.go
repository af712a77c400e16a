//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/sys/unix"
)

// maxBatch bounds the messages of one recvmmsg/sendmmsg call (UIO_MAXIOV).
const maxBatch = 1024

// mmsgHdrs makes the n message headers of a recvmmsg or sendmmsg call, each
// pointing at its own per iovecs.
func mmsgHdrs(n, per int) ([]unix.Mmsghdr, []unix.Iovec) {
	hdrs, iovs := make([]unix.Mmsghdr, n), make([]unix.Iovec, n*per)
	for i := range hdrs {
		hdrs[i].Hdr.Iov = &iovs[i*per]
		hdrs[i].Hdr.SetIovlen(per)
	}
	return hdrs, iovs
}

// receiver is how a Conn takes frames in. Open picks one, once, by
// Config.Receive: a frameRing, which takes frames from the slots of a
// TPACKET_V2 ring, a socketReceiver, which reads the socket's own queue
// (recvmsg for ReadFrame, recvmmsg for ReadFrames), an rxRing, which
// takes frames from the blocks of a TPACKET_V3 ring, or an adaptiveRing,
// which reads a frameRing or an rxRing of a second socket as the rate
// says. There is one reader at a time (the Conn's contract), so a
// receiver keeps its system call state from one call to the next and a
// read allocates nothing.
//
// Both read methods wait in the Go runtime's network poller, skip the
// interface's outgoing frames, restore the outer VLAN tag and return their
// errors as they are: the Conn counts what was read and wraps the errors
// (readError).
type receiver interface {
	// readFrame reads one frame into b and reports whether it was cut,
	// by b or by the kernel.
	readFrame(b []byte) (n int, trunc bool, err error)
	// readFrames fills bufs and lens, of the same length (1 to maxBatch),
	// with at least one frame and as many as are there; a cut frame is
	// reported by its cut length only.
	readFrames(bufs [][]byte, lens []int) (int, error)
	// close frees what the receiver holds besides the socket. Close
	// calls it once the socket is closed, so that no read is running.
	close()
}

// rxSock runs the receivers' system call callbacks on the socket: in the
// network poller, which waits until the socket is readable, or, once the
// interface is gone (drain), once and without waiting, so that reads take
// what the socket still holds and then end.
type rxSock struct {
	rc    syscall.RawConn
	drain bool // set by the reader only

	// once's Control callback, made once: a closure made a call escapes
	// (two allocations a look at a ring that the adaptive receive makes).
	ctl  func(fd uintptr)
	fn   func(fd uintptr) bool
	done bool
}

// errDrained reports a drain that found nothing left.
var errDrained = errors.New("nothing left to read")

// read runs fn as syscall.RawConn.Read does, or once in drain mode.
func (x *rxSock) read(fn func(fd uintptr) bool) error {
	if !x.drain {
		return x.rc.Read(fn)
	}
	return x.once(fn)
}

// once runs fn once without waiting; errDrained reports that it found
// nothing.
func (x *rxSock) once(fn func(fd uintptr) bool) error {
	if x.ctl == nil {
		x.ctl = func(fd uintptr) { x.done = x.fn(fd) }
	}
	x.fn, x.done = fn, false
	err := x.rc.Control(x.ctl)
	x.fn = nil
	if err != nil {
		return err
	}
	if !x.done {
		return errDrained
	}
	return nil
}

// socketReceiver reads the socket's queue, one frame at a time with recvmsg
// and in batches with recvmmsg. Both take the frames of the backlog they
// share first: segments of a super-frame and frames read after it that did
// not fit the caller's buffers yet (see gso_linux.go).
type socketReceiver struct {
	q   *backlog
	one *recvmsg
	mm  *recvmmsg
}

func newSocketReceiver(x *rxSock, vnet bool, g *gsoCounters) socketReceiver {
	q := &backlog{stats: g}
	return socketReceiver{q, newRecvmsg(x, q, vnet), newRecvmmsg(x, q, vnet)}
}

func (s socketReceiver) readFrame(b []byte) (int, bool, error) {
	if n, cut, ok := s.q.pop(b); ok {
		return n, cut, nil
	}
	return s.one.readFrame(b)
}

func (s socketReceiver) readFrames(bufs [][]byte, lens []int) (int, error) {
	if k := s.q.fill(bufs, lens); k > 0 {
		return k, nil
	}
	return s.mm.readFrames(bufs, lens)
}

// close has nothing to free: the socket is all there is.
func (socketReceiver) close() {}

// readFrame is ReadFrame on Linux.
func (c *Conn) readFrame(b []byte) (int, error) {
	s := &c.sys
	if s.closed.Load() {
		return 0, s.errClosedRead
	}
	for {
		if s.readErr != nil {
			return 0, s.readErr
		}
		c.drainIfRemoved()
		n, trunc, err := s.recv.readFrame(b)
		if err != nil {
			if c.readAgain(err) {
				continue
			}
			return 0, c.readError(err)
		}
		c.counters.In(n)
		if trunc {
			return n, backend.ErrTruncated
		}
		return n, nil
	}
}

// readFrames is ReadFrames on Linux.
func (c *Conn) readFrames(bufs [][]byte, lens []int) (int, error) {
	s := &c.sys
	if s.closed.Load() {
		return 0, s.errClosedRead
	}
	n := min(len(bufs), len(lens), maxBatch)
	for {
		if s.readErr != nil {
			return 0, s.readErr
		}
		if n == 0 {
			return 0, nil
		}
		c.drainIfRemoved()
		k, err := s.recv.readFrames(bufs[:n], lens[:n])
		if err != nil {
			if c.readAgain(err) {
				continue
			}
			return 0, c.readError(err)
		}
		c.counters.InBatch(lens[:k])
		return k, nil
	}
}

// drainIfRemoved puts the receivers in drain mode once the interface is
// known to be gone, so that no read blocks from then on.
func (c *Conn) drainIfRemoved() {
	if s := &c.sys; !s.rx.drain && s.link.removed.Load() {
		s.rx.drain = true
	}
}

// readAgain reports whether a read that failed with err is to be tried
// again: the link went down (the read waits for it to come back: see
// link_linux.go), or it is gone and the socket may still hold frames (the
// read takes them, then ends).
func (c *Conn) readAgain(err error) bool {
	s := &c.sys
	if s.closed.Load() || s.rx.drain {
		return false
	}
	down := errors.Is(err, unix.ENETDOWN)
	if down {
		s.link.retries.Add(1)
		c.linkWentDown()
	}
	if s.link.removed.Load() {
		s.rx.drain = true
		return true
	}
	return down
}

// readError turns a read failure into the error ReadFrame returns: closed
// after Close, the interface's removal once drained, temporary for a
// deadline, else final (sticky).
func (c *Conn) readError(err error) error {
	s := &c.sys
	if s.closed.Load() {
		return s.errClosedRead
	}
	if s.link.removed.Load() {
		s.readErr = s.link.removedErr
		s.link.acked.Store(true)
		return s.readErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("afpacket: read %s: %w", c.ifname, err)
	}
	if linkGone(err) {
		err = fmt.Errorf("afpacket: read %s: interface went down or was removed: %w", c.ifname, err)
	} else {
		err = fmt.Errorf("afpacket: read %s: %w", c.ifname, err)
	}
	s.readErr = err
	return err
}

// linkGone reports whether err says that the interface went down, was
// removed or moved to another namespace.
func linkGone(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}
