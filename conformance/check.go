package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
)

// The suite's assertions, on the standard testing package: the must forms
// stop the test (t.Fatalf), the check forms record a failure and go on
// (t.Errorf). Every message starts with what was being checked, given as a
// format and arguments.

// must stops the test if err is not nil.
func must(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprintf(format, args...), err)
	}
}

// mustf stops the test if cond is false.
func mustf(t testing.TB, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, args...)
	}
}

// checkf records a failure if cond is false.
func checkf(t testing.TB, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Errorf(format, args...)
	}
}

// mustIs stops the test unless errors.Is(err, target).
func mustIs(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", fmt.Sprintf(format, args...), err, target)
	}
}

// checkIs records a failure unless errors.Is(err, target).
func checkIs(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %v", fmt.Sprintf(format, args...), err, target)
	}
}

// check records a failure unless got == want.
func check[T comparable](t testing.TB, got, want T, format string, args ...any) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", fmt.Sprintf(format, args...), got, want)
	}
}

// mustBytes stops the test unless got and want are the same bytes.
func mustBytes(t testing.TB, got, want []byte, format string, args ...any) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %s", fmt.Sprintf(format, args...), bytesDiff(got, want))
	}
}

// checkBytes records a failure unless got and want are the same bytes.
func checkBytes(t testing.TB, got, want []byte, format string, args ...any) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %s", fmt.Sprintf(format, args...), bytesDiff(got, want))
	}
}

// bytesDiff describes how got differs from want: lengths, the first
// differing offset and both in hex (up to 128 bytes each).
func bytesDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("got %d bytes, want %d, first difference at offset %d\n got: % x\nwant: % x",
		len(got), len(want), i, head(got), head(want))
}

func head(b []byte) []byte {
	if len(b) > 128 {
		return b[:128]
	}
	return b
}

// checkTimeout records a failure unless err is a read deadline's: wrapping
// os.ErrDeadlineExceeded and a net.Error whose Timeout is true.
func checkTimeout(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: got error %v, want one wrapping os.ErrDeadlineExceeded", what, err)
		return
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%s: %v (%T) is not a net.Error whose Timeout() is true", what, err, err)
	}
}

// checkClosed records a failure unless err wraps net.ErrClosed.
func checkClosed(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	checkIs(t, err, net.ErrClosed, format, args...)
}
