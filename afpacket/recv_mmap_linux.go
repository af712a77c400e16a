//go:build linux

package afpacket

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/sys/unix"
)

// mmapRing is what the two rings (frameRing, TPACKET_V2; rxRing,
// TPACKET_V3) share: the mapped memory, the batch a read fills, the
// super-frame being split, and the read methods around the ring's fill
// callback, which copies frames from the ring into the batch.
//
// A read holds mu, also while it waits in the poller. Close closes the
// socket first, which ends that wait, and unmaps the ring under mu, so a
// read racing Close never touches unmapped memory.
type mmapRing struct {
	mu  sync.Mutex
	mem []byte // nil once unmapped

	// The batch the callback fills.
	bufs  [][]byte
	lens  []int
	got   int
	trunc bool // a frame of the batch was cut

	// vnet: frames have a virtio_net_hdr right before their MAC header.
	// sf is the super-frame being split: the reader stays on its frame,
	// where the ring holds it, until its last segment is out.
	vnet  bool
	sf    superFrame
	stats *gsoCounters

	// lost is the Conn's counters, whose Dropped takes the frames the
	// reader could not take: headers that do not fit the ring, queued
	// frames that are not their slot's.
	lost *backend.Counters

	// errno is the socket's pending error (sk_err), which fill takes with
	// SO_ERROR (unlike recvmsg, a ring never returns it by itself), or a
	// recvmsg's. pending is one that came with frames: the next read's.
	errno   syscall.Errno
	errOp   string // the call that returned errno
	pending syscall.Errno
	pendOp  string

	one    [1][]byte // readFrame's batch of one
	oneLen [1]int
	sock   *rxSock
	fn     func(fd uintptr) bool // the ring's fill, made once
}

// mapRing asks for a receive ring on x's socket with set (a PACKET_RX_RING
// setsockopt; zero: the request for no ring) and maps its size bytes,
// then, with touch, writes its pages once (prefault). A ring that cannot
// be mapped is taken down again: left in place, it would take every frame
// from a socket that Open goes on to read with recvmsg (the default's
// fallback).
func mapRing(x *rxSock, size int, touch bool, set func(fd int, zero bool) error) ([]byte, error) {
	var mem []byte
	var serr error
	if err := x.rc.Control(func(fd uintptr) {
		if serr = set(int(fd), false); serr != nil {
			serr = fmt.Errorf("setsockopt PACKET_RX_RING: %w", serr)
			return
		}
		if mem, serr = mmap(int(fd), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); serr != nil {
			serr = fmt.Errorf("mmap ring of %d bytes: %w", size, serr)
			if err := set(int(fd), true); err != nil {
				serr = fmt.Errorf("%w; and taking the ring down: %w", serr, err)
			}
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	if touch {
		prefault(mem)
	} else {
		// Best effort, and short: the page tables, without the writes.
		_ = unix.Madvise(mem, unix.MADV_POPULATE_WRITE)
	}
	return mem, nil
}

// mmap maps a ring; a variable so that a test can make it fail.
var mmap = unix.Mmap

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

// newMmapRing is the shared part of a ring of c on mem, read through x.
func (c *Conn) newMmapRing(mem []byte, x *rxSock) mmapRing {
	return mmapRing{mem: mem, vnet: c.sys.vnet, stats: &c.gso, lost: &c.counters, sock: x}
}

// close unmaps the ring's memory; the socket is closed by then.
func (r *mmapRing) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// socketError is how fill ends when it found no frame: it takes the
// socket's pending error into r.errno and reports whether there was one
// (fill then returns true, else false to wait). A link that goes down is
// how the kernel sets one: it wakes the socket then (POLLERR), but the
// wake-up cannot stand for the error: Go's poller drops a readiness that
// came between two reads when the next one starts (it expects the call to
// find out for itself), and a ring read finds frames in memory, not by a
// call that would return the error. So the check runs before every wait
// and after every wake-up that brings no frame: one getsockopt a wait.
func (r *mmapRing) socketError(fd uintptr) bool {
	e, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || e == 0 {
		return false
	}
	r.errno, r.errOp = syscall.Errno(e), "getsockopt SO_ERROR"
	return true
}

// split puts the next segment of the super-frame data, which m describes,
// into the batch (with data nil, of the one being split), and reports
// whether segments are left; one that cannot be split is dropped and
// counted.
func (r *mmapRing) split(data []byte, m *rxMeta, cut bool) bool {
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
// until at least one frame is there (with wait false, it looks once: see
// rxSock.once). It reports whether a frame was cut.
func (r *mmapRing) read(bufs [][]byte, lens []int, wait bool) (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return 0, false, net.ErrClosed
	}
	if e := r.pending; e != 0 {
		r.pending = 0
		return 0, false, os.NewSyscallError(r.pendOp, e)
	}
	r.bufs, r.lens = bufs, lens
	r.got, r.trunc = 0, false
	r.errno = 0
	var err error
	if wait {
		err = r.sock.read(r.fn)
	} else {
		err = r.sock.once(r.fn)
	}
	r.bufs, r.lens = nil, nil
	if err == nil && r.errno != 0 {
		if r.got > 0 {
			// The kernel hands an error out once: keep it for the next
			// read rather than lose the frames or the error.
			r.pending, r.pendOp = r.errno, r.errOp
		} else {
			err = os.NewSyscallError(r.errOp, r.errno)
		}
	}
	if err != nil {
		return 0, false, err
	}
	return r.got, r.trunc, nil
}

// readFrame reads one frame through a batch of one.
func (r *mmapRing) readFrame(b []byte) (int, bool, error) {
	r.one[0] = b
	_, trunc, err := r.read(r.one[:], r.oneLen[:], true)
	r.one[0] = nil
	if err != nil {
		return 0, false, err
	}
	return r.oneLen[0], trunc, nil
}

// readFrames reads a batch; a cut frame is not an error here.
func (r *mmapRing) readFrames(bufs [][]byte, lens []int) (int, error) {
	n, _, err := r.read(bufs, lens, true)
	return n, err
}
