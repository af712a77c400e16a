package pcapio

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ngFile builds pcapng files by hand, in either byte order, for the cases
// gopacket's writer cannot produce.
type ngFile struct {
	order byteOrder
	buf   bytes.Buffer
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func pad4(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }

// opt encodes an option.
func (f *ngFile) opt(code uint16, val []byte) []byte {
	b := f.order.AppendUint16(nil, code)
	b = f.order.AppendUint16(b, uint16(len(val)))
	return pad4(append(b, val...))
}

// block appends a block of type typ with body (padded), and a trailer.
func (f *ngFile) block(typ uint32, body ...[]byte) *ngFile {
	var all []byte
	for _, b := range body {
		all = append(all, b...)
	}
	all = pad4(all)
	n := uint32(12 + len(all))
	f.buf.Write(f.order.AppendUint32(f.order.AppendUint32(nil, typ), n))
	f.buf.Write(all)
	f.buf.Write(f.order.AppendUint32(nil, n))
	return f
}

func (f *ngFile) u32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = f.order.AppendUint32(b, v)
	}
	return b
}

// shb starts a section in byte order order.
func (f *ngFile) shb(order byteOrder) *ngFile {
	f.order = order
	return f.block(ngSectionHeader, f.u32(ngByteOrderMagic), f.order.AppendUint16(f.order.AppendUint16(nil, 1), 0), f.u32(0xffffffff, 0xffffffff))
}

func (f *ngFile) idb(linkType uint16, snaplen uint32, opts ...[]byte) *ngFile {
	body := [][]byte{f.order.AppendUint16(f.order.AppendUint16(nil, linkType), 0), f.u32(snaplen)}
	return f.block(ngInterface, append(body, opts...)...)
}

func (f *ngFile) epb(ifid uint32, ts uint64, data []byte, opts ...[]byte) *ngFile {
	body := [][]byte{f.u32(ifid, uint32(ts>>32), uint32(ts), uint32(len(data)), uint32(len(data))), pad4(bytes.Clone(data))}
	return f.block(ngEnhancedPacket, append(body, opts...)...)
}

func (f *ngFile) bytes() []byte { return bytes.Clone(f.buf.Bytes()) }

func newNG(order byteOrder) *ngFile {
	f := &ngFile{}
	return f.shb(order)
}

// pcapngCase is a hand-built pcapng file and what replaying it gives.
type pcapngCase struct {
	name    string
	data    []byte
	cfg     OfflineConfig
	want    [][]byte    // frames replayed
	times   []time.Time // their timestamps, if checked
	dropped uint64
	wantErr error // after the frames (or at open if there are none); nil: io.EOF
}

