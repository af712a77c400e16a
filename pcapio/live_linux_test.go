//go:build linux && cgo

package pcapio

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

const liveWait = 5 * time.Second

// collect reads l on a goroutine and hands over copies of the frames; the
// test's cleanup stops it.
func collect(t *testing.T, l backend.PacketIO) <-chan []byte {
	ch := make(chan []byte, 256)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, MaxSnapLen)
		for {
			n, err := l.ReadFrame(buf)
			if err != nil {
				return
			}
			select {
			case ch <- append([]byte(nil), buf[:n]...):
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		l.Close()
		<-done
	})
	return ch
}

// nextFrom returns the next frame on ch with source MAC src, skipping any
// other traffic.
func nextFrom(t *testing.T, ch <-chan []byte, src net.HardwareAddr) []byte {
	t.Helper()
	timeout := time.After(liveWait)
	for {
		select {
		case f := <-ch:
			if len(f) >= 12 && bytes.Equal(f[6:12], src) {
				return f
			}
		case <-timeout:
			t.Fatalf("no frame from %v within %v", src, liveWait)
			return nil
		}
	}
}

// expectFrame skips frames on ch until one equals want.
func expectFrame(t *testing.T, ch <-chan []byte, want []byte) {
	t.Helper()
	timeout := time.After(liveWait)
	for {
		select {
		case f := <-ch:
			if bytes.Equal(f, want) {
				return
			}
		case <-timeout:
			t.Fatalf("frame % x did not arrive within %v", want, liveWait)
		}
	}
}

// noneFrom asserts that no frame with source MAC src arrives on ch for d.
func noneFrom(t *testing.T, ch <-chan []byte, src net.HardwareAddr, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f := <-ch:
			assert.NotEqual(t, []byte(src), f[6:12], "unexpected frame % x", f)
		case <-timeout:
			return
		}
	}
}

// TestLiveVeth sends the test frames (untagged, 802.1Q, QinQ with 0x88a8 and
// 0x8100 outer tags, IPv6, a 42-byte frame and a jumbo frame) across a veth
// pair in both directions and checks that they arrive byte for byte, VLAN
// tags in place, and that no handle reads its own transmissions.
func TestLiveVeth(t *testing.T) {
	v := newVethNS(t)
	la := v.openLive(t, v.a, LiveConfig{})
	lb := v.openLive(t, v.b, LiveConfig{})
	// A second handle on a: it must not read what la sends either, since
	// that is outgoing traffic on its interface.
	la2 := v.openLive(t, v.a, LiveConfig{})
	ca, cb, ca2 := collect(t, la), collect(t, lb), collect(t, la2)

	var sentA, sentB int
	dirs := []struct {
		name     string
		src, dst net.HardwareAddr
		from     *Live
		to       <-chan []byte
		sent     *int
	}{
		{"a-to-b", macA, macB, la, cb, &sentA},
		{"b-to-a", macB, macA, lb, ca, &sentB},
	}
	for _, s := range testSpecs() {
		for _, d := range dirs {
			t.Run(d.name+"/"+s.name, func(t *testing.T) {
				s.src, s.dst = d.src, d.dst
				f := s.build(t)
				require.NoError(t, d.from.WriteFrame(f))
				*d.sent++
				assert.Equal(t, f, nextFrom(t, d.to, d.src))
			})
		}
	}

	t.Run("own-frames-not-read", func(t *testing.T) {
		x := frameSpec{src: macA, dst: macB, payload: 30, marker: 0x77}.build(t)
		y := frameSpec{src: macB, dst: macA, payload: 30, marker: 0x78}.build(t)
		require.NoError(t, la.WriteFrame(x))
		sentA++
		assert.Equal(t, x, nextFrom(t, cb, macA), "x went out")
		require.NoError(t, lb.WriteFrame(y))
		sentB++
		assert.Equal(t, y, nextFrom(t, ca, macB), "y came in")
		expectFrame(t, ca2, y) // y came in on the second handle too
		// No handle saw a frame sent on its own interface: those sent on a
		// have source macA, those sent on b source macB.
		noneFrom(t, ca, macA, 200*time.Millisecond)
		noneFrom(t, ca2, macA, 10*time.Millisecond)
		noneFrom(t, cb, macB, 10*time.Millisecond)
	})

	t.Run("stats", func(t *testing.T) {
		sa, sb := la.Stats(), lb.Stats()
		assert.Equal(t, uint64(sentA), sa.FramesOut)
		assert.Equal(t, uint64(sentB), sb.FramesOut)
		assert.GreaterOrEqual(t, sa.FramesIn, uint64(sentB))
		assert.GreaterOrEqual(t, sb.FramesIn, uint64(sentA))
		assert.Zero(t, sa.Dropped)
		assert.Zero(t, sb.Dropped)
		cs, err := lb.CaptureStats()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, cs.Received, uint64(sentA))
		assert.Equal(t, v.b, lb.Name())
	})

	t.Run("write-errors", func(t *testing.T) {
		assert.ErrorIs(t, la.WriteFrame(make([]byte, 13)), backend.ErrFrameTooShort)
		huge := frameSpec{src: macA, dst: macB, payload: 20000}.build(t)
		assert.ErrorIs(t, la.WriteFrame(huge), backend.ErrFrameTooLong)
	})
}

