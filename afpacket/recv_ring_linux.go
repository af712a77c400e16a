//go:build linux

package afpacket

import (
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring defaults and layout constants (linux/if_packet.h).
const (
	ringBlockSize = 256 << 10
	ringBlocks    = 64
	// ringFrameSize only satisfies the kernel's checks of tp_frame_size
	// and tp_frame_nr: TPACKET_V3 packs frames of any size into a block.
	ringFrameSize = 2048
	// ringBlockStatus is the offset of hdr.bh1.block_status in struct
	// tpacket_block_desc (two __u32 before it).
	ringBlockStatus = 8
	// ringSllOff is where the kernel puts a frame's struct sockaddr_ll:
	// right after its header, aligned to TPACKET_ALIGNMENT.
	ringSllOff = (unix.SizeofTpacket3Hdr + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
)

// rxRing is the reader's side of a TPACKET_V3 receive ring. The kernel owns
// a block until it sets TP_STATUS_USER in the block's status, the reader
// until it writes TP_STATUS_KERNEL back; the reader takes blocks in order.
//
// A read holds mu, also while it waits in the poller. Close closes the
// socket first, which ends that wait, and unmaps the ring under mu, so a
// read racing Close never touches unmapped memory.
type rxRing struct {
	mu        sync.Mutex
	mem       []byte // nil once unmapped
	blockSize int
	blocks    int

	cur  int // the block being read, or waited for
	off  int // offset in cur of the next frame's header
	left int // frames of cur not read yet; 0: cur not started

	// The batch the callback fills.
	bufs  [][]byte
	lens  []int
	got   int
	trunc bool // a frame of the batch was cut

	// vnet: frames have a virtio_net_hdr right before their MAC header.
	// sf is the super-frame being split: the reader stays on its frame,
	// in the block it holds, until its last segment is out.
	vnet  bool
	sf    superFrame
	stats *gsoCounters

	// errno is the socket's pending error (sk_err), which fill takes with
	// SO_ERROR: unlike recvmsg, a ring never returns it by itself.
	errno syscall.Errno

	one    [1][]byte // readFrame's batch of one
	oneLen [1]int
	sock   *rxSock
	fn     func(fd uintptr) bool // r.fill, made once
}

// setupRing switches the socket to TPACKET_V3 and maps a receive ring as rc
// asks. The socket still drops every frame (the setup filter). PACKET_VNET_HDR
// is set before, if at all: the kernel refuses it once a ring is set up.
func (c *Conn) setupRing(rc *RingConfig) (*rxRing, error) {
	bs, nb := rc.BlockSize, rc.Blocks
	if bs == 0 {
		bs = ringBlockSize
	}
	if nb == 0 {
		nb = ringBlocks
	}
	page := os.Getpagesize()
	if bs < page || bs&(bs-1) != 0 || bs > math.MaxInt32 {
		return nil, fmt.Errorf("ring: block size %d is not a power of two of at least the page size (%d)", rc.BlockSize, page)
	}
	// The kernel counts blocks in 16 bits: with more, it wraps to block 0
	// while the reader waits for block 65536.
	if nb < 1 || nb > math.MaxUint16 || nb > math.MaxUint32/bs {
		return nil, fmt.Errorf("ring: %d blocks of %d bytes: need 1 to 65535 blocks and under 4 GiB in all", rc.Blocks, bs)
	}
	if rc.Timeout < 0 {
		return nil, fmt.Errorf("ring: negative timeout %v", rc.Timeout)
	}
	tov := (rc.Timeout + time.Millisecond - 1) / time.Millisecond
	if tov < 1 {
		tov = 1
	}
	// Older kernels keep the timeout in 16 bits of milliseconds.
	if tov > math.MaxUint16 {
		tov = math.MaxUint16
	}
	if err := c.setInt(unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3, "PACKET_VERSION"); err != nil {
		return nil, err
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(bs),
		Block_nr:       uint32(nb),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(bs / ringFrameSize * nb),
		Retire_blk_tov: uint32(tov),
	}
	var mem []byte
	var serr error
	if err := c.sys.rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptTpacketReq3(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &req); serr != nil {
			serr = fmt.Errorf("setsockopt PACKET_RX_RING: %w", serr)
			return
		}
		if mem, serr = unix.Mmap(int(fd), 0, bs*nb, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); serr != nil {
			serr = fmt.Errorf("mmap ring of %d bytes: %w", bs*nb, serr)
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	prefault(mem)
	r := &rxRing{mem: mem, blockSize: bs, blocks: nb, sock: &c.sys.rx, vnet: c.sys.vnet, stats: &c.gso}
	r.fn = r.fill
	return r, nil
}

// close unmaps the ring's memory; the socket is closed by then.
func (r *rxRing) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// status is the block status word of block i.
func (r *rxRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.blockSize+ringBlockStatus]))
}

