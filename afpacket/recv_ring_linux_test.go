//go:build linux

package afpacket_test

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestRingConfigErrors(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	page := os.Getpagesize()
	for _, tc := range []struct {
		name string
		ring afpacket.RingConfig
	}{
		{"block not a power of two", afpacket.RingConfig{BlockSize: 3 * page}},
		{"block under a page", afpacket.RingConfig{BlockSize: page / 2}},
		{"negative block", afpacket.RingConfig{BlockSize: -page}},
		{"negative blocks", afpacket.RingConfig{Blocks: -1}},
		{"4 GiB", afpacket.RingConfig{BlockSize: 1 << 30, Blocks: 4}},
		{"65536 blocks", afpacket.RingConfig{BlockSize: page, Blocks: 1 << 16}},
		{"negative timeout", afpacket.RingConfig{Timeout: -time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := tc.ring
			err := v.A.NS.Do(func() error {
				c, err := afpacket.Open(v.A.Name, afpacket.Config{Ring: &ring})
				if err == nil {
					_ = c.Close()
				}
				return err
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "afpacket: open "+v.A.Name+": ring: ")
		})
	}
}

// seqOf is the sequence number mkFrame put at the start of the payload.
func seqOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[14:]) }

// TestRingWrapsInOrder runs many rounds of frames through a ring of four
// small blocks, reading each round in batches before the next, so that the
// reader goes round the ring many times and also stops in the middle of
// blocks. Every frame must come back once, in order, byte for byte.
func TestRingWrapsInOrder(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{Ring: &afpacket.RingConfig{BlockSize: 16 << 10, Blocks: 4}})
	const rounds, perRound = 30, 100 // a round takes about a block and a half
	bufs := make([][]byte, 7)        // not a divisor of anything above
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	lens := make([]int, len(bufs))
	seq := uint32(0)
	for r := 0; r < rounds; r++ {
		var sent [][]byte
		for i := 0; i < perRound; i++ {
			sent = append(sent, mkFrame(v.B.MAC, v.A.MAC, []tag{{0x8100, uint16(r)}}, etherTest, 60+i, seq+uint32(i)))
		}
		n, err := a.WriteFrames(sent)
		require.NoError(t, err)
		require.Equal(t, perRound, n)
		for got := 0; got < perRound; {
			require.NoError(t, b.SetReadDeadline(time.Now().Add(2*time.Second)))
			n, err := b.ReadFrames(bufs, lens)
			require.NoError(t, err, "round %d after %d frames", r, got)
			for i := 0; i < n; i++ {
				require.Equal(t, sent[got], bufs[i][:lens[i]], "round %d frame %d", r, got)
				got++
			}
		}
		seq += perRound
	}
	assert.Zero(t, b.Stats().Dropped)
	assert.Equal(t, uint64(rounds*perRound), b.Stats().FramesIn)
}

// TestRingFullDropsAndRecovers fills a ring nobody reads: the kernel drops
// what does not fit and counts it; what was kept is intact and in order,
// and the ring takes frames again once read.
func TestRingFullDropsAndRecovers(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{Ring: &afpacket.RingConfig{BlockSize: 16 << 10, Blocks: 2}})
	const n = 1000 // about 160 KB in the ring's format: ten times its size
	var frames [][]byte
	for i := 0; i < n; i++ {
		frames = append(frames, mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 100, uint32(i)))
	}
	sent, err := a.WriteFrames(frames)
	require.NoError(t, err)
	require.Equal(t, n, sent)

	kept, last := 0, -1
	for {
		f, err := read(t, b, 300*time.Millisecond)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		s := int(seqOf(f))
		require.Greater(t, s, last, "out of order")
		require.Equal(t, frames[s], f)
		last = s
		kept++
	}
	require.Positive(t, kept)
	st := b.Stats()
	require.Less(t, kept, n, "a ring of 32 KiB kept every frame of 160 KB")
	assert.Equal(t, uint64(n-kept), st.Dropped, "every frame is either read or counted as dropped")

	want := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 100, 4242)
	requireArrives(t, a, b, want)
}

