//go:build linux

package afpacket

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmsg is the socketReceiver's ReadFrame: one recvmsg(2) a frame, into
// a message header built once.
type recvmsg struct {
	sock  *rxSock
	msg   unix.Msghdr
	iov   unix.Iovec
	name  unix.RawSockaddrLinklayer
	oob   [oobSize]byte
	n     int
	flags int32
	errno syscall.Errno
	fn    func(fd uintptr) bool // r.recvOne, made once
}

func newRecvmsg(x *rxSock) *recvmsg {
	r := &recvmsg{sock: x}
	r.msg.Name = (*byte)(unsafe.Pointer(&r.name))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = &r.oob[0]
	r.fn = r.recvOne
	return r
}

// recvOne is the RawConn.Read callback of readFrame: one recvmsg, skipping
// outgoing frames. It returns false to wait for the socket to be readable.
func (r *recvmsg) recvOne(fd uintptr) bool {
	for {
		r.msg.Namelen = unix.SizeofSockaddrLinklayer
		r.msg.SetControllen(len(r.oob))
		r.msg.Flags = 0
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		default:
			r.errno = e
			return true
		}
		if r.name.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		r.n = int(n)
		r.flags = r.msg.Flags
		return true
	}
}

// readFrame reads one frame into b, its tag restored; a frame longer than
// b is cut, and reported so.
func (r *recvmsg) readFrame(b []byte) (int, bool, error) {
	if len(b) > 0 {
		r.iov.Base = &b[0]
	} else {
		r.iov.Base = nil
	}
	r.iov.SetLen(len(b))
	r.errno = 0
	err := r.sock.read(r.fn)
	r.iov.Base = nil
	if err == nil && r.errno != 0 {
		err = os.NewSyscallError("recvmsg", r.errno)
	}
	if err != nil {
		return 0, false, err
	}
	ctl := min(int(r.msg.Controllen), len(r.oob))
	n, lost := restore(b, r.n, r.oob[:ctl])
	return n, lost || r.flags&unix.MSG_TRUNC != 0, nil
}
