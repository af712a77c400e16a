// Package conformance is the behaviour suite every backend.PacketIO runs, the
// same tests for all, in the spirit of golang.org/x/net/nettest.
//
// A backend's test calls Run with a factory of two connected PacketIOs (a
// memio pipe, two ports of a memio switch, the two ends of a veth pair) and
// the suite checks, over the real link: byte-exact frames with VLAN and QinQ
// tags, that a backend never reads its own frames, short frames, demux by MAC,
// VLAN stack and EtherType, broadcast and multicast, the default endpoint,
// UDP over IPv4 and IPv6 with every header checked by an independent decoder
// (gopacket), Ethernet padding, deadlines and Close, the backend's own read
// deadline when it has one, concurrency, malformed input and counters. Third-party backends can run it too.
//
// TestPacketConn is the net.PacketConn part on its own: it takes a factory of
// two connected net.PacketConns, so it can check any UDP-like connection.
package conformance

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
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
}

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
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, cfg Config) {
	cfg.defaults()
	s := &suite{cfg: cfg}
	t.Run("Frames", s.testFrames)
	t.Run("NoOwnFrames", s.testNoOwnFrames)
	t.Run("ShortFrames", s.testShortFrames)
	t.Run("CloseUnblocksRead", s.testCloseUnblocksRead)
	t.Run("ReadDeadline", s.testReadDeadline)
	t.Run("Demux", s.testDemux)
	t.Run("BroadcastMulticast", s.testGroup)
	t.Run("DefaultEndpoint", s.testDefault)
	t.Run("EtherConn", s.testEtherConn)
	t.Run("UDP", s.testUDP)
	t.Run("UDPPadding", s.testPadding)
	t.Run("UDPBadChecksum", s.testBadChecksum)
	t.Run("UDPShared", s.testShared)
	t.Run("Malformed", s.testMalformed)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("Counters", s.testCounters)
	t.Run("PacketConn", func(t *testing.T) {
		TestPacketConn(t, s.packetConnPair)
	})
}

type suite struct{ cfg Config }

// pair makes a fresh pair for one test and closes it at the end.
func (s *suite) pair(t *testing.T) (a, b backend.PacketIO) {
	t.Helper()
	a, b = s.cfg.NewPair(t)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// Every frame the suite sends has a source MAC starting 02:c0, so links
// that carry frames of their own (a kernel's) can be filtered.
func testMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xc0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
}

func ours(f []byte) bool { return len(f) >= 12 && f[6] == 0x02 && f[7] == 0xc0 }

// collector reads a PacketIO on a goroutine until it is closed, keeping the
// suite's own frames.
type collector struct {
	frames chan []byte
	done   chan struct{}
}

func collect(t *testing.T, p backend.PacketIO) *collector {
	c := &collector{frames: make(chan []byte, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, backend.MaxFrameLen)
		for {
			n, err := p.ReadFrame(buf)
			if err != nil {
				return
			}
			if ours(buf[:n]) {
				c.frames <- bytes.Clone(buf[:n])
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-c.done
	})
	return c
}

func (c *collector) next(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(timeout):
		t.Fatalf("no frame within %v", timeout)
		return nil
	}
}

func (c *collector) none(t *testing.T, quiet time.Duration) {
	t.Helper()
	select {
	case f := <-c.frames:
		t.Fatalf("unexpected frame % x", f)
	case <-time.After(quiet):
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parallel runs f n times concurrently and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
