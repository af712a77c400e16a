//go:build linux

package afpacket

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/etherconn/etherconn/backend"
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
			base, owner = &r.mmapRing, nil
			base.mem = mem
			owner = r.status(0)
			base.fn = r.fill
		} else {
			slot := frameSlot(1500)
			r := &frameRing{slot: slot, perBlock: blockSize / slot, slots: 2 * (blockSize / slot),
				big: newRecvmsg(nil, &backlog{stats: &gsoCounters{}}, true), lost: &backend.Counters{}}
			base = &r.mmapRing
			base.mem = mem
			owner = (*uint32)(unsafe.Pointer(&mem[0]))
			base.fn = r.fill
		}
		base.vnet, base.stats, base.bufs, base.lens = true, &gsoCounters{}, bufs, lens
		*owner |= unix.TP_STATUS_USER
		base.fn(^uintptr(0))
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
