package conformance

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

// The backend.PacketIO contract: the subtests of Run.

// etherTypeTest is the IEEE local experimental EtherType: no stack on the
// path (a kernel's included) does anything with it.
const etherTypeTest = testkit.EtherTypeExp1

// tagCases are the VLAN stacks every backend must carry byte-exact.
var tagCases = []struct {
	name string
	tags []testkit.Tag
}{
	{"untagged", nil},
	{"dot1q", []testkit.Tag{{ID: 100}}},
	{"dot1q-pcp-dei", []testkit.Tag{{ID: 101, PCP: 5, DEI: true}}},
	{"dot1ad", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 102, PCP: 3}}},
	{"vid0-priority", []testkit.Tag{{ID: 0, PCP: 6}}},
	{"qinq", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 200, PCP: 1}, {ID: 201, DEI: true}}},
	{"three-tags", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 300}, {ID: 301}, {ID: 302, PCP: 7}}},
	{"tpid-9100", []testkit.Tag{{TPID: testkit.TPID9100, ID: 400}}},
	{"four-tags", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 500}, {ID: 501}, {ID: 502}, {ID: 503}}},
	{"vid4095", []testkit.Tag{{ID: 4095}}},
}

// sendExpect writes f on a and checks that rx reads it unchanged.
func (s *suite) sendExpect(t *testing.T, a backend.PacketIO, rx *collector, f []byte, format string, args ...any) []byte {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	must(t, a.WriteFrame(f), "WriteFrame of %s (%d bytes)", what, len(f))
	got := rx.next(t, s.cfg.Timeout)
	mustBytes(t, got, f, "%s must arrive byte for byte", what)
	return got
}

func (s *suite) testFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for i, tc := range tagCases {
		t.Run(tc.name, func(t *testing.T) {
			// Linux counts VLAN tags against the MTU (one 0x8100 tag
			// excepted), so the largest payload leaves room for the tags.
			for _, size := range []int{46, 200, s.cfg.MaxPayload - testkit.TagLen*len(tc.tags)} {
				f := testkit.PatternFrame(mac6(1000), mac6(i), tc.tags, etherTypeTest, size)
				got := s.sendExpect(t, a, rx, f, "a frame with %d payload bytes", size)
				checkTagsWithGopacket(t, got, tc.tags)
			}
		})
	}
}

// checkTagsWithGopacket decodes f independently and compares its VLAN tags
// to want. gopacket does not know TPID 0x9100, so stacks with it stop there.
func checkTagsWithGopacket(t *testing.T, f []byte, want []testkit.Tag) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	var got []testkit.Tag
	var tpid layers.EthernetType
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			tpid = l.EthernetType
		case *layers.Dot1Q:
			got = append(got, testkit.Tag{TPID: uint16(tpid), PCP: l.Priority, DEI: l.DropEligible, ID: l.VLANIdentifier})
			tpid = l.Type
		}
	}
	var known []testkit.Tag
	for _, v := range want {
		if v.WireTPID() == testkit.TPID9100 {
			break
		}
		v.TPID = v.WireTPID()
		known = append(known, v)
	}
	checkf(t, fmt.Sprint(got) == fmt.Sprint(known), "VLAN tags as gopacket decodes them: got %v, want %v", got, known)
}

func (s *suite) testGroupDestinations(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for i, dst := range [][6]byte{testkit.Broadcast, testkit.Multicast, {0x33, 0x33, 0, 0, 0, 1}} {
		f := testkit.PatternFrame(dst, mac6(i), []testkit.Tag{{ID: 100}}, etherTypeTest, 50)
		s.sendExpect(t, a, rx, f, "a frame to %x", dst)
	}
}

func (s *suite) testNoOwnFrames(t *testing.T) {
	a, b := s.pair(t)
	rxA, rxB := s.collect(t, a), s.collect(t, b)
	for i := range 3 {
		f := testkit.PatternFrame(testkit.Broadcast, mac6(i), nil, etherTypeTest, 60)
		s.sendExpect(t, a, rxB, f, "broadcast frame %d", i)
	}
	rxA.none(t, s.cfg.Quiet)
}

func (s *suite) testShortFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for _, n := range []int{0, 6, 20, 45} {
		f := testkit.PatternFrame(mac6(1000), mac6(n), nil, etherTypeTest, n)
		s.sendExpect(t, a, rx, f, "a %d-byte frame, without padding", len(f))
	}
	checkIs(t, a.WriteFrame(make([]byte, 13)), backend.ErrFrameTooShort, "WriteFrame of 13 bytes")
}

// testMalformedCarried checks that frames with broken IP and UDP headers and
// too many tags are carried as they are: a backend moves frames, it does
// not judge them.
func (s *suite) testMalformedCarried(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	good, bad := testkit.MalformedUDP(mac6(2), mac6(1),
		netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000"), []byte("still alive"))
	for _, c := range bad {
		s.sendExpect(t, a, rx, c.Frame, "malformed frame %q", c.Name)
	}
	s.sendExpect(t, a, rx, good, "the good frame after the malformed ones")
}

// readOne reads with read until it returns an error or one of the
// suite's frames, on a goroutine, failing the test after timeout. The
// goroutine is left blocked in that case; closing p ends it.
func readOne(t *testing.T, timeout time.Duration, read func() (frame []byte, err error)) ([]byte, error) {
	t.Helper()
	type result struct {
		f   []byte
		err error
	}
	r := testkit.Await(t, testkit.Go(func() result {
		for {
			f, err := read()
			if err != nil || ours(f) {
				return result{f, err}
			}
		}
	}), timeout, "no frame arrived")
	return r.f, r.err
}

func (s *suite) testTruncation(t *testing.T) {
	a, b := s.pair(t)
	readInto := func(buf []byte) ([]byte, error) {
		t.Helper()
		return readOne(t, s.cfg.Timeout, func() ([]byte, error) {
			n, err := b.ReadFrame(buf)
			return buf[:n], err
		})
	}
	long := testkit.PatternFrame(mac6(1), mac6(2), []testkit.Tag{{ID: 7}}, etherTypeTest, 200)
	must(t, a.WriteFrame(long), "WriteFrame")
	got, err := readInto(make([]byte, 60))
	mustIs(t, err, backend.ErrTruncated, "ReadFrame of a %d-byte frame into 60 bytes", len(long))
	checkBytes(t, got, long[:60], "ReadFrame into 60 bytes returns n == 60 and the frame's first 60 bytes")

	// The backend stays usable, and the rest of the long frame is gone.
	next := testkit.PatternFrame(mac6(1), mac6(3), nil, etherTypeTest, 100)
	must(t, a.WriteFrame(next), "WriteFrame after a truncated read")
	got, err = readInto(make([]byte, backend.MaxFrameLen))
	must(t, err, "ReadFrame after a truncated read")
	checkBytes(t, got, next, "the frame after a truncated one")

	// A buffer of exactly the frame's length is not a truncation.
	must(t, a.WriteFrame(next), "WriteFrame")
	got, err = readInto(make([]byte, len(next)))
	must(t, err, "ReadFrame into a buffer of exactly the frame's length")
	checkBytes(t, got, next, "ReadFrame into a buffer of exactly the frame's length")
}

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
