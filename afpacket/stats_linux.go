//go:build linux

package afpacket

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// pollDrops adds the kernel's count of frames dropped for a full receive
// queue to the Conn's Dropped counter. Reading the kernel's count resets it,
// so each drop is counted once, however many callers poll at once.
func (c *Conn) pollDrops() {
	if c.sys.closed.Load() {
		return
	}
	var st *unix.TpacketStats
	_ = c.sys.rc.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st != nil {
		c.counters.Drop(uint64(st.Drops))
	}
	if a := c.sys.adapt; a != nil {
		c.counters.Drop(a.drops())
	}
}

// close is Close on Linux; Close makes sure it runs once.
func (c *Conn) close() error {
	s := &c.sys
	c.stopLinkMon()
	// The kernel's drop count goes with the socket: take it first.
	c.pollDrops()
	s.closed.Store(true)
	if s.promisc {
		_ = s.pc.SetPromiscuous(false)
	}
	// Closing the socket waits for a read callback that is running, so
	// nothing reads a ring once it is unmapped.
	var err error
	if cerr := s.pc.Close(); cerr != nil {
		err = fmt.Errorf("afpacket: close %s: %w", c.ifname, cerr)
	}
	c.closeTx()
	s.recv.close()
	return err
}
