package relay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
)

// frag describes one fragment a test sends: where its data goes in the
// datagram's fragmentable part (the UDP header and payload), and the data.
type frag struct {
	off  int
	data []byte
	more bool
}

var (
	fragSrc4 = []byte{198, 18, 0, 1}
	fragDst4 = []byte{198, 18, 0, 2}
	fragSrc6 = []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	fragDst6 = []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2}
)

// fragFrame builds an untagged Ethernet frame holding fragment f of the
// datagram id from fragSrc to fragDst, by hand (the reassembler's parser is
// frame's; the builder here is independent of frame's Fragmenter).
func fragFrame(v6 bool, id uint32, f frag) []byte {
	b := make([]byte, 14, 14+48+len(f.data))
	copy(b, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	if !v6 {
		binary.BigEndian.PutUint16(b[12:], frame.EtherTypeIPv4)
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, frame.ProtoUDP
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(f.data)))
		binary.BigEndian.PutUint16(ip[4:], uint16(id))
		fo := uint16(f.off / 8)
		if f.more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		copy(ip[12:], fragSrc4)
		copy(ip[16:], fragDst4)
		binary.BigEndian.PutUint16(ip[10:], frame.Checksum(ip))
		return append(append(b, ip...), f.data...)
	}
	binary.BigEndian.PutUint16(b[12:], frame.EtherTypeIPv6)
	ip := make([]byte, 48)
	ip[0], ip[6], ip[7] = 0x60, 44, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(f.data)))
	copy(ip[8:], fragSrc6)
	copy(ip[24:], fragDst6)
	ip[40] = frame.ProtoUDP
	fo := uint16(f.off) &^ 7
	if f.more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(ip[42:], fo)
	binary.BigEndian.PutUint32(ip[44:], id)
	return append(append(b, ip...), f.data...)
}

// udpDatagram returns a UDP header and payload of n bytes in all, with a
// right length and checksum for fragSrc to fragDst.
func udpDatagram(v6 bool, n int) []byte {
	d := make([]byte, n)
	for i := 8; i < n; i++ {
		d[i] = byte(i*7 + i>>8)
	}
	binary.BigEndian.PutUint16(d[0:], 5000)
	binary.BigEndian.PutUint16(d[2:], 6000)
	binary.BigEndian.PutUint16(d[4:], uint16(n))
	src, dst := fragSrc4, fragDst4
	if v6 {
		src, dst = fragSrc6, fragDst6
	}
	ph := append(append(append([]byte{}, src...), dst...), 0, frame.ProtoUDP, byte(n>>8), byte(n))
	c := frame.Checksum(append(ph, d...))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(d[6:], c)
	return d
}

// split cuts d into fragments of size bytes (a multiple of 8).
func split(d []byte, size int) []frag {
	var fs []frag
	for off := 0; off < len(d); off += size {
		end := min(off+size, len(d))
		fs = append(fs, frag{off, d[off:end], end < len(d)})
	}
	return fs
}

// feed hands the frames of fs to ra in order and returns what came out.
func feed(t *testing.T, ra *reassembler, v6 bool, id uint32, fs []frag) []*Packet {
	t.Helper()
	var out []*Packet
	for _, f := range fs {
		p, err := copyPacket(fragFrame(v6, id, f))
		require.NoError(t, err)
		require.True(t, p.Info.Fragment, "fragment at %d not parsed as one", f.off)
		if w := ra.add(p, nil); w != nil {
			out = append(out, w)
		}
		p.Release()
	}
	return out
}

func newReassembler(cfg ReassemblyConfig) *reassembler {
	ra := &reassembler{}
	ra.init(cfg)
	return ra
}