func TestRingTruncates(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{Ring: &afpacket.RingConfig{}})
	long := mkFrame(v.B.MAC, v.A.MAC, []tag{{0x8100, 7}}, etherTest, 200, 1)
	require.NoError(t, a.WriteFrame(long))
	require.NoError(t, a.WriteFrame(long))

	require.NoError(t, b.SetReadDeadline(time.Now().Add(2*time.Second)))
	buf := make([]byte, 100)
	n, err := b.ReadFrame(buf)
	require.ErrorIs(t, err, backend.ErrTruncated)
	require.Equal(t, long[:100], buf[:n], "the cut frame keeps its restored tag")

	// ReadFrames cuts without an error, as with recvmmsg.
	lens := []int{0}
	n, err = b.ReadFrames([][]byte{buf}, lens)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, long[:100], buf[:lens[0]])
}

// TestSendOnlySocketFull sends through an interface whose queue holds
// frames (a slow token bucket), with small send buffers, so that the
// send-only socket fills up and writes finish on the main socket. Every
// frame must leave in the order written, which a plain packet socket on the
// sending end sees, and reach the other end once.
//
// The order is checked where frames leave, not where they arrive: the
// token bucket releases frames from whichever CPU runs it, and a veth hands
// each frame to its peer on the CPU that sent it, so the receiving end can
// see neighbours swapped (observed) whatever the sender did.
func TestSendOnlySocketFull(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	require.NoError(t, v.A.NS.Command("tc", "qdisc", "add", "dev", v.A.Name, "root",
		"tbf", "rate", "8mbit", "burst", "16kb", "limit", "1mb").Run())
	a := open(t, v.A, afpacket.Config{WriteBufferSize: 8 << 10})
	b := open(t, v.B, afpacket.Config{ReadBufferSize: 4 << 20})
	require.True(t, afpacket.HasTx(a))
	tap := openTap(t, v.A)

	const n = 2000 // 2000 × 120 B at 8 Mbit/s: about a quarter of a second
	var frames [][]byte
	for i := 0; i < n; i++ {
		frames = append(frames, mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 106, uint32(i)))
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += 100 {
			if _, err := a.WriteFrames(frames[i : i+100]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		k := tap.read(t, buf)
		require.Equal(t, frames[i], buf[:k], "frame %d out of A", i)
	}
	require.NoError(t, <-done)
	seen := make([]bool, n)
	for i := 0; i < n; i++ {
		f, err := read(t, b, 5*time.Second)
		require.NoError(t, err, "%d frames in", i)
		s := int(seqOf(f))
		require.Less(t, s, n)
		require.False(t, seen[s], "frame %d twice", s)
		require.Equal(t, frames[s], f)
		seen[s] = true
	}
	assert.Positive(t, afpacket.TxBlocks(a), "the send-only socket never filled: the test did not test the fallback")
	assert.Equal(t, uint64(n), a.Stats().FramesOut)
	expectNothing(t, b, 100*time.Millisecond)
}

// rawTap is a plain packet socket that sees every frame on a link, the
// outgoing ones too, in the order the link sends them.
type rawTap struct{ fd int }

func openTap(t *testing.T, l *netns.Link) *rawTap {
	t.Helper()
	const ethPAll = 0x0300 // htons(ETH_P_ALL)
	tap := &rawTap{fd: -1}
	require.NoError(t, l.NS.Do(func() error {
		idx, err := l.Index()
		if err != nil {
			return err
		}
		if tap.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ethPAll); err != nil {
			return err
		}
		if err := unix.Bind(tap.fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: idx}); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(tap.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
			return err
		}
		return unix.SetsockoptTimeval(tap.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	}))
	t.Cleanup(func() {
		if tap.fd >= 0 {
			_ = unix.Close(tap.fd)
		}
	})
	return tap
}

// read reads the next frame into buf, failing t after 5 s without one.
func (tap *rawTap) read(t *testing.T, buf []byte) int {
	t.Helper()
	for {
		n, _, err := unix.Recvfrom(tap.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err)
		return n
	}
}
