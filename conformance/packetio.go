package conformance

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

// The backend.PacketIO contract: the subtests of Run.

// etherTypeTest is the IEEE local experimental EtherType: no stack on the
// path (a kernel's included) does anything with it.
const etherTypeTest = testkit.EtherTypeExp1

// tagCases are the VLAN stacks every backend must carry byte-exact.
var tagCases = []struct {
	name string
	tags []testkit.Tag
}{
	{"untagged", nil},
	{"dot1q", []testkit.Tag{{ID: 100}}},
	{"dot1q-pcp-dei", []testkit.Tag{{ID: 101, PCP: 5, DEI: true}}},
	{"dot1ad", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 102, PCP: 3}}},
	{"vid0-priority", []testkit.Tag{{ID: 0, PCP: 6}}},
	{"qinq", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 200, PCP: 1}, {ID: 201, DEI: true}}},
	{"three-tags", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 300}, {ID: 301}, {ID: 302, PCP: 7}}},
	{"tpid-9100", []testkit.Tag{{TPID: testkit.TPID9100, ID: 400}}},
	{"four-tags", []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 500}, {ID: 501}, {ID: 502}, {ID: 503}}},
	{"vid4095", []testkit.Tag{{ID: 4095}}},
}

// sendExpect writes f on a and checks that rx reads it unchanged.
func (s *suite) sendExpect(t *testing.T, a backend.PacketIO, rx *collector, f []byte, format string, args ...any) []byte {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	must(t, a.WriteFrame(f), "WriteFrame of %s (%d bytes)", what, len(f))
	got := rx.next(t, s.cfg.Timeout)
	mustBytes(t, got, f, "%s must arrive byte for byte", what)
	return got
}

func (s *suite) testFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for i, tc := range tagCases {
		t.Run(tc.name, func(t *testing.T) {
			// Linux counts VLAN tags against the MTU (one 0x8100 tag
			// excepted), so the largest payload leaves room for the tags.
			for _, size := range []int{46, 200, s.cfg.MaxPayload - testkit.TagLen*len(tc.tags)} {
				f := testkit.PatternFrame(mac6(1000), mac6(i), tc.tags, etherTypeTest, size)
				got := s.sendExpect(t, a, rx, f, "a frame with %d payload bytes", size)
				checkTagsWithGopacket(t, got, tc.tags)
			}
		})
	}
}

// checkTagsWithGopacket decodes f independently and compares its VLAN tags
// to want. gopacket does not know TPID 0x9100, so stacks with it stop there.
func checkTagsWithGopacket(t *testing.T, f []byte, want []testkit.Tag) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	var got []testkit.Tag
	var tpid layers.EthernetType
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.Ethernet:
			tpid = l.EthernetType
		case *layers.Dot1Q:
			got = append(got, testkit.Tag{TPID: uint16(tpid), PCP: l.Priority, DEI: l.DropEligible, ID: l.VLANIdentifier})
			tpid = l.Type
		}
	}
	var known []testkit.Tag
	for _, v := range want {
		if v.WireTPID() == testkit.TPID9100 {
			break
		}
		v.TPID = v.WireTPID()
		known = append(known, v)
	}
	checkf(t, fmt.Sprint(got) == fmt.Sprint(known), "VLAN tags as gopacket decodes them: got %v, want %v", got, known)
}

func (s *suite) testGroupDestinations(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for i, dst := range [][6]byte{testkit.Broadcast, testkit.Multicast, {0x33, 0x33, 0, 0, 0, 1}} {
		f := testkit.PatternFrame(dst, mac6(i), []testkit.Tag{{ID: 100}}, etherTypeTest, 50)
		s.sendExpect(t, a, rx, f, "a frame to %x", dst)
	}
}

func (s *suite) testNoOwnFrames(t *testing.T) {
	a, b := s.pair(t)
	rxA, rxB := s.collect(t, a), s.collect(t, b)
	for i := range 3 {
		f := testkit.PatternFrame(testkit.Broadcast, mac6(i), nil, etherTypeTest, 60)
		s.sendExpect(t, a, rxB, f, "broadcast frame %d", i)
	}
	rxA.none(t, s.cfg.Quiet)
}

func (s *suite) testShortFrames(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	for _, n := range []int{0, 6, 20, 45} {
		f := testkit.PatternFrame(mac6(1000), mac6(n), nil, etherTypeTest, n)
		s.sendExpect(t, a, rx, f, "a %d-byte frame, without padding", len(f))
	}
	checkIs(t, a.WriteFrame(make([]byte, 13)), backend.ErrFrameTooShort, "WriteFrame of 13 bytes")
}

// testMalformedCarried checks that frames with broken IP and UDP headers and
// too many tags are carried as they are: a backend moves frames, it does
// not judge them.
func (s *suite) testMalformedCarried(t *testing.T) {
	a, b := s.pair(t)
	rx := s.collect(t, b)
	good, bad := testkit.MalformedUDP(mac6(2), mac6(1),
		netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000"), []byte("still alive"))
	for _, c := range bad {
		s.sendExpect(t, a, rx, c.Frame, "malformed frame %q", c.Name)
	}
	s.sendExpect(t, a, rx, good, "the good frame after the malformed ones")
}

// readOne reads with read until it returns an error or one of the
// suite's frames, on a goroutine, failing the test after timeout. The
// goroutine is left blocked in that case; closing p ends it.
func readOne(t *testing.T, timeout time.Duration, read func() (frame []byte, err error)) ([]byte, error) {
	t.Helper()
	type result struct {
		f   []byte
		err error
	}
	r := testkit.Await(t, testkit.Go(func() result {
		for {
			f, err := read()
			if err != nil || ours(f) {
				return result{f, err}
			}
		}
	}), timeout, "no frame arrived")
	return r.f, r.err
}

func (s *suite) testTruncation(t *testing.T) {
	a, b := s.pair(t)
	readInto := func(buf []byte) ([]byte, error) {
		t.Helper()
		return readOne(t, s.cfg.Timeout, func() ([]byte, error) {
			n, err := b.ReadFrame(buf)
			return buf[:n], err
		})
	}
	long := testkit.PatternFrame(mac6(1), mac6(2), []testkit.Tag{{ID: 7}}, etherTypeTest, 200)
	must(t, a.WriteFrame(long), "WriteFrame")
	got, err := readInto(make([]byte, 60))
	mustIs(t, err, backend.ErrTruncated, "ReadFrame of a %d-byte frame into 60 bytes", len(long))
	checkBytes(t, got, long[:60], "ReadFrame into 60 bytes returns n == 60 and the frame's first 60 bytes")

	// The backend stays usable, and the rest of the long frame is gone.
	next := testkit.PatternFrame(mac6(1), mac6(3), nil, etherTypeTest, 100)
	must(t, a.WriteFrame(next), "WriteFrame after a truncated read")
	got, err = readInto(make([]byte, backend.MaxFrameLen))
	must(t, err, "ReadFrame after a truncated read")
	checkBytes(t, got, next, "the frame after a truncated one")

	// A buffer of exactly the frame's length is not a truncation.
	must(t, a.WriteFrame(next), "WriteFrame")
	got, err = readInto(make([]byte, len(next)))
	must(t, err, "ReadFrame into a buffer of exactly the frame's length")
	checkBytes(t, got, next, "ReadFrame into a buffer of exactly the frame's length")
}
