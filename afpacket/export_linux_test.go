//go:build linux

package afpacket

import "golang.org/x/sys/unix"

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
	if r, ok := c.sys.recv.(*frameRing); ok {
		return r.bigFrames.Load()
	}
	return 0
}

// FailMmap makes every ring's mmap fail until the test ends. The test must
// not run in parallel with others.
func FailMmap(t interface{ Cleanup(func()) }) {
	mmap = func(int, int64, int, int, int) ([]byte, error) { return nil, unix.ENOMEM }
	t.Cleanup(func() { mmap = unix.Mmap })
}

// Mode is the receive path c took: "frames", "socket" or "blocks".
func Mode(c *Conn) string {
	switch c.sys.recv.(type) {
	case *frameRing:
		return "frames"
	case *rxRing:
		return "blocks"
	}
	return "socket"
}
