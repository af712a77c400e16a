//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Link loss, as the kernel reports it to a packet socket (packet_notifier in
// net/packet/af_packet.c):
//
//   - NETDEV_DOWN unhooks the socket from the interface, sets sk_err to
//     ENETDOWN and wakes the socket (POLLERR). The next recvmsg or recvmmsg
//     returns ENETDOWN once; a ring reader, which makes no such call, takes
//     the error with SO_ERROR whenever it finds no block ready (fill).
//   - NETDEV_UP hooks the socket again: frames flow, nothing is reported.
//   - NETDEV_UNREGISTER (the interface removed, or moved to another network
//     namespace; always after a NETDEV_DOWN) unbinds the socket and says
//     nothing more: getsockname's sll_ifindex becomes -1.
//
// So ENETDOWN on a read is no reason to end: the read goes on waiting, and
// frames come again after NETDEV_UP, on the same socket. What ends reading is
// removal, which nothing signals: while the link is down, the Conn looks
// every so often (linkCheckFirst, doubling up to linkCheckMax) at the
// socket's own binding and at the interface its index names, in the
// socket's namespace (SIOCGIFNAME, SIOCGIFFLAGS on the socket itself, so the
// thread that looks may be in any namespace). An index that is gone means
// removed for good (the kernel never binds the socket again); the IFF_UP flag
// back means the gap is over. A removal wakes the blocked read with a read
// deadline in the past; the read then takes what the socket still holds and
// returns an error wrapping ENODEV, as do all reads after it.

// Checks of a link that is down: the first soon after the kernel's ENETDOWN
// (removal unregisters the interface a few milliseconds after taking it
// down), then less often. linkCheckMax bounds how late a removal is seen
// (and a link up counted) at no measurable cost: one getsockname and two
// ioctls 50 times a second, and only while the link is down.
const (
	linkCheckFirst = time.Millisecond
	linkCheckMax   = 20 * time.Millisecond
)

// linkKickFor bounds how long after a removal the monitor keeps waking a
// blocked read (see checkLink): a read that starts after the removal is
// seen does not block at all.
const linkKickFor = time.Second

// aLongTimeAgo is a read deadline in the past: setting it wakes a blocked
// read.
var aLongTimeAgo = time.Unix(1, 0)

// linkMon is a Conn's view of its link: down periods, removal and the timer
// that watches a link that is down.
type linkMon struct {
	// removed is set once the interface is gone, after removedErr.
	removed    atomic.Bool
	removedErr error
	removedAt  time.Time
	// acked is set once a read has returned removedErr: reads fail at once
	// from then on, so none can be blocked and the monitor stops kicking.
	acked atomic.Bool

	mu      sync.Mutex
	down    bool          // seen down, not seen up since
	since   time.Time     // when down began
	downFor time.Duration // finished down periods
	downs   uint64
	timer   *time.Timer // the monitor, nil when not watching
	every   time.Duration
	closed  bool

	// retries and checks count the reads tried again after ENETDOWN and
	// the monitor's looks, for the tests that no loop spins while the
	// link is down.
	retries, checks atomic.Uint64
}

// linkStatus is what a look at the link found.
type linkStatus int

const (
	linkUnknown linkStatus = iota // the look failed (the Conn closed, say)
	linkUp
	linkDown
	linkRemoved
)

// linkState looks at the socket's binding and the interface it names.
func (c *Conn) linkState() linkStatus {
	st := linkUnknown
	_ = c.sys.rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if err != nil {
			return
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); !ok || ll.Ifindex != c.ifindex {
			st = linkRemoved // -1 once the kernel unbound the socket
			return
		}
		ifr, err := unix.NewIfreq("")
		if err != nil {
			return
		}
		ifr.SetUint32(uint32(c.ifindex))
		if err := unix.IoctlIfreq(int(fd), unix.SIOCGIFNAME, ifr); err != nil {
			// Unlisted: the kernel is unregistering it.
			if errors.Is(err, unix.ENODEV) {
				st = linkRemoved
			}
			return
		}
		if unix.IoctlIfreq(int(fd), unix.SIOCGIFFLAGS, ifr) != nil {
			return
		}
		if ifr.Uint16()&unix.IFF_UP != 0 {
			st = linkUp
		} else {
			st = linkDown
		}
	})
	return st
}

