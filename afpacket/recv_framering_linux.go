//go:build linux

package afpacket

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame ring layout (TPACKET_V2, linux/if_packet.h).
const (
	// frameBlockSize is the size of the ring's blocks: slots do not
	// straddle blocks, and the kernel allocates each block in one piece.
	frameBlockSize = 256 << 10
	// frameSllOff is where the kernel puts a slot's struct sockaddr_ll:
	// right after its header, aligned to TPACKET_ALIGNMENT.
	frameSllOff = (unix.SizeofTpacket2Hdr + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
	// frameHeadroom is what a slot holds before a frame's data: the header
	// and address (52 bytes), a MAC header counted as at least 16 bytes,
	// aligned, and the vnet header (tpacket_rcv's macoff), rounded up.
	frameHeadroom = 96
	// frameTags is room for VLAN tags that stay in the data: the kernel
	// takes off the outer one only.
	frameTags = 3 * 4
	// maxFrameSlot bounds a slot: longer frames, as on loopback's 64 KiB
	// MTU, come through the socket's queue rather than make every slot of
	// the ring that long.
	maxFrameSlot = 16 << 10
)

// frameRing is the reader's side of a TPACKET_V2 receive ring: slots of one
// size, each with its own status word. The kernel owns a slot until it sets
// TP_STATUS_USER, the reader until it writes TP_STATUS_KERNEL back; the
// reader takes slots in order, and gives each back as soon as it has copied
// it out. The kernel wakes the socket once a frame, so a frame waits for no
// timeout, unlike a block of a TPACKET_V3 ring (rxRing).
//
// A frame too long for its slot is copied there cut, and, with
// PACKET_COPY_THRESH set, also queued whole on the socket, its slot marked
// TP_STATUS_COPY: the reader then takes it from the queue with recvmsg
// (big), and it keeps its place in the order. The kernel queues nothing
// else on a socket with a ring.
//
// Its reads are mmapRing's.
type frameRing struct {
	mmapRing
	slot      int // bytes of a slot
	perBlock  int // slots of a block
	slots     int
	cur       int           // the slot being read, or waited for
	big       *recvmsg      // reads the frames a slot could not hold
	bigFrames atomic.Uint64 // frames taken from the socket's queue
}

// frameSlot is the slot size for an interface of the given MTU: a whole
// frame with its tags, after the kernel's headroom.
func frameSlot(mtu int) int {
	s := frameHeadroom + 14 + frameTags + max(mtu, 1500)
	s = (s + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
	return min(s, maxFrameSlot)
}

// setupFrameRing switches the socket to TPACKET_V2 and maps a receive ring
// of size bytes with slots for the interface's MTU. The socket still drops
// every frame (the setup filter). PACKET_VNET_HDR is set before, if at all:
// the kernel refuses it once a ring is set up.
func (c *Conn) setupFrameRing(size, mtu int) (*frameRing, error) {
	if size < 0 {
		return nil, fmt.Errorf("frame ring: negative size %d", size)
	}
	if size == 0 {
		size = DefaultFrameRingSize
	}
	blocks := max(size/frameBlockSize, 1)
	if blocks > 1<<16 {
		return nil, fmt.Errorf("frame ring: %d bytes is over 16 GiB", size)
	}
	slot := frameSlot(mtu)
	per := frameBlockSize / slot
	if err := c.setInt(unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2, "PACKET_VERSION"); err != nil {
		return nil, err
	}
	// Any value turns it on: the kernel then queues a frame its slot cannot
	// hold, as long as the receive buffer has room.
	if err := c.setInt(unix.SOL_PACKET, unix.PACKET_COPY_THRESH, 1, "PACKET_COPY_THRESH"); err != nil {
		return nil, err
	}
	req := unix.TpacketReq{
		Block_size: frameBlockSize,
		Block_nr:   uint32(blocks),
		Frame_size: uint32(slot),
		Frame_nr:   uint32(per * blocks),
	}
	mem, err := mapRing(&c.sys.rx, frameBlockSize*blocks, true, func(fd int, zero bool) error {
		if zero {
			return unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq{})
		}
		return unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
	})
	if err != nil {
		return nil, err
	}
	r := &frameRing{mmapRing: c.newMmapRing(mem, &c.sys.rx), slot: slot, perBlock: per, slots: per * blocks,
		big: newRecvmsg(&c.sys.rx, &backlog{stats: &c.gso}, c.sys.vnet)}
	r.fn = r.fill
	return r, nil
}

// at returns slot i.
func (r *frameRing) at(i int) []byte {
	off := i/r.perBlock*frameBlockSize + i%r.perBlock*r.slot
	return r.mem[off : off+r.slot : off+r.slot]
}

// fill is the RawConn.Read callback of a ring read: it copies frames from
// the slots the kernel handed over into the batch until the batch is full
// or the next slot is the kernel's, and returns false to wait when it got
// none (see mmapRing.socketError for what it checks first).
func (r *frameRing) fill(fd uintptr) bool {
	for r.got < len(r.bufs) {
		s := r.at(r.cur)
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&s[0]))
		st := atomic.LoadUint32(&h.Status)
		if st&unix.TP_STATUS_USER == 0 {
			break
		}
		if r.take(fd, s, h, st) {
			if r.errno != 0 {
				return true // the frame stays for the next read
			}
			continue // more segments: stay on this slot
		}
		r.sf.reset()
		atomic.StoreUint32(&h.Status, unix.TP_STATUS_KERNEL)
		if r.cur++; r.cur == r.slots {
			r.cur = 0
		}
	}
	return r.got > 0 || r.socketError(fd)
}

