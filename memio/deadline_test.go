package memio_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/memio"
)

// TestReadDeadline: Port read deadlines behave as net.Conn's, for ReadFrame
// and ReadFrames alike; the relay relies on a deadline set from another
// goroutine interrupting a blocked read.
func TestReadDeadline(t *testing.T) {
	reads := map[string]func(p *memio.Port) error{
		"ReadFrame": func(p *memio.Port) error {
			_, err := p.ReadFrame(make([]byte, 2048))
			return err
		},
		"ReadFrames": func(p *memio.Port) error {
			_, err := p.ReadFrames([][]byte{make([]byte, 2048)}, make([]int, 1))
			return err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			a, b := memio.Pipe(memio.Config{})
			defer a.Close()
			defer b.Close()

			// In the past: fails at once, and the port stays usable.
			require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
			err := read(b)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout())

			// As on net.Conn, a passed deadline wins over a queued frame,
			// which a read after clearing it gets.
			require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 1, 60)))
			require.ErrorIs(t, read(b), os.ErrDeadlineExceeded)
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			require.NoError(t, read(b))

			// In the future: the read waits for it.
			start := time.Now()
			require.NoError(t, b.SetReadDeadline(start.Add(30*time.Millisecond)))
			require.ErrorIs(t, read(b), os.ErrDeadlineExceeded)
			assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

			// Zero clears it; a deadline set later reaches a blocked read,
			// also one that waits on no deadline channel yet.
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			done := make(chan error, 1)
			go func() { done <- read(b) }()
			time.Sleep(10 * time.Millisecond)
			require.NoError(t, b.SetReadDeadline(time.Now()))
			select {
			case err := <-done:
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			case <-time.After(5 * time.Second):
				t.Fatal("a deadline set later did not reach the blocked read")
			}

			// After Close: closed, not a timeout.
			require.NoError(t, b.Close())
			require.ErrorIs(t, read(b), net.ErrClosed)
			require.ErrorIs(t, b.SetReadDeadline(time.Time{}), net.ErrClosed)
		})
	}
}

// TestReadDeadlineFresh: the first deadline ever set, while a read is
// already blocked, reaches it (the port had no deadline channel before).
func TestReadDeadlineFresh(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := b.ReadFrame(make([]byte, 2048))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	select {
	case err := <-done:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("the first deadline did not reach the blocked read")
	}
}
