package memio

import (
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/deadline"
)

// DefaultQueueLen is the receive queue length, in frames, used when
// Config.QueueLen is zero.
const DefaultQueueLen = 256

// DefaultDelayLimit is the most frames a link's delay line holds when
// Faults.DelayLimit is zero: the default limit of Linux's netem qdisc, which
// is what Faults.Delay emulates. With the pooled buffers a frame occupies
// (2 KiB up to 2048 bytes, backend.MaxFrameLen above), a full line pins
// about 2 MiB of small frames or 9 MiB of jumbo frames per link.
const DefaultDelayLimit = 1000

// DefaultMACTable is the most addresses a Switch learns when
// Config.MACTable is zero: the forwarding table size of a small hardware
// switch. At about 50 bytes an entry, a full table holds about 0.4 MiB.
const DefaultMACTable = 8192

// DefaultMACAging is how long a Switch keeps an address it has not seen as a
// source when Config.MACAging is zero: the IEEE 802.1D default, and the
// Linux bridge's default ageing_time.
const DefaultMACAging = 300 * time.Second

// Config describes a link. The zero value is a perfect link with
// DefaultQueueLen frames of buffering and frames up to backend.MaxFrameLen.
// Out-of-range values are clamped rather than rejected, so a Config can never
// make Pipe or NewSwitch fail.
type Config struct {
	// QueueLen is how many frames a port buffers for its reader. A frame
	// arriving at a full queue is dropped and counted in Stats.Dropped.
	// Zero or negative means DefaultQueueLen.
	QueueLen int
	// MaxFrameLen is the longest frame WriteFrame accepts, Ethernet header
	// and VLAN tags included (the link "MTU" in frame terms). Zero or
	// negative means backend.MaxFrameLen; values below backend.MinFrameLen
	// are raised to it.
	MaxFrameLen int
	// Faults are applied to every frame on its way to a receiving port.
	Faults Faults
	// MACTable is the most addresses a Switch learns. When the table is
	// full, a Switch learns no new address until an entry ages out (or its
	// port closes): frames for an address it could not learn are flooded,
	// as unknown unicast is, and every source it could not learn is counted
	// in SwitchStats.TableFull. That is what a hardware switch does when its
	// table overflows; keeping the entries it has, rather than evicting the
	// oldest, means a flood of new source addresses cannot push out the
	// stations already learned. Zero or negative means DefaultMACTable.
	// Pipe ignores it.
	MACTable int
	// MACAging is how long a Switch keeps an address after the last frame
	// it sent: an entry older than that is no longer used (frames for it
	// flood) and its room in the table is reclaimed. Zero means
	// DefaultMACAging; negative means entries never age, so that only
	// MACTable bounds the table. Pipe ignores it.
	MACAging time.Duration
}

// Faults configures deliberate misbehaviour of a link. Probabilities are in
// [0, 1]; values outside it (and NaN) are clamped. The zero value injects no
// faults.
//
// Each frame passes the stages in this order: loss, corruption, duplication,
// reordering, delay. A duplicate is an exact copy of the (possibly corrupted)
// frame and travels right behind it.
type Faults struct {
	// Seed seeds the link's random source (math/rand/v2 PCG). Every
	// direction of a Pipe and every Switch port draws from its own stream
	// of this seed, so traffic on one link does not change the faults on
	// another. Zero is a valid seed.
	Seed uint64
	// Loss is the probability that a frame is silently lost. Lost frames
	// are not counted in Stats (the receiver cannot know about them) but in
	// FaultStats.Lost.
	Loss float64
	// Duplicate is the probability that a frame is delivered twice.
	Duplicate float64
	// Reorder is the probability that a frame is held back and delivered
	// right after the next frame on the same link. A held frame waits for
	// that next frame however long it takes; only one frame is held at a
	// time.
	Reorder float64
	// Corrupt is the probability that one uniformly chosen bit of a frame
	// is flipped.
	Corrupt float64
	// Delay is added to every frame's delivery time. Delayed frames wait in
	// a per-link delay line served by one timer (no goroutine per frame);
	// closing the receiving port stops the timer and discards them.
	Delay time.Duration
	// Jitter adds a uniformly distributed extra delay in [0, Jitter]. Jitter
	// never reorders frames: a frame is never delivered before the one
	// written ahead of it, so a frame whose draw is short waits for its
	// predecessor. Use Reorder for reordering.
	Jitter time.Duration
	// DelayLimit is the most frames waiting in the delay line (with Delay
	// or Jitter set). A frame that finds the line full is dropped, as
	// netem drops beyond its limit, and counted in the receiving port's
	// Stats.Dropped and in FaultStats.DelayDropped. Zero or negative means
	// DefaultDelayLimit.
	DelayLimit int
}

