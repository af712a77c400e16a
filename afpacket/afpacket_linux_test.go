//go:build linux

package afpacket_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

var vlanCases = []struct {
	name string
	tags []testkit.Tag
}{
	{"untagged", nil},
	{"8100 pcp5 dei vid100", []testkit.Tag{testkit.TagFromTCI(0x8100, 5<<13|1<<12|100)}},
	{"88a8 pcp7 dei vid4094", []testkit.Tag{testkit.TagFromTCI(0x88a8, 7<<13|1<<12|4094)}},
	{"8100 vid0 priority", []testkit.Tag{testkit.TagFromTCI(0x8100, 6<<13)}},
	{"8100 tci0", []testkit.Tag{testkit.TagFromTCI(0x8100, 0)}},
	{"88a8 vid0 dei only", []testkit.Tag{testkit.TagFromTCI(0x88a8, 1<<12)}},
	{"qinq 88a8+8100", []testkit.Tag{testkit.TagFromTCI(0x88a8, 3<<13|200), testkit.TagFromTCI(0x8100, 1<<13|1<<12|300)}},
	{"qinq 8100+8100", []testkit.Tag{testkit.TagFromTCI(0x8100, 10), testkit.TagFromTCI(0x8100, 20)}},
	{"3 tags", []testkit.Tag{testkit.TagFromTCI(0x88a8, 1), testkit.TagFromTCI(0x8100, 2<<13|2), testkit.TagFromTCI(0x8100, 7<<13|1<<12|4095)}},
	{"9100", []testkit.Tag{testkit.TagFromTCI(0x9100, 4<<13|1<<12|55)}},
	{"9100+8100", []testkit.Tag{testkit.TagFromTCI(0x9100, 55), testkit.TagFromTCI(0x8100, 66)}},
}

// qinq100200 is a QinQ stack: an 802.1ad tag with VID 100 over an 802.1Q
// tag with VID 200.
var qinq100200 = []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 100}, {ID: 200}}

func TestVLANByteExact(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	sizes := []int{2, 46, 100, 1500}
	seed := uint32(0)
	for _, tc := range vlanCases {
		for _, size := range sizes {
			if size == 1500 && len(tc.tags) > 0 {
				// The kernel sends MTU+14 bytes, plus 4 with an outer
				// 0x8100 tag.
				size -= 4 * len(tc.tags)
				if tc.tags[0].WireTPID() == testkit.TPIDDot1Q {
					size += 4
				}
			}
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				for _, dir := range []struct {
					from, to *afpacket.Conn
					src      net.HardwareAddr
				}{{a, b, v.A.MAC}, {b, a, v.B.MAC}} {
					seed++
					want := mkFrame(netns.RandomMAC(), dir.src, tc.tags, etherTest, size, seed)
					requireArrives(t, dir.from, dir.to, want)
				}
			})
		}
	}
	// Batch path: all cases in one WriteFrames, read back with ReadFrames.
	t.Run("batch", func(t *testing.T) {
		var frames [][]byte
		for i, tc := range vlanCases {
			frames = append(frames, mkFrame(v.B.MAC, v.A.MAC, tc.tags, etherTest, 30+i, uint32(1000+i)))
		}
		writeAll(t, a, frames)
		got := readAll(t, b, len(frames), 5*time.Second)
		require.Equal(t, frames, got)
	})
}

func TestOwnFramesNotReceived(t *testing.T) {
	t.Parallel()
	for _, fanout := range []bool{false, true} {
		t.Run(fmt.Sprintf("fanout=%v", fanout), func(t *testing.T) {
			t.Parallel()
			cfg := afpacket.Config{}
			if fanout {
				cfg.Fanout = afpacket.FanoutHash
			}
			a, b, v := pair(t, cfg, cfg)
			const n = 20
			var frames [][]byte
			for i := 0; i < n; i++ {
				frames = append(frames, mkFrame(v.B.MAC, v.A.MAC, vlanCases[i%len(vlanCases)].tags, etherTest, 50, uint32(i)))
			}
			for _, f := range frames[:n/2] {
				require.NoError(t, a.WriteFrame(f))
			}
			writeAll(t, a, frames[n/2:])
			require.Equal(t, frames, readAll(t, b, n, 5*time.Second))
			expectNothing(t, a, 200*time.Millisecond)

			// The other direction still works: a is not deaf.
			back := mkFrame(v.A.MAC, v.B.MAC, nil, etherTest, 50, 99)
			requireArrives(t, b, a, back)
			expectNothing(t, b, 100*time.Millisecond)
		})
	}
}

