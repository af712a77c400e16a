//go:build linux

package afpacket_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/internal/netns"
)

// TestAdaptiveSwitching sends numbered frames in bursts to an adaptive
// receive made to switch up after 256 frames and down after every 2 ms,
// both while frames come and while none do, also with a block timeout
// longer than that. Every frame must arrive once,
// in the order sent, through ReadFrame and ReadFrames alike, with switches
// both ways, and the kernel must have dropped none. A burst goes out when
// the one before it is read, so that no ring can overflow while a switch
// holds the reader up (the kernel's wait for its readers, up to tens of
// milliseconds under a flood on this project's VM).
func TestAdaptiveSwitching(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{})
	// A block timeout past the down window: a switch down must still wait
	// for the block the kernel fills.
	slow := afpacket.Config{Receive: afpacket.ReceiveAdaptive, Ring: &afpacket.RingConfig{Timeout: 60 * time.Millisecond}}
	for _, tc := range []struct {
		batch, bursts int
		cfg           afpacket.Config
	}{
		{1, 40, afpacket.Config{}},
		{64, 40, afpacket.Config{}},
		{64, 10, slow},
	} {
		batch, bursts := tc.batch, tc.bursts
		t.Run(fmt.Sprintf("batch=%d/timeout=%v", batch, tc.cfg.Ring != nil), func(t *testing.T) {
			b := open(t, v.B, afpacket.SwitchOften(tc.cfg, 256, 2*time.Millisecond))
			require.Equal(t, afpacket.ReceiveAdaptive, b.Receive())
			const per = 8000
			frames := seqFrames(v, bursts*per, 46)
			next := uint32(0)
			bufs, lens := make([][]byte, batch), make([]int, batch)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			for i := 0; i < bursts; i++ {
				// Every other pause outlasts the down window with nothing
				// to read: the probe's way down.
				time.Sleep(time.Duration(i%2*10) * time.Millisecond)
				burst := frames[i*per : (i+1)*per]
				for len(burst) > 0 {
					n, err := a.WriteFrames(burst[:min(64, len(burst))])
					require.NoError(t, err)
					burst = burst[n:]
				}
				for next < uint32((i+1)*per) {
					require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
					n, err := b.ReadFrames(bufs, lens)
					require.NoError(t, err, "waiting for frame %d; kernel drops %d", next, b.Stats().Dropped)
					for _, f := range bufs[:n] {
						if seqOf(f) != next {
							up, down := afpacket.Switches(b)
							t.Fatalf("frame %d where %d was due: out of order, lost or repeated (kernel drops %d, switches %d up, %d down)",
								seqOf(f), next, b.Stats().Dropped, up, down)
						}
						next++
					}
				}
			}
			expectNothing(t, b, 20*time.Millisecond)
			up, down := afpacket.Switches(b)
			t.Logf("%d frames, %d switches up, %d down", next, up, down)
			require.GreaterOrEqual(t, up, uint64(bursts/4))
			require.GreaterOrEqual(t, down, uint64(bursts/4))
			require.Zero(t, b.Stats().Dropped)
		})
	}
}

