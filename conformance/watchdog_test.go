package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// fakeTB records the watchdog's failures instead of failing the test that
// checks them. The watchdog uses Helper, Name and Fatalf only; the other
// methods of the nil testing.TB it embeds panic if called.
type fakeTB struct {
	testing.TB
	name string

	mu     sync.Mutex
	fatals []string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }

// Fatalf records the failure and ends the calling goroutine, as
// testing.T's does.
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.fatals...)
}

// watch runs w.run(tb, body) as a test's goroutine would and waits for it,
// failing t if the watchdog itself does not return within 10 s.
func watch(t *testing.T, tb *fakeTB, w *watchdog, body func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(tb, body)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog did not return within 10 s")
	}
	return time.Since(start)
}

// hangingIO is a PacketIO whose every read and write blocks: until Close,
// or, with stuck set, until release is closed whatever Close does (a broken
// backend).
type hangingIO struct {
	closed  chan struct{}
	once    sync.Once
	release chan struct{} // nil: Close unblocks
}

func newHangingIO(stuck bool) *hangingIO {
	h := &hangingIO{closed: make(chan struct{})}
	if stuck {
		h.release = make(chan struct{})
	}
	return h
}

func (h *hangingIO) block() error {
	if h.release != nil {
		<-h.release
	} else {
		<-h.closed
	}
	return net.ErrClosed
}

func (h *hangingIO) ReadFrame([]byte) (int, error) { return 0, h.block() }
func (h *hangingIO) WriteFrame([]byte) error       { return h.block() }
func (h *hangingIO) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// onlyFailure returns tb's one failure, failing t unless there is exactly
// one.
func onlyFailure(t *testing.T, tb *fakeTB) string {
	t.Helper()
	fs := tb.failures()
	if len(fs) != 1 {
		t.Fatalf("the watchdog reported %d failures, want 1: %q", len(fs), fs)
	}
	return fs[0]
}

func mustContain(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("the failure message lacks %q:\n%s", p, msg)
		}
	}
}

// TestWatchdogFailsHangingSubtest: a body blocked in a PacketIO's ReadFrame
// fails after the limit with its name, the limit and a goroutine dump that
// shows where it hung; the watchdog closes the PacketIO, which unblocks it.
func TestWatchdogFailsHangingSubtest(t *testing.T) {
	h := newHangingIO(false)
	w := newWatchdog(100 * time.Millisecond)
	tb := &fakeTB{name: "TestBackend/Frames"}
	var readErr error
	took := watch(t, tb, w, func() {
		w.add(h)
		_, readErr = h.ReadFrame(make([]byte, 100))
	})
	msg := onlyFailure(t, tb)
	mustContain(t, msg,
		"TestBackend/Frames did not finish within 100ms",
		"once its PacketIOs were closed it returned",
		"Goroutines when the limit passed",
		"(*hangingIO).ReadFrame", // the dump shows where the body hung
	)
	if !errors.Is(readErr, net.ErrClosed) {
		t.Errorf("the hung ReadFrame returned %v after the watchdog closed its PacketIO, want net.ErrClosed", readErr)
	}
	if took > 5*time.Second {
		t.Errorf("the watchdog took %v with a limit of 100ms", took)
	}
}

// TestWatchdogLeavesStuckSubtest: a body that Close does not unblock is
// reported as left running after the grace period, and the watchdog still
// returns, so that the test binary goes on.
func TestWatchdogLeavesStuckSubtest(t *testing.T) {
	h := newHangingIO(true)
	ended := make(chan struct{})
	t.Cleanup(func() {
		close(h.release) // the body's goroutine ends, for goleak
		<-ended
	})
	w := newWatchdog(100 * time.Millisecond)
	tb := &fakeTB{name: "TestBackend/CloseUnblocksRead"}
	watch(t, tb, w, func() {
		defer close(ended)
		w.add(h)
		h.WriteFrame(make([]byte, 60))
	})
	mustContain(t, onlyFailure(t, tb),
		"TestBackend/CloseUnblocksRead did not finish within 100ms",
		"still running 100ms after its PacketIOs were closed and is left running",
		"(*hangingIO).WriteFrame",
	)
	// What the body registers after the watchdog fired is closed at once.
	late := newHangingIO(false)
	w.add(late)
	select {
	case <-late.closed:
	default:
		t.Error("a PacketIO added after the watchdog fired was not closed")
	}
}

func TestWatchdogPassesFastSubtest(t *testing.T) {
	for _, limit := range []time.Duration{time.Second, -1} {
		tb := &fakeTB{name: "TestBackend/Fast"}
		ran := false
		watch(t, tb, newWatchdog(limit), func() {
			time.Sleep(10 * time.Millisecond)
			ran = true
		})
		if fs := tb.failures(); len(fs) != 0 || !ran {
			t.Errorf("limit %v: body ran %v, failures %q; want it run without failures", limit, ran, fs)
		}
	}
}

// TestWatchdogBodyFails: a body that fails the test (FailNow ends its
// goroutine) is not reported again by the watchdog.
func TestWatchdogBodyFails(t *testing.T) {
	tb := &fakeTB{name: "TestBackend/Fails"}
	watch(t, tb, newWatchdog(time.Second), func() { tb.Fatalf("the body's own failure") })
	check(t, onlyFailure(t, tb), "the body's own failure", "the one failure")
}

func TestWatchdogBodyPanics(t *testing.T) {
	tb := &fakeTB{name: "TestBackend/Panics"}
	watch(t, tb, newWatchdog(time.Second), func() { panic("boom") })
	mustContain(t, onlyFailure(t, tb), "TestBackend/Panics panicked: boom", "watchdog_test.go")
}

// helperEnv makes TestHelperHangingBackend run the suite on a hanging
// backend; without it that test does nothing.
const helperEnv = "CONFORMANCE_HANGING_BACKEND_HELPER"

// TestHelperHangingBackend is the child of TestWatchdogInRun: it runs Run
// on a backend whose writes block until Close, with a 300 ms watchdog.
func TestHelperHangingBackend(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return // run only as TestWatchdogInRun's child process
	}
	Run(t, Config{
		Watchdog: 300 * time.Millisecond,
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			return newHangingIO(false), newHangingIO(false)
		},
	})
}

// TestWatchdogInRun runs Run's Frames subtest on a hanging backend in a
// child test binary, and checks that the child fails with the watchdog's
// message, naming the subtest and the limit, instead of hanging.
func TestWatchdogInRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperHangingBackend$/^Frames$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the child test binary hung despite the watchdog:\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child test binary: %v, want it to fail:\n%s", err, out)
	}
	mustContain(t, string(out),
		"--- FAIL: TestHelperHangingBackend/Frames",
		"TestHelperHangingBackend/Frames did not finish within 300ms",
		"once its PacketIOs were closed it returned",
		"(*hangingIO).WriteFrame",
	)
}