// release gives the current block back to the kernel and moves on.
func (r *rxRing) release() {
	r.sf.reset()
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	r.left = 0
	if r.cur++; r.cur == r.blocks {
		r.cur = 0
	}
}

// fill is the RawConn.Read callback of a ring read: it copies frames from
// the blocks the kernel handed over into the batch until the batch is full
// or no block is ready, and returns false to wait when it got none.
//
// Finding no block ready, it first takes the socket's pending error
// (SO_ERROR), if any, into r.errno: that is how a ring learns that the link
// went down. The kernel wakes the socket then (POLLERR), but the wake-up
// cannot stand for the error: Go's poller drops a readiness that came
// between two reads when the next one starts (it expects the call to find
// out for itself), and a ring read finds blocks in memory, not by a call
// that would return the error. So the check runs before every wait and
// after every wake-up that brings no block: one getsockopt per wait, which
// the ring has at most once a block.
func (r *rxRing) fill(fd uintptr) bool {
	for r.got < len(r.bufs) {
		if r.left == 0 {
			if atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER == 0 {
				break
			}
			bd := (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[r.cur*r.blockSize+ringBlockStatus]))
			r.left, r.off = int(bd.Num_pkts), int(bd.Offset_to_first_pkt)
			if r.left == 0 {
				r.release()
				continue
			}
		}
		r.next()
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

// next reads the frame at r.off of the current block into the batch, unless
// it is one of the interface's outgoing frames, and steps to the next one.
// A header that does not fit the block ends the block: the kernel wrote it,
// but a bad offset must not crash the reader.
func (r *rxRing) next() {
	blk := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
	if r.off < 0 || r.off > len(blk)-ringSllOff-unix.SizeofSockaddrLinklayer {
		r.release()
		return
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&blk[r.off]))
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&blk[r.off+ringSllOff]))
	start, snap := r.off+int(h.Mac), int(h.Snaplen)
	if start < r.off || start > len(blk) || snap > len(blk)-start {
		r.release()
		return
	}
	if sll.Pkttype != unix.PACKET_OUTGOING {
		aux := unix.TpacketAuxdata{Status: h.Status, Len: h.Len, Snaplen: h.Snaplen,
			Vlan_tci: uint16(h.Hv1.Vlan_tci), Vlan_tpid: h.Hv1.Vlan_tpid}
		m := auxMeta(&aux)
		if r.vnet && start-vnetHdrLen >= r.off {
			m.vnet = parseVnetHdr(blk[start-vnetHdrLen : start])
		}
		if m.vnet.isGSO() {
			if r.segment(blk[start:start+snap], &m) {
				return // more segments: stay on this frame
			}
		} else {
			b := r.bufs[r.got]
			n := copy(b, blk[start:start+snap])
			n, lost := m.restore(b, n)
			if lost || snap > len(b) || h.Len > h.Snaplen {
				r.trunc = true
			}
			r.lens[r.got] = n
			r.got++
		}
	}
	if r.left--; r.left == 0 || h.Next_offset == 0 {
		r.release()
		return
	}
	r.off += int(h.Next_offset)
}

// segment puts the next segment of the super-frame data, which m
// describes, into the batch, and reports whether segments are left; one
// that cannot be split is dropped and counted.
func (r *rxRing) segment(data []byte, m *rxMeta) bool {
	if !r.sf.more() && !r.stats.startSplit(&r.sf, data, m, false) {
		return false
	}
	n, cut := r.stats.segment(&r.sf, r.bufs[r.got])
	r.trunc = r.trunc || cut
	r.lens[r.got] = n
	r.got++
	return r.sf.more()
}

// read fills bufs and lens from the ring, waiting in the network poller
// until at least one frame is there. It reports whether a frame was cut.
func (r *rxRing) read(bufs [][]byte, lens []int) (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return 0, false, net.ErrClosed
	}
	r.bufs, r.lens = bufs, lens
	r.got, r.trunc = 0, false
	r.errno = 0
	// The callback returns true only with frames in the batch or with an
	// error, so an error comes with none.
	err := r.sock.read(r.fn)
	r.bufs, r.lens = nil, nil
	if err == nil && r.errno != 0 {
		err = os.NewSyscallError("getsockopt SO_ERROR", r.errno)
	}
	if err != nil {
		return 0, false, err
	}
	return r.got, r.trunc, nil
}

// readFrame reads one frame through a batch of one.
func (r *rxRing) readFrame(b []byte) (int, bool, error) {
	r.one[0] = b
	_, trunc, err := r.read(r.one[:], r.oneLen[:])
	r.one[0] = nil
	if err != nil {
		return 0, false, err
	}
	return r.oneLen[0], trunc, nil
}

// readFrames reads a batch; a cut frame is not an error here.
func (r *rxRing) readFrames(bufs [][]byte, lens []int) (int, error) {
	n, _, err := r.read(bufs, lens)
	return n, err
}
