//go:build linux

package afpacket_test

// Link loss and flaps on every receive mode: an interface removed ends
// every reader, bare or through a relay; one that goes down and up again
// ends nothing, and traffic resumes on the same sockets.

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/relay"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recvMode is one way a Conn takes frames in, with the relay configured to
// use it.
type recvMode struct {
	name  string
	cfg   afpacket.Config
	relay relay.Config
	batch bool // a bare Conn reads with ReadFrames, else ReadFrame
}

// recvModes are the receive paths of a Conn: recvmsg (ReadFrame, and a
// relay that reads one frame at a time), recvmmsg (ReadFrames), the
// TPACKET_V2 frame ring and the TPACKET_V3 block ring (both entry points
// each), the adaptive receive on either of its rings, plus sockets in a
// fanout group, which the kernel unhooks and hooks
// again on its own path.
func recvModes() []recvMode {
	ring := func() *afpacket.RingConfig { return &afpacket.RingConfig{BlockSize: 64 << 10, Blocks: 8} }
	sock := afpacket.Config{Receive: afpacket.ReceiveSocket}
	frames := afpacket.Config{Receive: afpacket.ReceiveFrameRing, FrameRingSize: 1 << 20}
	adaptive := afpacket.Config{FrameRingSize: 1 << 20, Ring: ring(), Receive: afpacket.ReceiveAdaptive}
	blocks := afpacket.OnBlocksOnly(adaptive)
	fanout := func(c afpacket.Config) afpacket.Config { c.Fanout = afpacket.FanoutCPU; return c }
	return []recvMode{
		{"adaptive", adaptive, relay.Config{}, true},
		{"adaptive-single", adaptive, relay.Config{BatchSize: 1}, false},
		{"adaptive-blocks", blocks, relay.Config{}, false},
		{"adaptive-blocks-single", blocks, relay.Config{BatchSize: 1}, true},
		// Up at the first frame, down after 20 ms: link events on one
		// ring, reads on the other after them.
		{"adaptive-switching", afpacket.SwitchOften(adaptive, 1, 20*time.Millisecond), relay.Config{}, true},
		{"recvmsg", sock, relay.Config{BatchSize: 1}, false},
		{"recvmmsg", sock, relay.Config{}, true},
		{"frames", frames, relay.Config{}, false},
		{"frames-single", frames, relay.Config{BatchSize: 1}, true},
		{"ring", afpacket.Config{Ring: ring()}, relay.Config{}, false},
		{"ring-single", afpacket.Config{Ring: ring()}, relay.Config{BatchSize: 1}, true},
		{"recvmmsg-fanout", fanout(sock), relay.Config{}, true},
		{"frames-fanout", fanout(frames), relay.Config{}, true},
	}
}

