package relay

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// Reader-led receive: what it is and why is in the package documentation
// (doc.go); the comments here say how.

// Read token holders.
const (
	leadNone   int32 = iota // nobody reads the backend: frames wait in it
	leadLoop                // the relay's read loop reads
	leadReader              // a reader blocked in Queue.Pop reads for all
)

// idleGrace is the loop's poll period while it does not hold the token: it
// takes the token on a poll that finds it unheld and not passed on since the
// previous poll, so a frame for an endpoint nobody reads waits at most
// 2·idleGrace. It is long enough for a reader that answered a request to be
// back for the next one.
const idleGrace = 2 * time.Millisecond

// idlePolls is how many polls in a row that find a reader leading and no
// token passed on put the loop to sleep until a reader lets go: with the
// backend idle the polls were the relay's only cost (24–67 ms of CPU a
// second measured with one blocked reader), and while requests come and
// go the token keeps moving, so the loop keeps polling and the readers'
// return path stays free of wake-ups.
const idlePolls = 16

// aLongTimeAgo is a deadline in the past: it interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// errStop reports a read not started because its holder must let go.
var errStop = errors.New("relay: stop reading")

// rxState is the receive side of one of a relay's PacketIOs. The fields
// after the first block belong to the token holder: only the goroutine
// holding the token touches them, and passing the token (an atomic) orders
// their accesses. Readers take the token only on a relay of one PacketIO;
// on one of several (NewGroup) rd is nil and only each PacketIO's own loop
// reads it (multi.go).
type rxState struct {
	in       inputState // this PacketIO's counters and end (multi.go)
	token    atomic.Int32
	waiting  atomic.Int32          // readers parked in Pop on this relay's queues
	lastGot  atomic.Int32          // frames in the loop's last read: a kick is for low rates
	wantLead atomic.Bool           // a parked reader asked the loop to let go
	kicker   atomic.Pointer[Queue] // the reader that asked
	failed   atomic.Bool           // the backend failed: only the loop reads now
	releases atomic.Uint32         // times a reader let go of the token
	loopWake chan struct{}         // capacity 1: take the token now
	asleep   atomic.Bool           // the loop stopped polling (idlePolls)
	polls    atomic.Uint64         // the loop's polls, for the idle tests
	resume   chan struct{}         // capacity 1: a sleeping loop polls again

	pio      backend.PacketIO
	rd       backend.ReadDeadliner // nil: the backend has no deadlines, only the loop reads
	br       backend.BatchReader
	pkts     []*Packet
	bufs     [][]byte
	lens     []int
	good     []*Packet
	targets  []target // routing scratch space
	timedOut bool     // the last read timed out: a kick's deadline may still be set
	pending  error    // a leading reader's read error, for the loop to end with
}

// initRx prepares x to read pio; lead says whether readers may take its
// token (reader-led receive, on a relay of one PacketIO only).
func (r *Relay) initRx(x *rxState, pio backend.PacketIO, lead bool) {
	x.pio = pio
	x.loopWake = make(chan struct{}, 1)
	x.resume = make(chan struct{}, 1)
	if lead {
		x.rd, _ = backend.ReadDeadlinerOf(pio)
	}
	if br, ok := pio.(backend.BatchReader); ok && r.cfg.BatchSize > 1 {
		x.br = br
	}
	n := 1
	if x.br != nil {
		n = r.cfg.BatchSize
	}
	x.pkts = make([]*Packet, n)
	x.bufs = make([][]byte, n)
	x.lens = make([]int, n)
	x.good = make([]*Packet, 0, n)
}

func (r *Relay) wakeLoop() {
	select {
	case r.rx.loopWake <- struct{}{}:
	default:
	}
}

// kick interrupts the backend read in progress, or makes the next one fail
// at once. The holder clears the deadline after a read that timed out.
func (r *Relay) kick() {
	_ = r.rx.rd.SetReadDeadline(aLongTimeAgo)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// loop is the read loop: it reads whenever it holds the token and waits
// while a reader leads. It returns the error that ended the input.
//
// While it waits it polls every idleGrace (see there). It polls rather than
// have each leading reader arm a timer when letting go: arming one on that
// path cost a measured 6 µs per round trip.
func (r *Relay) loop() error {
	x := &r.rx
	var tick *time.Ticker
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		if x.token.CompareAndSwap(leadNone, leadLoop) {
			if x.pending != nil {
				return x.pending
			}
			if err := r.loopLead(); err != nil {
				return err
			}
		}
		if tick == nil {
			tick = time.NewTicker(idleGrace)
		} else {
			tick.Reset(idleGrace)
		}
		idle := 0
	wait:
		seen := x.releases.Load()
		select {
		case <-x.loopWake:
		case <-tick.C:
			x.polls.Add(1)
			if x.releases.Load() != seen {
				idle = 0
				goto wait
			}
			if x.token.Load() != leadNone {
				if idle++; idle >= idlePolls && r.sleep(tick, seen) {
					idle = 0
					tick.Reset(idleGrace)
				}
				goto wait
			}
		}
		tick.Stop()
	}
}

