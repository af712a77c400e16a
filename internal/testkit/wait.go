package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 5 * time.Millisecond

// Eventually checks cond every PollInterval until it holds, and fails tb
// with the formatted message if it still does not once timeout has passed.
// The message is formatted only then, so an argument that is a pointer to a
// struct cond fills in (printed with %v or %+v as &{...}) reports the state
// that kept cond false.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(PollInterval)
	}
}

// Errors is a list of errors that any goroutine may add to: what a
// callback such as relay's EndpointEnded was told, in order. The zero value
// is an empty list; an Errors must not be copied after first use.
type Errors struct {
	mu   sync.Mutex
	errs []error
}

// Add appends err to the list.
func (e *Errors) Add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

// List returns a copy of the errors added so far, in order.
func (e *Errors) List() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// Go runs f on a goroutine of its own and returns the channel its result
// arrives on. The channel is buffered, so the goroutine ends even if the
// test stops waiting for it.
func Go[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// Await returns what ch delivers, and fails tb with the formatted message
// if nothing arrives within timeout: a call that should have returned (a
// blocked read that a close or a deadline ends) hangs the test no longer
// than that.
func Await[T any](tb testing.TB, ch <-chan T, timeout time.Duration, format string, args ...any) T {
	tb.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
		tb.Fatalf("nothing within %v: %s", timeout, fmt.Sprintf(format, args...))
		var zero T
		return zero
	}
}

// Parallel runs f(0) to f(n-1) on n goroutines at once and waits for all of
// them. f runs off the test's goroutine, so it must not call FailNow or
// Fatal: it reports with Error or through what it returns or counts.
func Parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