// forEachMode runs f in parallel subtests, one for each receive mode.
func forEachMode(t *testing.T, f func(t *testing.T, m recvMode)) {
	netns.Require(t)
	t.Parallel()
	for _, m := range recvModes() {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// readResult is what a blocked reader returned, and when.
type readResult struct {
	who string
	err error
	at  time.Time
}

// TestLinkRemovedEndsReaders removes the interface under a bare Conn blocked
// in a read and under a relay with a blocked etherconn reader and a blocked
// rudp reader: all three return at once, the relay's with ErrInputEnded,
// and the relay says why (the interface is gone: ENODEV, with its name).
func TestLinkRemovedEndsReaders(t *testing.T) {
	forEachMode(t, func(t *testing.T, m recvMode) {
		v := netns.NewVeth(t, nil)
		bare := open(t, v.A, m.cfg)
		sd := newSide(t, v.A, 0, 1, sideOptions{conn: m.cfg, relay: m.relay})
		results := make(chan readResult, 3)
		bareDone := readAsync(bare, m.batch)
		go func() {
			err := <-bareDone
			results <- readResult{"afpacket", err, time.Now()}
		}()
		go func() {
			_, _, err := sd.ecs[0].ReadFrom(make([]byte, 2048))
			results <- readResult{"etherconn", err, time.Now()}
		}()
		go func() {
			_, _, err := sd.conns[0].ReadFrom(make([]byte, 2048))
			results <- readResult{"rudp", err, time.Now()}
		}()
		select {
		case r := <-results:
			t.Fatalf("%s reader returned before the interface went: %v", r.who, r.err)
		case <-time.After(100 * time.Millisecond):
		}

		start := time.Now()
		v.A.Delete(t)
		removed := time.Now()
		timeout := time.After(2 * time.Second)
		for range 3 {
			select {
			case r := <-results:
				// ip returns once the kernel has freed the
				// interface, which is after it unregistered it.
				t.Logf("%s, %s: unblocked %v after ip link del started (it ran for %v): %v",
					m.name, r.who, r.at.Sub(start).Round(100*time.Microsecond), removed.Sub(start).Round(100*time.Microsecond), r.err)
				require.Error(t, r.err, r.who)
				assert.NotErrorIs(t, r.err, net.ErrClosed, r.who)
				assert.ErrorIs(t, r.err, syscall.ENODEV, "%s: the error says the interface is gone", r.who)
				assert.Contains(t, r.err.Error(), v.A.Name, r.who)
				if r.who != "afpacket" {
					assert.ErrorIs(t, r.err, relay.ErrInputEnded, r.who)
				}
			case <-timeout:
				t.Fatalf("readers still blocked 2s after the interface was removed (relay.Err() = %v)", sd.r.Err())
			}
		}
		select {
		case <-sd.r.Done():
		case <-time.After(2 * time.Second):
			t.Fatal("relay Done still open 2s after the interface was removed")
		}
		rerr := sd.r.Err()
		require.ErrorIs(t, rerr, relay.ErrInputEnded)
		require.ErrorIs(t, rerr, syscall.ENODEV)
		require.Contains(t, rerr.Error(), "afpacket: read "+v.A.Name)
		for _, c := range []*afpacket.Conn{bare, sd.pio} {
			ls := c.LinkStats()
			assert.True(t, ls.Removed, "LinkStats %+v", ls)
			assert.False(t, ls.Down, "LinkStats %+v", ls)
		}
		// The end is final, and writes fail too.
		_, err := bare.ReadFrame(make([]byte, 100))
		require.ErrorIs(t, err, syscall.ENODEV)
		require.Error(t, bare.WriteFrame(mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 50, 0)))
	})
}

// TestLinkRemovedDrains removes the interface under a Conn that holds frames
// it has not read yet: reads return them, in order, then the removal error.
// The kernel puts its ENETDOWN before queued frames, so a Conn that ended
// at that error would lose them.
func TestLinkRemovedDrains(t *testing.T) {
	forEachMode(t, func(t *testing.T, m recvMode) {
		const n = 5
		a, b, v := pair(t, afpacket.Config{}, m.cfg)
		var sent [][]byte
		for i := range n {
			f := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 60, uint32(i))
			require.NoError(t, a.WriteFrame(f))
			sent = append(sent, f)
		}
		// Let them reach b's queue or ring (and a ring's block
		// timeout hand them over).
		time.Sleep(50 * time.Millisecond)
		v.B.Delete(t)
		require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
		var got [][]byte
		var err error
		bufs, lens := [][]byte{make([]byte, 2048), make([]byte, 2048)}, make([]int, 2)
		for len(got) <= n && err == nil {
			if m.batch {
				var k int
				k, err = b.ReadFrames(bufs, lens)
				for i := range k {
					got = append(got, append([]byte(nil), bufs[i][:lens[i]]...))
				}
				continue
			}
			var k int
			k, err = b.ReadFrame(bufs[0])
			if err == nil {
				got = append(got, append([]byte(nil), bufs[0][:k]...))
			}
		}
		require.ErrorIs(t, err, syscall.ENODEV, "after %d frames", len(got))
		require.Equal(t, sent, got)
	})
}