// take puts the frame of slot s (header h, status st) into the batch,
// unless it is one of the interface's outgoing frames, and reports whether
// the reader is to stay on the slot: segments of its super-frame are left,
// or a recvmsg of its whole frame failed (r.errno). A header that does not
// fit the slot drops the frame, counted in Stats().Dropped: the kernel
// wrote it, but a bad offset must not crash the reader.
func (r *frameRing) take(fd uintptr, s []byte, h *unix.Tpacket2Hdr, st uint32) bool {
	if r.sf.more() {
		return r.split(nil, nil, false)
	}
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&s[frameSllOff]))
	out := sll.Pkttype == unix.PACKET_OUTGOING
	aux := unix.TpacketAuxdata{Status: st, Len: h.Len, Snaplen: h.Snaplen, Vlan_tci: h.Vlan_tci, Vlan_tpid: h.Vlan_tpid}
	m := auxMeta(&aux)
	if st&unix.TP_STATUS_COPY != 0 {
		return r.takeQueued(fd, h, &m, out)
	}
	if out {
		return false
	}
	start, snap := int(h.Mac), int(h.Snaplen)
	if start < frameSllOff+unix.SizeofSockaddrLinklayer || start > len(s) || uint(snap) > uint(len(s)-start) {
		r.lost.Drop(1)
		return false
	}
	if r.vnet && start-vnetHdrLen >= frameSllOff+unix.SizeofSockaddrLinklayer {
		m.vnet = parseVnetHdr(s[start-vnetHdrLen : start])
	}
	data := s[start : start+snap]
	if m.vnet.isGSO() {
		return r.split(data, &m, false)
	}
	b := r.bufs[r.got]
	n, lost := m.restore(b, copy(b, data))
	r.trunc = r.trunc || lost || snap > len(b) || !m.whole
	r.lens[r.got] = n
	r.got++
	return false
}

// takeQueued reads the whole frame of a TP_STATUS_COPY slot, which m and
// h describe, from the socket's queue into the batch, or drops it if out
// (an outgoing frame). The slot's header tells the tag, checksum status and
// length: the kernel clears the queued copy's address, and with it the
// length PACKET_AUXDATA would report. A queued frame whose length is not
// the slot's, or none at all, cannot be this slot's frame: it is dropped
// and counted (Stats().Dropped), which keeps the queue and the ring in
// step from the next slot on.
func (r *frameRing) takeQueued(fd uintptr, h *unix.Tpacket2Hdr, m *rxMeta, out bool) bool {
	b := r.bufs[r.got]
	r.big.arm(b)
	ok := r.big.recvCopy(fd)
	r.big.iov[1].Base = nil
	if r.big.errno != 0 {
		r.errno, r.errOp = r.big.errno, "recvmsg"
		return true
	}
	l := r.big.n
	if r.vnet {
		l -= vnetHdrLen
	}
	if !ok || (l != int(h.Len) && r.big.flags&unix.MSG_TRUNC == 0) {
		r.lost.Drop(1)
		return false
	}
	if out {
		return false
	}
	r.bigFrames.Add(1)
	m.whole = true
	data, n, cut := r.big.result(b, m)
	if data != nil {
		return r.split(data, m, cut)
	}
	r.trunc = r.trunc || cut
	r.lens[r.got] = n
	r.got++
	return false
}
