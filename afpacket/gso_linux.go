//go:build linux

package afpacket

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// How the socket receivers (recvmsg, recvmmsg) take in super-frames: the
// kernel's copy of a frame goes into the caller's buffer and, past its end,
// into a spill area of the receiver's own, so that a super-frame of up to
// maxSuperFrame bytes arrives whole however short the buffer is. A frame
// that is not a super-frame and spills is cut, as it was before: the spill
// costs such frames nothing but a longer iovec. A super-frame is gathered
// into its spill area and split there; the segments the caller's buffers
// cannot take now wait in the backlog for the next reads, which take them
// before they read the socket again.

// gsoBatch is the most messages one recvmmsg call asks for on a socket with
// vnet headers: each message has a spill area of maxSuperFrame bytes, so a
// Conn reading in batches of 64 or more holds 4 MiB of them (touched only
// where super-frames spill into them).
const gsoBatch = 64

// held is a frame read from the socket and not returned yet: a super-frame,
// or a frame that came after one in the same recvmmsg batch.
type held struct {
	data []byte // in a spill area
	meta rxMeta
	cut  bool // the kernel cut it (to what the buffers held)
}

// backlog is what a socket receiver has read from the socket but not
// returned yet, in order: the rest of the super-frame being split, then
// held frames. The spill areas hold their bytes, so no read may touch the
// socket while the backlog is not empty.
type backlog struct {
	sf    superFrame
	held  [gsoBatch]held
	head  int // next held frame to return
	n     int // held frames
	stats *gsoCounters
}

// push holds frame data, which m describes, for a later read.
func (q *backlog) push(data []byte, m *rxMeta, cut bool) {
	if q.n == len(q.held) { // cannot happen: a batch has at most gsoBatch messages
		q.stats.dropped.Add(1)
		return
	}
	q.held[q.n] = held{data: data, meta: *m, cut: cut}
	q.n++
}

// pop writes the next frame of the backlog into dst, its outer tag
// restored, and returns its length and whether it was cut to fit dst; ok
// is false when the backlog is empty.
func (q *backlog) pop(dst []byte) (n int, cut, ok bool) {
	for {
		if q.sf.more() {
			n, cut := q.stats.segment(&q.sf, dst)
			return n, cut, true
		}
		if q.head == q.n {
			q.head, q.n = 0, 0
			return 0, false, false
		}
		h := q.held[q.head]
		q.held[q.head] = held{}
		q.head++
		if h.meta.vnet.isGSO() {
			q.stats.startSplit(&q.sf, h.data, &h.meta, h.cut)
			continue
		}
		n := copy(dst, h.data)
		n, lost := h.meta.restore(dst, n)
		return n, h.cut || lost || len(h.data) > len(dst), true
	}
}

// fill pops frames into bufs and lens until either is full or the backlog
// is empty, and returns how many it popped.
func (q *backlog) fill(bufs [][]byte, lens []int) int {
	k := 0
	for k < len(bufs) && k < len(lens) {
		n, _, ok := q.pop(bufs[k])
		if !ok {
			break
		}
		lens[k] = n
		k++
	}
	return k
}

// gather makes the l bytes the kernel wrote into b and, past its end, into
// the start of spill one run at the start of spill, and reports whether
// all of them fit there (they do unless b alone is longer than spill).
func gather(b, spill []byte, l int) ([]byte, bool) {
	h := min(l, len(b))
	if rest := l - h; rest > 0 {
		copy(spill[h:], spill[:rest])
	}
	copy(spill, b[:h])
	end := min(l, len(spill))
	return spill[:end], end == l
}

// spillLen is the length of the spill iovec behind a buffer of n bytes:
// what the two need to hold a whole super-frame.
func spillLen(n int) int { return max(maxSuperFrame-n, 0) }

// gsoUndescribed reports whether a failed receive was the kernel's way of
// dropping a super-frame that a vnet header cannot describe (a GSO type
// other than TCP and UDP segmentation: SCTP's, ESP's), and counts it if
// so: recvmsg and recvmmsg then fail with EINVAL, having taken the frame
// off the queue (packet_rcv_vnet); recvmmsg fails the call after the one
// that got the frames before it. No other EINVAL can come from the calls
// as the receivers make them.
func gsoUndescribed(e syscall.Errno, g *gsoCounters) bool {
	if e != unix.EINVAL {
		return false
	}
	g.dropped.Add(1)
	return true
}