func TestShortFramesUnpadded(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	for _, size := range []int{14, 15, 20, 42, 59} {
		want := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, size-14, uint32(size))
		requireArrives(t, a, b, want, "a %d-byte frame must arrive as %d bytes", size, size)
	}
	// A tagged short frame: tag restored, no padding.
	want := mkFrame(v.B.MAC, v.A.MAC, testkit.Dot1Q(7), etherTest, 8, 1)
	requireArrives(t, a, b, want)

	for _, size := range []int{0, 1, 13} {
		err := a.WriteFrame(make([]byte, size))
		require.ErrorIs(t, err, backend.ErrFrameTooShort)
	}
	// WriteFrames sends the frames before the short one.
	good := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 10, 2)
	n, err := a.WriteFrames([][]byte{good, good, make([]byte, 13), good})
	require.ErrorIs(t, err, backend.ErrFrameTooShort)
	require.Equal(t, 2, n)
	require.Equal(t, [][]byte{good, good}, readAll(t, b, 2, 2*time.Second))
	expectNothing(t, b, 100*time.Millisecond)
	n, err = a.WriteFrames(nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestFrameTooLong(t *testing.T) {
	t.Parallel()
	a, _, v := pair(t, afpacket.Config{}, afpacket.Config{})
	big := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 1600, 1)
	err := a.WriteFrame(big)
	require.ErrorIs(t, err, backend.ErrFrameTooLong)
	require.ErrorIs(t, err, unix.EMSGSIZE)
	n, err := a.WriteFrames([][]byte{mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 10, 1), big})
	require.ErrorIs(t, err, backend.ErrFrameTooLong)
	require.Equal(t, 1, n)
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	want := mkFrame(v.B.MAC, v.A.MAC, qinq100200, etherTest, 100, 7)
	for _, size := range []int{50, len(want) - 2, len(want) - 4, 14, 13} {
		require.NoError(t, a.WriteFrame(want))
		buf := make([]byte, size)
		require.NoError(t, b.SetReadDeadline(time.Now().Add(2*time.Second)))
		n, err := b.ReadFrame(buf)
		require.ErrorIs(t, err, backend.ErrTruncated, "buffer %d", size)
		require.Equal(t, size, n)
		require.Equal(t, want[:size], buf)
	}
	// The Conn stays usable, and an exact buffer is not truncation.
	require.NoError(t, a.WriteFrame(want))
	buf := make([]byte, len(want))
	n, err := b.ReadFrame(buf)
	require.NoError(t, err)
	require.Equal(t, want, buf[:n])

	// Batch: the cut length is reported, without error.
	require.NoError(t, a.WriteFrame(want))
	bufs := [][]byte{make([]byte, 40)}
	lens := []int{0}
	k, err := b.ReadFrames(bufs, lens)
	require.NoError(t, err)
	require.Equal(t, 1, k)
	require.Equal(t, 40, lens[0])
	require.Equal(t, want[:40], bufs[0])
	k, err = b.ReadFrames(nil, nil)
	require.NoError(t, err)
	require.Zero(t, k)
}

// etherTypeFilter accepts frames whose EtherType (after the MACs, outer tag
// already removed by the kernel) is et.
func etherTypeFilter(t testing.TB, et uint16) []bpf.RawInstruction {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(et), SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	require.NoError(t, err)
	return prog
}

