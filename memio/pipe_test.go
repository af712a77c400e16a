package memio_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

func TestPipeDeliversExactFrames(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"header only", backend.MinFrameLen},
		{"short unpadded", 42},
		{"59 bytes", 59},
		{"minimum", 60},
		{"64 bytes", 64},
		{"standard", 1514},
		{"just over small buffer", 2049},
		{"jumbo", 9018},
		{"max", backend.MaxFrameLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := memio.Pipe(memio.Config{})
			defer a.Close()
			defer b.Close()
			for _, dir := range []struct{ from, to *memio.Port }{{a, b}, {b, a}} {
				want := mkFrame(macB, macA, 7, tt.size)
				require.NoError(t, dir.from.WriteFrame(want))
				assert.Zero(t, dir.from.Queued(), "writer must not see its own frame")
				buf := make([]byte, backend.MaxFrameLen+100)
				n, err := dir.to.ReadFrame(buf)
				require.NoError(t, err)
				assert.Equal(t, want, buf[:n])
			}
		})
	}
}

func TestPipeWriteCopiesFrame(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()
	f := mkFrame(macB, macA, 1, 64)
	want := bytes.Clone(f)
	require.NoError(t, a.WriteFrame(f))
	for i := range f {
		f[i] = 0xee // the caller reuses its buffer
	}
	buf := make([]byte, 100)
	n, err := b.ReadFrame(buf)
	require.NoError(t, err)
	assert.Equal(t, want, buf[:n])
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    memio.Config
		size   int
		closed bool
		want   error
	}{
		{"empty", memio.Config{}, 0, false, backend.ErrFrameTooShort},
		{"13 bytes", memio.Config{}, 13, false, backend.ErrFrameTooShort},
		{"over default max", memio.Config{}, backend.MaxFrameLen + 1, false, backend.ErrFrameTooLong},
		{"over configured max", memio.Config{MaxFrameLen: 1518}, 1519, false, backend.ErrFrameTooLong},
		{"closed", memio.Config{}, 64, true, net.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := memio.Pipe(tt.cfg)
			defer a.Close()
			defer b.Close()
			if tt.closed {
				require.NoError(t, a.Close())
			}
			f := make([]byte, tt.size)
			err := a.WriteFrame(f)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), "memio: write")

			n, err := a.WriteFrames([][]byte{f})
			assert.Zero(t, n)
			require.ErrorIs(t, err, tt.want)

			assert.Zero(t, b.Queued())
			assert.Zero(t, a.Stats().FramesOut)
		})
	}
}

func TestReadTruncated(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()
	long := mkFrame(macB, macA, 1, 100)
	short := mkFrame(macB, macA, 2, 20)
	require.NoError(t, a.WriteFrame(long))
	require.NoError(t, a.WriteFrame(short))

	buf := make([]byte, 30)
	n, err := b.ReadFrame(buf)
	require.ErrorIs(t, err, backend.ErrTruncated)
	assert.Equal(t, 30, n)
	assert.Equal(t, long[:30], buf[:n])

	n, err = b.ReadFrame(buf) // still usable
	require.NoError(t, err)
	assert.Equal(t, short, buf[:n])

	require.NoError(t, a.WriteFrame(short))
	n, err = b.ReadFrame(nil)
	require.ErrorIs(t, err, backend.ErrTruncated)
	assert.Zero(t, n)
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	a, b := memio.Pipe(memio.Config{QueueLen: 4})
	defer a.Close()
	defer b.Close()
	for i := range 10 {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64)))
	}
	assert.Equal(t, 4, b.Queued())
	assert.EqualValues(t, 6, b.Stats().Dropped)
	assert.EqualValues(t, 10, a.Stats().FramesOut)

	buf := make([]byte, 100)
	for i := range 4 { // the oldest frames survive
		n, err := b.ReadFrame(buf)
		require.NoError(t, err)
		assert.EqualValues(t, i, seqOf(buf[:n]))
	}
}

func TestCloseUnblocksAndIsFinal(t *testing.T) {
	readers := []struct {
		name string
		read func(p *memio.Port) error
	}{
		{"ReadFrame", func(p *memio.Port) error {
			_, err := p.ReadFrame(make([]byte, 100))
			return err
		}},
		{"ReadFrames", func(p *memio.Port) error {
			_, err := p.ReadFrames([][]byte{make([]byte, 100)}, make([]int, 1))
			return err
		}},
	}
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			a, b := memio.Pipe(memio.Config{})
			defer a.Close()
			errc := make(chan error, 1)
			go func() { errc <- r.read(b) }()
			time.Sleep(10 * time.Millisecond) // let the reader block; harmless if it has not yet
			require.NoError(t, b.Close())
			select {
			case err := <-errc:
				require.ErrorIs(t, err, net.ErrClosed)
				assert.Contains(t, err.Error(), "memio: read")
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock the reader")
			}
			require.NoError(t, b.Close(), "Close is idempotent")
			require.ErrorIs(t, r.read(b), net.ErrClosed)
			require.ErrorIs(t, b.WriteFrame(mkFrame(macA, macB, 0, 64)), net.ErrClosed)
		})
	}
}

func TestClosedPortReportsClosedWithFramesQueued(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 0, 64)))
	require.NoError(t, b.Close())
	_, err := b.ReadFrame(make([]byte, 100))
	require.ErrorIs(t, err, net.ErrClosed)
	assert.Zero(t, b.Queued(), "Close recycles queued frames")
}

