//go:build linux

package afpacket_test

// Helpers of the package's tests and benchmarks: frames, Conns opened in a
// veth end's namespace, reads with deadlines, and a flooding writer.

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/stretchr/testify/require"
)

// Test EtherTypes from the local experimental range.
const (
	etherTest  = 0x88b5
	etherOther = 0x88b6
)

// tag is one VLAN tag as on the wire.
type tag struct{ tpid, tci uint16 }

// mkFrame builds a frame: dst, src, tags, EtherType, then payload bytes
// derived from seed.
func mkFrame(dst, src net.HardwareAddr, tags []tag, etype uint16, payload int, seed uint32) []byte {
	f := make([]byte, 0, 14+4*len(tags)+payload)
	f = append(f, dst...)
	f = append(f, src...)
	for _, t := range tags {
		f = binary.BigEndian.AppendUint16(f, t.tpid)
		f = binary.BigEndian.AppendUint16(f, t.tci)
	}
	f = binary.BigEndian.AppendUint16(f, etype)
	for i := 0; i < payload; i++ {
		if i < 4 {
			f = append(f, byte(seed>>(24-8*i)))
			continue
		}
		f = append(f, byte(i)^byte(seed))
	}
	return f
}

// seqOf is the sequence number mkFrame put at the start of the payload of
// an untagged frame.
func seqOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[14:]) }

// repeat is a batch of n times f.
func repeat(f []byte, n int) [][]byte {
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = f
	}
	return batch
}

// openIn opens a Conn on ifname inside ns.
func openIn(ns *netns.NS, ifname string, cfg afpacket.Config) (*afpacket.Conn, error) {
	var c *afpacket.Conn
	err := ns.Do(func() error {
		var err error
		c, err = afpacket.Open(ifname, cfg)
		return err
	})
	return c, err
}

// open opens a Conn on l inside its namespace, closed when t ends.
func open(t testing.TB, l *netns.Link, cfg afpacket.Config) *afpacket.Conn {
	t.Helper()
	c, err := openIn(l.NS, l.Name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openErr is the error of opening ifname inside ns, for the tests of what
// Open refuses; a Conn that does open is closed again.
func openErr(ns *netns.NS, ifname string, cfg afpacket.Config) error {
	c, err := openIn(ns, ifname, cfg)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// pair makes a veth pair and opens a Conn on each end.
func pair(t testing.TB, cfgA, cfgB afpacket.Config) (a, b *afpacket.Conn, v *netns.Veth) {
	t.Helper()
	v = netns.NewVeth(t, nil)
	return open(t, v.A, cfgA), open(t, v.B, cfgB), v
}

// read reads one frame with a deadline.
func read(t testing.TB, c *afpacket.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	buf := make([]byte, backend.MaxFrameLen)
	n, err := c.ReadFrame(buf)
	return buf[:n], err
}

// readUntilQuiet reads frames from c, passing each to got, until none
// arrives for quiet.
func readUntilQuiet(t testing.TB, c *afpacket.Conn, quiet time.Duration, got func(f []byte)) {
	t.Helper()
	for {
		f, err := read(t, c, quiet)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		require.NoError(t, err)
		got(f)
	}
}

// readAll reads want frames with ReadFrames, in batches of 8.
func readAll(t testing.TB, c *afpacket.Conn, want int, d time.Duration) [][]byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	bufs := make([][]byte, 8)
	lens := make([]int, 8)
	var out [][]byte
	for len(out) < want {
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		n, err := c.ReadFrames(bufs, lens)
		require.NoError(t, err, "after %d of %d frames", len(out), want)
		require.Positive(t, n)
		for i := 0; i < n; i++ {
			out = append(out, bufs[i][:lens[i]])
		}
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	return out
}

// requireArrives sends f from a and checks that b reads it unchanged
// within 2 seconds.
func requireArrives(t testing.TB, a, b *afpacket.Conn, f []byte, msgAndArgs ...any) {
	t.Helper()
	require.NoError(t, a.WriteFrame(f))
	got, err := read(t, b, 2*time.Second)
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, f, got, msgAndArgs...)
}

// expectNothing checks that no frame arrives on c within d.
func expectNothing(t testing.TB, c *afpacket.Conn, d time.Duration) {
	t.Helper()
	f, err := read(t, c, d)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "unexpected frame % x", f)
}

// flooder writes one batch with WriteFrames over and over from a goroutine.
type flooder struct {
	sent atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// startFlood starts writing batch with w until stop is called, limit has
// passed or a write fails. pause, if not nil, runs between two writes.
func startFlood(w *afpacket.Conn, batch [][]byte, limit time.Duration, pause func()) *flooder {
	f := &flooder{done: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			select {
			case <-f.done:
				return
			default:
			}
			n, err := w.WriteFrames(batch)
			f.sent.Add(int64(n))
			if err != nil {
				return
			}
			if pause != nil {
				pause()
			}
		}
	}()
	return f
}

// stop ends the flood, waits for the writer and returns the frames it sent.
// It may be called again.
func (f *flooder) stop() int64 {
	f.once.Do(func() { close(f.done); f.wg.Wait() })
	return f.sent.Load()
}
