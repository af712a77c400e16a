package relay

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
)

// NewGroup starts a relay that reads all of pios, PacketIOs of one link
// that the system spreads the link's frames over: the sockets of an
// AF_PACKET fanout group (afpacket.OpenGroup), later the queues of a NIC.
// It is New for several PacketIOs: each has its own read loop, and all
// share one endpoint table, so an endpoint registers once and receives
// its frames from whichever PacketIO they arrive on; pios[0] alone may
// be given (NewGroup(pios[:1], cfg) is New(pios[0], cfg)). The relay
// owns pios from now on and closes them all on Close. pios must be
// distinct and not empty (NewGroup panics on an empty one).
//
// Sends, Send and SendBatch of the relay and of its endpoints, all go
// out through pios[0]: one PacketIO keeps the order of each caller's
// frames with nothing kept per endpoint. On AF_PACKET the socket a frame
// leaves by is only its way into the interface's transmit path (on a veth
// the receiving end's work runs inside the send call, on the sender's CPU,
// whichever the socket), so spreading sends would buy little; AF_XDP
// queues, whose transmit rings take one producer each, would need them
// spread per endpoint.
//
// There is no reader-led receive (see the package documentation): every
// PacketIO is read by its own loop, which hands frames to the blocked
// readers. A reader can wait in one read only, and the system, not the
// reader, picks the socket its frames come by. With readers leading the
// first socket of two, measured on a veth pair with the paths taking turns
// (BenchmarkVethGroupRTT), a request/response flow hashed to the second
// socket took 15–20 µs more a round trip than on a relay of one socket
// (median 51–58 µs against 36–39; 68–69 against 48–49 under other load),
// its reader kicked out of the first socket's read for every frame, and
// one hashed to the first gained at most 3 µs over loops only. With loops
// only, flows on either socket take 1–5 µs more than on one socket (30–31
// µs against 28). And with no reader to kick, the loops sleep in their
// reads: an idle relay costs nothing, however many PacketIOs.
//
// The relay's input ends when every PacketIO's has: a fanout group
// outlives its sockets (closing one moves its flows to the others), and a
// set of finite sources is done when the last is. Until then Inputs shows
// which ended and why. Err then wraps the errors of them all (errors.Join,
// in the order of pios), so that errors.Is finds any of them: io.EOF at
// the end of a set of replays, but also the failure of one that broke
// off before. A PacketIO that ended is not closed before Close: an
// AF_PACKET socket ends for good only when its interface goes away, which
// ends every socket of the group alike.
//
// Stats sums the PacketIOs' counters; Inputs reports each one's.
func NewGroup[P backend.PacketIO](pios []P, cfg Config) *Relay {
	if len(pios) == 0 {
		panic("relay: NewGroup of no PacketIO")
	}
	ps := make([]backend.PacketIO, len(pios))
	for i, p := range pios {
		ps[i] = p
	}
	return newRelay(ps, cfg)
}

// InputStats are the counters of one of a relay's PacketIOs.
type InputStats struct {
	FramesIn uint64 // frames read from it, by its loop or a leading reader
	BytesIn  uint64
	// Backend holds the PacketIO's own counters when it reports them.
	Backend backend.Stats
	// Err is the error its reading ended with; nil while it is read, and
	// when Close ended it.
	Err error
}

// Inputs returns the counters of each PacketIO, in the order New or
// NewGroup got them: how the system spread the link's frames.
func (r *Relay) Inputs() []InputStats {
	out := make([]InputStats, len(r.ins))
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, x := range r.ins {
		out[i] = InputStats{FramesIn: x.in.frames.Load(), BytesIn: x.in.bytes.Load(),
			Backend: x.backendStats(), Err: x.in.end}
	}
	return out
}

// inputState is what a relay keeps per PacketIO besides its receive
// buffers. The counters are added once per batch, not per frame, so that
// loops on other CPUs do not fight over their cache line at every frame.
type inputState struct {
	frames, bytes atomic.Uint64
	end           error // why the loop stopped; guarded by Relay.mu
}

// add counts a batch of frames of the given lengths (truncated ones
// reported past MaxFrameLen count MaxFrameLen bytes).
func (s *inputState) add(lens []int) {
	if len(lens) == 0 {
		return
	}
	n := 0
	for _, l := range lens {
		n += min(l, backend.MaxFrameLen)
	}
	s.frames.Add(uint64(len(lens)))
	s.bytes.Add(uint64(n))
}

// initInputs prepares a receive state per PacketIO; readers lead only on
// a relay of one (see NewGroup).
func (r *Relay) initInputs(pios []backend.PacketIO) {
	r.initRx(&r.rx, pios[0], len(pios) == 1)
	r.ins = make([]*rxState, len(pios))
	r.ins[0] = &r.rx
	for i, pio := range pios[1:] {
		x := new(rxState)
		r.initRx(x, pio, false)
		r.ins[i+1] = x
	}
}

// startInputs starts a read loop per PacketIO.
func (r *Relay) startInputs() {
	r.mu.Lock()
	r.live = len(r.ins)
	r.mu.Unlock()
	go r.run()
	for _, x := range r.ins[1:] {
		go r.runInput(x)
	}
}

// runInput reads the PacketIO of x, not the first, until it fails. Its
// token is never used: only this loop reads it (see NewGroup).
func (r *Relay) runInput(x *rxState) {
	var err error
	for err == nil {
		var got int
		got, err = r.readOnce(x, nil)
		if got > 0 {
			// As in loopLead: let the readers this batch woke run.
			runtime.Gosched()
		}
	}
	r.inputEnded(x, err)
}

// inputEnded records why x's loop stopped. The last loop to stop ends
// the relay: it ends every endpoint with the loops' errors, unless Close
// stopped the relay, and closes Done.
func (r *Relay) inputEnded(x *rxState, err error) {
	releaseRx(x)
	r.mu.Lock()
	if !r.closing {
		x.in.end = err
	}
	if r.live--; r.live > 0 {
		r.mu.Unlock()
		return
	}
	defer close(r.done)
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.ended = fmt.Errorf("%w: %w", ErrInputEnded, r.inputErrLocked())
	eps := r.endpointsLocked()
	r.mu.Unlock()
	for _, ep := range eps {
		ep.end(r.ended)
	}
}

// inputErrLocked is why the PacketIOs ended: the one's error, or all of
// them joined. r.mu must be held.
func (r *Relay) inputErrLocked() error {
	if len(r.ins) == 1 {
		return r.rx.in.end
	}
	errs := make([]error, len(r.ins))
	for i, x := range r.ins {
		errs[i] = x.in.end
	}
	return errors.Join(errs...)
}

// backendStats returns the PacketIO's own counters, if it keeps them.
func (x *rxState) backendStats() backend.Stats {
	if sr, ok := x.pio.(backend.StatsReporter); ok {
		return sr.Stats()
	}
	return backend.Stats{}
}

// addStats sums two PacketIOs' counters.
func addStats(a, b backend.Stats) backend.Stats {
	return backend.Stats{
		FramesIn: a.FramesIn + b.FramesIn, BytesIn: a.BytesIn + b.BytesIn,
		FramesOut: a.FramesOut + b.FramesOut, BytesOut: a.BytesOut + b.BytesOut,
		Dropped: a.Dropped + b.Dropped, Discarded: a.Discarded + b.Discarded,
	}
}
