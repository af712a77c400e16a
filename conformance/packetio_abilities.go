package conformance

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

// seqFrames returns n frames from src, each carrying its index as a
// sequence number, with VLAN stacks and sizes that vary.
func (s *suite) seqFrames(src, n int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		tags := tagCases[i%len(tagCases)].tags
		size := 60 + (i*331)%(s.cfg.MaxPayload-60+1) // in all, within every link's limit
		fs[i] = testkit.SeqFrame(mac6(1000), mac6(src), tags, etherTypeTest, uint32(i), size)
	}
	return fs
}

// expectAll reads frames from rx until each of want has arrived, and for
// Quiet more, and checks that each arrived once, byte for byte, in any
// order (links may reorder frames written back to back: a veth's per-CPU
// hand-over does), and that nothing else arrived. dropped, if not nil,
// reports how many frames the receiver counted as lost below it; that many
// may be missing.
func (s *suite) expectAll(t *testing.T, rx *collector, want [][]byte, dropped func() uint64) {
	t.Helper()
	pending := make(map[string]bool, len(want))
	for _, f := range want {
		pending[string(f)] = true
	}
	seen := make(map[string]bool, len(want))
	var unexpected int
	other := func(f []byte) {
		t.Helper()
		if unexpected++; unexpected > 3 {
			return
		}
		if seen[string(f)] {
			t.Errorf("a frame arrived twice: % x", head(f))
		} else {
			t.Errorf("a frame arrived that was not sent (or changed on the way): % x", head(f))
		}
	}
	defer func() {
		t.Helper()
		quiet := time.After(s.cfg.Quiet)
		for {
			select {
			case f := <-rx.frames:
				other(f)
			case <-quiet:
				return
			}
		}
	}()
	timeout := time.NewTimer(s.cfg.Timeout)
	defer timeout.Stop()
	for len(pending) > 0 {
		select {
		case f := <-rx.frames:
			if pending[string(f)] {
				delete(pending, string(f))
				seen[string(f)] = true
				timeout.Reset(s.cfg.Timeout)
			} else {
				other(f)
			}
		case <-timeout.C:
			if dropped != nil && uint64(len(pending)) <= dropped() {
				t.Logf("%d of %d frames missing, and the receiver counted %d dropped", len(pending), len(want), dropped())
				return
			}
			t.Fatalf("%d of %d frames did not arrive within %v", len(pending), len(want), s.cfg.Timeout)
		}
	}
}

func (s *suite) testBatchWriter(t *testing.T) {
	a, b := s.pair(t)
	bw, ok := a.(backend.BatchWriter)
	if !ok {
		t.Skip("the backend has no backend.BatchWriter (optional)")
	}
	rx := s.collect(t, b)
	frames := s.seqFrames(1, 16)
	n, err := bw.WriteFrames(frames)
	must(t, err, "WriteFrames of %d frames", len(frames))
	check(t, n, len(frames), "WriteFrames returns how many frames it wrote")
	s.expectAll(t, rx, frames, nil)

	// A frame it must refuse stops the batch there.
	first := testkit.PatternFrame(mac6(1000), mac6(2), nil, etherTypeTest, 80)
	n, err = bw.WriteFrames([][]byte{first, make([]byte, 13), first})
	checkIs(t, err, backend.ErrFrameTooShort, "WriteFrames with a 13-byte frame second")
	check(t, n, 1, "WriteFrames returns the frames before the refused one")
	got := rx.next(t, s.cfg.Timeout)
	checkBytes(t, got, first, "the frame before the refused one")
	rx.none(t, s.cfg.Quiet)

	must(t, a.Close(), "Close")
	_, err = bw.WriteFrames([][]byte{first})
	checkClosed(t, err, "WriteFrames after Close")
}

func (s *suite) testBatchReader(t *testing.T) {
	a, b := s.pair(t)
	br, ok := b.(backend.BatchReader)
	if !ok {
		t.Skip("the backend has no backend.BatchReader (optional)")
	}
	// A frame longer than its buffer is truncated, without an error.
	long := testkit.PatternFrame(mac6(1), mac6(2), []testkit.Tag{{ID: 7}}, etherTypeTest, 200)
	must(t, a.WriteFrame(long), "WriteFrame")
	bufs := [][]byte{make([]byte, 60), make([]byte, 60)}
	lens := make([]int, len(bufs))
	got, err := readOne(t, s.cfg.Timeout, func() ([]byte, error) {
		n, err := br.ReadFrames(bufs, lens)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > len(bufs) {
			return nil, fmt.Errorf("ReadFrames returned %d frames and no error into %d buffers", n, len(bufs))
		}
		for i := range n {
			if ours(bufs[i][:lens[i]]) {
				return bufs[i][:lens[i]], nil
			}
		}
		return nil, nil // only other senders' frames; read on
	})
	must(t, err, "ReadFrames of a %d-byte frame into 60-byte buffers", len(long))
	checkBytes(t, got, long[:60], "ReadFrames into a 60-byte buffer stores 60 in lens and the frame's first 60 bytes")

	rx := s.collectBatch(t, b, br)
	frames := s.seqFrames(1, 16)
	for i, f := range frames {
		must(t, a.WriteFrame(f), "WriteFrame %d", i)
	}
	s.expectAll(t, rx, frames, nil)

	// Close unblocks the collector's blocked ReadFrames.
	must(t, b.Close(), "Close")
	select {
	case <-rx.done:
		checkClosed(t, rx.err, "a ReadFrames blocked when Close was called")
	case <-time.After(s.cfg.Timeout):
		t.Fatalf("Close did not unblock ReadFrames within %v", s.cfg.Timeout)
	}
	_, err = br.ReadFrames(bufs, lens)
	checkClosed(t, err, "ReadFrames after Close")
}

