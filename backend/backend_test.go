package backend_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/backend"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type plain struct{}

func (plain) ReadFrame([]byte) (int, error) { return 0, nil }
func (plain) WriteFrame([]byte) error       { return nil }
func (plain) Close() error                  { return nil }

type withDeadline struct{ plain }

func (withDeadline) SetReadDeadline(time.Time) error { return nil }

// wrapper has the method whatever it wraps, as pcapio.Recorder does.
type wrapper struct {
	plain
	inner backend.PacketIO
}

func (w wrapper) SetReadDeadline(t time.Time) error {
	if rd, ok := w.inner.(backend.ReadDeadliner); ok {
		return rd.SetReadDeadline(t)
	}
	return fmt.Errorf("wrapper: %w", errors.ErrUnsupported)
}

func TestReadDeadlinerOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		pio  backend.PacketIO
		want bool
	}{
		{"none", plain{}, false},
		{"own", withDeadline{}, true},
		{"wrapper of none", wrapper{inner: plain{}}, false},
		{"wrapper of one", wrapper{inner: withDeadline{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rd, ok := backend.ReadDeadlinerOf(tc.pio)
			if ok != tc.want || (rd != nil) != tc.want {
				t.Fatalf("ReadDeadlinerOf = %v, %v; want ability %v", rd, ok, tc.want)
			}
		})
	}
}

func TestCounters(t *testing.T) {
	var c backend.Counters
	c.In(60)
	c.InBatch([]int{100, 200})
	c.Out(70)
	c.OutBatch([][]byte{make([]byte, 10), make([]byte, 20)})
	c.Drop(3)
	c.Discard()
	want := backend.Stats{FramesIn: 3, BytesIn: 360, FramesOut: 3, BytesOut: 100, Dropped: 3, Discarded: 1}
	if got := c.Snapshot(); got != want {
		t.Fatalf("Snapshot = %+v, want %+v", got, want)
	}
}
