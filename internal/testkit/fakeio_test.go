package testkit_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

var (
	_ backend.PacketIO      = (*testkit.FakeIO)(nil)
	_ backend.BatchReader   = (*testkit.FakeBatchIO)(nil)
	_ backend.BatchWriter   = (*testkit.FakeBatchIO)(nil)
	_ backend.StatsReporter = (*testkit.FakeBatchIO)(nil)
)

// abilities returns the names of the optional abilities p has.
func abilities(p backend.PacketIO) []string {
	var has []string
	if _, ok := p.(backend.BatchReader); ok {
		has = append(has, "BatchReader")
	}
	if _, ok := p.(backend.BatchWriter); ok {
		has = append(has, "BatchWriter")
	}
	if _, ok := p.(backend.StatsReporter); ok {
		has = append(has, "StatsReporter")
	}
	if _, ok := backend.ReadDeadlinerOf(p); ok {
		has = append(has, "ReadDeadliner")
	}
	return has
}

func TestFakeIOHasNoAbilities(t *testing.T) {
	if has := abilities(testkit.NewFakeIO()); len(has) != 0 {
		t.Errorf("FakeIO is a %v", has)
	}
}

// TestPlainHidesAbilities: Plain of a FakeBatchIO has none of its
// abilities, and passes the three PacketIO calls through.
func TestPlainHidesAbilities(t *testing.T) {
	f := testkit.NewFakeIO()
	if has := abilities(f.Batch()); len(has) != 3 {
		t.Fatalf("FakeBatchIO is a %v; want the batch reader, writer and Stats", has)
	}
	p := testkit.Plain(f.Batch())
	if has := abilities(p); len(has) != 0 {
		t.Errorf("Plain is a %v", has)
	}
	want := testkit.PatternFrame(testkit.MAC(1), testkit.MAC(2), nil, testkit.EtherTypeExp1, 46)
	f.Give(want)
	if got, err := read(t, p, 100); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadFrame through Plain = % x, %v", got, err)
	}
	if err := p.WriteFrame(want); err != nil || len(f.Written()) != 1 {
		t.Errorf("WriteFrame through Plain: %v, %d written", err, len(f.Written()))
	}
	if err := p.Close(); err != nil || f.Closes() != 1 {
		t.Errorf("Close through Plain: %v, %d closes", err, f.Closes())
	}
}

func read(t *testing.T, p backend.PacketIO, size int) ([]byte, error) {
	t.Helper()
	buf := make([]byte, size)
	n, err := p.ReadFrame(buf)
	return buf[:n], err
}

func TestFakeIOReads(t *testing.T) {
	f := testkit.NewFakeIO()
	a := testkit.PatternFrame(testkit.MAC(1), testkit.MAC(2), nil, testkit.EtherTypeExp1, 100)
	boom := errors.New("boom")
	f.Give(a, a)
	f.Fail(boom)
	f.Give(a)
	f.End()
	f.Give(a) // after the end: never read

	if got, err := read(t, f, 2000); err != nil || !bytes.Equal(got, a) {
		t.Errorf("first read: % x, %v", got, err)
	}
	if got, err := read(t, f, 60); !errors.Is(err, backend.ErrTruncated) || !bytes.Equal(got, a[:60]) {
		t.Errorf("read into 60 bytes: %d bytes, %v; want 60 and ErrTruncated", len(got), err)
	}
	if _, err := read(t, f, 2000); err != boom {
		t.Errorf("the failed read: %v, want boom", err)
	}
	if _, err := read(t, f, 2000); err != nil {
		t.Errorf("the read after a failure: %v", err)
	}
	for range 2 {
		if _, err := read(t, f, 2000); err != io.EOF {
			t.Errorf("a read after End: %v, want io.EOF", err)
		}
	}
	if got := f.Counts(); got.FramesIn != 3 || got.BytesIn != uint64(2*len(a)+60) {
		t.Errorf("Counts after reads: %+v", got)
	}
}

