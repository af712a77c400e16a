package conformance

import (
	"bytes"
	"fmt"
	"io"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// maxGrace bounds how long the watchdog waits for a timed-out subtest to
// return once it has closed the subtest's PacketIOs.
const maxGrace = 5 * time.Second

// maxDump bounds the goroutine dump in a watchdog failure.
const maxDump = 1 << 20

// watchdog bounds one subtest, as golang.org/x/net/nettest's timeout
// wrapper does: the body runs on a goroutine of its own, and if it has not
// returned after limit the watchdog dumps every goroutine, closes what the
// body registered with add (so that a blocked call returns), waits up to
// grace for the body and fails the test.
type watchdog struct {
	limit, grace time.Duration

	mu      sync.Mutex
	closers []io.Closer
	fired   bool
}

// newWatchdog returns a watchdog with the given limit (negative: none) and
// a grace of the limit, at most maxGrace.
func newWatchdog(limit time.Duration) *watchdog {
	return &watchdog{limit: limit, grace: min(limit, maxGrace)}
}

// add registers cs to be closed if the watchdog fires; once it has fired,
// add closes them at once, for a body that goes on after its limit.
func (w *watchdog) add(cs ...io.Closer) {
	w.mu.Lock()
	fired := w.fired
	if !fired {
		w.closers = append(w.closers, cs...)
	}
	w.mu.Unlock()
	if fired {
		for _, c := range cs {
			c.Close()
		}
	}
}

// fire closes what add registered, each on its own goroutine so that one
// Close that blocks does not hold up the others. The channel it returns is
// closed when every Close has returned.
func (w *watchdog) fire() <-chan struct{} {
	w.mu.Lock()
	w.fired = true
	cs := w.closers
	w.closers = nil
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		wg.Wait()
	}()
	return closed
}

// run runs body under the watchdog and fails t if body does not return in
// time or panics. run must be called on t's goroutine, and body may call
// t's methods (FailNow, SkipNow and the methods that call them included:
// they end body's goroutine, which run waits for). It uses t's Helper, Name
// and Fatalf only.
func (w *watchdog) run(t testing.TB, body func()) {
	t.Helper()
	if w.limit < 0 {
		body()
		return
	}
	done := make(chan struct{})
	var panicked any
	var panicStack []byte
	go func() {
		defer close(done)
		defer func() {
			// recover returns nil when body ends with runtime.Goexit
			// (t.FailNow, t.SkipNow): that is not a panic.
			if r := recover(); r != nil {
				panicked, panicStack = r, debug.Stack()
			}
		}()
		body()
	}()
	timer := time.NewTimer(w.limit)
	defer timer.Stop()
	select {
	case <-done:
		if panicked != nil {
			t.Fatalf("conformance: %s panicked: %v\n\n%s", t.Name(), panicked, panicStack)
		}
		return
	case <-timer.C:
	}
	dump := goroutines()
	closed := w.fire()
	grace := time.NewTimer(w.grace)
	defer grace.Stop()
	var after string
	select {
	case <-done:
		after = "once its PacketIOs were closed it returned"
		// Let the Close calls finish before the subtest's cleanups close
		// the same PacketIOs again.
		select {
		case <-closed:
		case <-grace.C:
		}
	case <-grace.C:
		after = fmt.Sprintf("it was still running %v after its PacketIOs were closed and is left running", w.grace)
	}
	t.Fatalf("conformance: %s did not finish within %v (the watchdog limit, Config.Watchdog); %s.\n\nGoroutines when the limit passed:\n%s",
		t.Name(), w.limit, after, dump)
}

// goroutines returns the stacks of all goroutines, as a panic prints them,
// at most maxDump bytes of them.
func goroutines() string {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		return fmt.Sprintf("(no goroutine dump: %v)", err)
	}
	if b.Len() > maxDump {
		return b.String()[:maxDump] + "\n... (cut at 1 MiB)"
	}
	return b.String()
}
