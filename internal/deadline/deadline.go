// Package deadline is the one place for net.Conn-style deadlines: Read, the
// read deadline a blocked reader waits on (relay.Queue), and Write, the
// write deadline etherconn and rudp check. Writes never wait for a
// receiver, so a write deadline only has to answer "has it passed?" —
// without a lock or an allocation per write; afpacket's adaptive receive
// asks Write the same for the reads it makes without waiting.
package deadline

import (
	"math"
	"sync/atomic"
	"time"
)

// base is where Write counts from: deadlines are kept on the monotonic
// clock, as the Go runtime's own are, so that a step of the wall clock
// neither fails nor frees a write (a time.Time from time.Now carries a
// monotonic reading; one from time.Unix or time.Date counts by the wall
// clock against base).
var base = time.Now()

// Write is a write deadline. The zero value has none.
type Write struct {
	ns atomic.Int64 // since base; 0: none
}

// Set sets the deadline; the zero time clears it. Times before the process
// started count as passed, times beyond what a Duration holds as none.
func (w *Write) Set(t time.Time) {
	switch d := t.Sub(base); {
	case t.IsZero():
		w.ns.Store(0)
	case d == math.MaxInt64:
		w.ns.Store(0)
	default:
		w.ns.Store(max(int64(d), 1))
	}
}

// Exceeded reports whether the deadline has passed.
func (w *Write) Exceeded() bool {
	d := w.ns.Load()
	return d != 0 && int64(time.Since(base)) >= d
}