func TestFakeIOCloseUnblocksRead(t *testing.T) {
	f := testkit.NewFakeIO()
	done := make(chan error, 1)
	go func() {
		_, err := f.ReadFrame(make([]byte, 100))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	f.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrame")
	}
	f.Close()
	if f.Closes() != 2 {
		t.Errorf("Closes = %d, want 2", f.Closes())
	}
	f.Give(make([]byte, 60))
	if _, err := read(t, f, 100); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close with a frame queued: %v", err)
	}
	if err := f.WriteFrame(make([]byte, 60)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
}

func TestFakeIOWrites(t *testing.T) {
	f := testkit.NewFakeIO()
	a := make([]byte, 60)
	a[0] = 1
	if err := f.WriteFrame(a); err != nil {
		t.Fatal(err)
	}
	a[0] = 2 // the FakeIO kept a copy
	if err := f.WriteFrame(make([]byte, 13)); !errors.Is(err, backend.ErrFrameTooShort) {
		t.Errorf("WriteFrame of 13 bytes: %v", err)
	}
	boom := errors.New("boom")
	f.SetWriteError(boom)
	if err := f.WriteFrame(a); err != boom {
		t.Errorf("WriteFrame with SetWriteError: %v", err)
	}
	f.SetWriteError(nil)
	if err := f.WriteFrame(a); err != nil {
		t.Fatal(err)
	}
	if w := f.Written(); len(w) != 2 || w[0][0] != 1 || w[1][0] != 2 {
		t.Errorf("Written = %v", w)
	}
	if w := f.TakeWritten(); len(w) != 2 {
		t.Errorf("TakeWritten returned %d frames, want 2", len(w))
	}
	if w := f.TakeWritten(); len(w) != 0 {
		t.Errorf("TakeWritten after TakeWritten returned %d frames", len(w))
	}
	f.Drop(3)
	if got := f.Counts(); got.FramesOut != 2 || got.BytesOut != 120 || got.Dropped != 3 {
		t.Errorf("Counts = %+v", got)
	}
}

func TestFakeBatchIO(t *testing.T) {
	f := testkit.NewFakeIO()
	b := f.Batch()
	a := testkit.PatternFrame(testkit.MAC(1), testkit.MAC(2), nil, testkit.EtherTypeExp1, 100)
	boom := errors.New("boom")
	f.Give(a, a, a)
	f.Fail(boom)
	f.Give(a)
	bufs := [][]byte{make([]byte, 2000), make([]byte, 60), make([]byte, 2000), make([]byte, 2000)}
	lens := make([]int, len(bufs))
	n, err := b.ReadFrames(bufs, lens)
	if err != nil || n != 3 || lens[0] != len(a) || lens[1] != 60 || lens[2] != len(a) {
		t.Errorf("ReadFrames = %d, %v, lens %v; want 3 frames, the second truncated to 60", n, err, lens)
	}
	// The error queued behind them is the next read's, then the frame after
	// it: nothing reordered.
	if _, err := b.ReadFrames(bufs, lens); err != boom {
		t.Errorf("the next ReadFrames: %v, want boom", err)
	}
	if n, err := b.ReadFrames(bufs, lens); n != 1 || err != nil {
		t.Errorf("ReadFrames after the error: %d, %v", n, err)
	}
	if n, err := b.WriteFrames([][]byte{a, make([]byte, 5), a}); n != 1 || !errors.Is(err, backend.ErrFrameTooShort) {
		t.Errorf("WriteFrames with a short second frame: %d, %v", n, err)
	}
	if b.BatchReads() != 3 || b.BatchWrites() != 1 {
		t.Errorf("BatchReads %d, BatchWrites %d; want 3 and 1", b.BatchReads(), b.BatchWrites())
	}
	if st := b.Stats(); st != f.Counts() || st.FramesIn != 4 || st.FramesOut != 1 {
		t.Errorf("Stats = %+v, Counts = %+v", st, f.Counts())
	}
	f.End()
	if _, err := b.ReadFrames(bufs, lens); err != io.EOF {
		t.Errorf("ReadFrames after End: %v", err)
	}
}