// TestReassembly: what the reassembler makes of fragment sets, IPv4 and
// IPv6, counted as Linux would drop them.
func TestReassembly(t *testing.T) {
	d := udpDatagram(false, 4000)
	d6 := udpDatagram(true, 4000)
	in := func(d []byte) []frag { return split(d, 1480) }
	rev := func(fs []frag) []frag {
		out := append([]frag(nil), fs...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		v6    bool
		fs    []frag
		whole []byte // nil: nothing delivered
		check func(*testing.T, ReassemblyStats)
	}{
		{"in order", false, in(d), d, nil},
		{"reversed", false, rev(in(d)), d, nil},
		{"ipv6 in order", true, in(d6), d6, nil},
		{"ipv6 reversed", true, rev(in(d6)), d6, nil},
		{"duplicate first", false, append([]frag{in(d)[0]}, in(d)...), d,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Duplicates) }},
		{"duplicate inside two pieces", false, []frag{{0, d[:8], true}, {8, d[8:16], true}, {0, d[:16], true}, {16, d[16:], false}}, d,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Duplicates) }},
		{"overlap drops the datagram", false, []frag{{0, d[:1480], true}, {1472, d[1472:], false}}, nil,
			func(t *testing.T, s ReassemblyStats) {
				assert.Equal(t, uint64(1), s.Overlaps)
				assert.Zero(t, s.Pinned)
			}},
		{"ipv6 overlap", true, []frag{{1480, d6[1480:], false}, {0, d6[:1488], true}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Overlaps) }},
		{"gap", false, []frag{in(d)[0], in(d)[2]}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.NotZero(t, s.Pinned) }},
		{"two different ends", false, []frag{{0, d[:1480], true}, {1480, d[1480:2000], false}, {1480, d[1480:], false}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Invalid) }},
		{"data past the end", false, []frag{{2960, d[2960:], false}, {0, d[:1480], true}, {1480, d[1480:3000], true}, {3000, d[3000:3008], true}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.NotZero(t, s.Invalid+s.Overlaps) }},
		{"ipv4 non-last cut to 8", false, []frag{{0, append(d[:1480:1480], 0xee, 0xee, 0xee), true}, {1480, d[1480:], false}}, d, nil},
		{"ipv6 non-last not a multiple of 8", true, []frag{{0, d6[:1483], true}, {1480, d6[1480:], false}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Invalid) }},
		{"ipv6 first without the UDP header", true, []frag{{0, d6[:4], true}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Invalid) }},
		{"ipv4 tiny first fragment", false, []frag{{0, d[:8], true}, {8, d[8:], false}}, d, nil},
		{"more than 1,024 fragments", false, split(udpDatagram(false, 1025*8+8), 8), nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Invalid) }},
		{"1,024 fragments", false, split(udpDatagram(false, 1024*8), 8), udpDatagram(false, 1024*8), nil},
		{"too long", false, []frag{{65528, make([]byte, 8), false}}, nil,
			func(t *testing.T, s ReassemblyStats) { assert.Equal(t, uint64(1), s.Invalid) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ra := newReassembler(ReassemblyConfig{})
			defer ra.close()
			out := feed(t, ra, tc.v6, 7, tc.fs)
			if tc.whole == nil {
				assert.Empty(t, out)
			} else if assert.Len(t, out, 1) {
				w := out[0]
				assert.False(t, w.Info.Fragment)
				assert.True(t, w.Reassembled())
				require.True(t, w.Info.UDP)
				assert.Equal(t, tc.whole[8:], w.UDPPayload())
				assert.True(t, frame.UDPChecksumOK(w.Frame(), &w.Info))
				if !tc.v6 {
					assert.True(t, frame.IPv4ChecksumOK(w.Frame(), &w.Info))
				}
				w.Release()
				assert.Equal(t, uint64(1), ra.stats().Reassembled)
				assert.Zero(t, ra.stats().Pinned)
			}
			if tc.check != nil {
				tc.check(t, ra.stats())
			}
		})
	}
}

// TestReassemblyTimeout: an incomplete datagram is dropped at its
// family's timeout, and the timer is gone once nothing is incomplete.
func TestReassemblyTimeout(t *testing.T) {
	ra := newReassembler(ReassemblyConfig{TimeoutV4: 50 * time.Millisecond, TimeoutV6: 100 * time.Millisecond})
	defer ra.close()
	d, d6 := udpDatagram(false, 3000), udpDatagram(true, 3000)
	feed(t, ra, true, 1, split(d6, 1480)[:1])
	feed(t, ra, false, 1, split(d, 1480)[:1])
	require.NotZero(t, ra.stats().Pinned)
	time.Sleep(75 * time.Millisecond)
	assert.Equal(t, uint64(1), ra.stats().Timeouts, "the IPv4 datagram after 50 ms")
	time.Sleep(75 * time.Millisecond)
	assert.Equal(t, uint64(2), ra.stats().Timeouts, "the IPv6 datagram after 100 ms")
	assert.Zero(t, ra.stats().Pinned)
	ra.mu.Lock()
	assert.True(t, ra.armed.IsZero(), "a timer left on an empty reassembler")
	ra.mu.Unlock()
	// The rest of a timed-out datagram does not complete it.
	assert.Empty(t, feed(t, ra, false, 1, split(d, 1480)[1:]))
}

