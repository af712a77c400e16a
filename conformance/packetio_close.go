package conformance

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

func (s *suite) testCloseUnblocksRead(t *testing.T) {
	_, b := s.pair(t)
	done := testkit.Go(func() error {
		buf := make([]byte, backend.MaxFrameLen)
		for {
			n, err := b.ReadFrame(buf)
			if err != nil || ours(buf[:n]) {
				return err
			}
		}
	})
	time.Sleep(s.cfg.Quiet)
	must(t, b.Close(), "Close")
	checkClosed(t, testkit.Await(t, done, s.cfg.Timeout, "Close did not unblock ReadFrame"),
		"a ReadFrame blocked when Close was called")
	checkSecondClose(t, b)
	_, err := b.ReadFrame(make([]byte, 100))
	checkClosed(t, err, "ReadFrame after Close")
	err = b.WriteFrame(testkit.PatternFrame(mac6(1), mac6(2), nil, etherTypeTest, 50))
	checkClosed(t, err, "WriteFrame after Close")
}

// checkSecondClose checks that Close is idempotent: a second call neither
// panics nor fails with anything but net.ErrClosed.
func checkSecondClose(t *testing.T, p backend.PacketIO) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("a second Close panicked: %v", r)
		}
	}()
	if err := p.Close(); err != nil {
		checkClosed(t, err, "a second Close returns nil or net.ErrClosed")
	}
}

// testCloseWhileWriting closes a PacketIO while writers write on it and a
// reader waits on it: every writer stops with net.ErrClosed, the reader
// returns, nothing panics (and the race detector sees the lot).
func (s *suite) testCloseWhileWriting(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	const writers = 4
	var closing, stop atomic.Bool
	defer stop.Store(true)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			f := testkit.PatternFrame(mac6(1), mac6(10+w), nil, etherTypeTest, 100)
			for !stop.Load() {
				if err := a.WriteFrame(f); err != nil {
					if !closing.Load() {
						err = fmt.Errorf("before Close: %w", err)
					}
					errs <- err
					return
				}
				time.Sleep(200 * time.Microsecond) // a pace every link carries
			}
			errs <- nil
		}()
	}
	readErr := testkit.Go(func() error {
		buf := make([]byte, backend.MaxFrameLen)
		for {
			if _, err := a.ReadFrame(buf); err != nil {
				return err
			}
		}
	})
	rx.next(t, s.cfg.Timeout) // the writers are under way
	closing.Store(true)
	must(t, a.Close(), "Close while %d writers write", writers)
	timeout := time.After(s.cfg.Timeout)
	for range writers {
		select {
		case err := <-errs:
			checkClosed(t, err, "WriteFrame racing with Close")
		case <-timeout:
			t.Fatalf("WriteFrame still succeeds %v after Close", s.cfg.Timeout)
		}
	}
	checkClosed(t, testkit.Await(t, readErr, s.cfg.Timeout, "Close did not unblock ReadFrame"),
		"ReadFrame blocked on the PacketIO the writers used")
}

// testReadDeadline checks the optional backend.ReadDeadliner that
// reader-led receive in the relay relies on: a timed-out read is not final,
// and a deadline set from another goroutine interrupts a blocked read.
func (s *suite) testReadDeadline(t *testing.T) {
	a, b := s.pair(t)
	d, ok := backend.ReadDeadlinerOf(b)
	if !ok {
		t.Skip("the backend has no backend.ReadDeadliner (optional)")
	}
	buf := make([]byte, backend.MaxFrameLen)
	readOurs := func() (int, error) {
		for {
			n, err := b.ReadFrame(buf)
			if err != nil || ours(buf[:n]) {
				return n, err
			}
		}
	}

	must(t, d.SetReadDeadline(time.Now().Add(-time.Second)), "SetReadDeadline in the past")
	_, err := readOurs()
	checkTimeout(t, err, "ReadFrame past its deadline")
	if br, ok := b.(backend.BatchReader); ok {
		_, err := br.ReadFrames([][]byte{buf}, []int{0})
		checkTimeout(t, err, "ReadFrames past its deadline")
	}

	must(t, d.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	done := testkit.Go(func() error { _, err := readOurs(); return err })
	time.Sleep(s.cfg.Quiet)
	must(t, d.SetReadDeadline(time.Unix(1, 0)), "SetReadDeadline from another goroutine")
	checkTimeout(t, testkit.Await(t, done, s.cfg.Timeout, "a deadline set from another goroutine did not interrupt the blocked read"),
		"a blocked ReadFrame whose deadline another goroutine set")

	// Cleared, the backend reads on as before.
	must(t, d.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	want := testkit.PatternFrame(mac6(1), mac6(2), nil, etherTypeTest, 100)
	must(t, a.WriteFrame(want), "WriteFrame")
	must(t, d.SetReadDeadline(time.Now().Add(s.cfg.Timeout)), "SetReadDeadline")
	n, err := readOurs()
	must(t, err, "ReadFrame after timeouts")
	checkBytes(t, buf[:n], want, "the frame read after timeouts")

	must(t, b.Close(), "Close")
	checkClosed(t, d.SetReadDeadline(time.Time{}), "SetReadDeadline after Close")
}
