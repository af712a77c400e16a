//go:build linux

package afpacket

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The adaptive receive's reads: the state machine (take), the waits
// for blocks with their deadlines, drain mode and stray frames.

// read fills bufs and lens from the ring the state says, switching on the
// way, and reports whether a frame was cut. A link that goes down sets
// the error of both sockets: read takes the other socket's copy too,
// which would otherwise come back at the next switch as a second event.
func (a *adaptiveRing) read(bufs [][]byte, lens []int) (int, bool, error) {
	n, cut, err := a.take(bufs, lens)
	if err != nil {
		a.tookError(err)
	}
	return n, cut, err
}

// tookError takes the other socket's pending error once a read returned
// err, if it is the socket's (not a deadline, not Close: the rings return
// a socket's error as it is, an *os.SyscallError).
func (a *adaptiveRing) tookError(err error) {
	if _, ok := err.(*os.SyscallError); !ok {
		return
	}
	a.resync = time.Now().Add(time.Second)
	other := a.main
	if a.fromFrames {
		other = &a.sideRx
	}
	_ = other.rc.Control(func(fd uintptr) {
		_, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	})
}

// take is read but for the errors.
func (a *adaptiveRing) take(bufs [][]byte, lens []int) (int, bool, error) {
	if a.main.drain {
		return a.drain(bufs, lens)
	}
	for {
		if a.until.Exceeded() {
			return 0, false, os.ErrDeadlineExceeded
		}
		if !a.resync.IsZero() {
			if n, cut, ok := a.strays(bufs, lens); ok {
				return n, cut, nil
			}
		}
		a.fromFrames = a.state == onFrames || a.state == toBlocks
		switch a.state {
		case onFrames:
			n, cut, err := a.frames.read(bufs, lens, true)
			if err == nil {
				a.rate(n)
			}
			return n, cut, err
		case toBlocks:
			n, cut, err := a.frames.read(bufs, lens, false)
			if err != errDrained {
				return n, cut, err
			}
			a.settle(onBlocks)
		case onBlocks:
			n, cut, err := a.blocks.read(bufs, lens, false)
			if err == errDrained {
				n, cut, err = a.waitBlocks(bufs, lens, a.downWindow)
			}
			if err == errIdle {
				a.steer(toFrames)
				continue
			}
			if err == nil {
				a.rate(n)
			}
			return n, cut, err
		case toFrames:
			n, cut, err := a.blocks.read(bufs, lens, false)
			if err == errDrained && a.blocks.filling() {
				// The kernel hands the block it was filling over by
				// its timeout, at most two of them after its first
				// frame (its timer retires a block it saw open at its
				// last tick). A block still filling after that many is
				// an anomaly the reader does not wait out.
				n, cut, err = a.waitBlocks(bufs, lens, a.fillWait())
			}
			if err == errDrained || err == errIdle {
				a.landed()
				continue
			}
			return n, cut, err
		}
	}
}

