package relay

import (
	"sync"
	"time"
)

// deadline is a net.Conn-style deadline that a blocked reader can wait on,
// following net.Pipe: its channel is closed when the deadline passes, and
// setting a new deadline before then keeps the channel, so a read already
// blocked sees the new deadline. The channel is made at the first Set, so an
// endpoint that never uses deadlines pays nothing; set reports when it made a
// new channel so the owner can wake readers that wait without one. Nothing is
// allocated per read.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // nil until the first deadline is set
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// set arms the deadline at t (zero: no deadline) and reports whether a new
// channel was made.
func (d *deadline) set(t time.Time) (newChan bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer func is running: wait until it closed cancel
	}
	d.timer = nil
	if t.IsZero() {
		if d.cancel != nil && isClosed(d.cancel) {
			d.cancel = make(chan struct{})
			return true
		}
		return false
	}
	if d.cancel == nil || isClosed(d.cancel) {
		d.cancel = make(chan struct{})
		newChan = true
	}
	if dur := time.Until(t); dur > 0 {
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return newChan
	}
	close(d.cancel)
	return newChan
}

// wait returns the channel closed when the deadline passes; nil (never
// ready) when no deadline was ever set.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// exceeded reports whether the deadline has passed.
func (d *deadline) exceeded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel != nil && isClosed(d.cancel)
}

// stop releases the timer so that nothing is left running after Close.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel
	}
	d.timer = nil
}
