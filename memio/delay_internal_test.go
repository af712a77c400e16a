package memio

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Steady traffic through a delay must not grow the delay line without
// bound: it holds what is in flight, not everything ever sent.
func TestDelayLineStaysBounded(t *testing.T) {
	a, b := Pipe(Config{QueueLen: 1 << 16, Faults: Faults{Delay: 20 * time.Millisecond}})
	defer a.Close()
	defer b.Close()
	f := make([]byte, 60)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		for range 50 {
			require.NoError(t, a.WriteFrame(f))
		}
		time.Sleep(time.Millisecond)
	}
	l := b.in
	l.mu.Lock()
	pending, length := len(l.line)-l.head, len(l.line)
	l.mu.Unlock()
	total := a.Stats().FramesOut
	assert.LessOrEqual(t, length, 2*pending+64, "line length %d with %d pending of %d sent", length, pending, total)
}
