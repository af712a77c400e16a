//go:build linux

package afpacket

// TxBlocks is how many writes found the send-only socket full and finished
// on the main socket.
func TxBlocks(c *Conn) uint64 { return c.txBlocks.Load() }

// HasTx reports whether c has its send-only socket.
func HasTx(c *Conn) bool {
	c.txMu.RLock()
	defer c.txMu.RUnlock()
	return c.tx >= 0
}