// TestLinkFlapResumes takes the interface under a relay (with a blocked
// rudp reader) and a bare Conn (blocked in a read) down and up again, twice:
// nothing ends, writes fail while it is down and the relay counts them, the
// link-loss counters show each gap, and after each up a datagram from the
// peer reaches the rudp reader and the bare Conn reads its frame.
func TestLinkFlapResumes(t *testing.T) {
	forEachMode(t, func(t *testing.T, m recvMode) {
		const downFor = 200 * time.Millisecond
		v := netns.NewVeth(t, nil)
		a := newSide(t, v.A, 0, 1, sideOptions{})
		b := newSide(t, v.B, 1, 1, sideOptions{conn: m.cfg, relay: m.relay})
		bare := open(t, v.B, m.cfg)
		// Bounds every read below, should the test fail.
		require.NoError(t, b.conns[0].SetReadDeadline(time.Now().Add(30*time.Second)))
		require.NoError(t, bare.SetReadDeadline(time.Now().Add(30*time.Second)))
		var downTotal time.Duration // of the down periods so far, up to each check
		for cycle := 1; cycle <= 2; cycle++ {
			msg := fmt.Sprintf("after flap %d", cycle)
			udp := readUDPAsync(b, 0)
			bareDone := readAsync(bare, m.batch)
			time.Sleep(50 * time.Millisecond)

			downAt := time.Now()
			v.B.Down(t)
			time.Sleep(downFor)
			select {
			case r := <-udp:
				t.Fatalf("flap %d: rudp reader returned while the link was down: %v", cycle, r.err)
			case err := <-bareDone:
				t.Fatalf("flap %d: bare read returned while the link was down: %v", cycle, err)
			default:
			}
			require.NoError(t, b.r.Err(), "flap %d: the relay ended on a link that went down", cycle)
			select {
			case <-b.r.Done():
				t.Fatalf("flap %d: relay Done closed while the link was down", cycle)
			default:
			}
			for _, c := range []*afpacket.Conn{b.pio, bare} {
				ls := c.LinkStats()
				assert.True(t, ls.Down, "flap %d: LinkStats %+v", cycle, ls)
				assert.Equal(t, uint64(cycle), ls.Downs, "flap %d: LinkStats %+v", cycle, ls)
				assert.False(t, ls.Removed, "flap %d: LinkStats %+v", cycle, ls)
			}
			// Nothing spins while the link is down: the kernel says
			// ENETDOWN once, so each reader tries again once, and the
			// monitor looks every 20 ms at most once past its first
			// few looks (a spinning loop would count thousands).
			downTotal += time.Since(downAt)
			for _, c := range []*afpacket.Conn{b.pio, bare} {
				assert.LessOrEqual(t, afpacket.LinkRetries(c), uint64(2*cycle), "flap %d: reads tried again", cycle)
				assert.LessOrEqual(t, afpacket.LinkChecks(c), uint64(20*cycle)+uint64(downTotal/(10*time.Millisecond)), "flap %d: link checks", cycle)
			}
			// Writes fail as the kernel's do, and the relay counts them.
			werr := b.r.Stats().WriteErrors
			_, err := b.conns[0].WriteToUDPAddrPort([]byte("while down"), a.addrs[0])
			require.ErrorIs(t, err, syscall.ENETDOWN, "flap %d", cycle)
			assert.Equal(t, werr+1, b.r.Stats().WriteErrors, "flap %d: relay write errors", cycle)
			require.ErrorIs(t, bare.WriteFrame(mkFrame(v.A.MAC, v.B.MAC, nil, etherTest, 50, 0)), syscall.ENETDOWN)

			v.B.Up(t)
			v.B.WaitUp(t)
			v.A.WaitUp(t)
			// The first frames after up may be lost while the link
			// watcher catches up: send until one arrives.
			var r udpResult
			deadline := time.After(10 * time.Second)
		send:
			for {
				_, err := a.conns[0].WriteToUDPAddrPort([]byte(msg), b.addrs[0])
				require.NoError(t, err)
				select {
				case r = <-udp:
					break send
				case <-time.After(50 * time.Millisecond):
				case <-deadline:
					t.Fatalf("flap %d: no datagram reached the rudp reader 10s after the link came up (relay.Err() = %v)", cycle, b.r.Err())
				}
			}
			require.NoError(t, r.err, "flap %d", cycle)
			assert.Equal(t, msg, r.payload, "flap %d", cycle)
			assert.Equal(t, a.addrs[0], r.from, "flap %d", cycle)
			select {
			case err := <-bareDone:
				require.NoError(t, err, "flap %d: bare read after up", cycle)
			case <-time.After(5 * time.Second):
				t.Fatalf("flap %d: bare read still blocked 5s after traffic resumed", cycle)
			}
			require.NoError(t, b.r.Err())
			for _, c := range []*afpacket.Conn{b.pio, bare} {
				ls := eventually(t, c, func(ls afpacket.LinkStats) bool { return !ls.Down })
				assert.Equal(t, uint64(cycle), ls.Downs, "flap %d: LinkStats %+v", cycle, ls)
				assert.GreaterOrEqual(t, ls.DownTime, time.Duration(cycle)*downFor, "flap %d: LinkStats %+v", cycle, ls)
				assert.False(t, ls.Removed, "flap %d: LinkStats %+v", cycle, ls)
			}
		}
	})
}

// udpResult is what readUDPAsync's read returned.
type udpResult struct {
	payload string
	from    netip.AddrPort
	err     error
}

// readUDPAsync starts one read on host i of s.
func readUDPAsync(s *side, i int) <-chan udpResult {
	done := make(chan udpResult, 1)
	go func() {
		buf := make([]byte, 2048)
		n, from, err := s.conns[i].ReadFromUDPAddrPort(buf)
		done <- udpResult{string(buf[:n]), from, err}
	}()
	return done
}

// eventually waits up to 2 seconds for c's link-loss counters to satisfy
// ok, and returns the last seen.
func eventually(t *testing.T, c *afpacket.Conn, ok func(afpacket.LinkStats) bool) afpacket.LinkStats {
	t.Helper()
	ls := c.LinkStats()
	for start := time.Now(); !ok(ls) && time.Since(start) < 2*time.Second; ls = c.LinkStats() {
		time.Sleep(5 * time.Millisecond)
	}
	if !ok(ls) {
		t.Errorf("LinkStats still %+v after 2s", ls)
	}
	return ls
}