// sleep stops the loop's polls while a reader leads and no token has
// passed since seen, until release resumes them or wakeLoop calls it in.
// It reports false, not having slept, when the token moved meanwhile.
func (r *Relay) sleep(tick *time.Ticker, seen uint32) bool {
	x := &r.rx
	tick.Stop()
	select {
	case <-x.resume: // a stale resume from an earlier sleep
	default:
	}
	x.asleep.Store(true)
	// A release after this check finds asleep set and resumes the loop.
	if x.releases.Load() != seen || x.token.Load() == leadNone {
		x.asleep.Store(false)
		tick.Reset(idleGrace)
		return false
	}
	select {
	case <-x.resume:
	case <-x.loopWake:
		// Called in: take the token at once if it is free.
		x.asleep.Store(false)
		r.wakeLoop()
	}
	x.asleep.Store(false)
	return true
}

// loopLead reads until a reader asks for the token (then it lets go and
// returns nil) or the backend fails (it keeps the token: nobody reads a
// failed backend again).
func (r *Relay) loopLead() error {
	x := &r.rx
	x.lastGot.Store(0)
	for {
		got, err := r.readOnce(x, nil)
		if err != nil && err != errStop && !isTimeout(err) {
			return err
		}
		x.lastGot.Store(int32(got))
		if x.wantLead.Load() {
			x.wantLead.Store(false)
			// A wake-up from before is no reason to come back.
			select {
			case <-x.loopWake:
			default:
			}
			q := x.kicker.Swap(nil)
			x.token.Store(leadNone)
			if q != nil {
				q.wake()
			}
			return nil
		}
		if got > 0 {
			// The readers this batch woke wait in this P's run queue; while
			// the backend has more frames the loop would not block and they
			// would wait for preemption (10 ms) while their queues overflow.
			runtime.Gosched()
		}
	}
}

// tryLead takes the token for a reader.
func (r *Relay) tryLead() bool {
	x := &r.rx
	return x.rd != nil && !x.failed.Load() && r.started.Load() && x.token.CompareAndSwap(leadNone, leadReader)
}

// lead reads the backend for every endpoint until q has a packet or its
// reader must return for another reason, then lets go of the token. The
// caller has done what q.startLeading does.
func (r *Relay) lead(q *Queue) {
	x := &r.rx
	busy := false
	for first := true; first || q.startLeading(); first = false {
		// q's deadline is not put on the backend: q's own timer kicks
		// the read when it passes, which spares arming a second timer
		// for every read.
		got, err := r.readOnce(x, q)
		if err != nil && err != errStop {
			if !isTimeout(err) {
				x.pending = err
				x.failed.Store(true)
				busy = true
				break
			}
			// A kick: startLeading sees what it was for.
		}
		r.st.readerFrames.Add(uint64(got))
		if got > 1 {
			busy = true
			// As in loopLead: let the readers it woke run. A lone frame
			// for another reader needs no yield: this one blocks next.
			runtime.Gosched()
		}
	}
	r.release(busy)
}

// release lets go of a reader's token. The loop takes over at once when
// others wait or the backend is busy or failed; otherwise at its poll (see
// idleGrace), so that a reader that returns soon finds the token free and
// the loop is not woken for nothing.
func (r *Relay) release(busy bool) {
	x := &r.rx
	x.token.Store(leadNone)
	x.releases.Add(1)
	if busy || x.waiting.Load() > 0 || x.failed.Load() {
		r.wakeLoop()
	} else if x.asleep.Load() && x.asleep.CompareAndSwap(true, false) {
		// The loop slept through an idle spell: it polls again, and takes
		// the token if nobody does within its grace.
		select {
		case x.resume <- struct{}{}:
		default:
		}
	}
}