// linkWentDown is called by a read that got ENETDOWN: it counts the start
// of a down period, looks at once whether the interface is gone and
// otherwise starts watching it.
func (c *Conn) linkWentDown() {
	m := &c.sys.link
	m.mu.Lock()
	defer m.mu.Unlock()
	m.markDownLocked()
	if c.linkState() == linkRemoved {
		c.markRemovedLocked()
	}
	c.watchLocked()
}

// linkSuspect is called by a write that failed as if the link were gone:
// the kernel tells a writer of a link that is down or removed, but not
// always a reader (a write on the main socket may take the pending
// ENETDOWN), so the monitor looks.
func (c *Conn) linkSuspect() {
	m := &c.sys.link
	m.mu.Lock()
	defer m.mu.Unlock()
	c.watchLocked()
}

// markDownLocked starts a down period unless one runs.
func (m *linkMon) markDownLocked() {
	if !m.down && !m.removed.Load() {
		m.down, m.since = true, time.Now()
		m.downs++
	}
}

// endDownLocked ends the down period that runs, if any.
func (m *linkMon) endDownLocked() {
	if m.down {
		m.downFor += time.Since(m.since)
		m.down = false
	}
}

// markRemovedLocked records that the interface is gone.
func (c *Conn) markRemovedLocked() {
	m := &c.sys.link
	if m.removed.Load() {
		return
	}
	m.endDownLocked()
	m.removedAt = time.Now()
	m.removedErr = fmt.Errorf("afpacket: read %s: interface removed or moved out of the socket's network namespace (index %d): %w",
		c.ifname, c.ifindex, unix.ENODEV)
	m.removed.Store(true)
}

// watchLocked starts the monitor unless it runs or has nothing left to do.
func (c *Conn) watchLocked() {
	m := &c.sys.link
	if m.closed || m.timer != nil || m.acked.Load() {
		return
	}
	m.every = linkCheckFirst
	m.timer = time.AfterFunc(m.every, c.checkLink)
}

// checkLink is the monitor's tick. It holds mu throughout, so that Close,
// which takes mu to stop the timer, does not return while a tick runs.
func (c *Conn) checkLink() {
	m := &c.sys.link
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.timer = nil
		return
	}
	m.checks.Add(1)
	switch c.linkState() {
	case linkRemoved:
		c.markRemovedLocked()
	case linkUp:
		if !m.removed.Load() {
			m.endDownLocked()
			m.timer = nil
			return
		}
	case linkDown:
		m.markDownLocked()
	}
	if m.removed.Load() {
		if m.acked.Load() || time.Since(m.removedAt) > linkKickFor {
			m.timer = nil
			return
		}
		// Wake the read blocked since before the removal, at every tick
		// until a read has returned the error: a read deadline set from
		// another goroutine between this one and the poller's wake-up
		// (SetReadDeadline(time.Time{}) while the read is blocked) would
		// put the read back to sleep.
		_ = c.pollDeadline(aLongTimeAgo)
		m.timer.Reset(linkCheckMax)
		return
	}
	m.every = min(2*m.every, linkCheckMax)
	m.timer.Reset(m.every)
}

// stopLinkMon stops the monitor for good; Close calls it first.
func (c *Conn) stopLinkMon() {
	m := &c.sys.link
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
}

// linkStats is LinkStats on Linux.
func (c *Conn) linkStats() LinkStats {
	m := &c.sys.link
	m.mu.Lock()
	defer m.mu.Unlock()
	ls := LinkStats{Downs: m.downs, Down: m.down, DownTime: m.downFor, Removed: m.removed.Load()}
	if m.down {
		ls.DownTime += time.Since(m.since)
	}
	return ls
}
