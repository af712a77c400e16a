package rudp_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetReadBuffer: the receive queue is bounded in bytes by
// SetReadBuffer, as a kernel socket by SO_RCVBUF; what passes it is dropped
// and counted.
func TestSetReadBuffer(t *testing.T) {
	ha, hb := newHosts(t)
	src := mustConn(t, ha.ec, "198.18.0.1:1000")
	dst := mustConn(t, hb.ec, "198.18.0.2:2000")
	require.NoError(t, dst.SetReadBuffer(4*2048)) // four MTU-sized datagrams
	require.NoError(t, dst.SetWriteBuffer(1<<20))
	payload := make([]byte, 1400) // pins a 2 KiB buffer
	for range 10 {
		_, err := src.WriteToUDPAddrPort(payload, dst.LocalAddrPort())
		require.NoError(t, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for dst.Stats().DatagramsIn+dst.Stats().QueueDrops < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := dst.Stats()
	assert.Equal(t, uint64(4), st.DatagramsIn)
	assert.Equal(t, uint64(6), st.QueueDrops)

	assert.ErrorIs(t, dst.SetReadBuffer(-1), syscall.EINVAL)
	require.NoError(t, dst.Close())
	assert.ErrorIs(t, dst.SetReadBuffer(1), net.ErrClosed)
	assert.ErrorIs(t, dst.SetWriteBuffer(1), net.ErrClosed)
}