// TestAdaptiveIdleDown floods an adaptive receive with its own thresholds
// until it reads the block ring, then stops: without frames it must move
// back to the frame ring, a lone frame then must come through the frame
// ring, and the block ring must be gone after adaptLinger (2 s), to be
// made again by the next flood.
func TestAdaptiveIdleDown(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	f := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 46, 0)
	fl := startFlood(a, repeat(f, 64), 10*time.Second, nil)
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for !afpacket.OnBlocks(b) && time.Now().Before(deadline) {
		_, err := b.ReadFrame(buf)
		require.NoError(t, err)
	}
	fl.stop()
	require.True(t, afpacket.OnBlocks(b), "a flood did not move the Conn to the block ring")
	// Read until the flood's frames are gone and the reader has waited
	// out the down window (50 ms).
	for {
		require.NoError(t, b.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		if _, err := b.ReadFrame(buf); errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	require.False(t, afpacket.OnBlocks(b), "an idle Conn stayed on the block ring")
	up, down := afpacket.Switches(b)
	require.Equal(t, up, down)
	// A frame ring wakes the reader for each frame: well under the block
	// ring's 1 ms timeout on any machine that runs this test, but the test
	// only checks which ring the frame came through.
	requireArrives(t, a, b, f)
	require.False(t, afpacket.OnBlocks(b))
	require.True(t, afpacket.HasBlockRing(b))
	require.Eventually(t, func() bool { return !afpacket.HasBlockRing(b) }, 5*time.Second, 50*time.Millisecond,
		"the block ring outlived the linger")

	fl = startFlood(a, repeat(f, 64), 10*time.Second, nil)
	defer fl.stop()
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	for !afpacket.OnBlocks(b) && time.Now().Before(deadline.Add(10*time.Second)) {
		_, err := b.ReadFrame(buf)
		require.NoError(t, err)
	}
	require.True(t, afpacket.OnBlocks(b), "a second flood did not move the Conn to a new block ring")
}

// TestAdaptiveDeadline checks read deadlines on an adaptive receive on its
// frame ring, on its block ring, and on the block ring with a short idle
// probe, which must neither end a read before its deadline nor keep it
// past it: a deadline in the past fails a read at once, with a frame there
// or not, one set from another goroutine ends a blocked read, a later one
// ends it on time, Close ends it with net.ErrClosed, and frames still
// arrive between.
func TestAdaptiveDeadline(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"frames", afpacket.Config{}},
		{"blocks", afpacket.OnBlocksOnly(afpacket.Config{})},
		{"blocks-probe", afpacket.StartOnBlocks(afpacket.Config{}, 20*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, v := pair(t, afpacket.Config{}, tc.cfg)
			buf := make([]byte, 2048)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
			_, err := b.ReadFrame(buf)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)

			// A deadline set while the read waits.
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			done := make(chan error, 1)
			go func() { _, err := b.ReadFrame(buf); done <- err }()
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
			select {
			case err := <-done:
				require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			case <-time.After(2 * time.Second):
				t.Fatal("a deadline set in the past did not end the blocked read")
			}

			// A deadline ahead: not earlier, not much later.
			start := time.Now()
			require.NoError(t, b.SetReadDeadline(start.Add(200*time.Millisecond)))
			_, err = b.ReadFrame(buf)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
			require.Less(t, time.Since(start), 2*time.Second)

			require.NoError(t, b.SetReadDeadline(time.Time{}))
			requireArrives(t, a, b, mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 46, 1))

			// A deadline that has passed fails the read even with a frame
			// there, as a read through the poller does; the frame stays.
			f := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 46, 2)
			require.NoError(t, a.WriteFrame(f))
			time.Sleep(50 * time.Millisecond) // and a block's timeout
			require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
			_, err = b.ReadFrame(buf)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			got, err := read(t, b, time.Second)
			require.NoError(t, err)
			require.Equal(t, f, got)

			go func() { _, err := b.ReadFrame(buf); done <- err }()
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, b.Close())
			select {
			case err := <-done:
				require.ErrorIs(t, err, net.ErrClosed)
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not end the blocked read")
			}
		})
	}
}

// BenchmarkAdaptiveBuild is the price of making an adaptive receive's block
// ring (16 MiB by default) at a switch up, and taking it down again.
func BenchmarkAdaptiveBuild(b *testing.B) {
	netns.Require(b)
	v := netns.NewVeth(b, nil)
	c := open(b, v.B, afpacket.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if err := afpacket.CycleBlockRing(c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReceiveChosen checks the receive path Open takes for each way of
// asking, as Conn.Receive reports it, and that an adaptive receive cannot
// join a fanout group of the caller's.
func TestReceiveChosen(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, nil)
	for _, tc := range []struct {
		cfg  afpacket.Config
		want afpacket.ReceiveMode
	}{
		{afpacket.Config{}, afpacket.ReceiveAdaptive},
		{afpacket.Config{Receive: afpacket.ReceiveAdaptive, Ring: &afpacket.RingConfig{Blocks: 4}}, afpacket.ReceiveAdaptive},
		{afpacket.Config{Fanout: afpacket.FanoutHash}, afpacket.ReceiveFrameRing},
		{afpacket.Config{Receive: afpacket.ReceiveFrameRing}, afpacket.ReceiveFrameRing},
		{afpacket.Config{Ring: &afpacket.RingConfig{}}, afpacket.ReceiveBlockRing},
		{afpacket.Config{Receive: afpacket.ReceiveSocket}, afpacket.ReceiveSocket},
	} {
		c := open(t, v.B, tc.cfg)
		require.Equal(t, tc.want, c.Receive(), "%+v", tc.cfg)
	}
	err := openErr(v.B.NS, v.B.Name, afpacket.Config{Receive: afpacket.ReceiveAdaptive, Fanout: afpacket.FanoutHash})
	require.ErrorContains(t, err, "fanout group of its own")
	err = openErr(v.B.NS, v.B.Name, afpacket.Config{Receive: afpacket.ReceiveAdaptive, Ring: &afpacket.RingConfig{BlockSize: 1000}})
	require.ErrorContains(t, err, "block size 1000")
}

// TestAdaptiveRefusedBlockRing: an adaptive receive whose block ring the
// kernel refuses stays on its frame ring, trying again a second later, and
// loses nothing meanwhile.
func TestAdaptiveRefusedBlockRing(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.RefuseBlockRings(afpacket.Config{}, 64))
	frames := seqFrames(v, 3000, 46)
	got := 0
	for round := 0; round < 3; round++ {
		writeAll(t, a, frames[round*1000:(round+1)*1000])
		for _, f := range readAll(t, b, 1000, 5*time.Second) {
			require.Equal(t, uint32(got), seqOf(f))
			got++
		}
		require.False(t, afpacket.OnBlocks(b))
		require.False(t, afpacket.HasBlockRing(b))
	}
	up, down := afpacket.Switches(b)
	require.Zero(t, up+down)
	require.Zero(t, b.Stats().Dropped)
	require.Equal(t, afpacket.ReceiveAdaptive, b.Receive())
}