func TestLiveTruncatedRead(t *testing.T) {
	v := newVethNS(t)
	la := v.openLive(t, v.a, LiveConfig{})
	lb := v.openLive(t, v.b, LiveConfig{})
	f1 := frameSpec{src: macA, dst: macB, payload: 100, marker: 1}.build(t)
	f2 := frameSpec{src: macA, dst: macB, tags: testkit.Dot1Q(7), payload: 100, marker: 2}.build(t)
	require.NoError(t, la.WriteFrame(f1))
	require.NoError(t, la.WriteFrame(f2))

	small := make([]byte, 20)
	for {
		n, err := lb.ReadFrame(small)
		require.ErrorIs(t, err, backend.ErrTruncated)
		require.Equal(t, 20, n)
		if bytes.Equal(small[6:12], macA) {
			assert.Equal(t, f1[:20], small)
			break
		}
	}
	buf := make([]byte, backend.MaxFrameLen)
	for {
		n, err := lb.ReadFrame(buf)
		require.NoError(t, err, "the handle stays usable after ErrTruncated")
		if bytes.Equal(buf[6:12], macA) {
			assert.Equal(t, f2, buf[:n])
			break
		}
	}
}

func TestLiveFilter(t *testing.T) {
	v := newVethNS(t)
	la := v.openLive(t, v.a, LiveConfig{})
	lb := v.openLive(t, v.b, LiveConfig{Filter: "ether src " + macA.String(), NoPromiscuous: true, BufferSize: 4 << 20})
	cb := collect(t, lb)
	macC := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0c}
	other := frameSpec{src: macC, dst: macB, payload: 10}.build(t)
	want := frameSpec{src: macA, dst: macB, tags: testkit.Dot1Q(42), payload: 10}.build(t)
	require.NoError(t, la.WriteFrame(other))
	require.NoError(t, la.WriteFrame(want))
	select {
	case f := <-cb:
		assert.Equal(t, want, f, "the filter lets only frames from %v through", macA)
	case <-time.After(liveWait):
		t.Fatal("filtered frame did not arrive")
	}
}

func TestLiveCloseUnblocksRead(t *testing.T) {
	v := newVethNS(t)
	l := v.openLive(t, v.a, LiveConfig{PollInterval: 100 * time.Millisecond})
	// A read on the idle interface blocks until Close.
	requireCloseUnblocks(t, 300*time.Millisecond, func() error {
		_, err := l.ReadFrame(make([]byte, backend.MaxFrameLen))
		return err
	}, func() error {
		start := time.Now()
		err := l.Close()
		assert.Less(t, time.Since(start), 2*time.Second, "Close takes at most about one poll interval")
		return err
	})
	assert.NoError(t, l.Close(), "Close is idempotent")
	_, err := l.ReadFrame(make([]byte, 100))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, l.WriteFrame(make([]byte, 60)), net.ErrClosed)
	_ = l.Stats() // still works after Close
}

