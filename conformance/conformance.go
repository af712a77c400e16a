package conformance

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

// Config describes the backend under test.
type Config struct {
	// NewPair returns two connected PacketIOs: a frame written on one is read
	// on the other. The suite closes them; NewPair registers any other
	// cleanup with t.Cleanup.
	NewPair func(t *testing.T) (a, b backend.PacketIO)
	// MaxPayload is the largest Ethernet payload the link carries without
	// tags (the MTU; default 1500). Tagged frames are sent with 4 bytes less
	// payload per tag, as a Linux link counts tags against its MTU.
	MaxPayload int
	// Timeout bounds every wait for a frame (default 5 s). Tests that check
	// that a frame does not arrive wait Quiet (default 200 ms).
	Timeout, Quiet time.Duration
	// Watchdog bounds each subtest as a whole (default DefaultWatchdog): a
	// subtest still running after it fails with a dump of every goroutine
	// and has its PacketIOs closed, instead of hanging the test binary. A
	// negative value turns the watchdog off.
	Watchdog time.Duration
}

// DefaultWatchdog is the time limit of one subtest when Config.Watchdog is
// zero, and that of every subtest of TestPacketConn. A subtest's own waits
// are bounded by Config.Timeout, so only a call that blocks for good (or a
// link far slower than the defaults assume) reaches it.
const DefaultWatchdog = 30 * time.Second

func (c *Config) defaults() {
	if c.MaxPayload == 0 {
		c.MaxPayload = 1500
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Quiet == 0 {
		c.Quiet = 200 * time.Millisecond
	}
	if c.Watchdog == 0 {
		c.Watchdog = DefaultWatchdog
	}
}

// Run runs the backend.PacketIO contract suite as subtests of t: what every
// backend promises on its own, without the relay and the layers above it.
// The package documentation lists what it checks.
func Run(t *testing.T, cfg Config) {
	newSuite(t, cfg).runAll(t, false)
}

// RunStack runs the stack suite as subtests of t: relay, etherconn and rudp
// behaviour over pairs from cfg.NewPair. Its subtests are named apart from
// Run's, so one test can run both. The package documentation lists what it
// checks.
func RunStack(t *testing.T, cfg Config) {
	s := newSuite(t, cfg)
	s.runAll(t, true)
	// Each TestPacketConn subtest has a watchdog of its own, which closes
	// the two rudp.Conns; the pairs under them close at its end.
	t.Run("PacketConn", func(t *testing.T) {
		testPacketConn(t, s.packetConnPair, s.cfg.Watchdog)
	})
}

// subtests are the subtests of both suites, in the order they run: those
// of the PacketIO contract (Run), then those of the stack (RunStack). One
// table, so that a name is used once.
var subtests = []struct {
	name  string
	stack bool // RunStack's, else Run's
	f     func(s *suite, t *testing.T)
}{
	{"Frames", false, (*suite).testFrames},
	{"GroupDestinations", false, (*suite).testGroupDestinations},
	{"NoOwnFrames", false, (*suite).testNoOwnFrames},
	{"ShortFrames", false, (*suite).testShortFrames},
	{"MalformedCarried", false, (*suite).testMalformedCarried},
	{"Truncation", false, (*suite).testTruncation},
	{"CloseUnblocksRead", false, (*suite).testCloseUnblocksRead},
	{"CloseWhileWriting", false, (*suite).testCloseWhileWriting},
	{"ReadDeadline", false, (*suite).testReadDeadline},
	{"BatchWriter", false, (*suite).testBatchWriter},
	{"BatchReader", false, (*suite).testBatchReader},
	{"Concurrency", false, (*suite).testConcurrency},
	{"Stats", false, (*suite).testStats},

	{"Demux", true, (*suite).testDemux},
	{"BroadcastMulticast", true, (*suite).testGroup},
	{"DefaultEndpoint", true, (*suite).testDefault},
	{"EtherConn", true, (*suite).testEtherConn},
	{"UDP", true, (*suite).testUDP},
	{"UDPPadding", true, (*suite).testPadding},
	{"UDPBadChecksum", true, (*suite).testBadChecksum},
	{"UDPShared", true, (*suite).testShared},
	{"Malformed", true, (*suite).testMalformed},
	{"ConcurrentFlows", true, (*suite).testConcurrentFlows},
	{"Counters", true, (*suite).testCounters},
	{"Hosts", true, (*suite).testHosts},
}

// runAll runs the subtests of the stack suite (stack) or of the contract.
func (s *suite) runAll(t *testing.T, stack bool) {
	for _, st := range subtests {
		if st.stack == stack {
			s.run(t, st.name, func(t *testing.T) { st.f(s, t) })
		}
	}
}

// suite is one Run or RunStack call.
type suite struct {
	cfg Config
	// dog is the watchdog of the subtest running, which closes the pairs
	// the subtest made if it hangs; nil outside s.run.
	dog atomic.Pointer[watchdog]
}

func newSuite(t *testing.T, cfg Config) *suite {
	t.Helper()
	if cfg.NewPair == nil {
		t.Fatal("conformance: Config.NewPair is nil")
	}
	cfg.defaults()
	return &suite{cfg: cfg}
}

// run runs f as subtest name of t under the watchdog.
func (s *suite) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		w := newWatchdog(s.cfg.Watchdog)
		s.dog.Store(w)
		defer s.dog.CompareAndSwap(w, nil)
		w.run(t, func() { f(t) })
	})
}

