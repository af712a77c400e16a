//go:build linux

package afpacket_test

import (
	"os"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			err := openErr(v.A.NS, v.A.Name, afpacket.Config{Ring: &ring})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "afpacket: open "+v.A.Name+": ring: ")
		})
	}
}

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
			sent = append(sent, mkFrame(v.B.MAC, v.A.MAC, testkit.Dot1Q(uint16(r)), etherTest, 60+i, seq+uint32(i)))
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
	readUntilQuiet(t, b, 300*time.Millisecond, func(f []byte) {
		s := int(seqOf(f))
		require.Greater(t, s, last, "out of order")
		require.Equal(t, frames[s], f)
		last = s
		kept++
	})
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
	long := mkFrame(v.B.MAC, v.A.MAC, testkit.Dot1Q(7), etherTest, 200, 1)
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