// parked is called by a reader about to wait in Pop on q; unparked when
// it stops waiting.
func (r *Relay) parked(q *Queue) {
	x := &r.rx
	if x.rd == nil {
		return
	}
	n := x.waiting.Add(1)
	switch x.token.Load() {
	case leadNone:
		r.wakeLoop() // a leader let go just now, without seeing this reader
	case leadLoop:
		if n == 1 && x.lastGot.Load() <= 1 && !x.failed.Load() && x.kicker.CompareAndSwap(nil, q) {
			x.wantLead.Store(true)
			r.kick()
		}
	}
}

func (r *Relay) unparked() {
	if r.rx.rd != nil {
		r.rx.waiting.Add(-1)
	}
}

// readOnce reads one batch from x's PacketIO and dispatches it. q is the
// leading reader's queue, nil for the loop. The backend has no read
// deadline but after a kick, which sets one in the past: the read it
// interrupts, or the next one, times out. The holder then clears the
// deadline and looks whether it was asked to stop: a kick is flagged
// before its deadline is set, so one whose deadline the clearing overwrote
// is seen there (errStop), and one whose deadline comes after the clearing
// times the next read out again. Clearing after every timeout, not after a
// count of kicks, is what keeps a kick's deadline that lands just after a
// clearing from failing every later read.
func (r *Relay) readOnce(x *rxState, q *Queue) (int, error) {
	if x.rd != nil {
		if x.timedOut {
			x.timedOut = false
			if err := x.rd.SetReadDeadline(time.Time{}); err != nil {
				if q != nil {
					q.stopLeading()
				}
				return 0, err
			}
			if (q == nil && x.wantLead.Load()) || (q != nil && q.kickedNow()) {
				if q != nil {
					q.stopLeading()
				}
				return 0, errStop
			}
		}
	}
	got, err := r.readBackend(x)
	x.in.add(x.lens[:got])
	if err != nil && isTimeout(err) {
		x.timedOut = true
	}
	if q != nil {
		q.stopLeading() // before dispatch: pushing to q must not kick
	}
	x.good = x.good[:0]
	var bytes uint64
	for i := 0; i < got; i++ {
		p := x.pkts[i]
		if x.lens[i] > backend.MaxFrameLen { // filled the spare byte: truncated
			r.st.malformed.Add(1)
			continue
		}
		p.n = x.lens[i]
		bytes += uint64(p.n)
		if r.parse(p) {
			x.good = append(x.good, p)
		}
	}
	// Once a batch, not once a frame: in a group the loops share these.
	if got > 0 {
		r.st.framesIn.Add(uint64(got))
		r.st.bytesIn.Add(bytes)
	}
	r.dispatchParsed(x, x.good)
	for i := 0; i < got; i++ {
		if p := reusable(x.pkts[i]); p != x.pkts[i] {
			x.pkts[i], x.bufs[i] = p, p.buf
		}
	}
	if err != nil && errors.Is(err, backend.ErrTruncated) {
		err = nil
	}
	return got, err
}

// readBackend fills x.pkts from x's PacketIO, in one call when it reads
// batches. A frame that did not fit is reported with its length past
// MaxFrameLen.
func (r *Relay) readBackend(x *rxState) (int, error) {
	if x.pkts[0] == nil {
		for i := range x.pkts {
			x.pkts[i] = getPacket()
			x.bufs[i] = x.pkts[i].buf
		}
	}
	if x.br != nil {
		return x.br.ReadFrames(x.bufs, x.lens)
	}
	n, err := x.pio.ReadFrame(x.bufs[0][:backend.MaxFrameLen])
	switch {
	case err == nil:
		x.lens[0] = n
		return 1, nil
	case errors.Is(err, backend.ErrTruncated):
		x.lens[0] = backend.MaxFrameLen + 1
		return 1, nil
	}
	return 0, err
}

// releaseRx returns x's read buffers to the pool once its loop has ended.
func releaseRx(x *rxState) {
	for i, p := range x.pkts {
		if p != nil {
			p.Release()
			x.pkts[i] = nil
		}
	}
}

// startLeading reports whether q's reader should read the PacketIO now:
// nothing it waits for has happened. It then marks q as leading, so that
// what happens next kicks the read.
func (q *Queue) startLeading() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 || q.closed || q.ended != nil || q.sockErr.Load() != nil || q.dl.Exceeded() {
		return false
	}
	q.leading, q.kicked = true, false
	return true
}

// kickedNow reports whether q was kicked since it started leading.
func (q *Queue) kickedNow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.kicked
}

func (q *Queue) stopLeading() {
	q.mu.Lock()
	q.leading, q.kicked = false, false
	q.mu.Unlock()
}