func (f Faults) normalized() Faults {
	f.Loss = clampProb(f.Loss)
	f.Duplicate = clampProb(f.Duplicate)
	f.Reorder = clampProb(f.Reorder)
	f.Corrupt = clampProb(f.Corrupt)
	f.Delay = max(f.Delay, 0)
	f.Jitter = max(f.Jitter, 0)
	// Jitter+1 is drawn with Int64N; keep that from overflowing.
	f.Jitter = min(f.Jitter, time.Duration(math.MaxInt64-1))
	if f.DelayLimit <= 0 {
		f.DelayLimit = DefaultDelayLimit
	}
	return f
}

func (f Faults) active() bool {
	return f.Loss > 0 || f.Duplicate > 0 || f.Reorder > 0 || f.Corrupt > 0 ||
		f.Delay > 0 || f.Jitter > 0
}

func clampProb(p float64) float64 {
	if !(p > 0) { // also catches NaN
		return 0
	}
	return min(p, 1)
}

func (c Config) normalized() Config {
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxFrameLen <= 0 {
		c.MaxFrameLen = backend.MaxFrameLen
	}
	c.MaxFrameLen = max(c.MaxFrameLen, backend.MinFrameLen)
	c.Faults = c.Faults.normalized()
	if c.MACTable <= 0 {
		c.MACTable = DefaultMACTable
	}
	if c.MACAging == 0 {
		c.MACAging = DefaultMACAging
	}
	return c
}

// FaultStats counts the faults a link injected into frames headed for one
// port.
type FaultStats struct {
	Lost       uint64 // frames dropped by Faults.Loss
	Duplicated uint64 // extra copies sent by Faults.Duplicate
	Reordered  uint64 // frames held back by Faults.Reorder
	Corrupted  uint64 // frames with one bit flipped by Faults.Corrupt
	// DelayDropped counts frames dropped because the delay line held
	// Faults.DelayLimit frames; they are in the port's Stats.Dropped too.
	DelayDropped uint64
}

// Preallocated so that the hot paths do not allocate for their errors.
var (
	errReadClosed = fmt.Errorf("memio: read: %w", net.ErrClosed)
	errTruncated  = fmt.Errorf("memio: read: %w", backend.ErrTruncated)
	errTimeout    = fmt.Errorf("memio: read: %w", os.ErrDeadlineExceeded)
)

var (
	_ backend.PacketIO      = (*Port)(nil)
	_ backend.BatchReader   = (*Port)(nil)
	_ backend.BatchWriter   = (*Port)(nil)
	_ backend.StatsReporter = (*Port)(nil)
)

// Port is one end of a Pipe or one port of a Switch. It implements
// backend.PacketIO, backend.BatchReader, backend.BatchWriter and
// backend.StatsReporter, has net.Conn-style read deadlines, and is safe for
// one reader and any number of concurrent writers.
type Port struct {
	maxLen int
	rx     chan *frame
	done   chan struct{} // closed by Close to wake a blocked reader
	dl     deadline.Read
	dlNew  chan struct{} // capacity 1: wakes a read waiting on an old deadline channel
	closed atomic.Bool
	once   sync.Once

	in *link // carries frames to this port and applies its faults

	// Exactly one of peer and sw is set.
	peer *Port
	sw   *Switch

	c backend.Counters
}

func newPort(cfg Config, stream uint64) *Port {
	p := &Port{
		maxLen: cfg.MaxFrameLen,
		rx:     make(chan *frame, cfg.QueueLen),
		done:   make(chan struct{}),
		dlNew:  make(chan struct{}, 1),
	}
	p.in = newLink(p, cfg.Faults, stream)
	return p
}

// Pipe returns the two ends of a point-to-point link configured by cfg.
// A frame written on one end is read on the other, never on the writer.
//
// The ends close independently, like the two NICs on a cable: after b is
// closed, frames written on a are accepted, dropped and counted in a's
// Stats.Discarded, and a's reader keeps waiting until a itself is closed.
func Pipe(cfg Config) (a, b *Port) {
	cfg = cfg.normalized()
	a = newPort(cfg, 0)
	b = newPort(cfg, 1)
	a.peer, b.peer = b, a
	return a, b
}

// ReadFrame blocks until a frame arrives and copies it into b. A frame longer
// than b is truncated to len(b) and reported with an error wrapping
// backend.ErrTruncated; the port stays usable. After Close it returns an error
// wrapping net.ErrClosed.
func (p *Port) ReadFrame(b []byte) (int, error) {
	// Checked first so that a closed port reports closed even with frames
	// still queued, as the PacketIO contract asks.
	if p.closed.Load() {
		return 0, errReadClosed
	}
	f, err := p.next()
	if err != nil {
		return 0, err
	}
	n := copy(b, f.buf)
	full := len(f.buf)
	putFrame(f)
	p.c.In(n)
	if n < full {
		return n, errTruncated
	}
	return n, nil
}

// next waits for a frame, Close or the read deadline. As with net.Conn, a
// passed deadline fails the read even with frames queued.
func (p *Port) next() (*frame, error) {
	if !p.dl.Exceeded() {
		select {
		case f := <-p.rx: // the common case, without the four-way select
			return f, nil
		default:
		}
	}
	for {
		if p.dl.Exceeded() {
			return nil, errTimeout
		}
		select {
		case f := <-p.rx:
			return f, nil
		case <-p.done:
			return nil, errReadClosed
		case <-p.dl.Wait():
			return nil, errTimeout
		case <-p.dlNew: // the deadline channel this read waits on was replaced
		}
	}
}

