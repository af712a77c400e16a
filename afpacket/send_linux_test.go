//go:build linux

package afpacket_test

import (
	"errors"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

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