func TestFilterNoLeak(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	flood := open(t, v.B, afpacket.Config{})
	unwanted := mkFrame(v.A.MAC, v.B.MAC, nil, etherTest, 50, 1)
	wanted := mkFrame(v.A.MAC, v.B.MAC, nil, etherOther, 50, 2)

	// Flood a with unwanted frames while sockets with a filter are opened
	// on it; none may ever return an unwanted frame.
	flooded := startFlood(flood, repeat(unwanted, 8), 20*time.Second, runtime.Gosched)
	defer flooded.stop()

	filter := etherTypeFilter(t, etherOther)
	for i := 0; i < 10; i++ {
		before := flooded.sent.Load()
		c := open(t, v.A, afpacket.Config{Filter: filter})
		requireArrives(t, flood, c, wanted)
		expectNothing(t, c, 20*time.Millisecond)
		require.NoError(t, c.Close())
		require.Greater(t, flooded.sent.Load(), before, "the flood must be running while the socket opens")
	}

	// A socket without filter does see the flood, and SetBPF then stops it.
	c := open(t, v.A, afpacket.Config{})
	got, err := read(t, c, 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, unwanted, got)
	require.NoError(t, c.SetBPF(filter))
	// Drain what was queued before the filter.
	readUntilQuiet(t, c, 50*time.Millisecond, func(f []byte) { require.Equal(t, unwanted, f) })
	expectNothing(t, c, 50*time.Millisecond)
	require.NoError(t, c.SetBPF(nil))
	_, err = read(t, c, 2*time.Second)
	require.NoError(t, err)
}

func TestVLANFilterSeesTagAsAncillary(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	// Accept only frames whose (removed) outer tag has VID 100.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtVLANTagPresent},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 3},
		bpf.LoadExtension{Num: bpf.ExtVLANTag},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 100, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	require.NoError(t, err)
	a := open(t, v.A, afpacket.Config{})
	b := open(t, v.B, afpacket.Config{Filter: prog})
	for _, tags := range [][]testkit.Tag{nil, testkit.Dot1Q(200), qinq100200} {
		require.NoError(t, a.WriteFrame(mkFrame(v.B.MAC, v.A.MAC, tags, etherTest, 20, 1)))
	}
	got, err := read(t, b, 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, mkFrame(v.B.MAC, v.A.MAC, qinq100200, etherTest, 20, 1), got)
	expectNothing(t, b, 100*time.Millisecond)
}

func TestCloseUnblocksRead(t *testing.T) {
	t.Parallel()
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			t.Parallel()
			_, b, _ := pair(t, afpacket.Config{}, afpacket.Config{})
			done := readAsync(b, batch)
			select {
			case err := <-done:
				t.Fatalf("read returned before Close: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			require.NoError(t, b.Close())
			select {
			case err := <-done:
				require.ErrorIs(t, err, net.ErrClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock the read")
			}
			require.NoError(t, b.Close(), "Close is idempotent")
			_, err := b.ReadFrame(make([]byte, 100))
			require.ErrorIs(t, err, net.ErrClosed)
			_, err = b.ReadFrames([][]byte{make([]byte, 100)}, []int{0})
			require.ErrorIs(t, err, net.ErrClosed)
			require.ErrorIs(t, b.WriteFrame(make([]byte, 60)), net.ErrClosed)
			_, err = b.WriteFrames([][]byte{make([]byte, 60)})
			require.ErrorIs(t, err, net.ErrClosed)
			require.ErrorIs(t, b.SetReadDeadline(time.Time{}), net.ErrClosed)
			require.ErrorIs(t, b.SetBPF(nil), net.ErrClosed)
			_ = b.Stats()
		})
	}
}

// readAsync starts one read on c, with ReadFrames if batch, else with
// ReadFrame, and returns where its error will be.
func readAsync(c *afpacket.Conn, batch bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		var err error
		if batch {
			_, err = c.ReadFrames([][]byte{buf}, []int{0})
		} else {
			_, err = c.ReadFrame(buf)
		}
		done <- err
	}()
	return done
}

