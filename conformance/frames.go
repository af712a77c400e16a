package conformance

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
)

// etherTypeTest is the IEEE local experimental EtherType: no stack on the
// path (a kernel's included) does anything with it.
const etherTypeTest = 0x88b5

// tagCases are the VLAN stacks every backend must carry byte-exact.
var tagCases = []struct {
	name string
	tags frame.VLANs
}{
	{"untagged", nil},
	{"dot1q", frame.VLANs{{ID: 100}}},
	{"dot1q-pcp-dei", frame.VLANs{{ID: 101, PCP: 5, DEI: true}}},
	{"dot1ad", frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 102, PCP: 3}}},
	{"vid0-priority", frame.VLANs{{ID: 0, PCP: 6}}},
	{"qinq", frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 200, PCP: 1}, {ID: 201, DEI: true}}},
	{"three-tags", frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 300}, {ID: 301}, {ID: 302, PCP: 7}}},
	{"tpid-9100", frame.VLANs{{TPID: frame.TPID9100, ID: 400}}},
	{"four-tags", frame.VLANs{{TPID: frame.TPIDDot1AD, ID: 500}, {ID: 501}, {ID: 502}, {ID: 503}}},
	{"vid4095", frame.VLANs{{ID: 4095}}},
}

// rawFrame builds a frame from src to dst with tags and a recognisable
// payload of n bytes.
func rawFrame(dst, src net.HardwareAddr, tags frame.VLANs, etherType uint16, n int) []byte {
	hl := frame.HeaderLen(len(tags))
	b := make([]byte, hl+n)
	frame.PutEthernet(b, [6]byte(dst), [6]byte(src), tags, etherType)
	for i := range n {
		b[hl+i] = byte(i*7 + 3)
	}
	return b
}

func (s *suite) testFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := collect(t, b)
	for i, tc := range tagCases {
		t.Run(tc.name, func(t *testing.T) {
			// Linux counts VLAN tags against the MTU (one 0x8100 tag
			// excepted), so the largest payload leaves room for the tags.
			for _, size := range []int{46, 200, s.cfg.MaxPayload - frame.VLANLen*len(tc.tags)} {
				f := rawFrame(testMAC(1000), testMAC(i), tc.tags, etherTypeTest, size)
				require.NoError(t, a.WriteFrame(f))
				got := rx.next(t, s.cfg.Timeout)
				require.Equal(t, f, got, "frame must arrive byte for byte")
				checkTagsWithGopacket(t, got, tc.tags)
			}
		})
	}
}

// checkTagsWithGopacket decodes f independently and compares its VLAN tags
// to want. gopacket does not know TPID 0x9100, so stacks with it stop there.
func checkTagsWithGopacket(t *testing.T, f []byte, want frame.VLANs) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	var got frame.VLANs
	for _, l := range pkt.Layers() {
		if d, ok := l.(*layers.Dot1Q); ok {
			got = append(got, frame.VLAN{PCP: d.Priority, DEI: d.DropEligible, ID: d.VLANIdentifier})
		}
	}
	var known frame.VLANs
	for _, v := range want {
		if v.EffectiveTPID() == frame.TPID9100 {
			break
		}
		known = append(known, frame.VLAN{PCP: v.PCP, DEI: v.DEI, ID: v.ID})
	}
	assert.Equal(t, known, got, "VLAN tags as gopacket decodes them")
}

func (s *suite) testNoOwnFrames(t *testing.T) {
	a, b := s.pair(t)
	rxA, rxB := collect(t, a), collect(t, b)
	for i := range 3 {
		f := rawFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, testMAC(i), nil, etherTypeTest, 60)
		require.NoError(t, a.WriteFrame(f))
		assert.Equal(t, f, rxB.next(t, s.cfg.Timeout))
	}
	rxA.none(t, s.cfg.Quiet)
}

func (s *suite) testShortFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := collect(t, b)
	for _, n := range []int{0, 6, 20, 45} {
		f := rawFrame(testMAC(1000), testMAC(n), nil, etherTypeTest, n)
		require.NoError(t, a.WriteFrame(f), "a %d-byte frame", len(f))
		assert.Equal(t, f, rx.next(t, s.cfg.Timeout), "short frames arrive as sent, without padding")
	}
	err := a.WriteFrame(make([]byte, 13))
	assert.ErrorIs(t, err, backend.ErrFrameTooShort)
}

func (s *suite) testCloseUnblocksRead(t *testing.T) {
	a, b := s.pair(t)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, backend.MaxFrameLen)
		for {
			n, err := b.ReadFrame(buf)
			if err != nil || ours(buf[:n]) {
				done <- err
				return
			}
		}
	}()
	time.Sleep(s.cfg.Quiet)
	require.NoError(t, b.Close())
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, net.ErrClosed), "read after Close: %v", err)
	case <-time.After(s.cfg.Timeout):
		t.Fatal("Close did not unblock ReadFrame")
	}
	assert.NotPanics(t, func() { b.Close() }, "Close is idempotent")
	_, err := b.ReadFrame(make([]byte, 100))
	assert.True(t, errors.Is(err, net.ErrClosed), "ReadFrame after Close: %v", err)
	err = b.WriteFrame(rawFrame(testMAC(1), testMAC(2), nil, etherTypeTest, 50))
	assert.True(t, errors.Is(err, net.ErrClosed), "WriteFrame after Close: %v", err)
	_ = a
}

// testReadDeadline checks the optional SetReadDeadline that reader-led
// receive in the relay relies on: a timed-out read is not final, and a
// deadline set from another goroutine interrupts a blocked read.
func (s *suite) testReadDeadline(t *testing.T) {
	a, b := s.pair(t)
	d, ok := b.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		t.Skip("the backend has no SetReadDeadline (optional)")
	}
	buf := make([]byte, backend.MaxFrameLen)
	readOurs := func() (int, error) {
		for {
			n, err := b.ReadFrame(buf)
			if err != nil || ours(buf[:n]) {
				return n, err
			}
		}
	}
	isTimeout := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, timeoutErr)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "net.Error with Timeout(): %v", err)
	}

	require.NoError(t, d.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := readOurs()
	isTimeout(err)
	if br, ok := b.(backend.BatchReader); ok {
		_, err := br.ReadFrames([][]byte{buf}, []int{0})
		isTimeout(err)
	}

	require.NoError(t, d.SetReadDeadline(time.Time{}))
	done := make(chan error, 1)
	go func() {
		_, err := readOurs()
		done <- err
	}()
	time.Sleep(s.cfg.Quiet)
	require.NoError(t, d.SetReadDeadline(time.Unix(1, 0)))
	select {
	case err := <-done:
		isTimeout(err)
	case <-time.After(s.cfg.Timeout):
		t.Fatal("a deadline set from another goroutine did not interrupt the blocked read")
	}

	// Cleared, the backend reads on as before.
	require.NoError(t, d.SetReadDeadline(time.Time{}))
	want := rawFrame(testMAC(1), testMAC(2), nil, etherTypeTest, 100)
	require.NoError(t, a.WriteFrame(want))
	require.NoError(t, d.SetReadDeadline(time.Now().Add(s.cfg.Timeout)))
	n, err := readOurs()
	require.NoError(t, err)
	require.Equal(t, want, buf[:n])
}
