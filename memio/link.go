package memio

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// frame is a pooled copy of one Ethernet frame on its way to a reader.
type frame struct {
	buf []byte    // the frame; cap is the pool's buffer size
	due time.Time // delivery time while in a delay line
	dup bool      // deliver a second copy right behind this one
}

// Two size classes keep a queue of small frames from pinning jumbo buffers
// while still letting jumbo frames reuse memory.
const smallBuf = 2048

var (
	smallPool = sync.Pool{New: func() any { return &frame{buf: make([]byte, 0, smallBuf)} }}
	largePool = sync.Pool{New: func() any { return &frame{buf: make([]byte, 0, maxPooled)} }}
)

// maxPooled is the large class size; frames beyond it (only possible with a
// raised Config.MaxFrameLen) get their own buffer.
const maxPooled = backend.MaxFrameLen

// getFrame returns a pooled frame holding a copy of b.
func getFrame(b []byte) *frame {
	var f *frame
	if len(b) <= smallBuf {
		f = smallPool.Get().(*frame)
	} else {
		f = largePool.Get().(*frame)
		if cap(f.buf) < len(b) {
			f.buf = make([]byte, 0, len(b))
		}
	}
	f.buf = append(f.buf[:0], b...)
	return f
}

func putFrame(f *frame) {
	f.dup = false
	f.due = time.Time{}
	if cap(f.buf) == smallBuf {
		smallPool.Put(f)
	} else {
		largePool.Put(f)
	}
}

// link carries frames to one port, applying that port's faults. A faultless
// link is a direct enqueue; the mutex is only taken when faults are on,
// because the random source, the held-back frame and the delay line are
// shared by all writers.
type link struct {
	dst    *Port
	faults Faults
	faulty bool
	delay  bool // frames go through the delay line

	lost, duplicated, reordered, corrupted, delayDropped atomic.Uint64

	mu      sync.Mutex
	closed  bool
	rng     *rand.Rand
	held    *frame   // frame held back by Reorder
	line    []*frame // delay line, ordered by due; line[head:] pending
	head    int
	lastDue time.Time
	timer   *time.Timer
}

func newLink(dst *Port, f Faults, stream uint64) *link {
	l := &link{dst: dst, faults: f, faulty: f.active(), delay: f.Delay > 0 || f.Jitter > 0}
	if l.faulty {
		l.rng = rand.New(rand.NewPCG(f.Seed, stream))
	}
	if l.delay {
		// Made stopped, so that send only ever resets it.
		l.timer = time.AfterFunc(time.Hour, l.fire)
		l.timer.Stop()
	}
	return l
}

func (l *link) roll(p float64) bool {
	return p > 0 && l.rng.Float64() < p
}

// send copies b onto the link.
func (l *link) send(b []byte) {
	if !l.faulty {
		l.dst.enqueue(getFrame(b))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.roll(l.faults.Loss) {
		l.lost.Add(1)
		return
	}
	f := getFrame(b)
	if l.roll(l.faults.Corrupt) {
		bit := l.rng.IntN(len(f.buf) * 8)
		f.buf[bit/8] ^= 1 << (bit % 8)
		l.corrupted.Add(1)
	}
	if l.roll(l.faults.Duplicate) {
		f.dup = true
		l.duplicated.Add(1)
	}
	if l.held == nil && l.roll(l.faults.Reorder) {
		l.held = f
		l.reordered.Add(1)
		return
	}
	l.emit(f)
	if h := l.held; h != nil {
		l.held = nil
		l.emit(h)
	}
}

// emit passes f, and its duplicate if it has one, to the delay stage.
// Called with l.mu held.
func (l *link) emit(f *frame) {
	var d *frame
	if f.dup {
		f.dup = false
		d = getFrame(f.buf)
	}
	l.out(f)
	if d != nil {
		l.out(d)
	}
}

// out delivers f now or puts it in the delay line, unless the line is full.
// Called with l.mu held.
func (l *link) out(f *frame) {
	if !l.delay {
		l.dst.enqueue(f)
		return
	}
	if len(l.line)-l.head >= l.faults.DelayLimit {
		// Like netem beyond its limit: the frame never enters the line, so a
		// writer faster than the delay cannot grow memory without bound.
		l.delayDropped.Add(1)
		l.dst.c.Drop(1)
		putFrame(f)
		return
	}
	now := time.Now()
	d := l.faults.Delay
	if l.faults.Jitter > 0 {
		d += time.Duration(l.rng.Int64N(int64(l.faults.Jitter) + 1))
	}
	f.due = now.Add(d)
	// Never overtake the previous frame: jitter is not reordering.
	if f.due.Before(l.lastDue) {
		f.due = l.lastDue
	}
	l.lastDue = f.due
	l.line = append(l.line, f)
	if len(l.line)-l.head > 1 {
		return // the timer is already armed for an earlier frame
	}
	l.timer.Reset(f.due.Sub(now))
}

// fire delivers every frame that is due and re-arms the timer for the next.
// A single timer per link, rather than one per frame, keeps delayed traffic
// from piling up goroutines and keeps delivery in order.
func (l *link) fire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := time.Now()
	for l.head < len(l.line) {
		f := l.line[l.head]
		if f.due.After(now) {
			l.timer.Reset(f.due.Sub(now))
			l.compact()
			return
		}
		l.line[l.head] = nil
		l.head++
		l.dst.enqueue(f)
	}
	l.line = l.line[:0]
	l.head = 0
}

// compact moves the pending frames to the front once the delivered ones
// take half the line, so that steady traffic through a delay keeps the line
// as long as what is in flight, not as long as everything ever sent.
func (l *link) compact() {
	if l.head > 0 && l.head >= len(l.line)/2 {
		n := copy(l.line, l.line[l.head:])
		clear(l.line[n:])
		l.line, l.head = l.line[:n], 0
	}
}

// close stops the timer and recycles everything in flight.
func (l *link) close() {
	if !l.faulty {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	for _, f := range l.line[l.head:] {
		putFrame(f)
	}
	l.line, l.head = nil, 0
	if l.held != nil {
		putFrame(l.held)
		l.held = nil
	}
}

func (l *link) stats() FaultStats {
	return FaultStats{
		Lost:       l.lost.Load(),
		Duplicated: l.duplicated.Load(),
		Reordered:  l.reordered.Load(),
		Corrupted:  l.corrupted.Load(),

		DelayDropped: l.delayDropped.Load(),
	}
}
