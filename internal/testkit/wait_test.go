package testkit_test

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/internal/testkit"
)

// fatalTB records Fatalf and ends the goroutine, as testing.T does; the
// other methods of the nil testing.TB it embeds panic.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	testkit.Eventually(t, 5*time.Second, func() bool { return n.Add(1) >= 3 }, "never")

	tb := &fatalTB{}
	done := make(chan struct{})
	var state struct{ N int }
	go func() {
		defer close(done)
		testkit.Eventually(tb, 30*time.Millisecond, func() bool { state.N = 42; return false }, "state is %+v", &state)
	}()
	<-done
	if !strings.Contains(tb.msg, "within 30ms") || !strings.Contains(tb.msg, "state is &{N:42}") {
		t.Errorf("Eventually's failure: %q", tb.msg)
	}
}

func TestGoAwait(t *testing.T) {
	release := make(chan struct{})
	ch := testkit.Go(func() int { <-release; return 7 })
	close(release)
	if got := testkit.Await(t, ch, 5*time.Second, "never"); got != 7 {
		t.Errorf("Await = %d, want 7", got)
	}

	tb := &fatalTB{}
	done := make(chan struct{})
	blocked := make(chan int) // nothing is ever sent
	go func() {
		defer close(done)
		testkit.Await(tb, blocked, 30*time.Millisecond, "read %d did not return", 3)
	}()
	<-done
	if !strings.Contains(tb.msg, "within 30ms") || !strings.Contains(tb.msg, "read 3 did not return") {
		t.Errorf("Await's failure: %q", tb.msg)
	}
}

func TestErrors(t *testing.T) {
	var log testkit.Errors
	if got := log.List(); len(got) != 0 {
		t.Errorf("a new Errors holds %v", got)
	}
	testkit.Parallel(8, func(i int) { log.Add(fmt.Errorf("error %d", i)) })
	got := log.List()
	if len(got) != 8 {
		t.Fatalf("List after 8 Adds: %v", got)
	}
	got[0] = nil // a copy: the list keeps its own
	if log.List()[0] == nil {
		t.Error("List returned the list itself, not a copy")
	}
}

func TestParallel(t *testing.T) {
	var seen [8]atomic.Int32
	var running, most atomic.Int32
	testkit.Parallel(len(seen), func(i int) {
		r := running.Add(1)
		for {
			m := most.Load()
			if r <= m || most.CompareAndSwap(m, r) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		seen[i].Add(1)
	})
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Errorf("f(%d) ran %d times", i, seen[i].Load())
		}
	}
	if most.Load() < 2 {
		t.Errorf("at most %d ran at once", most.Load())
	}
}

// loopback hands what is written to the next read, from src, or times out
// at once when nothing was written.
type loopback struct {
	ch  chan []byte
	src netip.AddrPort
}

func (l *loopback) Write(b []byte) (int, error) {
	l.ch <- append([]byte(nil), b...)
	return len(b), nil
}
func (l *loopback) SetReadDeadline(time.Time) error { return nil }
func (l *loopback) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case m := <-l.ch:
		return copy(b, m), l.src, nil
	default:
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
}

func TestExchange(t *testing.T) {
	l := &loopback{ch: make(chan []byte, 1), src: netip.MustParseAddrPort("198.18.0.1:53")}
	if got := testkit.Exchange(t, l, l, "query", time.Second); got != l.src {
		t.Errorf("Exchange returned %v, want %v", got, l.src)
	}

	tb := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testkit.Exchange(tb, io.Discard, l, "lost", time.Second)
	}()
	<-done
	if !strings.Contains(tb.msg, `read "lost"`) {
		t.Errorf("Exchange's failure: %q", tb.msg)
	}
}
