//go:build linux

package afpacket

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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
// A read holds mu, also while it waits in the poller. Close closes the
// socket first, which ends that wait, and unmaps the ring under mu, so a
// read racing Close never touches unmapped memory.
type frameRing struct {
	mu        sync.Mutex
	mem       []byte // nil once unmapped
	slot      int    // bytes of a slot
	perBlock  int    // slots of a block
	slots     int
	cur       int // the slot being read, or waited for
	vnet      bool
	stats     *gsoCounters
	big       *recvmsg // reads the frames a slot could not hold
	bufs      [][]byte // the batch the callback fills
	lens      []int
	got       int
	trunc     bool                  // a frame of the batch was cut
	sf        superFrame            // being split: the reader stays on its slot until done
	errno     syscall.Errno         // a pending socket error (see rxRing.fill), or recvmsg's
	spinOK    bool                  // a frame came since the last spin that found none
	pending   syscall.Errno         // an errno that came with frames: the next read's
	one       [1][]byte             // readFrame's batch of one
	oneLen    [1]int                //
	sock      *rxSock               //
	fn        func(fd uintptr) bool // r.fill, made once
	bigFrames atomic.Uint64         // frames taken from the socket's queue
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
	var mem []byte
	var serr error
	if err := c.sys.rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptTpacketReq(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &req); serr != nil {
			serr = fmt.Errorf("setsockopt PACKET_RX_RING: %w", serr)
			return
		}
		if mem, serr = unix.Mmap(int(fd), 0, frameBlockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); serr != nil {
			serr = fmt.Errorf("mmap ring of %d bytes: %w", frameBlockSize*blocks, serr)
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	prefault(mem)
	s := &c.sys
	r := &frameRing{mem: mem, slot: slot, perBlock: per, slots: per * blocks, vnet: s.vnet, stats: &c.gso, sock: &s.rx,
		big: newRecvmsg(&s.rx, &backlog{stats: &c.gso}, s.vnet)}
	r.fn = r.fill
	return r, nil
}

// prefault writes a zero into every page of a ring that the kernel does
// not write yet (the socket still drops every frame), so that no frame pays
// for the first write to its page. Measured on this project's VM (a
// Firecracker guest), a round trip through two fresh 16 MiB frame rings
// took 29 µs at the median against 18 µs once every slot had been used
// once, and 17 µs from the first frame when prefaulted. The price is paid
// at Open: 35 ms for 16 MiB there (about 8 µs a page), against 1.8 ms
// without. Reading the pages, or madvise(MADV_POPULATE_WRITE), was cheaper
// but left the round trip at 24–25 µs.
func prefault(mem []byte) {
	page := os.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = 0
	}
}

// close unmaps the ring's memory; the socket is closed by then.
func (r *frameRing) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// at returns slot i.
func (r *frameRing) at(i int) []byte {
	off := i/r.perBlock*frameBlockSize + i%r.perBlock*r.slot
	return r.mem[off : off+r.slot : off+r.slot]
}

// fill is the RawConn.Read callback of a ring read: it copies frames from
// the slots the kernel handed over into the batch until the batch is full
// or the next slot is the kernel's, and returns false to wait when it got
// none. Finding none, it takes the socket's pending error as rxRing.fill
// does, and for the same reason.
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
	if r.got > 0 {
		return true
	}
	if e, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
		r.errno = syscall.Errno(e)
		return true
	}
	return false
}

// take puts the frame of slot s (header h, status st) into the batch,
// unless it is one of the interface's outgoing frames, and reports whether
// the reader is to stay on the slot: segments of its super-frame are left,
// or a recvmsg of its whole frame failed (r.errno). A header that does not
// fit the slot drops the frame: the kernel wrote it, but a bad offset must
// not crash the reader.
func (r *frameRing) take(fd uintptr, s []byte, h *unix.Tpacket2Hdr, st uint32) bool {
	if r.sf.more() {
		return r.split(nil, nil, false)
	}
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&s[frameSllOff]))
	out := sll.Pkttype == unix.PACKET_OUTGOING
	aux := unix.TpacketAuxdata{Status: st, Len: h.Len, Snaplen: h.Snaplen, Vlan_tci: h.Vlan_tci, Vlan_tpid: h.Vlan_tpid}
	m := auxMeta(&aux)
	if st&unix.TP_STATUS_COPY != 0 {
		return r.takeQueued(fd, &m, out)
	}
	start, snap := int(h.Mac), int(h.Snaplen)
	if out || start < frameSllOff+unix.SizeofSockaddrLinklayer || start > len(s) || snap > len(s)-start {
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

// takeQueued reads the whole frame of a TP_STATUS_COPY slot, which m
// describes, from the socket's queue into the batch, or drops it if out (an
// outgoing frame). The slot's header tells the tag, checksum status and
// length: the kernel clears the queued copy's address, and with it the
// length PACKET_AUXDATA would report.
func (r *frameRing) takeQueued(fd uintptr, m *rxMeta, out bool) bool {
	b := r.bufs[r.got]
	r.big.arm(b)
	ok := r.big.recvOne(fd)
	r.big.iov[1].Base = nil
	if r.big.errno != 0 {
		r.errno = r.big.errno
		return true
	}
	if !ok || out {
		// Nothing queued: cannot happen, the kernel marks the slot only
		// with the copy queued. The frame is lost with its slot.
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

// split puts the next segment of the super-frame data, which m describes,
// into the batch (with data nil, of the one being split), and reports
// whether segments are left; one that cannot be split is dropped and
// counted.
func (r *frameRing) split(data []byte, m *rxMeta, cut bool) bool {
	if !r.sf.more() && !r.stats.startSplit(&r.sf, data, m, cut) {
		return false
	}
	n, c := r.stats.segment(&r.sf, r.bufs[r.got])
	r.trunc = r.trunc || c
	r.lens[r.got] = n
	r.got++
	return r.sf.more()
}

// read fills bufs and lens from the ring, waiting in the network poller
// until at least one frame is there. It reports whether a frame was cut.
func (r *frameRing) read(bufs [][]byte, lens []int) (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return 0, false, net.ErrClosed
	}
	if e := r.pending; e != 0 {
		r.pending = 0
		return 0, false, os.NewSyscallError("recvmsg", e)
	}
	r.bufs, r.lens = bufs, lens
	r.got, r.trunc = 0, false
	r.errno = 0
	err := r.sock.read(r.fn)
	r.bufs, r.lens = nil, nil
	if err == nil && r.errno != 0 {
		if r.got > 0 {
			// The kernel hands an error out once: keep it for the next
			// read rather than lose the frames or the error.
			r.pending = r.errno
		} else {
			err = os.NewSyscallError("recvmsg", r.errno)
		}
	}
	if err != nil {
		return 0, false, err
	}
	return r.got, r.trunc, nil
}

// readFrame reads one frame through a batch of one.
func (r *frameRing) readFrame(b []byte) (int, bool, error) {
	r.one[0] = b
	_, trunc, err := r.read(r.one[:], r.oneLen[:])
	r.one[0] = nil
	if err != nil {
		return 0, false, err
	}
	return r.oneLen[0], trunc, nil
}

// readFrames reads a batch; a cut frame is not an error here.
func (r *frameRing) readFrames(bufs [][]byte, lens []int) (int, error) {
	n, _, err := r.read(bufs, lens)
	return n, err
}