// testConcurrency runs one reader and several writers on each end at once:
// every frame arrives once, unchanged, on the other end, while Stats (if
// the backend has it) is read alongside.
func (s *suite) testConcurrency(t *testing.T) {
	a, b := s.pair(t)
	const writers, perWriter = 4, 50
	type side struct {
		w  backend.PacketIO
		rx *collector
		r  backend.PacketIO
	}
	sides := []side{{w: a, r: b, rx: s.collect(t, b)}, {w: b, r: a, rx: s.collect(t, a)}}
	var stop atomic.Bool
	var statsWG sync.WaitGroup
	defer func() {
		stop.Store(true)
		statsWG.Wait()
	}()
	for _, p := range []backend.PacketIO{a, b} {
		if sr, ok := p.(backend.StatsReporter); ok {
			statsWG.Add(1)
			go func() {
				defer statsWG.Done()
				for !stop.Load() {
					_ = sr.Stats()
					time.Sleep(time.Millisecond)
				}
			}()
		}
	}
	want := make([][][]byte, len(sides)*writers)
	testkit.Parallel(len(want), func(i int) {
		sd := sides[i/writers]
		want[i] = s.seqFrames(100+i, perWriter)
		for j, f := range want[i] {
			if err := sd.w.WriteFrame(f); err != nil {
				t.Errorf("writer %d, frame %d: WriteFrame: %v", i, j, err)
				return
			}
			time.Sleep(200 * time.Microsecond) // a pace every link carries
		}
	})
	for i, sd := range sides {
		var all [][]byte
		for _, fs := range want[i*writers : (i+1)*writers] {
			all = append(all, fs...)
		}
		var dropped func() uint64
		if sr, ok := sd.r.(backend.StatsReporter); ok {
			dropped = func() uint64 { return sr.Stats().Dropped }
		}
		s.expectAll(t, sd.rx, all, dropped)
	}
}

// testStats checks the optional backend.StatsReporter: counters a backend
// keeps count what was written and read and never go down; counters it
// cannot know stay zero.
func (s *suite) testStats(t *testing.T) {
	a, b := s.pair(t)
	sa, okA := a.(backend.StatsReporter)
	sb, okB := b.(backend.StatsReporter)
	if !okA && !okB {
		t.Skip("the backend has no backend.StatsReporter (optional)")
	}
	stats := func(sr backend.StatsReporter, ok bool) backend.Stats {
		if !ok {
			return backend.Stats{}
		}
		return sr.Stats()
	}
	beforeA, beforeB := stats(sa, okA), stats(sb, okB)
	rx := s.collect(t, b)
	const n, size = 10, 100
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = testkit.SeqFrame(mac6(1000), mac6(1), nil, etherTypeTest, uint32(i), size)
		must(t, a.WriteFrame(frames[i]), "WriteFrame %d", i)
	}
	s.expectAll(t, rx, frames, nil)
	// Counted, at the latest, soon after the frames were read.
	var afterA, afterB backend.Stats
	testkit.Eventually(t, s.cfg.Timeout, func() bool {
		afterA, afterB = stats(sa, okA), stats(sb, okB)
		return (afterA.FramesOut == 0 || afterA.FramesOut-beforeA.FramesOut >= n) &&
			(afterB.FramesIn == 0 || afterB.FramesIn-beforeB.FramesIn >= n)
	}, "the frames counted: writer %+v, reader %+v", &afterA, &afterB)
	for _, c := range []struct {
		name          string
		before, after backend.Stats
	}{{"writer", beforeA, afterA}, {"reader", beforeB, afterB}} {
		checkf(t, c.after.FramesIn >= c.before.FramesIn && c.after.BytesIn >= c.before.BytesIn &&
			c.after.FramesOut >= c.before.FramesOut && c.after.BytesOut >= c.before.BytesOut &&
			c.after.Dropped >= c.before.Dropped && c.after.Discarded >= c.before.Discarded,
			"%s's counters went down: before %+v, after %+v", c.name, c.before, c.after)
	}
	if afterA.FramesOut != 0 {
		check(t, afterA.FramesOut-beforeA.FramesOut, n, "writer's FramesOut")
	}
	if afterA.BytesOut != 0 {
		check(t, afterA.BytesOut-beforeA.BytesOut, n*size, "writer's BytesOut")
	}
	if afterB.FramesIn != 0 {
		checkf(t, afterB.FramesIn-beforeB.FramesIn >= n, "reader's FramesIn grew by %d, want at least %d", afterB.FramesIn-beforeB.FramesIn, n)
	}
	if afterB.BytesIn != 0 {
		checkf(t, afterB.BytesIn-beforeB.BytesIn >= n*size, "reader's BytesIn grew by %d, want at least %d", afterB.BytesIn-beforeB.BytesIn, n*size)
	}
}