func pcapngCases(t testing.TB) []pcapngCase {
	frames := testFrames(t)
	a, b := frames[0], frames[1]
	be, le := binary.BigEndian, binary.LittleEndian
	eth := uint16(layers.LinkTypeEthernet)
	var f *ngFile
	flags := func(f *ngFile, v uint32) []byte { return f.opt(ngOptFlags, f.u32(v)) }
	nanos := func(f *ngFile) []byte { return f.opt(ngOptTSResolution, []byte{9}) }
	var cases []pcapngCase

	f = newNG(be)
	f.idb(eth, 0, nanos(f), f.opt(ngOptTSOffset, be.AppendUint64(nil, 100))).
		epb(0, 1_500_000_000, a, flags(f, 1)).epb(0, 2_000_000_001, b, flags(f, ngFlagsOutbound))
	cases = append(cases,
		pcapngCase{name: "big-endian-resolution-offset-direction", data: f.bytes(),
			want: [][]byte{a}, times: []time.Time{time.Unix(101, 500_000_000).UTC()}},
		pcapngCase{name: "big-endian-include-outbound", data: f.bytes(), cfg: OfflineConfig{IncludeOutbound: true},
			want: [][]byte{a, b}, times: []time.Time{time.Unix(101, 500_000_000).UTC(), time.Unix(102, 1).UTC()}})

	f = newNG(le)
	f.idb(eth, MaxSnapLen, f.opt(ngOptTSResolution, []byte{0x80 | 10})).epb(0, 1024+256, a)
	cases = append(cases, pcapngCase{name: "binary-resolution", data: f.bytes(),
		want: [][]byte{a}, times: []time.Time{time.Unix(1, 250_000_000).UTC()}})

	f = newNG(le)
	f.idb(eth, 20).block(ngSimplePacket, f.u32(uint32(len(a))), a[:20]).
		block(ngObsoletePacket, f.order.AppendUint16(f.order.AppendUint16(nil, 0), 0), f.u32(0, 7, uint32(len(b)), uint32(len(b))), b)
	cases = append(cases, pcapngCase{name: "simple-cut-to-snaplen-and-obsolete-packet", data: f.bytes(),
		want: [][]byte{a[:20], b}, times: []time.Time{{}, time.Unix(0, 7000).UTC()}})

	f = newNG(le)
	f.idb(eth, 0).block(5, f.u32(0, 0, 0)).epb(0, 0, a).block(4, f.u32(0)).block(0xbad, bytes.Repeat([]byte{1}, 4000)).
		block(10, f.u32(0x544c534b, 3), []byte("key")).epb(0, 0, b)
	cases = append(cases, pcapngCase{name: "other-blocks-skipped", data: f.bytes(), want: [][]byte{a, b}})

	f = newNG(le)
	f.idb(eth, 0).epb(0, 0, a).shb(be).idb(uint16(layers.LinkTypeRaw), 0).idb(eth, 0).epb(1, 0, b).epb(0, 0, a)
	cases = append(cases, pcapngCase{name: "second-section-other-order", data: f.bytes(),
		want: [][]byte{a, b}, wantErr: ErrNotEthernet})

	f = newNG(le)
	f.idb(eth, 0).epb(0, 0, a, f.u32(ngOptFlags|200<<16)) // an option longer than its block
	cases = append(cases, pcapngCase{name: "malformed-packet-options-ignored", data: f.bytes(), want: [][]byte{a}})

	f = newNG(le)
	f.idb(eth, 0).epb(0, 0, make([]byte, maxRecordFrame+1)).epb(0, 0, a)
	cases = append(cases, pcapngCase{name: "oversized-skipped", data: f.bytes(), want: [][]byte{a}, dropped: 1})

	// Bad files.
	bad := func(name string, data []byte, frames ...[]byte) {
		cases = append(cases, pcapngCase{name: name, data: data, want: frames, wantErr: ErrBadFile})
	}
	good := newNG(le).idb(eth, 0).bytes()
	withTail := func(tail []byte) []byte { return append(bytes.Clone(good), tail...) }
	g := &ngFile{order: le}

	f = newNG(le).idb(eth, 0)
	f.epb(0, 0, a)
	cut := f.bytes()
	le.PutUint32(cut[len(cut)-4:], 12)
	bad("trailer-mismatch", cut)
	bad("length-not-multiple-of-4", withTail(g.u32(ngEnhancedPacket, 33, 0, 0, 0, 0, 0, 0, 33)))
	bad("length-below-header", withTail(g.u32(ngEnhancedPacket, 8)))
	bad("block-over-16MiB", withTail(g.u32(4, maxBlockLen+4)))
	bad("interface-out-of-range", newNG(le).idb(eth, 0).epb(1, 0, a).bytes())
	bad("caplen-overruns-block", withTail(g.u32(ngEnhancedPacket, 40, 0, 0, 0, 100, 100, 0, 0, 40)))
	bad("caplen-over-maxsnaplen", withTail(g.u32(ngEnhancedPacket, 36, 0, 0, 0, MaxSnapLen+1, MaxSnapLen+1, 0, 0, 36)))
	bad("packet-before-interface", newNG(le).epb(0, 0, a).bytes())
	bad("bad-version", func() []byte {
		d := newNG(le).idb(eth, 0).bytes()
		le.PutUint16(d[12:], 2)
		return d
	}())
	bad("resolution-too-fine", (&ngFile{order: le}).shb(le).idb(eth, 0, g.opt(ngOptTSResolution, []byte{20})).bytes())
	bad("interface-option-overruns", (&ngFile{order: le}).shb(le).idb(eth, 0, g.u32(9|200<<16)).bytes())
	f = newNG(le).idb(eth, 0).epb(0, 0, a).shb(le)
	bad("packet-in-section-without-interface", f.epb(0, 0, b).bytes(), a)
	f = newNG(le)
	for range maxInterfaces + 1 {
		f.idb(eth, 0)
	}
	bad("too-many-interfaces", f.epb(0, 0, a).bytes())
	return cases
}

// The pcapng reader against hand-built files: both byte orders, timestamp
// resolutions and offsets, direction flags, simple and obsolete packet
// blocks, blocks it skips, sections, and the malformed blocks it rejects.
func TestOfflinePcapngBlocks(t *testing.T) {
	for _, tc := range pcapngCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			o, err := newOffline(bytes.NewReader(tc.data), tc.name, nil, tc.cfg)
			if err != nil {
				require.Empty(t, tc.want, "fails at open")
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			defer o.Close()
			var got [][]byte
			var times []time.Time
			for {
				data, ts, err := o.nextRecord()
				if err != nil {
					if tc.wantErr == nil {
						require.Equal(t, io.EOF, err)
					} else {
						require.ErrorIs(t, err, tc.wantErr)
					}
					break
				}
				got = append(got, bytes.Clone(data))
				times = append(times, ts)
			}
			require.Equal(t, len(tc.want), len(got), "frames")
			for i := range got {
				assert.True(t, bytes.Equal(tc.want[i], got[i]), "frame %d", i)
			}
			if tc.times != nil {
				assert.Equal(t, tc.times, times)
			}
			assert.Equal(t, tc.dropped, o.Stats().Dropped)
		})
	}
}

// Timestamps come out as written, in every flavour.
func TestOfflineTimestamps(t *testing.T) {
	frames := testFrames(t)[:3]
	recs := []rec{
		{ts: time.Unix(1_700_000_000, 123_456_000).UTC(), data: frames[0]},
		{ts: time.Unix(1_700_000_001, 999_999_000).UTC(), data: frames[1]},
		{ts: time.Unix(0, 1000).UTC(), data: frames[2]},
	}
	for _, flavour := range allFlavours {
		t.Run(flavour, func(t *testing.T) {
			o, err := newOffline(bytes.NewReader(captureBytes(t, flavour, layers.LinkTypeEthernet, recs)), flavour, nil, OfflineConfig{})
			require.NoError(t, err)
			defer o.Close()
			for _, r := range recs {
				_, ts, err := o.nextRecord()
				require.NoError(t, err)
				assert.Equal(t, r.ts, ts)
			}
			_, _, err = o.nextRecord()
			assert.Equal(t, io.EOF, err)
		})
	}
}
