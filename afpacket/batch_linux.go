//go:build linux

package afpacket

import (
	"os"
	"syscall"
	"unsafe"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/sys/unix"
)

// maxBatch bounds the messages of one recvmmsg/sendmmsg call (UIO_MAXIOV).
const maxBatch = 1024

// recvBatch is the reader's recvmmsg state, grown to the largest batch seen
// and reused.
type recvBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrLinklayer
	oob   []byte
	want  int
	got   int
	errno syscall.Errno
	fn    func(fd uintptr) bool
	// waited is set when a call found the socket empty and waited. The
	// next call then asks for one message: recvmmsg tries for a second one
	// as soon as it asks for two, and on a link where each frame wakes the
	// reader that futile try cost 0.7 µs a frame, measured on a veth pair.
	// A call that finds frames queued asks for the whole batch again.
	waited, waitedLast bool
}

// ensure makes room for n messages.
func (b *recvBatch) ensure(n int) {
	if len(b.hdrs) >= n {
		return
	}
	b.hdrs = make([]unix.Mmsghdr, n)
	b.iovs = make([]unix.Iovec, n)
	b.names = make([]unix.RawSockaddrLinklayer, n)
	b.oob = make([]byte, n*oobSize)
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Control = &b.oob[i*oobSize]
	}
}

// recvMany is the RawConn.Read callback of ReadFrames. It returns false to
// wait for the socket to be readable, and keeps reading while every message
// it got was an outgoing frame.
func (c *Conn) recvMany(fd uintptr) bool {
	b := &c.batch
	for {
		for i := 0; i < b.want; i++ {
			h := &b.hdrs[i].Hdr
			h.Namelen = unix.SizeofSockaddrLinklayer
			h.SetControllen(oobSize)
			h.Flags = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.want), 0, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			b.waited = true
			return false
		case unix.EINTR:
			continue
		default:
			b.errno = e
			return true
		}
		b.got = int(r)
		for i := 0; i < b.got; i++ {
			if b.names[i].Pkttype != unix.PACKET_OUTGOING {
				return true
			}
		}
	}
}

// ReadFrames blocks until at least one frame arrives, then fills bufs and
// lens with as many frames as are queued, up to min(len(bufs), len(lens),
// 1024), using one recvmmsg call. VLAN tags are restored as in ReadFrame. A
// frame longer than its buffer is cut; lens holds the cut length and no error
// is reported.
func (c *Conn) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if c.closed.Load() {
		return 0, c.errClosedRead
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	n := min(len(bufs), len(lens), maxBatch)
	if n == 0 {
		return 0, nil
	}
	if c.ring != nil {
		k, _, err := c.readRing(bufs[:n], lens[:n])
		return k, err
	}
	b := &c.batch
	if b.fn == nil {
		b.fn = c.recvMany
	}
	if b.waitedLast {
		n = 1
	}
	b.ensure(n)
	for i := 0; i < n; i++ {
		iov := &b.iovs[i]
		if len(bufs[i]) > 0 {
			iov.Base = &bufs[i][0]
		} else {
			iov.Base = nil
		}
		iov.SetLen(len(bufs[i]))
	}
	b.want, b.got, b.errno = n, 0, 0
	b.waited = false
	err := c.rc.Read(b.fn)
	b.waitedLast = b.waited
	for i := 0; i < n; i++ {
		b.iovs[i].Base = nil
	}
	if err == nil && b.errno != 0 {
		err = os.NewSyscallError("recvmmsg", b.errno)
	}
	if err != nil {
		return 0, c.readError(err)
	}
	k, bytes := 0, 0
	for i := 0; i < b.got; i++ {
		if b.names[i].Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		h := &b.hdrs[i]
		l := min(int(h.Len), len(bufs[i]))
		ctl := min(int(h.Hdr.Controllen), oobSize)
		l, _ = restore(bufs[i], l, b.oob[i*oobSize:i*oobSize+ctl])
		if k != i {
			l = copy(bufs[k], bufs[i][:l])
		}
		lens[k] = l
		bytes += l
		k++
	}
	c.framesIn.Add(uint64(k))
	c.bytesIn.Add(uint64(bytes))
	return k, nil
}

// ensure makes room for n messages in a sender's batch state.
func (s *sender) ensure(n int) {
	if len(s.hdrs) >= n {
		return
	}
	s.hdrs = make([]unix.Mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	for i := range s.hdrs {
		h := &s.hdrs[i].Hdr
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
}

// writeBatch is the RawConn.Write callback of WriteFrames. It returns false
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

// WriteFrames sends frames in order with sendmmsg, up to 1024 per system
// call, each exactly as given. It returns how many leading frames were sent;
// fewer than len(frames) comes with an error, for example
// backend.ErrFrameTooShort for a frame under 14 bytes (the frames before it
// are sent).
func (c *Conn) WriteFrames(frames [][]byte) (int, error) {
	if c.closed.Load() {
		return 0, c.errClosedWrite
	}
	valid := len(frames)
	for i, f := range frames {
		if len(f) < backend.MinFrameLen {
			valid = i
			break
		}
	}
	s := c.wpool.Get().(*sender)
	defer c.wpool.Put(s)
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
		var err error
		if !c.writeTx(s.bfn) {
			err = c.rc.Write(s.bfn)
		}
		sent, errno := s.sent, s.errno
		for i := 0; i < chunk; i++ {
			s.iovs[i].Base = nil
		}
		bytes := 0
		for _, f := range frames[done : done+sent] {
			bytes += len(f)
		}
		c.framesOut.Add(uint64(sent))
		c.bytesOut.Add(uint64(bytes))
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
		return done, c.errShort
	}
	return done, nil
}
