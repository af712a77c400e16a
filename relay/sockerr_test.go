package relay

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueueSetError: a pending error is returned once, before queued
// packets, by whichever comes first of Pop, PopBatch and TakeError, and
// wakes a blocked Pop.
func TestQueueSetError(t *testing.T) {
	errX := syscall.EHOSTUNREACH
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, q *Queue)
	}{
		{"pop takes it before a queued packet", func(t *testing.T, q *Queue) {
			p := pkt(1)
			require.True(t, q.Push(p))
			p.Release() // the queue holds its own reference
			q.SetError(errX)
			_, err := q.Pop()
			assert.ErrorIs(t, err, errX)
			p, err = q.Pop()
			require.NoError(t, err, "taken once")
			assert.Equal(t, uint32(1), seqOf(p))
			p.Release()
			assert.NoError(t, q.TakeError())
		}},
		{"pop batch", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			n, err := q.PopBatch(make([]*Packet, 4))
			assert.Zero(t, n)
			assert.ErrorIs(t, err, errX)
			assert.NoError(t, q.TakeError())
		}},
		{"take error first", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			assert.ErrorIs(t, q.TakeError(), errX)
			assert.NoError(t, q.TakeError())
			q.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := q.Pop()
			assertTimeout(t, err)
		}},
		{"wakes a blocked pop", func(t *testing.T, q *Queue) {
			ch := popAsync(q.Pop)
			assertPending(t, ch, 20*time.Millisecond)
			q.SetError(errX)
			assert.ErrorIs(t, await(t, ch).err, errX)
			pushWakes(t, q, popAsync(q.Pop), 20*time.Millisecond, 2)
		}},
		{"the last one wins, nil clears", func(t *testing.T, q *Queue) {
			q.SetError(syscall.ECONNREFUSED)
			q.SetError(errX)
			assert.ErrorIs(t, q.TakeError(), errX)
			q.SetError(errX)
			q.SetError(nil)
			assert.NoError(t, q.TakeError())
		}},
		{"a past deadline wins and leaves it", func(t *testing.T, q *Queue) {
			q.SetError(errX)
			q.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := q.Pop()
			assertTimeout(t, err)
			assert.ErrorIs(t, q.TakeError(), errX)
		}},
		{"closed keeps none", func(t *testing.T, q *Queue) {
			q.Close()
			q.SetError(errX)
			assert.NoError(t, q.TakeError())
			_, err := q.Pop()
			assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(4)
			defer q.Close()
			tc.run(t, q)
		})
	}
}

// TestLeadingReaderSetError: a reader reading the PacketIO for everyone
// (reader-led receive) returns the error set meanwhile.
func TestLeadingReaderSetError(t *testing.T) {
	r, _, a := newLeadWire(t, Config{})
	q := a.NewQueue(0)
	res := popAsync(q.Pop)
	waitLeading(t, r)
	q.SetError(syscall.EHOSTUNREACH)
	assert.ErrorIs(t, await(t, res).err, syscall.EHOSTUNREACH)
}
