// Package deadline is the one place for net.Conn-style deadlines: Read, the
// read deadline a blocked reader waits on (relay.Queue), and Write, the
// write deadline etherconn and rudp check. Writes never wait for a
// receiver, so a write deadline only has to answer "has it passed?" —
// without a lock or an allocation per write.
package deadline

import (
	"math"
	"sync/atomic"
	"time"
)

// Write is a write deadline. The zero value has none.
type Write struct {
	ns atomic.Int64 // Unix ns; 0: none
}

// Set sets the deadline; the zero time clears it. Times at or before the
// Unix epoch count as passed, times beyond what Unix ns can hold as none.
func (w *Write) Set(t time.Time) {
	switch {
	case t.IsZero():
		w.ns.Store(0)
	case t.Unix() <= 0:
		w.ns.Store(1)
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		w.ns.Store(0)
	default:
		w.ns.Store(t.UnixNano())
	}
}

// Exceeded reports whether the deadline has passed.
func (w *Write) Exceeded() bool {
	d := w.ns.Load()
	return d != 0 && time.Now().UnixNano() >= d
}