func TestWriteToClosedPeerIsDiscarded(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	require.NoError(t, b.Close())
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 0, 64)))
	st := a.Stats()
	assert.EqualValues(t, 1, st.FramesOut)
	assert.EqualValues(t, 1, st.Discarded)
}

func TestBatch(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()

	frames := [][]byte{
		mkFrame(macB, macA, 0, 64),
		mkFrame(macB, macA, 1, 200),
		mkFrame(macB, macA, 2, 20),
		make([]byte, 5), // rejected
		mkFrame(macB, macA, 4, 64),
	}
	n, err := a.WriteFrames(frames)
	require.ErrorIs(t, err, backend.ErrFrameTooShort)
	require.Equal(t, 3, n)

	bufs := [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 100), make([]byte, 100)}
	lens := make([]int, 4)
	n, err = b.ReadFrames(bufs, lens)
	require.NoError(t, err, "truncation is not an error in a batch")
	require.Equal(t, 3, n, "takes every ready frame, no more")
	assert.Equal(t, frames[0], bufs[0][:lens[0]])
	assert.Equal(t, 100, lens[1])
	assert.Equal(t, frames[1][:100], bufs[1][:lens[1]])
	assert.Equal(t, frames[2], bufs[2][:lens[2]])

	// The batch is limited by the shorter of bufs and lens.
	n, err = a.WriteFrames(frames[:3])
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = b.ReadFrames(bufs, lens[:2])
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = b.ReadFrames(bufs[:0], lens)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1, b.Queued())

	st := b.Stats()
	assert.EqualValues(t, 5, st.FramesIn)
	assert.EqualValues(t, 64+100+20+64+100, st.BytesIn)
}

func TestStats(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 0, 64)))
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 1, 100)))
	buf := make([]byte, 100)
	for range 2 {
		_, err := b.ReadFrame(buf)
		require.NoError(t, err)
	}
	assert.Equal(t, backend.Stats{FramesOut: 2, BytesOut: 164}, a.Stats())
	assert.Equal(t, backend.Stats{FramesIn: 2, BytesIn: 164}, b.Stats())
}

func TestConcurrentWriters(t *testing.T) {
	const writers, perWriter = 8, 500
	a, b := memio.Pipe(memio.Config{QueueLen: writers * perWriter})
	defer a.Close()
	defer b.Close()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			f := make([]byte, 64) // reused, as callers do
			for i := range perWriter {
				copy(f, mkFrame(macB, macA, uint32(w<<16|i), 64))
				assert.NoError(t, a.WriteFrame(f))
			}
		})
	}
	next := make([]int, writers)
	buf := make([]byte, 100)
	for range writers * perWriter {
		n, err := b.ReadFrame(buf)
		require.NoError(t, err)
		seq := seqOf(buf[:n])
		w, i := int(seq>>16), int(seq&0xffff)
		require.Equal(t, next[w], i, "frames of one writer stay in order")
		next[w]++
	}
	wg.Wait()
	assert.Zero(t, b.Stats().Dropped)
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, size := range []int{64, 1514, 9000} {
		a, b := memio.Pipe(memio.Config{})
		f := mkFrame(macB, macA, 0, size)
		buf := make([]byte, backend.MaxFrameLen)
		allocs := testing.AllocsPerRun(1000, func() {
			_ = a.WriteFrame(f)
			_, _ = b.ReadFrame(buf)
		})
		assert.Zero(t, allocs, "WriteFrame+ReadFrame of %d bytes", size)

		frames := [][]byte{f, f, f, f}
		bufs := [][]byte{buf[:size], make([]byte, size), make([]byte, size), make([]byte, size)}
		lens := make([]int, 4)
		allocs = testing.AllocsPerRun(1000, func() {
			_, _ = a.WriteFrames(frames)
			_, _ = b.ReadFrames(bufs, lens)
		})
		assert.Zero(t, allocs, "WriteFrames+ReadFrames of %d bytes", size)
		a.Close()
		b.Close()
	}
}

func TestConfigOutOfRangeIsClamped(t *testing.T) {
	nan := 0.0
	nan /= nan
	cfg := memio.Config{
		QueueLen:    -5,
		MaxFrameLen: 3, // raised to MinFrameLen
		Faults: memio.Faults{
			Loss: -1, Duplicate: nan, Reorder: -0.5, Corrupt: -2,
			Delay: -time.Second, Jitter: -time.Second,
		},
	}
	a, b := memio.Pipe(cfg)
	defer a.Close()
	defer b.Close()
	f := mkFrame(macB, macA, 0, backend.MinFrameLen)
	require.NoError(t, a.WriteFrame(f))
	require.ErrorIs(t, a.WriteFrame(append(f, 0)), backend.ErrFrameTooLong)
	buf := make([]byte, 64)
	n, err := b.ReadFrame(buf)
	require.NoError(t, err)
	assert.Equal(t, f, buf[:n])
	assert.Equal(t, memio.FaultStats{}, b.FaultStats())
	for range memio.DefaultQueueLen + 1 {
		_ = a.WriteFrame(f)
	}
	assert.Equal(t, memio.DefaultQueueLen, b.Queued())

	// Probabilities above 1 mean always.
	c, d := memio.Pipe(memio.Config{Faults: memio.Faults{Loss: 7}})
	defer c.Close()
	defer d.Close()
	require.NoError(t, c.WriteFrame(f))
	assert.Zero(t, d.Queued())
	assert.EqualValues(t, 1, d.FaultStats().Lost)
}

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
	done := testkit.Go(func() error {
		_, err := b.ReadFrame(make([]byte, 2048))
		return err
	})
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	err := testkit.Await(t, done, 5*time.Second, "the first deadline did not reach the blocked read")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