// pair makes a fresh pair for one test and closes it at the end, or when the
// subtest's watchdog fires.
func (s *suite) pair(t *testing.T) (a, b backend.PacketIO) {
	t.Helper()
	a, b = s.cfg.NewPair(t)
	if a == nil || b == nil {
		t.Fatalf("conformance: Config.NewPair returned a nil PacketIO (%v, %v)", a, b)
	}
	if w := s.dog.Load(); w != nil {
		w.add(a, b)
	}
	t.Cleanup(func() {
		closeWithin(t, "closing the pair", s.cfg.Timeout, func() {
			a.Close()
			b.Close()
		})
	})
	return a, b
}

// closeWithin runs fn and waits for it for at most timeout: a close that
// does not return fails the test instead of hanging it, and is left running.
func closeWithin(t testing.TB, what string, timeout time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Errorf("%s did not return within %v; left running", what, timeout)
	}
}

// Every frame the suite sends has a source MAC starting 02:c0, so links
// that carry frames of their own (a kernel's) can be filtered.
func testMAC(i int) net.HardwareAddr { m := testkit.MAC(i); return m[:] }

// mac6 is testMAC(i) as the builders take it.
func mac6(i int) [6]byte { return testkit.MAC(i) }

// ours reports whether f is one of the suite's frames.
func ours(f []byte) bool { return testkit.FromTestMAC(f) }

// collector reads a PacketIO on a goroutine until it is closed, keeping the
// suite's own frames.
type collector struct {
	frames chan []byte
	done   chan struct{}
	err    error // the read error that ended it; set before done is closed
}

// collect starts a collector on p, reading with ReadFrame, and registers
// its end (closing p) with t.Cleanup.
func (s *suite) collect(t *testing.T, p backend.PacketIO) *collector {
	return s.startCollector(t, p, func(buf []byte) ([][]byte, error) {
		n, err := p.ReadFrame(buf)
		if err != nil {
			return nil, err
		}
		return [][]byte{buf[:n]}, nil
	})
}

// collectBatch is collect with ReadFrames, four frames at a time, checking
// that every call that succeeds returns at least one frame.
func (s *suite) collectBatch(t *testing.T, p backend.PacketIO, br backend.BatchReader) *collector {
	const batch = 4
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, backend.MaxFrameLen)
	}
	lens := make([]int, batch)
	return s.startCollector(t, p, func([]byte) ([][]byte, error) {
		n, err := br.ReadFrames(bufs, lens)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > batch {
			t.Errorf("ReadFrames returned %d frames and no error into %d buffers; it must block until it has 1 to %d", n, batch, batch)
			return nil, io.ErrNoProgress
		}
		out := make([][]byte, n)
		for i := range n {
			out[i] = bufs[i][:lens[i]]
		}
		return out, nil
	})
}

func (s *suite) startCollector(t *testing.T, p backend.PacketIO, read func(buf []byte) ([][]byte, error)) *collector {
	c := &collector{frames: make(chan []byte, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, backend.MaxFrameLen)
		for {
			fs, err := read(buf)
			if err != nil {
				c.err = err
				return
			}
			for _, f := range fs {
				if ours(f) {
					c.frames <- bytes.Clone(f)
				}
			}
		}
	}()
	t.Cleanup(func() {
		closeWithin(t, "closing a PacketIO with a reader blocked on it", s.cfg.Timeout, func() {
			p.Close()
			<-c.done
		})
	})
	return c
}

// next returns the next frame, failing the test after timeout.
func (c *collector) next(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(timeout):
		t.Fatalf("no frame arrived within %v", timeout)
		return nil
	}
}

// none checks that no frame arrives for quiet.
func (c *collector) none(t *testing.T, quiet time.Duration) {
	t.Helper()
	select {
	case f := <-c.frames:
		t.Fatalf("a frame arrived, want none: % x", head(f))
	case <-time.After(quiet):
	}
}