// TestInterfaceGoneWhileReading ends a blocked read by taking the interface
// away in the ways it can go: removed (itself, its peer, in a fanout group,
// after it was down for a while) or moved to another namespace. A link that
// only goes down ends nothing: see TestLinkFlapResumes.
func TestInterfaceGoneWhileReading(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		batch  bool
		action func(t *testing.T, v *netns.Veth)
		fanout bool
	}{
		{"deleted fanout", false, func(t *testing.T, v *netns.Veth) { v.A.Delete(t) }, true},
		{"deleted", false, func(t *testing.T, v *netns.Veth) { v.A.Delete(t) }, false},
		{"deleted batch", true, func(t *testing.T, v *netns.Veth) { v.A.Delete(t) }, false},
		{"peer deleted", false, func(t *testing.T, v *netns.Veth) { v.B.Delete(t) }, false},
		{"down, then deleted", true, func(t *testing.T, v *netns.Veth) {
			v.A.Down(t)
			time.Sleep(300 * time.Millisecond) // the monitor has backed off
			v.A.Delete(t)
		}, false},
		{"moved to another namespace", true, func(t *testing.T, v *netns.Veth) {
			require.NoError(t, v.A.NS.IP("link", "set", v.A.Name, "netns", v.B.NS.Name))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := netns.NewVeth(t, nil)
			cfg := afpacket.Config{}
			if tc.fanout {
				cfg.Fanout = afpacket.FanoutCPU
			}
			a := open(t, v.A, cfg)
			done := readAsync(a, tc.batch)
			time.Sleep(50 * time.Millisecond)
			tc.action(t, v)
			select {
			case err := <-done:
				require.Error(t, err)
				require.NotErrorIs(t, err, net.ErrClosed)
				require.Contains(t, err.Error(), v.A.Name)
				require.ErrorIs(t, err, unix.ENODEV, "the error says the interface is gone")
				t.Logf("read error: %v", err)
				// The error is final: the next read fails at once.
				start := time.Now()
				_, err2 := a.ReadFrame(make([]byte, 100))
				require.Error(t, err2)
				require.Less(t, time.Since(start), time.Second)
			case <-time.After(5 * time.Second):
				_ = a.Close()
				<-done
				t.Fatal("read still blocked 5s after the interface went away")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	err := openErr(v.A.NS, "nosuch0", afpacket.Config{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "afpacket: open nosuch0")
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "the lookup error is wrapped")

	v.A.Down(t)
	err = openErr(v.A.NS, v.A.Name, afpacket.Config{})
	require.ErrorIs(t, err, unix.ENETDOWN)
	require.Contains(t, err.Error(), v.A.Name)

	err = openErr(v.B.NS, v.B.Name, afpacket.Config{Fanout: afpacket.FanoutMode(42)})
	require.ErrorContains(t, err, "fanout")
	err = v.B.NS.Do(func() error {
		_, err := afpacket.OpenGroup(v.B.Name, afpacket.Config{}, 0)
		return err
	})
	require.Error(t, err)
	err = openErr(v.B.NS, v.B.Name, afpacket.Config{Filter: []bpf.RawInstruction{{Op: 0xffff}}})
	require.ErrorContains(t, err, "BPF")
	for _, tc := range []struct {
		cfg  afpacket.Config
		want string
	}{
		{afpacket.Config{Receive: afpacket.ReceiveMode(9)}, "invalid receive mode 9"},
		{afpacket.Config{Receive: afpacket.ReceiveSocket, Ring: &afpacket.RingConfig{}}, "not a socket receive"},
		{afpacket.Config{FrameRingSize: -1}, "negative size"},
		// Asked for by size, a ring the kernel or the package refuses
		// fails Open rather than fall back to the socket.
		{afpacket.Config{FrameRingSize: 1 << 40}, "over 16 GiB"},
		{afpacket.Config{Receive: afpacket.ReceiveFrameRing, FrameRingSize: 1 << 40}, "over 16 GiB"},
	} {
		err := openErr(v.B.NS, v.B.Name, tc.cfg)
		require.ErrorContains(t, err, tc.want)
		require.ErrorContains(t, err, "afpacket: open "+v.B.Name)
	}
	require.Equal(t, "frame ring", afpacket.ReceiveFrameRing.String())
	require.Equal(t, "invalid", afpacket.ReceiveMode(-1).String())
}

// TestOpenWithoutCapability drops CAP_NET_RAW on one thread and opens
// there (openWithoutCap).
func TestOpenWithoutCapability(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	_, err := openWithoutCap(t, v.A, unix.CAP_NET_RAW)
	if err == nil {
		t.Skip("open succeeded without CAP_NET_RAW")
	}
	require.ErrorIs(t, err, os.ErrPermission)
	require.ErrorContains(t, err, "CAP_NET_RAW")
	require.ErrorContains(t, err, v.A.Name)
}

var errSetupFailed = errors.New("setup failed")

// TestOpenUnprivileged runs where the harness cannot (no CAP_NET_RAW): Open on
// the loopback interface must fail with a permission error that says what
// is missing.
func TestOpenUnprivileged(t *testing.T) {
	if netns.Available() == nil {
		t.Skip("privileged: covered by TestOpenWithoutCapability")
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	require.NoError(t, unix.Capget(&hdr, &data[0]))
	if data[0].Effective&(1<<unix.CAP_NET_RAW) != 0 {
		t.Skip("has CAP_NET_RAW but not the rest of the harness's needs")
	}
	_, err := afpacket.Open("lo", afpacket.Config{})
	require.ErrorIs(t, err, os.ErrPermission)
	require.ErrorContains(t, err, "CAP_NET_RAW")
	require.ErrorContains(t, err, "afpacket: open lo")
}

func TestFanoutGroup(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{})
	var group []*afpacket.Conn
	require.NoError(t, v.B.NS.Do(func() error {
		var err error
		group, err = afpacket.OpenGroup(v.B.Name, afpacket.Config{Fanout: afpacket.FanoutLB, ReadBufferSize: 1 << 20}, 2)
		return err
	}))
	for _, c := range group {
		c := c
		t.Cleanup(func() { _ = c.Close() })
	}
	require.Len(t, group, 2)
	require.Equal(t, group[0].FanoutGroup(), group[1].FanoutGroup())
	assert.Equal(t, v.B.Name, group[0].Name())
	assert.Equal(t, v.B.MAC, group[0].HardwareAddr())
	assert.Positive(t, group[0].Index())

	const n = 100
	frames := seqFrames(v, n, 40)
	writeAll(t, a, frames)
	seen := map[string]int{}
	per := [2]int{}
	for i, c := range group {
		readUntilQuiet(t, c, 300*time.Millisecond, func(f []byte) {
			seen[string(f)]++
			per[i]++
		})
	}
	require.Len(t, seen, n, "every frame once")
	// A fresh group gets another id.
	other := open(t, v.B, afpacket.Config{Fanout: afpacket.FanoutLB})
	require.NotEqual(t, group[0].FanoutGroup(), other.FanoutGroup())
	for _, f := range frames {
		require.Equal(t, 1, seen[string(f)])
	}
	assert.Equal(t, [2]int{n / 2, n / 2}, per, "round robin")

	// A group id can be given, and joining it in another mode is refused
	// by the kernel. FanoutJoin because the id can be 0: a freshly booted
	// kernel hands out 0 as its first unique id.
	id := group[0].FanoutGroup()
	err := openErr(v.B.NS, v.B.Name, afpacket.Config{Fanout: afpacket.FanoutCPU, FanoutGroup: id, FanoutJoin: true})
	require.Error(t, err)
	third := open(t, v.B, afpacket.Config{Fanout: afpacket.FanoutLB, FanoutGroup: id, FanoutJoin: true})
	require.Equal(t, id, third.FanoutGroup())
}

// promiscuity returns the interface's promiscuity count.
func promiscuity(t testing.TB, l *netns.Link) int {
	t.Helper()
	out, err := l.NS.Command("ip", "-d", "-j", "link", "show", "dev", l.Name).Output()
	require.NoError(t, err)
	var info []struct {
		Promiscuity int `json:"promiscuity"`
	}
	require.NoError(t, json.Unmarshal(out, &info))
	require.Len(t, info, 1)
	return info[0].Promiscuity
}

func TestPromiscuous(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	require.Equal(t, 0, promiscuity(t, v.A))
	c1 := open(t, v.A, afpacket.Config{})
	require.Equal(t, 1, promiscuity(t, v.A))
	c2 := open(t, v.A, afpacket.Config{})
	require.Equal(t, 2, promiscuity(t, v.A))
	c3 := open(t, v.A, afpacket.Config{NoPromiscuous: true})
	require.Equal(t, 2, promiscuity(t, v.A))
	require.NoError(t, c1.Close())
	require.NoError(t, c1.Close())
	require.Equal(t, 1, promiscuity(t, v.A))
	require.NoError(t, c2.Close())
	require.NoError(t, c3.Close())
	require.Equal(t, 0, promiscuity(t, v.A))

	// Frames for a MAC that is not the interface's still arrive.
	a := open(t, v.A, afpacket.Config{})
	b := open(t, v.B, afpacket.Config{})
	want := mkFrame(netns.RandomMAC(), v.A.MAC, nil, etherTest, 50, 5)
	requireArrives(t, a, b, want)
}

func TestStats(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	a := open(t, v.A, afpacket.Config{})
	b := open(t, v.B, afpacket.Config{})
	f := mkFrame(v.B.MAC, v.A.MAC, testkit.Dot1Q(5), etherTest, 46, 1)
	require.NoError(t, a.WriteFrame(f))
	writeAll(t, a, [][]byte{f, f})
	readAll(t, b, 3, 2*time.Second)
	sa, sb := a.Stats(), b.Stats()
	assert.Equal(t, backend.Stats{FramesOut: 3, BytesOut: uint64(3 * len(f))}, sa)
	assert.Equal(t, backend.Stats{FramesIn: 3, BytesIn: uint64(3 * len(f))}, sb)

	// Kernel drops: a small receive buffer, or a ring of one block (157
	// slots), that nobody reads; the adaptive receive's on either ring.
	for _, cfg := range []afpacket.Config{
		{Receive: afpacket.ReceiveSocket, ReadBufferSize: 4096},
		{Receive: afpacket.ReceiveFrameRing, FrameRingSize: 256 << 10},
		{Ring: &afpacket.RingConfig{BlockSize: 64 << 10, Blocks: 1}},
		{FrameRingSize: 256 << 10},
		afpacket.OnBlocksOnly(afpacket.Config{Ring: &afpacket.RingConfig{BlockSize: 64 << 10, Blocks: 1}, Receive: afpacket.ReceiveAdaptive}),
	} {
		small := open(t, v.B, cfg)
		batch := repeat(f, 64)
		for i := 0; i < 10; i++ {
			_, err := a.WriteFrames(batch)
			require.NoError(t, err)
		}
		d1 := small.Stats().Dropped
		require.Positive(t, d1, cfg)
		for i := 0; i < 10; i++ {
			_, err := a.WriteFrames(batch)
			require.NoError(t, err)
		}
		d2 := small.Stats().Dropped
		require.Greater(t, d2, d1, "drops accumulate although the kernel resets its counter")
		require.NoError(t, small.Close())
		require.Equal(t, d2, small.Stats().Dropped)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
	start := time.Now()
	_, err := b.ReadFrame(make([]byte, 100))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	// A deadline is not final.
	require.NoError(t, b.SetReadDeadline(time.Time{}))
	f := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 46, 1)
	requireArrives(t, a, b, f)
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{ReadBufferSize: 4 << 20})
	const writers, per = 4, 100
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				f := mkFrame(v.B.MAC, v.A.MAC, vlanCases[i%len(vlanCases)].tags, etherTest, 30, uint32(w<<16|i))
				if i%2 == 0 {
					assert.NoError(t, a.WriteFrame(f))
				} else {
					_, err := a.WriteFrames([][]byte{f})
					assert.NoError(t, err)
				}
			}
		}(w)
	}
	wg.Wait()
	got := readAll(t, b, writers*per, 5*time.Second)
	seen := map[string]bool{}
	for _, f := range got {
		seen[string(f)] = true
	}
	require.Len(t, seen, writers*per)
	require.Equal(t, uint64(writers*per), a.Stats().FramesOut)
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, tc := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"socket", afpacket.Config{Receive: afpacket.ReceiveSocket}},
		{"frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"blocks", afpacket.Config{Receive: afpacket.ReceiveBlockRing}},
		{"adaptive", afpacket.Config{}},
		{"adaptive-blocks", afpacket.OnBlocksOnly(afpacket.Config{})},
		{"adaptive-switching", afpacket.SwitchOften(afpacket.Config{}, 4, time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) { testZeroAllocs(t, tc.cfg) })
	}
}