// SetReadDeadline sets the deadline for ReadFrame and ReadFrames, as
// net.Conn does: a read past it fails with an error wrapping
// os.ErrDeadlineExceeded and the port stays usable, zero means none, and a
// new deadline applies to a read already blocked. The relay uses it to let a
// blocked endpoint reader read the port itself.
func (p *Port) SetReadDeadline(t time.Time) error {
	if p.closed.Load() {
		return errReadClosed
	}
	if p.dl.Set(t) {
		select {
		case p.dlNew <- struct{}{}:
		default:
		}
	}
	return nil
}

// ReadFrames implements backend.BatchReader. It blocks until at least one
// frame arrives, then fills bufs with as many queued frames as are ready,
// storing each frame's length (truncated to its buffer) in lens. At most
// min(len(bufs), len(lens)) frames are read; if that is zero it returns at
// once.
func (p *Port) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if p.closed.Load() {
		return 0, errReadClosed
	}
	limit := min(len(bufs), len(lens))
	if limit == 0 {
		return 0, nil
	}
	f, err := p.next()
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		lens[n] = copy(bufs[n], f.buf)
		putFrame(f)
		n++
		if n == limit {
			break
		}
		select {
		case f = <-p.rx:
			continue
		default:
		}
		break
	}
	p.c.InBatch(lens[:n])
	return n, nil
}

// WriteFrame copies frame onto the link; frame is not retained. It never
// blocks on a slow reader. It fails with an error wrapping
// backend.ErrFrameTooShort for frames under backend.MinFrameLen bytes,
// backend.ErrFrameTooLong for frames over Config.MaxFrameLen, and
// net.ErrClosed after Close. Short frames are delivered as given, unpadded.
func (p *Port) WriteFrame(frame []byte) error {
	if err := p.checkWrite(frame); err != nil {
		return fmt.Errorf("memio: write: %w", err)
	}
	p.transmit(frame)
	return nil
}

// WriteFrames implements backend.BatchWriter. It writes frames in order and
// stops at the first one WriteFrame would reject, returning how many were
// written and that error.
func (p *Port) WriteFrames(frames [][]byte) (int, error) {
	for i, f := range frames {
		if err := p.checkWrite(f); err != nil {
			return i, fmt.Errorf("memio: write frame %d: %w", i, err)
		}
		p.transmit(f)
	}
	return len(frames), nil
}

// checkWrite returns an unwrapped cause so that WriteFrame and WriteFrames
// can add their own op context.
func (p *Port) checkWrite(frame []byte) error {
	switch {
	case p.closed.Load():
		return net.ErrClosed
	case len(frame) < backend.MinFrameLen:
		return fmt.Errorf("%d bytes: %w", len(frame), backend.ErrFrameTooShort)
	case len(frame) > p.maxLen:
		return fmt.Errorf("%d bytes, limit %d: %w", len(frame), p.maxLen, backend.ErrFrameTooLong)
	}
	return nil
}

func (p *Port) transmit(frame []byte) {
	p.c.Out(len(frame))
	if p.sw != nil {
		p.sw.forward(p, frame)
		return
	}
	if p.peer.closed.Load() {
		p.c.Discard()
		return
	}
	p.peer.in.send(frame)
}

// enqueue hands f to the reader or, if the queue is full or the port closed,
// recycles it; it never blocks so that no writer waits on a reader.
func (p *Port) enqueue(f *frame) {
	if p.closed.Load() {
		putFrame(f)
		return
	}
	select {
	case p.rx <- f:
	default:
		p.c.Drop(1)
		putFrame(f)
	}
}

// Close closes the port. It is idempotent, unblocks a blocked ReadFrame,
// discards queued and in-flight frames, stops pending delay timers and, on a
// Switch, detaches the port and forgets the addresses learned on it.
func (p *Port) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.done)
		p.dl.Stop()
		p.in.close()
		if p.sw != nil {
			p.sw.remove(p)
		}
		// Recycle what is queued; a writer racing with us may still add a
		// frame, which the garbage collector then reclaims.
		for {
			select {
			case f := <-p.rx:
				putFrame(f)
				continue
			default:
			}
			break
		}
	})
	return nil
}

// Stats implements backend.StatsReporter. FramesOut counts every frame
// accepted by a write, including those later discarded (peer closed, or no
// switch port to forward to) or lost to injected faults. Dropped counts frames
// that reached this port while its queue was full, or while the delay line of
// its link was full (Faults.DelayLimit).
func (p *Port) Stats() backend.Stats {
	return p.c.Snapshot()
}

// FaultStats reports the faults injected into frames headed for this port.
func (p *Port) FaultStats() FaultStats {
	return p.in.stats()
}

// Queued returns how many frames wait in the port's receive queue. Frames
// still delayed or held back by fault injection are not included.
func (p *Port) Queued() int {
	return len(p.rx)
}