// TestLiveConcurrentWriters writes from many goroutines while reading and
// closes in the middle; under -race this checks the locking around the
// handle.
func TestLiveConcurrentWriters(t *testing.T) {
	v := newVethNS(t)
	la := v.openLive(t, v.a, LiveConfig{PollInterval: 5 * time.Millisecond})
	lb := v.openLive(t, v.b, LiveConfig{})
	cb := collect(t, lb)
	go func() {
		buf := make([]byte, backend.MaxFrameLen)
		for {
			if _, err := la.ReadFrame(buf); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := frameSpec{src: macA, dst: macB, payload: 64, marker: byte(w)}.build(t)
			for i := 0; i < 200; i++ {
				if err := la.WriteFrame(f); err != nil {
					assert.ErrorIs(t, err, net.ErrClosed)
					return
				}
				_ = la.Stats()
			}
		}()
	}
	nextFrom(t, cb, macA)
	time.Sleep(time.Millisecond)
	require.NoError(t, la.Close())
	wg.Wait()
}

// TestLiveRecorder tees a live handle into a pcapng file.
func TestLiveRecorder(t *testing.T) {
	v := newVethNS(t)
	la := v.openLive(t, v.a, LiveConfig{})
	lb := v.openLive(t, v.b, LiveConfig{})
	var file bytes.Buffer
	r, err := NewRecorder(lb, &file, RecorderConfig{Format: FormatPcapNG, InterfaceName: v.b})
	require.NoError(t, err)
	cr := collect(t, r)
	in := frameSpec{src: macA, dst: macB, tags: []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 5}, {ID: 6}}, payload: 50}.build(t)
	out := frameSpec{src: macB, dst: macA, payload: 50}.build(t)
	require.NoError(t, la.WriteFrame(in))
	require.Equal(t, in, nextFrom(t, cr, macA))
	require.NoError(t, r.WriteFrame(out))
	require.NoError(t, r.Close())
	var got []fileRecord
	for _, rc := range readCapture(t, file.Bytes(), FormatPcapNG) {
		if bytes.Equal(rc.data[6:12], macA) || bytes.Equal(rc.data[6:12], macB) {
			got = append(got, rc)
		}
	}
	require.Len(t, got, 2)
	assert.Equal(t, in, got[0].data)
	assert.Equal(t, pcapgo.NgEpbFlagDirectionInbound, got[0].dir)
	assert.Equal(t, out, got[1].data)
	assert.Equal(t, pcapgo.NgEpbFlagDirectionOutbound, got[1].dir)
}

func TestOpenLiveNotEthernet(t *testing.T) {
	v := newVethNS(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	if out, err := exec.Command("ip", "-n", v.name, "tuntap", "add", "mode", "tun", "name", "tun0").CombinedOutput(); err != nil {
		t.Skipf("cannot create a tun device: %v %s", err, out)
	}
	runCmd(t, "ip", "-n", v.name, "link", "set", "tun0", "up")
	err := v.do(func() error {
		l, err := OpenLive("tun0", LiveConfig{})
		if err == nil {
			l.Close()
		}
		return err
	})
	assert.ErrorIs(t, err, ErrNotEthernet)
}

func TestOpenLiveErrors(t *testing.T) {
	tests := []struct {
		name   string
		ifname string
		cfg    LiveConfig
		is     error
		text   string
	}{
		{"no-such-interface", "pcapio-nope0", LiveConfig{}, os.ErrNotExist, "no such network interface"},
		{"snaplen-below-max-frame", "lo", LiveConfig{SnapLen: 1500}, nil, "snap length"},
		{"snaplen-too-big", "lo", LiveConfig{SnapLen: MaxSnapLen + 1}, nil, "snap length"},
		{"poll-interval", "lo", LiveConfig{PollInterval: time.Microsecond}, nil, "poll interval"},
		{"buffer-size", "lo", LiveConfig{BufferSize: -1}, nil, "buffer size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenLive(tc.ifname, tc.cfg)
			require.Error(t, err)
			assert.Nil(t, l)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.ErrorContains(t, err, tc.text)
		})
	}
}

