//go:build linux

package afpacket

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The adaptive receive's switches: when (rate), and the block ring's
// life around them (goUp, landed, expire).

// goUp moves the reader to the block ring, made first if there is none.
// A block ring the kernel refuses keeps the reader on the frame ring for
// adaptRetry.
func (a *adaptiveRing) goUp() {
	a.life.Lock()
	defer a.life.Unlock()
	if a.closed {
		return
	}
	if a.blocks == nil {
		now := time.Now()
		if now.Before(a.retryAt) {
			a.settle(onFrames)
			return
		}
		var r *rxRing
		err := fmt.Errorf("ring: %w", unix.ENOMEM)
		if !a.refused {
			r, err = a.c.setupRing(&a.sideRx, &a.ring, false)
		}
		if err != nil {
			a.retryAt = now.Add(adaptRetry)
			a.settle(onFrames)
			return
		}
		a.blocks = r
	}
	a.steer(toBlocks)
	if a.up = a.state != onFrames; !a.up {
		// The group stays on the frame ring for good: no block ring
		// (and no block timer) to keep.
		_ = unmapRing(a.blocks, &a.sideRx)
		a.blocks = nil
	}
}

// landed is the end of a switch down: the reader is on the frame ring, and
// the block ring goes after adaptLinger unless the reader goes up before.
func (a *adaptiveRing) landed() {
	a.life.Lock()
	defer a.life.Unlock()
	a.up = false
	a.downAt = time.Now()
	a.settle(onFrames)
	if a.closed {
		return
	}
	a.linger.Reset(adaptLinger)
}

// expire is the linger timer: it takes the block ring down if the reader
// has stayed on the frame ring since adaptLinger.
func (a *adaptiveRing) expire() {
	a.life.Lock()
	defer a.life.Unlock()
	if a.closed || a.up || a.blocks == nil {
		return
	}
	if d := adaptLinger - time.Since(a.downAt); d > 0 {
		a.linger.Reset(d)
		return
	}
	// Empty but where a switch down gave up on a block the kernel did not
	// hand over (fillWait): what it holds is lost, and counted.
	a.c.counters.Drop(a.blocks.held())
	_ = unmapRing(a.blocks, &a.sideRx)
	a.blocks = nil
}

// steer repoints the group for state to (toBlocks or toFrames). A switch
// that fails leaves the reader where it is, for good.
func (a *adaptiveRing) steer(to adaptState) {
	m := 0
	if to == toBlocks {
		m = 1
	}
	if a.stuck || a.point(m) != nil {
		a.stuck = true
		a.settle(a.state)
		return
	}
	if to == toBlocks {
		a.ups.Add(1)
	} else {
		a.downs.Add(1)
	}
	a.state = to
}

// settle makes s the reader's state and starts a new window.
func (a *adaptiveRing) settle(s adaptState) {
	a.state, a.n, a.calls, a.t0 = s, 0, 0, time.Now()
}

// rate counts n frames read in state onFrames or onBlocks, and switches
// when the window says so.
func (a *adaptiveRing) rate(n int) {
	a.n += n
	if a.state == onFrames {
		if a.n < a.upFrames {
			return
		}
		if time.Since(a.t0) <= a.upWindow {
			a.goUp()
			return
		}
		a.settle(onFrames)
		return
	}
	// A block brings many frames a read: the clock is read every 16th.
	if a.calls++; a.calls%16 != 0 {
		return
	}
	el := time.Since(a.t0)
	if el < a.downWindow {
		return
	}
	if int64(a.n)*int64(a.downWindow) < int64(a.downFrames)*int64(el) {
		a.steer(toFrames)
		return
	}
	a.settle(onBlocks)
}
