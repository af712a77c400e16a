//go:build linux

package afpacket

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/etherconn/etherconn/backend"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// FuzzRingSlots hands the two rings' readers memory written by a hostile
// kernel: a frame ring's first slot, or a block ring's first block, holds
// the input (header, address, vnet header, frame; any lengths, offsets and
// status bits), marked as the reader's. fill must never panic or read past
// the ring, must return no frame longer than its buffer, and must give the
// slot or block back. The socket is no socket (fd -1), so a slot marked
// TP_STATUS_COPY finds no queued frame. The checked-in seed corpus is
// testdata/fuzz/FuzzRingSlots; the seeds below are added on top of it.
func FuzzRingSlots(f *testing.F) {
	frame := make([]byte, 76+60)
	binary.NativeEndian.PutUint32(frame[0:], unix.TP_STATUS_USER)
	binary.NativeEndian.PutUint32(frame[4:], 60)  // tp_len
	binary.NativeEndian.PutUint32(frame[8:], 60)  // tp_snaplen
	binary.NativeEndian.PutUint16(frame[12:], 76) // tp_mac
	f.Add(frame, false, uint16(2048))
	f.Add(frame, false, uint16(10))
	cp := append([]byte(nil), frame...)
	binary.NativeEndian.PutUint32(cp[0:], unix.TP_STATUS_USER|unix.TP_STATUS_COPY|unix.TP_STATUS_VLAN_VALID)
	f.Add(cp, false, uint16(2048))
	blk := make([]byte, 48+len(frame))
	binary.NativeEndian.PutUint32(blk[8:], unix.TP_STATUS_USER) // block_status
	binary.NativeEndian.PutUint32(blk[12:], 1)                  // num_pkts
	binary.NativeEndian.PutUint32(blk[16:], 48)                 // offset_to_first_pkt
	f.Add(blk, true, uint16(2048))
	f.Fuzz(func(t *testing.T, in []byte, blocks bool, size uint16) {
		base, owner := fillOnce(in, blocks, int(size))
		bufs, lens := base.bufs, base.lens
		for i := 0; i < base.got; i++ {
			if lens[i] > len(bufs[i]) || lens[i] < 0 {
				t.Fatalf("frame %d: %d bytes in a buffer of %d", i, lens[i], len(bufs[i]))
			}
		}
		if base.got == 0 && base.errno == 0 && !base.sf.more() && *owner&unix.TP_STATUS_USER != 0 {
			t.Fatal("took nothing and kept the slot")
		}
	})
}

// fillOnce runs one fill of a frame ring (or, with blocks, a block ring)
// whose first slot or block holds in, marked as the reader's, into four
// buffers of size bytes on no socket. It returns the ring, its batch kept,
// and the status word of the slot or block.
func fillOnce(in []byte, blocks bool, size int) (*mmapRing, *uint32) {
	bufs, lens := make([][]byte, 4), make([]int, 4)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	const blockSize = 64 << 10
	mem := make([]byte, 2*blockSize)
	copy(mem[:blockSize], in)
	var base *mmapRing
	var owner *uint32
	if blocks {
		r := &rxRing{blockSize: blockSize, blocks: 2}
		base = &r.mmapRing
		base.mem = mem
		owner = r.status(0)
		base.fn = r.fill
	} else {
		slot := frameSlot(1500)
		r := &frameRing{slot: slot, perBlock: blockSize / slot, slots: 2 * (blockSize / slot),
			big: newRecvmsg(nil, &backlog{stats: &gsoCounters{}}, true)}
		base = &r.mmapRing
		base.mem = mem
		owner = (*uint32)(unsafe.Pointer(&mem[0]))
		base.fn = r.fill
	}
	base.vnet, base.stats, base.lost = true, &gsoCounters{}, &backend.Counters{}
	*owner |= unix.TP_STATUS_USER
	base.bufs, base.lens = bufs, lens
	base.fn(^uintptr(0))
	base.bufs, base.lens = bufs, lens
	return base, owner
}

// TestRingBadHeaderCounted: a slot, or a block's frame, whose header puts
// the frame outside the ring is dropped and counted in Dropped, and the
// slot or block goes back to the kernel.
func TestRingBadHeaderCounted(t *testing.T) {
	slot := make([]byte, 76+60)
	binary.NativeEndian.PutUint32(slot[4:], 60)    // tp_len
	binary.NativeEndian.PutUint32(slot[8:], 60)    // tp_snaplen
	binary.NativeEndian.PutUint16(slot[12:], 4000) // tp_mac: past the slot
	blk := make([]byte, 48+48)
	binary.NativeEndian.PutUint32(blk[12:], 3)         // num_pkts
	binary.NativeEndian.PutUint32(blk[16:], 48)        // offset_to_first_pkt
	binary.NativeEndian.PutUint32(blk[48+12:], 60)     // tp_snaplen
	binary.NativeEndian.PutUint16(blk[48+24:], 0xffff) // tp_mac: past the block
	for _, tc := range []struct {
		name   string
		in     []byte
		blocks bool
		lost   uint64
	}{
		{"frame ring", slot, false, 1},
		{"block ring", blk, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, owner := fillOnce(tc.in, tc.blocks, 2048)
			if r.got != 0 {
				t.Fatalf("returned %d frames", r.got)
			}
			if got := r.lost.Snapshot().Dropped; got != tc.lost {
				t.Fatalf("Dropped %d, want %d", got, tc.lost)
			}
			if *owner&unix.TP_STATUS_USER != 0 {
				t.Fatal("kept the slot")
			}
		})
	}
}

// TestRingHeld counts the frames a block ring holds for its reader: the
// rest of the block being read, the blocks handed over after it and the
// block the kernel fills, and nothing past that.
func TestRingHeld(t *testing.T) {
	const blockSize = 4096
	r := &rxRing{blockSize: blockSize, blocks: 4}
	r.mem = make([]byte, 4*blockSize)
	count := func(i int, n uint32, user bool) {
		binary.NativeEndian.PutUint32(r.mem[i*blockSize+12:], n) // num_pkts
		if user {
			*r.status(i) = unix.TP_STATUS_USER
		}
	}
	require.Zero(t, r.held())
	count(0, 3, false) // the kernel fills block 0
	require.EqualValues(t, 3, r.held())
	count(0, 3, true) // handed over
	count(1, 5, true)
	count(2, 2, false) // filling
	count(3, 9, false) // not reached: the kernel's, after the one it fills
	require.EqualValues(t, 10, r.held())
	r.left = 1 // the reader is in block 0, one frame left
	require.EqualValues(t, 8, r.held())
}