// testZeroAllocs is TestZeroAllocs with the reader configured as cfg.
func testZeroAllocs(t *testing.T, cfg afpacket.Config) {
	a, b, v := pair(t, afpacket.Config{}, cfg)
	f := mkFrame(v.B.MAC, v.A.MAC, testkit.Dot1Q(100), etherTest, 64, 1)
	buf := make([]byte, 2048)
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		if e := a.WriteFrame(f); e != nil {
			err = e
		}
		if _, e := b.ReadFrame(buf); e != nil {
			err = e
		}
	})
	require.NoError(t, err)
	assert.Zero(t, allocs, "WriteFrame+ReadFrame")

	frames := [][]byte{f, f, f, f, f, f, f, f}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	lens := make([]int, 8)
	allocs = testing.AllocsPerRun(200, func() {
		if _, e := a.WriteFrames(frames); e != nil {
			err = e
		}
		for got := 0; got < len(frames); {
			n, e := b.ReadFrames(bufs, lens)
			if e != nil {
				err = e
				return
			}
			got += n
		}
	})
	require.NoError(t, err)
	assert.Zero(t, allocs, "WriteFrames+ReadFrames")
}

// TestPromiscuousWithoutNetAdmin opens a Conn on a thread without
// CAP_NET_ADMIN: promiscuous mode by socket membership needs CAP_NET_RAW
// only.
func TestPromiscuousWithoutNetAdmin(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	c, err := openWithoutCap(t, v.A, unix.CAP_NET_ADMIN)
	require.NoError(t, err)
	require.Equal(t, 1, promiscuity(t, v.A))
	require.NoError(t, c.Close())
	require.Equal(t, 0, promiscuity(t, v.A))
}