// drain is take once the interface is gone: it takes what the rings hold
// without waiting, the older ring's first (the block ring's in toFrames),
// then ends (errDrained). A block the kernel still fills then comes by its
// timeout, which drain waits out with short sleeps.
func (a *adaptiveRing) drain(bufs [][]byte, lens []int) (int, bool, error) {
	a.sideRx.drain = true
	if a.state == onFrames {
		a.fromFrames = true
		return a.frames.read(bufs, lens, false)
	}
	blocksFirst := a.state == toFrames
	for i := 0; i < 2; i++ {
		a.fromFrames = blocksFirst == (i == 1)
		if a.fromFrames {
			if n, cut, err := a.frames.read(bufs, lens, false); err != errDrained {
				return n, cut, err
			}
			continue
		}
		for end := time.Now().Add(a.fillWait()); ; {
			n, cut, err := a.blocks.read(bufs, lens, false)
			if err != errDrained || !a.blocks.filling() || time.Now().After(end) {
				if err != errDrained {
					return n, cut, err
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return 0, false, errDrained
}

// fillWait bounds the wait for a block the kernel is filling: two of the
// block ring's timeouts and a margin.
func (a *adaptiveRing) fillWait() time.Duration {
	tov := max(a.ring.Timeout, time.Millisecond)
	return 2*tov + 20*time.Millisecond
}

// strays takes, for a while after a link event (resync), frames that went
// to the ring the reader is not reading (see resync): it reports whether
// it got any. In a switch both rings are read anyway. A second socket
// without a ring has its queue emptied, its frames counted in
// Stats().Dropped.
func (a *adaptiveRing) strays(bufs [][]byte, lens []int) (int, bool, bool) {
	if time.Now().After(a.resync) {
		a.resync = time.Time{}
		return 0, false, false
	}
	switch a.state {
	case onBlocks:
		a.fromFrames = true
		n, cut, err := a.frames.read(bufs, lens, false)
		return n, cut, err == nil
	case toBlocks, toFrames:
		return 0, false, false
	}
	a.fromFrames = false
	a.life.Lock()
	defer a.life.Unlock()
	if a.blocks == nil {
		a.purgeSide()
		return 0, false, false
	}
	n, cut, err := a.blocks.read(bufs, lens, false)
	return n, cut, err == nil
}

// purgeSide empties the queue of the second socket while it has no ring.
func (a *adaptiveRing) purgeSide() {
	var buf [1]byte
	_ = a.sideRx.rc.Control(func(fd uintptr) {
		for {
			if _, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != nil {
				return
			}
			a.c.counters.Drop(1)
		}
	})
}

// waitBlocks waits for a block like a read of the block ring, but for
// probe at the most (errIdle) when the Conn's deadline is later.
func (a *adaptiveRing) waitBlocks(bufs [][]byte, lens []int, probe time.Duration) (int, bool, error) {
	a.dl.Lock()
	a.dl.waiting = true
	a.dl.probe = time.Now().Add(probe)
	_ = a.deadlineLocked()
	a.dl.Unlock()
	n, cut, err := a.blocks.read(bufs, lens, true)
	a.dl.Lock()
	a.dl.waiting = false
	a.dl.probe = time.Time{}
	user := a.dl.user
	a.dl.Unlock()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && (user.IsZero() || time.Now().Before(user)) {
		return 0, false, errIdle
	}
	return n, cut, err
}

// setDeadline is the Conn's read deadline: setMain sets it on the Conn's
// socket, and it holds for the reads of the block ring and for the block
// ring's socket if the reader waits there. Both change under one lock, so
// that two callers (a user and the link monitor's kick) cannot leave the
// sockets with different deadlines.
func (a *adaptiveRing) setDeadline(t time.Time, setMain func(time.Time) error) error {
	a.dl.Lock()
	defer a.dl.Unlock()
	if err := setMain(t); err != nil {
		return err
	}
	a.dl.user = t
	a.until.Set(t)
	if !a.dl.waiting {
		return nil
	}
	return a.deadlineLocked()
}

// deadlineLocked sets the block ring socket's deadline: the earlier of the
// Conn's and the probe's.
func (a *adaptiveRing) deadlineLocked() error {
	d := a.dl.user
	if p := a.dl.probe; !p.IsZero() && (d.IsZero() || p.Before(d)) {
		d = p
	}
	if d.Equal(a.dl.set) && d.IsZero() == a.dl.set.IsZero() {
		return nil
	}
	a.dl.set = d
	return a.side.SetReadDeadline(d)
}

func (a *adaptiveRing) readFrame(b []byte) (int, bool, error) {
	a.one[0] = b
	_, cut, err := a.read(a.one[:], a.oneLen[:])
	a.one[0] = nil
	if err != nil {
		return 0, false, err
	}
	return a.oneLen[0], cut, nil
}

func (a *adaptiveRing) readFrames(bufs [][]byte, lens []int) (int, error) {
	n, _, err := a.read(bufs, lens)
	return n, err
}
