//go:build linux

package afpacket

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
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
// Its reads are mmapRing's.
type rxRing struct {
	mmapRing
	blockSize int
	blocks    int

	cur  int // the block being read, or waited for
	off  int // offset in cur of the next frame's header
	left int // frames of cur not read yet; 0: cur not started
}

// ringReq is the PACKET_RX_RING request for the ring rc asks for.
func ringReq(rc *RingConfig) (unix.TpacketReq3, error) {
	bs, nb := rc.BlockSize, rc.Blocks
	if bs == 0 {
		bs = ringBlockSize
	}
	if nb == 0 {
		nb = ringBlocks
	}
	page := os.Getpagesize()
	if bs < page || bs&(bs-1) != 0 || bs > math.MaxInt32 {
		return unix.TpacketReq3{}, fmt.Errorf("ring: block size %d is not a power of two of at least the page size (%d)", rc.BlockSize, page)
	}
	// The kernel counts blocks in 16 bits: with more, it wraps to block 0
	// while the reader waits for block 65536.
	if nb < 1 || nb > math.MaxUint16 || nb > math.MaxUint32/bs {
		return unix.TpacketReq3{}, fmt.Errorf("ring: %d blocks of %d bytes: need 1 to 65535 blocks and under 4 GiB in all", rc.Blocks, bs)
	}
	if rc.Timeout < 0 {
		return unix.TpacketReq3{}, fmt.Errorf("ring: negative timeout %v", rc.Timeout)
	}
	tov := (rc.Timeout + time.Millisecond - 1) / time.Millisecond
	if tov < 1 {
		tov = 1
	}
	// Older kernels keep the timeout in 16 bits of milliseconds.
	if tov > math.MaxUint16 {
		tov = math.MaxUint16
	}
	return unix.TpacketReq3{
		Block_size:     uint32(bs),
		Block_nr:       uint32(nb),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(bs / ringFrameSize * nb),
		Retire_blk_tov: uint32(tov),
	}, nil
}

// setupRing switches x's socket (the Conn's, or the adaptive receive's
// second one) to TPACKET_V3 and maps a receive ring as rc asks. The socket
// still drops every frame (the setup filter), or gets none (the adaptive
// receive's group points to its frame ring). PACKET_VNET_HDR is set
// before, if at all: the kernel refuses it once a ring is set up.
func (c *Conn) setupRing(x *rxSock, rc *RingConfig, prefault bool) (*rxRing, error) {
	req, err := ringReq(rc)
	if err != nil {
		return nil, err
	}
	if err := setInt(x.rc, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3, "PACKET_VERSION"); err != nil {
		return nil, err
	}
	bs, nb := int(req.Block_size), int(req.Block_nr)
	mem, err := mapRing(x, bs*nb, prefault, func(fd int, zero bool) error {
		if zero {
			return unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq3{})
		}
		return unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
	})
	if err != nil {
		return nil, err
	}
	r := &rxRing{mmapRing: c.newMmapRing(mem, x), blockSize: bs, blocks: nb}
	r.fn = r.fill
	return r, nil
}

// unmapRing unmaps r and takes its ring down, so that the kernel frees its
// memory and stops its block timer, which otherwise fires every
// RingConfig.Timeout for as long as the ring exists. x is r's socket.
func unmapRing(r *rxRing, x *rxSock) error {
	r.close()
	return x.rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptTpacketReq3(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &unix.TpacketReq3{})
	})
}

// status is the block status word of block i.
func (r *rxRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.blockSize+ringBlockStatus]))
}

// release gives the current block back to the kernel and moves on. It
// clears the block's frame count first: the kernel sets it again when it
// starts filling the block, and until then filling must not take the old
// count for frames on their way.
func (r *rxRing) release() {
	r.sf.reset()
	bd := (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[r.cur*r.blockSize+ringBlockStatus]))
	atomic.StoreUint32(&bd.Num_pkts, 0)
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	r.left = 0
	if r.cur++; r.cur == r.blocks {
		r.cur = 0
	}
}

// fill is the RawConn.Read callback of a ring read: it copies frames from
// the blocks the kernel handed over into the batch until the batch is full
// or no block is ready, and returns false to wait when it got none (see
// mmapRing.socketError for what it checks first).
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
	return r.got > 0 || r.socketError(fd)
}

// next reads the frame at r.off of the current block into the batch, unless
// it is one of the interface's outgoing frames, and steps to the next one.
// A header that does not fit the block ends the block, its frames not read
// yet counted in Stats().Dropped: the kernel wrote it, but a bad offset
// must not crash the reader.
func (r *rxRing) next() {
	blk := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
	if r.off < 0 || r.off > len(blk)-ringSllOff-unix.SizeofSockaddrLinklayer {
		r.lost.Drop(uint64(max(r.left, 0)))
		r.release()
		return
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&blk[r.off]))
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&blk[r.off+ringSllOff]))
	start, snap := r.off+int(h.Mac), int(h.Snaplen)
	if start < r.off || start > len(blk) || uint(snap) > uint(len(blk)-start) {
		r.lost.Drop(uint64(max(r.left, 0)))
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
			if r.split(blk[start:start+snap], &m, false) {
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

// filling reports whether the block the kernel fills has frames: they
// reach the reader when the kernel hands it over.
func (r *rxRing) filling() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return false
	}
	if r.left != 0 {
		return true
	}
	bd := (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[r.cur*r.blockSize+ringBlockStatus]))
	return atomic.LoadUint32(&bd.Num_pkts) != 0
}

// held is how many frames r holds that the reader has not taken: the rest
// of the block it reads, the blocks handed over after that one, and the
// block the kernel fills. A released block's count is cleared (release),
// so the walk ends at the first block the kernel owns.
func (r *rxRing) held() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return 0
	}
	n, i := uint64(max(r.left, 0)), r.cur
	if r.left != 0 {
		i = (i + 1) % r.blocks
	}
	for range r.blocks {
		bd := (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[i*r.blockSize+ringBlockStatus]))
		n += uint64(atomic.LoadUint32(&bd.Num_pkts))
		if atomic.LoadUint32(r.status(i))&unix.TP_STATUS_USER == 0 {
			break
		}
		i = (i + 1) % r.blocks
	}
	return n
}