// TestReassemblyBudget: a flood of datagrams that never complete stays
// within the budget, the oldest evicted first, and a datagram sent after
// the flood still completes.
func TestReassemblyBudget(t *testing.T) {
	const budget = 64 << 10
	ra := newReassembler(ReassemblyConfig{Budget: budget})
	defer ra.close()
	d := udpDatagram(false, 3000)
	for id := range uint32(1000) {
		feed(t, ra, false, id, split(d, 1480)[:1])
		require.LessOrEqual(t, ra.stats().Pinned, int64(budget))
	}
	st := ra.stats()
	assert.NotZero(t, st.Evicted)
	// The newest are kept: the last flood datagram still completes.
	assert.Len(t, feed(t, ra, false, 999, split(d, 1480)[1:]), 1)
	assert.Empty(t, feed(t, ra, false, 0, split(d, 1480)[1:]), "the oldest was evicted")
	ws := feed(t, ra, false, 5000, split(d, 1480))
	require.Len(t, ws, 1)
	ws[0].Release()
}

// TestReassemblyOff: a negative budget drops every fragment.
func TestReassemblyOff(t *testing.T) {
	ra := newReassembler(ReassemblyConfig{Budget: -1})
	defer ra.close()
	assert.Empty(t, feed(t, ra, false, 1, split(udpDatagram(false, 3000), 1480)))
	assert.Equal(t, uint64(3), ra.stats().Invalid)
}

// TestReassembledKeepsHeaders: the first fragment's IPv4 options and IPv6
// extension headers before the Fragment header make the datagram's.
func TestReassembledKeepsHeaders(t *testing.T) {
	d := udpDatagram(true, 3000)
	ra := newReassembler(ReassemblyConfig{})
	defer ra.close()
	var out []*Packet
	for _, f := range split(d, 1480) {
		b := fragFrame(true, 9, f)
		// A destination options header (PadN) before the Fragment header.
		opts := []byte{44, 0, 1, 4, 0, 0, 0, 0}
		b = append(b[:14+40], append(opts, b[14+40:]...)...)
		b[14+6] = 60
		binary.BigEndian.PutUint16(b[14+4:], binary.BigEndian.Uint16(b[14+4:])+8)
		p, err := copyPacket(b)
		require.NoError(t, err)
		if w := ra.add(p, nil); w != nil {
			out = append(out, w)
		}
		p.Release()
	}
	require.Len(t, out, 1)
	w := out[0]
	defer w.Release()
	f := w.Frame()
	assert.Equal(t, byte(60), f[14+6], "next header: the options")
	assert.Equal(t, byte(frame.ProtoUDP), f[14+40], "the options' next header: UDP, the Fragment header gone")
	assert.Equal(t, 8+3000, int(binary.BigEndian.Uint16(f[14+4:])))
	assert.True(t, bytes.Equal(d[8:], w.UDPPayload()))
}

// TestReassemblyGroupFrames: the fragments of a multicast datagram go to
// every endpoint that takes multicast, and each reassembles them into the
// whole datagram; none of them is a duplicate of another's.
func TestReassemblyGroupFrames(t *testing.T) {
	r, _ := newDirect(t, Config{})
	var eps []*Endpoint
	for _, mac := range []frame.MAC{macA, macB} {
		ep := mustRegister(t, r, EndpointConfig{MAC: mac, EtherTypes: ets(frame.EtherTypeIPv4), Multicast: true})
		ep.SetHandler(reassembling{ep})
		eps = append(eps, ep)
	}
	for _, f := range split(udpDatagram(false, 3000), 1480) {
		b := fragFrame(false, 7, f)
		copy(b, []byte{0x01, 0x00, 0x5e, 0, 0, 1}) // to a multicast MAC
		inject(r, b)
	}
	for i, ep := range eps {
		assert.Len(t, popAll(ep), 1, "datagrams endpoint %d got", i)
	}
	st := r.Stats().Reassembly
	assert.Equal(t, uint64(2), st.Reassembled)
	assert.Zero(t, st.Duplicates)
	assert.Zero(t, st.Pinned)
}
