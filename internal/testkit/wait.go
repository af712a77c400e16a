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
