//go:build linux

package afpacket

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmmsg is the socketReceiver's ReadFrames: one recvmmsg(2) a batch. Its
// message headers are grown to the largest batch seen and reused. With vnet
// headers each message has three iovecs, its header, the caller's buffer
// and its spill area (gso_linux.go), and a call asks for gsoBatch messages
// at most; without, one.
type recvmmsg struct {
	sock   *rxSock
	q      *backlog
	vnet   bool
	per    int // iovecs a message
	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrLinklayer
	oob    []byte
	vhs    []byte // vnetHdrLen bytes a message
	spills []byte // maxSuperFrame bytes a message
	want   int
	got    int
	errno  syscall.Errno
	fn     func(fd uintptr) bool // b.recvMany, made once
	// waited is set when a call found the socket empty and waited. The
	// next call then asks for one message: recvmmsg tries for a second one
	// as soon as it asks for two, and on a link where each frame wakes the
	// reader that futile try cost 0.7 µs a frame, measured on a veth pair.
	// A call that finds frames queued asks for the whole batch again.
	waited, waitedLast bool
}

func newRecvmmsg(x *rxSock, q *backlog, vnet bool) *recvmmsg {
	b := &recvmmsg{sock: x, q: q, vnet: vnet, per: 1}
	if vnet {
		b.per = 3
	}
	b.fn = b.recvMany
	return b
}

// ensure makes room for n messages.
func (b *recvmmsg) ensure(n int) {
	if len(b.hdrs) >= n {
		return
	}
	b.hdrs, b.iovs = mmsgHdrs(n, b.per)
	b.names = make([]unix.RawSockaddrLinklayer, n)
	b.oob = make([]byte, n*oobSize)
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Control = &b.oob[i*oobSize]
	}
	if !b.vnet {
		return
	}
	b.vhs = make([]byte, n*vnetHdrLen)
	b.spills = make([]byte, n*maxSuperFrame)
	for i := 0; i < n; i++ {
		iov := b.iovs[i*3:]
		iov[0].Base = &b.vhs[i*vnetHdrLen]
		iov[0].SetLen(vnetHdrLen)
		iov[2].Base = &b.spills[i*maxSuperFrame]
	}
}

// buf is the iovec of message i that points at the caller's buffer.
func (b *recvmmsg) buf(i int) *unix.Iovec { return &b.iovs[i*b.per+b.per/2] }

// recvMany is the RawConn.Read callback of readFrames. It returns false to
// wait for the socket to be readable, and keeps reading while every message
// it got was an outgoing frame.
func (b *recvmmsg) recvMany(fd uintptr) bool {
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
			if b.vnet && gsoUndescribed(e, b.q.stats) {
				continue
			}
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

// readFrames reads as many frames as are queued, up to len(bufs), with
// recvmmsg calls, and moves them to the front of bufs past the outgoing
// frames that came with them. It calls again while a call brought only
// super-frames it dropped.
func (b *recvmmsg) readFrames(bufs [][]byte, lens []int) (int, error) {
	for {
		k, err := b.readBatch(bufs, lens)
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// readBatch is one recvmmsg call of readFrames.
func (b *recvmmsg) readBatch(bufs [][]byte, lens []int) (int, error) {
	n := len(bufs)
	if b.waitedLast {
		n = 1
	}
	if b.vnet {
		n = min(n, gsoBatch)
	}
	b.ensure(n)
	for i := 0; i < n; i++ {
		iov := b.buf(i)
		if len(bufs[i]) > 0 {
			iov.Base = &bufs[i][0]
		} else {
			iov.Base = nil
		}
		iov.SetLen(len(bufs[i]))
		if b.vnet {
			b.iovs[i*3+2].SetLen(spillLen(len(bufs[i])))
		}
	}
	b.want, b.got, b.errno = n, 0, 0
	b.waited = false
	err := b.sock.read(b.fn)
	b.waitedLast = b.waited
	for i := 0; i < n; i++ {
		b.buf(i).Base = nil
	}
	if err == nil && b.errno != 0 {
		err = os.NewSyscallError("recvmmsg", b.errno)
	}
	if err != nil {
		return 0, err
	}
	k := 0
	for i := 0; i < b.got; i++ {
		if b.names[i].Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		m, l, _ := b.message(i) // a cut frame is reported by its length only
		if m.vnet.isGSO() {
			// Its segments would overwrite the frames after it: hold
			// them all, then return what bufs can take.
			b.hold(i, bufs)
			return k + b.q.fill(bufs[k:], lens[k:]), nil
		}
		l, _ = m.restore(bufs[i], min(l, len(bufs[i])))
		if k != i {
			l = copy(bufs[k], bufs[i][:l])
		}
		lens[k] = l
		k++
	}
	return k, nil
}

// message returns what the kernel said about message i of the last call,
// its length and whether the kernel cut it.
func (b *recvmmsg) message(i int) (rxMeta, int, bool) {
	h := &b.hdrs[i]
	ctl := min(int(h.Hdr.Controllen), oobSize)
	m := auxMeta(findAuxdata(b.oob[i*oobSize : i*oobSize+ctl]))
	l := int(h.Len)
	if b.vnet {
		m.vnet = parseVnetHdr(b.vhs[i*vnetHdrLen:])
		l = max(l-vnetHdrLen, 0)
	}
	return m, l, h.Hdr.Flags&unix.MSG_TRUNC != 0
}

// hold moves messages from, the first super-frame of the last call, and
// those after it into the backlog, each gathered in its spill area.
func (b *recvmmsg) hold(from int, bufs [][]byte) {
	for i := from; i < b.got; i++ {
		if b.names[i].Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		m, l, cut := b.message(i)
		data, whole := gather(bufs[i], b.spills[i*maxSuperFrame:(i+1)*maxSuperFrame], l)
		b.q.push(data, &m, cut || !whole)
	}
}
