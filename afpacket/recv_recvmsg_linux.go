//go:build linux

package afpacket

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmsg is the socketReceiver's ReadFrame: one recvmsg(2) a frame, into
// a message header built once. With vnet headers its iovecs are the
// header, the caller's buffer and the spill area (gso_linux.go); without,
// the caller's buffer alone.
type recvmsg struct {
	sock  *rxSock
	q     *backlog
	vnet  bool
	msg   unix.Msghdr
	iov   [3]unix.Iovec
	vh    [vnetHdrLen]byte
	spill []byte // maxSuperFrame bytes, with vnet headers only
	name  unix.RawSockaddrLinklayer
	oob   [oobSize]byte
	n     int
	flags int32
	errno syscall.Errno
	fn    func(fd uintptr) bool // r.recvOne, made once
}

func newRecvmsg(x *rxSock, q *backlog, vnet bool) *recvmsg {
	r := &recvmsg{sock: x, q: q, vnet: vnet}
	r.msg.Name = (*byte)(unsafe.Pointer(&r.name))
	if vnet {
		r.spill = make([]byte, maxSuperFrame)
		r.iov[0].Base = &r.vh[0]
		r.iov[0].SetLen(vnetHdrLen)
		r.iov[2].Base = &r.spill[0]
		r.msg.Iov = &r.iov[0]
		r.msg.SetIovlen(3)
	} else {
		r.msg.Iov = &r.iov[1]
		r.msg.SetIovlen(1)
	}
	r.msg.Control = &r.oob[0]
	r.fn = r.recvOne
	return r
}

// call makes one recvmsg(2) into the message, trying again on EINTR, and
// returns its length and errno.
func (r *recvmsg) call(fd uintptr, flags int) (int, syscall.Errno) {
	for {
		r.msg.Namelen = unix.SizeofSockaddrLinklayer
		r.msg.SetControllen(len(r.oob))
		r.msg.Flags = 0
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), uintptr(flags))
		if e != unix.EINTR {
			return int(n), e
		}
	}
}

// recvOne is the RawConn.Read callback of readFrame: one recvmsg, skipping
// outgoing frames. It returns false to wait for the socket to be readable.
func (r *recvmsg) recvOne(fd uintptr) bool {
	for {
		n, e := r.call(fd, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return false
		default:
			if r.vnet && gsoUndescribed(e, r.q.stats) {
				continue
			}
			r.errno = e
			return true
		}
		if r.name.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		r.n, r.flags = n, r.msg.Flags
		return true
	}
}

// recvCopy is one recvmsg for a frame ring's queued frame: it skips
// nothing (the slot tells whether the frame is outgoing; kernels before
// 5.17 leave the copy's address uncleared, so its packet type is not to be
// trusted) and retries nothing but EINTR. It reports whether a frame was
// read; errors are in r.errno.
func (r *recvmsg) recvCopy(fd uintptr) bool {
	n, e := r.call(fd, unix.MSG_DONTWAIT)
	switch e {
	case 0:
		r.n, r.flags = n, r.msg.Flags
		return true
	case unix.EAGAIN:
	default:
		r.errno = e
	}
	return false
}

// readFrame reads one frame into b, its tag restored; a frame longer than
// b is cut, and reported so. A super-frame is split: its first segment is
// returned, the others wait in the backlog.
func (r *recvmsg) readFrame(b []byte) (int, bool, error) {
	for {
		r.arm(b)
		err := r.sock.read(r.fn)
		r.iov[1].Base = nil
		if err == nil && r.errno != 0 {
			err = os.NewSyscallError("recvmsg", r.errno)
		}
		if err != nil {
			return 0, false, err
		}
		ctl := min(int(r.msg.Controllen), len(r.oob))
		m := auxMeta(findAuxdata(r.oob[:ctl]))
		data, n, cut := r.result(b, &m)
		if data == nil {
			return n, cut, nil
		}
		if r.q.stats.startSplit(&r.q.sf, data, &m, cut) {
			n, cut, _ := r.q.pop(b)
			return n, cut, nil
		}
		// Dropped and counted: on to the next frame.
	}
}

// arm points the message at b, and past its end at the spill area, for
// the next recvOne.
func (r *recvmsg) arm(b []byte) {
	if len(b) > 0 {
		r.iov[1].Base = &b[0]
	} else {
		r.iov[1].Base = nil
	}
	r.iov[1].SetLen(len(b))
	r.iov[2].SetLen(spillLen(len(b)))
	r.errno = 0
}

// result completes the frame that recvOne read into b, which m (from
// PACKET_AUXDATA or the ring) describes, taking the vnet header into m. A
// frame is restored in b and its length returned, with whether it was cut.
// A super-frame is gathered instead and returned as data, for the caller
// to split; cut then says that the kernel cut it.
func (r *recvmsg) result(b []byte, m *rxMeta) (data []byte, n int, cut bool) {
	cut = r.flags&unix.MSG_TRUNC != 0
	l := r.n
	if r.vnet {
		m.vnet = parseVnetHdr(r.vh[:])
		l = max(l-vnetHdrLen, 0)
	}
	if !m.vnet.isGSO() {
		n, lost := m.restore(b, min(l, len(b)))
		return nil, n, lost || cut || l > len(b) || !m.whole
	}
	data, whole := gather(b, r.spill, l)
	return data, 0, cut || !whole
}