// openWithoutCap opens a Conn on l from a thread that drops capability cap
// first. Capabilities are per thread, and the thread is never unlocked, so
// it ends with its goroutine and the drop never reaches other goroutines.
// It skips t where the thread cannot be set up; a Conn it opens is closed
// when t ends.
func openWithoutCap(t *testing.T, l *netns.Link, cap uint) (*afpacket.Conn, error) {
	t.Helper()
	type result struct {
		c   *afpacket.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, err := dropCapAndOpen("/run/netns/"+l.NS.Name, l.Name, cap)
		res <- result{c, err}
	}()
	r := <-res
	if errors.Is(r.err, errSetupFailed) {
		t.Skip(r.err)
	}
	if r.err == nil {
		t.Cleanup(func() { _ = r.c.Close() })
	}
	return r.c, r.err
}

// dropCapAndOpen runs on a locked thread that is never unlocked: it enters
// the namespace, drops capability cap from the thread and opens ifname.
func dropCapAndOpen(nsPath, ifname string, cap uint) (*afpacket.Conn, error) {
	f, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSetupFailed, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("%w: %v", errSetupFailed, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("%w: %v", errSetupFailed, err)
	}
	data[cap/32].Effective &^= 1 << (cap % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("%w: %v", errSetupFailed, err)
	}
	return afpacket.Open(ifname, afpacket.Config{})
}

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
		writeAll(t, a, sent)
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
	frames := seqFrames(v, n, 100)
	writeAll(t, a, frames)

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
	frames := seqFrames(v, n, 106)
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
