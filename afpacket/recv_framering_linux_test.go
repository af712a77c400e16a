//go:build linux

package afpacket_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

// TestFrameRingLongFrames sends frames of every length class over a veth of
// MTU 60,000 to a frame ring, whose slots stop at 16 KiB: the frames longer
// than a slot come through the socket's queue. Whatever path each took, the
// reader must return all of them in the order sent, byte for byte, with
// their outer tag put back, with ReadFrame and with ReadFrames, and count
// the long ones as taken from the queue.
func TestFrameRingLongFrames(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{MTU: 60000}})
	a := open(t, v.A, afpacket.Config{Receive: afpacket.ReceiveSocket})
	stacks := [][]testkit.Tag{nil, testkit.Dot1Q(5), {{TPID: 0x88a8, ID: 10}, {ID: 20}}}
	sizes := []int{46, 1500, 16 << 10, 40000, 60000 - 8}
	for _, batch := range []int{1, 7} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			b := open(t, v.B, afpacket.Config{FrameRingSize: 1 << 20})
			var sent [][]byte
			long := 0
			for i := 0; i < 3; i++ {
				for _, tags := range stacks {
					for _, n := range sizes {
						f := mkFrame(v.B.MAC, v.A.MAC, tags, etherTest, n, uint32(len(sent)))
						sent = append(sent, f)
						if len(f) > 16<<10-96 {
							long++
						}
					}
				}
			}
			writeAll(t, a, sent)
			got := readBig(t, b, batch, len(sent))
			for i := range sent {
				require.Equal(t, sent[i], got[i], "frame %d (%d bytes)", i, len(sent[i]))
			}
			require.EqualValues(t, long, afpacket.QueuedFrames(b))
		})
	}
}

// readBig reads want frames of up to 64 KiB from c, batch at a time.
func readBig(t *testing.T, c *afpacket.Conn, batch, want int) [][]byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	bufs, lens := make([][]byte, batch), make([]int, batch)
	var out [][]byte
	for len(out) < want {
		for i := range bufs {
			bufs[i] = make([]byte, 64<<10)
		}
		var n int
		var err error
		if batch == 1 {
			lens[0], err = c.ReadFrame(bufs[0])
			n = 1
		} else {
			n, err = c.ReadFrames(bufs, lens)
		}
		require.NoError(t, err, "after %d of %d frames", len(out), want)
		for i := 0; i < n; i++ {
			out = append(out, bufs[i][:lens[i]])
		}
	}
	return out
}

// TestFrameRingFallback: a default Conn whose frame ring the kernel will
// not map reads from the socket instead, and gets every frame (the ring,
// set up but not mapped, is taken down again); one that asked for the
// frame ring fails Open. Not parallel: it makes every mmap fail.
func TestFrameRingFallback(t *testing.T) {
	netns.Require(t)
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{Receive: afpacket.ReceiveSocket})
	afpacket.FailMmap(t)
	b := open(t, v.B, afpacket.Config{})
	require.Equal(t, afpacket.ReceiveSocket, b.Receive())
	requireArrives(t, a, b, mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 100, 1))
	for _, cfg := range []afpacket.Config{
		{Receive: afpacket.ReceiveFrameRing},
		{FrameRingSize: 1 << 20},
		{Ring: &afpacket.RingConfig{}},
	} {
		require.ErrorIs(t, openErr(v.B.NS, v.B.Name, cfg), unix.ENOMEM)
	}
}

// TestSnapLengthCut: a frame that a BPF filter's snap length cuts reads as
// cut on every receive path: ReadFrame returns the snap length's bytes with
// backend.ErrTruncated.
func TestSnapLengthCut(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{Receive: afpacket.ReceiveSocket})
	cut := []bpf.RawInstruction{{Op: 0x06, K: 60}} // ret #60
	for _, cfg := range []afpacket.Config{
		{Receive: afpacket.ReceiveSocket, Filter: cut},
		{Filter: cut},
		{Ring: &afpacket.RingConfig{}, Filter: cut},
	} {
		b := open(t, v.B, cfg)
		f := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 200, 7)
		require.NoError(t, a.WriteFrame(f))
		got, err := read(t, b, 2*time.Second)
		require.ErrorIs(t, err, backend.ErrTruncated, b.Receive())
		require.Equal(t, f[:60], got, b.Receive())
		require.NoError(t, b.Close())
	}
}
