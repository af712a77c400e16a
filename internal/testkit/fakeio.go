package testkit

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
)

// FakeQueueLen is how many frames and errors a FakeIO holds for ReadFrame
// before Give blocks.
const FakeQueueLen = 1024

// FakeIO is a scripted backend.PacketIO for tests of what runs on one (a
// relay, a recorder): ReadFrame returns what the test queues with Give, Fail
// and End, in order, and blocks while nothing is queued until Close;
// WriteFrame keeps a copy of every frame. It keeps the backend contract: a
// frame longer than the read buffer is truncated with backend.ErrTruncated,
// a write shorter than an Ethernet header fails with
// backend.ErrFrameTooShort, Close is idempotent and unblocks ReadFrame, and
// every call after Close fails with net.ErrClosed.
//
// A FakeIO has none of the optional abilities (batches, Stats, deadlines),
// so code on it takes its plain paths; Batch adds batch reads and writes and
// Stats. Use NewFakeIO; the methods are safe for concurrent use.
type FakeIO struct {
	feed      chan fed
	closed    chan struct{}
	closeOnce sync.Once
	closes    atomic.Int64
	eof       atomic.Bool
	counters  backend.Counters

	mu       sync.Mutex
	written  [][]byte
	writeErr error
	pending  *fed // taken from feed by ReadFrames and left for the next read
}

// fed is one queued read result.
type fed struct {
	frame []byte
	err   error
	eof   bool // io.EOF from here on
}

// NewFakeIO returns a FakeIO with nothing queued.
func NewFakeIO() *FakeIO {
	return &FakeIO{feed: make(chan fed, FakeQueueLen), closed: make(chan struct{})}
}

// Give queues frames for ReadFrame, in order. It keeps the slices, so the
// test must not change them afterwards. It blocks while FakeQueueLen
// results are queued.
func (f *FakeIO) Give(frames ...[]byte) {
	for _, b := range frames {
		f.feed <- fed{frame: b}
	}
}

// Fail queues err as the result of one ReadFrame, after what is queued.
func (f *FakeIO) Fail(err error) { f.feed <- fed{err: err} }

// End makes ReadFrame return io.EOF, for ever, once what is queued before it
// is read: the end of a finite source such as an offline capture.
func (f *FakeIO) End() { f.feed <- fed{eof: true} }

// ReadFrame returns the next queued frame or error, blocking until there is
// one or until Close.
func (f *FakeIO) ReadFrame(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	if f.eof.Load() {
		return 0, io.EOF
	}
	if x, ok := f.takePending(); ok {
		return f.result(b, x)
	}
	select {
	case x := <-f.feed:
		return f.result(b, x)
	case <-f.closed:
		return 0, net.ErrClosed
	}
}

// takePending returns the result ReadFrames left for the next read, if any.
func (f *FakeIO) takePending() (fed, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		return fed{}, false
	}
	x := *f.pending
	f.pending = nil
	return x, true
}

// result turns a queued result into ReadFrame's.
func (f *FakeIO) result(b []byte, x fed) (int, error) {
	switch {
	case x.eof:
		f.eof.Store(true)
		return 0, io.EOF
	case x.err != nil:
		return 0, x.err
	}
	n := copy(b, x.frame)
	f.counters.In(n)
	if n < len(x.frame) {
		return n, backend.ErrTruncated
	}
	return n, nil
}

// WriteFrame keeps a copy of frame, or fails with the error SetWriteError
// set.
func (f *FakeIO) WriteFrame(frame []byte) error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	if len(frame) < backend.MinFrameLen {
		return backend.ErrFrameTooShort
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	f.written = append(f.written, append([]byte(nil), frame...))
	f.counters.Out(len(frame))
	return nil
}

// SetWriteError makes every later WriteFrame fail with err; nil restores
// writing.
func (f *FakeIO) SetWriteError(err error) {
	f.mu.Lock()
	f.writeErr = err
	f.mu.Unlock()
}

