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
// pointing at its own one-element iovec.
func mmsgHdrs(n int) ([]unix.Mmsghdr, []unix.Iovec) {
	hdrs, iovs := make([]unix.Mmsghdr, n), make([]unix.Iovec, n)
	for i := range hdrs {
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	return hdrs, iovs
}

// receiver is how a Conn takes frames in. Open picks one, once, by
// Config.Ring: a socketReceiver, which reads the socket's own queue (recvmsg
// for ReadFrame, recvmmsg for ReadFrames), or an rxRing, which takes frames
// from the blocks of a TPACKET_V3 ring. There is one reader at a time (the
// Conn's contract), so a receiver keeps its system call state from one call
// to the next and a read allocates nothing.
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

// socketReceiver reads the socket's queue, one frame at a time with recvmsg
// and in batches with recvmmsg.
type socketReceiver struct {
	*recvmsg  // readFrame
	*recvmmsg // readFrames
}

func newSocketReceiver(rc syscall.RawConn) socketReceiver {
	return socketReceiver{newRecvmsg(rc), newRecvmmsg(rc)}
}

// close has nothing to free: the socket is all there is.
func (socketReceiver) close() {}

// readFrame is ReadFrame on Linux.
func (c *Conn) readFrame(b []byte) (int, error) {
	s := &c.sys
	if s.closed.Load() {
		return 0, s.errClosedRead
	}
	if s.readErr != nil {
		return 0, s.readErr
	}
	n, trunc, err := s.recv.readFrame(b)
	if err != nil {
		return 0, c.readError(err)
	}
	c.counters.In(n)
	if trunc {
		return n, backend.ErrTruncated
	}
	return n, nil
}

// readFrames is ReadFrames on Linux.
func (c *Conn) readFrames(bufs [][]byte, lens []int) (int, error) {
	s := &c.sys
	if s.closed.Load() {
		return 0, s.errClosedRead
	}
	if s.readErr != nil {
		return 0, s.readErr
	}
	n := min(len(bufs), len(lens), maxBatch)
	if n == 0 {
		return 0, nil
	}
	k, err := s.recv.readFrames(bufs[:n], lens[:n])
	if err != nil {
		return 0, c.readError(err)
	}
	c.counters.InBatch(lens[:k])
	return k, nil
}

// readError turns a read failure into the error ReadFrame returns: closed
// after Close, temporary for a deadline, else final (sticky).
func (c *Conn) readError(err error) error {
	s := &c.sys
	if s.closed.Load() {
		return s.errClosedRead
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
