//go:build linux

package afpacket

import (
	"time"

	"golang.org/x/sys/unix"
)

// TxBlocks is how many writes found the send-only socket full and finished
// on the main socket.
func TxBlocks(c *Conn) uint64 { return c.sys.txBlocks.Load() }

// HasTx reports whether c has its send-only socket.
func HasTx(c *Conn) bool {
	c.sys.txMu.RLock()
	defer c.sys.txMu.RUnlock()
	return c.sys.tx >= 0
}

// LinkRetries is how many reads were tried again after ENETDOWN.
func LinkRetries(c *Conn) uint64 { return c.sys.link.retries.Load() }

// LinkChecks is how many times the monitor looked at the link.
func LinkChecks(c *Conn) uint64 { return c.sys.link.checks.Load() }

// HasVnet reports whether c's socket has PACKET_VNET_HDR.
func HasVnet(c *Conn) bool { return c.sys.vnet }

// DropTx closes c's send-only socket: every write then goes through the
// main socket.
func DropTx(c *Conn) { c.closeTx() }

// QueuedFrames is how many frames a frame ring took from the socket's
// queue because they did not fit its slots.
func QueuedFrames(c *Conn) uint64 {
	switch r := c.sys.recv.(type) {
	case *frameRing:
		return r.bigFrames.Load()
	case *adaptiveRing:
		return r.frames.bigFrames.Load()
	}
	return 0
}

// FailMmap makes every ring's mmap fail until the test ends. The test must
// not run in parallel with others.
func FailMmap(t interface{ Cleanup(func()) }) {
	mmap = func(int, int64, int, int, int) ([]byte, error) { return nil, unix.ENOMEM }
	t.Cleanup(func() { mmap = unix.Mmap })
}

// Switches is how often c's adaptive receive moved to the block ring (up)
// and back to the frame ring (down).
func Switches(c *Conn) (up, down uint64) {
	if a := c.sys.adapt; a != nil {
		return a.ups.Load(), a.downs.Load()
	}
	return 0, 0
}

// OnBlocks reports whether c's adaptive receive reads its block ring.
func OnBlocks(c *Conn) bool {
	a := c.sys.adapt
	return a != nil && (a.state == onBlocks || a.state == toBlocks)
}

// SwitchOften makes cfg's adaptive receive switch up after up frames read
// within a second, and down after every window of down.
func SwitchOften(cfg Config, up int, down time.Duration) Config {
	cfg.adapt = &adaptTune{upFrames: up, upWindow: time.Second, downWindow: down, downFrames: 1 << 30}
	return cfg
}

// OnBlocksOnly makes cfg's adaptive receive start on its block ring and
// stay there.
func OnBlocksOnly(cfg Config) Config { return StartOnBlocks(cfg, time.Hour) }

// StartOnBlocks makes cfg's adaptive receive start on its block ring, go
// down to its frame ring once no block came for down, and never go up.
func StartOnBlocks(cfg Config, down time.Duration) Config {
	cfg.adapt = &adaptTune{upFrames: 1 << 30, upWindow: time.Nanosecond, downWindow: down, blocks: true}
	return cfg
}

// CycleBlockRing makes c's adaptive receive's block ring and takes it down
// again, as a switch up after adaptLinger on the frame ring does; c must
// be on its frame ring, with no block ring.
func CycleBlockRing(c *Conn) error {
	a := c.sys.adapt
	a.life.Lock()
	defer a.life.Unlock()
	r, err := c.setupRing(&a.sideRx, &a.ring, false)
	if err != nil {
		return err
	}
	return unmapRing(r, &a.sideRx)
}

// HasBlockRing reports whether c's adaptive receive has its block ring.
func HasBlockRing(c *Conn) bool {
	a := c.sys.adapt
	a.life.Lock()
	defer a.life.Unlock()
	return a.blocks != nil
}

// RefuseBlockRings makes every block ring of cfg's adaptive receive fail
// to be made, as the kernel refuses memory, with switches up after up
// frames read within a second.
func RefuseBlockRings(cfg Config, up int) Config {
	cfg.adapt = &adaptTune{upFrames: up, upWindow: time.Second, downWindow: adaptDownWindow, downFrames: adaptDownFrames, refused: true}
	return cfg
}
