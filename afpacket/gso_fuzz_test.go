package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
)

// FuzzSplitGSO splits hostile super-frames with hostile vnet headers into
// buffers of any size. The splitter must never panic, never return more
// than its buffer, never make more than maxSegments segments or change the
// super-frame; and every whole segment it makes must parse as the UDP or
// TCP over IP of the super-frame, with right lengths and checksums, its
// payloads adding up to the super-frame's. The checked-in seed corpus is
// testdata/fuzz/FuzzSplitGSO; the seeds below are added on top of it.
func FuzzSplitGSO(f *testing.F) {
	for _, sp := range []gsoSpec{
		// Small, so that the fuzzer's minimizing of what it finds does not
		// take its whole time.
		{payload: 400, mss: 100},
		{v6: true, payload: 301, mss: 100, tags: testkit.Dot1Q(5)},
		{tcp: true, payload: 300, mss: 144, fin: true, cwr: true},
		{tcp: true, v6: true, payload: 100, mss: 7},
	} {
		fr, vh := sp.superFrame(f)
		var b [vnetHdrLen]byte
		vh.put(b[:])
		f.Add(fr, b[:], false, uint16(256))
		f.Add(fr, b[:], true, uint16(61))
		// A partial checksum further in, as a tunnel's inner one.
		vh.csumStart += 50
		vh.put(b[:])
		f.Add(fr, b[:], false, uint16(256))
	}
	f.Fuzz(func(t *testing.T, src, hdr []byte, tagged bool, size uint16) {
		src = src[:len(src):len(src)] // a read past len(src) panics
		orig := bytes.Clone(src)
		vh := parseVnetHdr(hdr)
		var sf superFrame
		if !sf.init(src, vh, tpid8021Q, 0x2001, tagged) {
			if sf.more() {
				t.Fatal("refused, with segments left")
			}
			return
		}
		var in frame.Info
		if err := frame.Parse(src, &in); err != nil {
			t.Fatalf("split a frame that does not parse: %v", err)
		}
		tcp := in.Proto == protoTCP
		pay := in.Payload
		if tcp {
			pay = in.L4 + int(src[in.L4+12]>>4)*4
		}
		dst := make([]byte, size)
		var payload []byte
		segs := 0
		for sf.more() {
			if segs++; segs > maxSegments {
				t.Fatal("more than maxSegments segments")
			}
			clear(dst[:min(len(dst), sf.tagLen+pay+int(vh.gsoSize))]) // stale bytes would hide unwritten ones
			n, cut := sf.next(dst)
			if n > len(dst) || n < 0 {
				t.Fatalf("segment of %d bytes in a buffer of %d", n, len(dst))
			}
			if cut {
				continue
			}
			payload = append(payload, checkSegment(t, dst[:n], tagged && in.Key.Stack.N < frame.MaxTags, tcp, int(vh.gsoSize))...)
		}
		if !bytes.Equal(orig, src) {
			t.Fatal("the super-frame changed")
		}
		if whole := len(dst) >= sf.tagLen+pay+int(vh.gsoSize); whole && !bytes.Equal(payload, src[pay:]) {
			t.Fatal("the segments' payloads are not the super-frame's")
		}
	})
}

// checkSegment checks that seg is a well-formed frame of UDP or TCP over
// IP with a payload of at most mss bytes and right checksums, and returns
// the payload. Its outer tag is only checked for when parse is set: a
// restored tag on a frame with four already makes five, which frame.Parse
// refuses, as it should.
func checkSegment(t *testing.T, seg []byte, parse, tcp bool, mss int) []byte {
	t.Helper()
	var in frame.Info
	if err := frame.Parse(seg, &in); err != nil {
		if parse {
			t.Fatalf("segment does not parse: %v", err)
		}
		return nil
	}
	if in.End != len(seg) {
		t.Fatalf("IP packet of %d bytes in a segment of %d", in.End-in.L3, len(seg)-in.L3)
	}
	if in.IPVersion == 4 && !frame.IPv4ChecksumOK(seg, &in) {
		t.Fatal("IPv4 header checksum")
	}
	pay := in.Payload
	if tcp {
		pay = in.L4 + int(seg[in.L4+12]>>4)*4
	} else if !in.UDP || in.PayloadEnd != in.End {
		t.Fatal("not a whole UDP datagram")
	}
	if in.End-pay > mss {
		t.Fatalf("%d payload bytes, more than gso_size %d", in.End-pay, mss)
	}
	// The pseudo-header and the transport header and payload, with the
	// checksum in place, sum to 0xffff (testkit's oracle, not frame's).
	src, dst := in.SrcIP(seg), in.DstIP(seg)
	ps := append(append([]byte(nil), src...), dst...)
	ps = append(ps, 0, in.Proto)
	ps = binary.BigEndian.AppendUint16(ps, uint16(in.End-in.L4))
	if s := testkit.OnesSum(append(ps, seg[in.L4:in.End]...)); s != 0xffff {
		t.Fatalf("transport checksum: sum %#04x", s)
	}
	return seg[pay:in.End]
}