// TestOpenLivePermission checks the error without CAP_NET_RAW. As root it
// drops the capability on one locked thread (capabilities are per thread)
// and opens there.
func TestOpenLivePermission(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its capabilities changed
		if hasCap(unix.CAP_NET_RAW) {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				errc <- err
				return
			}
			data[0].Effective &^= 1 << unix.CAP_NET_RAW
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				errc <- err
				return
			}
		}
		l, err := OpenLive("lo", LiveConfig{})
		if err == nil {
			l.Close()
			err = errors.New("OpenLive succeeded without CAP_NET_RAW")
		}
		errc <- err
	}()
	err := <-errc
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorContains(t, err, "CAP_NET_RAW")
}

func TestLiveInterfaceRemoved(t *testing.T) {
	v := newVethNS(t)
	l := v.openLive(t, v.a, LiveConfig{})
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, backend.MaxFrameLen)
		for {
			if _, err := l.ReadFrame(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	runCmd(t, "ip", "-n", v.name, "link", "del", v.a)
	select {
	case err := <-errc:
		require.Error(t, err)
		assert.NotErrorIs(t, err, net.ErrClosed)
		_, err2 := l.ReadFrame(make([]byte, 100))
		assert.Equal(t, err, err2, "the read error is final")
	case <-time.After(liveWait):
		t.Fatal("read did not fail after the interface was removed")
	}
	assert.Error(t, l.WriteFrame(make([]byte, 60)))
	assert.NoError(t, l.Close())
}

// BenchmarkLiveVeth sends 128-byte frames across a veth pair and reads each
// one on the other end before sending the next, so ns/op is the one-way
// latency through libpcap and the kernel.
func BenchmarkLiveVeth(b *testing.B) {
	v := newVethNS(b)
	la := v.openLive(b, v.a, LiveConfig{})
	lb := v.openLive(b, v.b, LiveConfig{})
	f := frameSpec{src: macA, dst: macB, payload: 128 - 42}.build(b)
	buf := make([]byte, backend.MaxFrameLen)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := la.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := lb.ReadFrame(buf)
			if err != nil {
				b.Fatal(err)
			}
			if n == len(f) && bytes.Equal(buf[6:12], macA) {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(lb.Stats().Dropped), "dropped")
}

// TestLiveGSOSuperFrames: a kernel UDP socket with UDP_SEGMENT sends merged
// super-frames over a veth, and libpcap, which has no vnet header to tell
// them by, hands them over whole. One longer than the link's MTU allows
// cannot be a frame: Live drops it and counts it in Stats().Dropped. One
// within the MTU (2 × 200 bytes) cannot be told from a frame and comes
// through as one datagram, as the package documentation says.
func TestLiveGSOSuperFrames(t *testing.T) {
	netns.Require(t)
	v := netns.NewVeth(t, nil)
	emuMAC, emu, kern := netns.RandomMAC(), netns.IPv4(1), netns.IPv4(2)
	v.B.AddAddr(t, netip.PrefixFrom(kern, 24))
	v.B.AddNeighbor(t, emu, emuMAC)
	var l *Live
	require.NoError(t, v.A.NS.Do(func() (err error) {
		l, err = OpenLive(v.A.Name, LiveConfig{})
		return err
	}))
	ch := collect(t, l)
	src := netip.AddrPortFrom(kern, 0)
	require.NoError(t, v.B.NS.SendUDPGSO("udp4", src, netip.AddrPortFrom(emu, 7001), make([]byte, 4000), 1000))
	require.NoError(t, v.B.NS.SendUDPGSO("udp4", src, netip.AddrPortFrom(emu, 7002), make([]byte, 400), 200))
	timeout := time.After(liveWait)
	for done := false; !done; {
		select {
		case f := <-ch:
			port, payload, ok := udpOf(f)
			if !ok {
				continue
			}
			require.NotEqual(t, uint16(7001), port, "a super-frame longer than the MTU came through")
			if port == 7002 {
				assert.Len(t, payload, 400, "within the MTU, the super-frame is one datagram")
				done = true
			}
		case <-timeout:
			t.Fatalf("the super-frame within the MTU did not arrive within %v", liveWait)
		}
	}
	assert.Equal(t, uint64(1), l.Stats().Dropped)
}