// Close unblocks ReadFrame and makes every later call fail with
// net.ErrClosed. It may be called any number of times; Closes counts them.
func (f *FakeIO) Close() error {
	f.closes.Add(1)
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// Closes returns how many times Close was called.
func (f *FakeIO) Closes() int { return int(f.closes.Load()) }

// Written returns copies of the frames written so far, in order.
func (f *FakeIO) Written() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.written...)
}

// TakeWritten returns the frames written since the last TakeWritten and
// forgets them.
func (f *FakeIO) TakeWritten() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.written
	f.written = nil
	return w
}

// Counts returns what the FakeIO counted: frames and bytes read and
// written. It is not named Stats, so that a FakeIO is not a
// backend.StatsReporter; FakeBatchIO is.
func (f *FakeIO) Counts() backend.Stats { return f.counters.Snapshot() }

// Drop counts n frames as lost below the backend, in Counts().Dropped, as a
// real backend counts a full socket buffer.
func (f *FakeIO) Drop(n uint64) { f.counters.Drop(n) }

// Batch returns f with batch reads and writes and Stats added: a
// backend.BatchReader, backend.BatchWriter and backend.StatsReporter on the
// same queue and records as f.
func (f *FakeIO) Batch() *FakeBatchIO { return &FakeBatchIO{FakeIO: f} }

// FakeBatchIO is a FakeIO that is also a backend.BatchReader,
// backend.BatchWriter and backend.StatsReporter, and counts its batch calls
// so that a test can tell that a wrapper passed them through. Make one with
// FakeIO.Batch.
type FakeBatchIO struct {
	*FakeIO
	batchReads, batchWrites atomic.Int64
}

// ReadFrames blocks like ReadFrame for the first frame, then returns with it
// every queued frame that fits in bufs and lens, without blocking again. A
// queued error or end after the first frame is left for the next call, as
// a real backend reports it on the next read; a frame longer than its
// buffer is truncated without an error.
func (f *FakeBatchIO) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	f.batchReads.Add(1)
	n, err := f.ReadFrame(bufs[0])
	if err != nil && !errors.Is(err, backend.ErrTruncated) {
		return 0, err
	}
	lens[0] = n
	got := 1
	for got < min(len(bufs), len(lens)) {
		var x fed
		select {
		case x = <-f.feed:
		default:
			return got, nil
		}
		if x.err != nil || x.eof {
			f.mu.Lock()
			f.pending = &x
			f.mu.Unlock()
			return got, nil
		}
		lens[got], _ = f.result(bufs[got], x)
		got++
	}
	return got, nil
}

// WriteFrames writes frames in order with WriteFrame and returns how many
// were written before the first error.
func (f *FakeBatchIO) WriteFrames(frames [][]byte) (int, error) {
	f.batchWrites.Add(1)
	for i, fr := range frames {
		if err := f.WriteFrame(fr); err != nil {
			return i, err
		}
	}
	return len(frames), nil
}

// Stats returns Counts: the FakeBatchIO is a backend.StatsReporter.
func (f *FakeBatchIO) Stats() backend.Stats { return f.Counts() }

// BatchReads returns how many times ReadFrames was called.
func (f *FakeBatchIO) BatchReads() int { return int(f.batchReads.Load()) }

// BatchWrites returns how many times WriteFrames was called.
func (f *FakeBatchIO) BatchWrites() int { return int(f.batchWrites.Load()) }

// Plain returns p seen through backend.PacketIO alone: every optional
// ability of p (batches, Stats, read deadlines) is hidden, so that code on
// it takes the paths it takes on a backend without them.
func Plain(p backend.PacketIO) backend.PacketIO { return plain{p} }

// plain is what Plain returns. It is a struct of its own, not an embedding,
// so that no method of p is promoted.
type plain struct{ p backend.PacketIO }

func (p plain) ReadFrame(b []byte) (int, error) { return p.p.ReadFrame(b) }
func (p plain) WriteFrame(f []byte) error       { return p.p.WriteFrame(f) }
func (p plain) Close() error                    { return p.p.Close() }
