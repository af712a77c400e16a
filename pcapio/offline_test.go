package pcapio

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
)

func TestOfflineReplayByteExact(t *testing.T) {
	frames := testFrames(t)
	for _, flavour := range allFlavours {
		t.Run(flavour, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "in."+flavour, captureBytes(t, flavour, layers.LinkTypeEthernet, recsEvery(frames, time.Millisecond)))
			o, err := OpenOffline(path, OfflineConfig{})
			require.NoError(t, err)
			defer o.Close()

			got, err := readAll(t, o)
			require.Equal(t, io.EOF, err, "end of capture must be io.EOF itself")
			require.Len(t, got, len(frames))
			var bytesIn uint64
			for i := range frames {
				assert.Equal(t, frames[i], got[i], "frame %d (%s)", i, testSpecs()[i].name)
				bytesIn += uint64(len(frames[i]))
			}
			for range 3 {
				_, err = o.ReadFrame(make([]byte, 100))
				require.Equal(t, io.EOF, err, "io.EOF must repeat")
			}
			assert.Equal(t, backend.Stats{FramesIn: uint64(len(frames)), BytesIn: bytesIn}, o.Stats())
		})
	}
}

func TestOfflineReadFrames(t *testing.T) {
	frames := testFrames(t)
	tests := []struct {
		name  string
		batch int
		speed float64
	}{
		{"batch1", 1, 0},
		{"batch4", 4, 0},
		{"batch64", 64, 0},
		{"paced-batch64", 64, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "in.pcapng", captureBytes(t, flavPcapNG, layers.LinkTypeEthernet, recsEvery(frames, time.Millisecond)))
			o, err := OpenOffline(path, OfflineConfig{Speed: tc.speed})
			require.NoError(t, err)
			defer o.Close()
			bufs := make([][]byte, tc.batch)
			for i := range bufs {
				bufs[i] = make([]byte, backend.MaxFrameLen)
			}
			lens := make([]int, tc.batch)
			var got [][]byte
			for {
				n, err := o.ReadFrames(bufs, lens)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				require.GreaterOrEqual(t, n, 1)
				require.LessOrEqual(t, n, tc.batch)
				for i := 0; i < n; i++ {
					got = append(got, append([]byte(nil), bufs[i][:lens[i]]...))
				}
			}
			assert.Equal(t, frames, got)
			n, err := o.ReadFrames(nil, nil)
			assert.Zero(t, n)
			assert.NoError(t, err, "an empty batch is not an error")
		})
	}
}

func TestOfflineTruncatedRead(t *testing.T) {
	frames := testFrames(t)
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(frames, 0)))
	o, err := OpenOffline(path, OfflineConfig{})
	require.NoError(t, err)
	defer o.Close()

	small := make([]byte, 20)
	n, err := o.ReadFrame(small)
	require.ErrorIs(t, err, backend.ErrTruncated)
	require.Equal(t, 20, n)
	assert.Equal(t, frames[0][:20], small)

	// Still usable: the next frame comes whole.
	buf := make([]byte, backend.MaxFrameLen)
	n, err = o.ReadFrame(buf)
	require.NoError(t, err)
	assert.Equal(t, frames[1], buf[:n])

	// Truncation in a batch is not an error; lens has the truncated length.
	lens := make([]int, 2)
	k, err := o.ReadFrames([][]byte{make([]byte, 16), make([]byte, 16)}, lens)
	require.NoError(t, err)
	assert.Equal(t, 2, k)
	assert.Equal(t, []int{16, 16}, lens)
}

// TestOfflinePaced checks that paced replay roughly honours the capture
// timestamps. The bounds are generous: a loaded machine may be late, never
// early by more than timer slack.
func TestOfflinePaced(t *testing.T) {
	frames := testFrames(t)[:5]
	tests := []struct {
		name  string
		gap   time.Duration
		speed float64
		want  time.Duration // expected replay time of the 5 frames
	}{
		{"realtime", 50 * time.Millisecond, 1, 200 * time.Millisecond},
		{"twice-as-fast", 100 * time.Millisecond, 2, 200 * time.Millisecond},
		{"half-speed", 25 * time.Millisecond, 0.5, 200 * time.Millisecond},
		{"unpaced-ignores-gaps", time.Hour, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(frames, tc.gap)))
			o, err := OpenOffline(path, OfflineConfig{Speed: tc.speed})
			require.NoError(t, err)
			defer o.Close()

			buf := make([]byte, backend.MaxFrameLen)
			var at []time.Duration
			start := time.Now()
			for range frames {
				_, err := o.ReadFrame(buf)
				require.NoError(t, err)
				at = append(at, time.Since(start))
			}
			elapsed := time.Since(start)
			assert.GreaterOrEqual(t, elapsed, tc.want*8/10, "replay too fast: %v", at)
			assert.Less(t, elapsed, tc.want+3*time.Second, "replay too slow: %v", at)
			if tc.speed > 0 {
				// Each frame no earlier than its slot, minus timer slack.
				for i, d := range at {
					slot := time.Duration(float64(time.Duration(i)*tc.gap) / tc.speed)
					assert.GreaterOrEqual(t, d, slot-10*time.Millisecond, "frame %d early: %v", i, at)
				}
			}
		})
	}
}

func TestOfflineBackwardsTimestampsReplayAtOnce(t *testing.T) {
	frames := testFrames(t)[:3]
	recs := []rec{{ts: epoch, data: frames[0]}, {ts: epoch.Add(-time.Hour), data: frames[1]}, {ts: epoch, data: frames[2]}}
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recs))
	o, err := OpenOffline(path, OfflineConfig{Speed: 1})
	require.NoError(t, err)
	defer o.Close()
	start := time.Now()
	got, err := readAll(t, o)
	require.Equal(t, io.EOF, err)
	assert.Equal(t, frames, got)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestOfflineCloseUnblocksPacedWait(t *testing.T) {
	frames := testFrames(t)[:2]
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(frames, time.Hour)))
	for _, batch := range []bool{false, true} {
		o, err := OpenOffline(path, OfflineConfig{Speed: 1})
		require.NoError(t, err)
		buf := make([]byte, backend.MaxFrameLen)
		_, err = o.ReadFrame(buf)
		require.NoError(t, err)

		// The second frame is due in an hour.
		requireCloseUnblocks(t, 50*time.Millisecond, func() error {
			if batch {
				_, err := o.ReadFrames([][]byte{buf}, []int{0})
				return err
			}
			_, err := o.ReadFrame(buf)
			return err
		}, o.Close)
	}
}

func TestOfflineClosed(t *testing.T) {
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(testFrames(t), 0)))
	o, err := OpenOffline(path, OfflineConfig{})
	require.NoError(t, err)
	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "Close is idempotent")
	_, err = o.ReadFrame(make([]byte, 100))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = o.ReadFrames([][]byte{make([]byte, 100)}, []int{0})
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, o.WriteFrame(make([]byte, 60)), net.ErrClosed)
	// At the end of the capture, Close still turns io.EOF into ErrClosed.
	o, err = OpenOffline(path, OfflineConfig{})
	require.NoError(t, err)
	_, err = readAll(t, o)
	require.Equal(t, io.EOF, err)
	require.NoError(t, o.Close())
	_, err = o.ReadFrame(make([]byte, 100))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestOfflineWritesDiscarded(t *testing.T) {
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, nil))
	o, err := OpenOffline(path, OfflineConfig{})
	require.NoError(t, err)
	defer o.Close()
	frames := testFrames(t)
	var n uint64
	for _, f := range frames {
		require.NoError(t, o.WriteFrame(f))
		n += uint64(len(f))
	}
	assert.ErrorIs(t, o.WriteFrame(make([]byte, 13)), backend.ErrFrameTooShort)
	assert.Equal(t, backend.Stats{FramesOut: uint64(len(frames)), BytesOut: n, Discarded: uint64(len(frames))}, o.Stats())
	_, err = o.ReadFrame(make([]byte, 10))
	assert.Equal(t, io.EOF, err, "a header-only file is an empty capture")
}

func TestOfflineWritesRecorded(t *testing.T) {
	frames := testFrames(t)
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		t.Run(format.String(), func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(frames[:2], 0)))
			var sink bytes.Buffer
			o, err := OpenOffline(path, OfflineConfig{WritesTo: &sink, WritesFormat: format})
			require.NoError(t, err)
			var wg sync.WaitGroup
			for _, f := range frames {
				wg.Add(1)
				go func() {
					defer wg.Done()
					assert.NoError(t, o.WriteFrame(f))
				}()
			}
			wg.Wait()
			st := o.Stats()
			assert.Equal(t, uint64(len(frames)), st.FramesOut)
			assert.Zero(t, st.Discarded, "recorded frames are not discarded")
			require.NoError(t, o.Close())

			recs := readCapture(t, sink.Bytes(), format)
			require.Len(t, recs, len(frames))
			var got [][]byte
			for _, r := range recs {
				got = append(got, r.data)
				if format == FormatPcapNG {
					assert.Equal(t, pcapgo.NgEpbFlagDirectionOutbound, r.dir)
				}
			}
			assert.ElementsMatch(t, frames, got)
		})
	}
}

func TestOfflinePcapngDirection(t *testing.T) {
	frames := testFrames(t)[:3]
	recs := []rec{
		{ts: epoch, data: frames[0], dir: pcapgo.NgEpbFlagDirectionInbound},
		{ts: epoch, data: frames[1], dir: pcapgo.NgEpbFlagDirectionOutbound},
		{ts: epoch, data: frames[2]}, // no flags: direction unknown, replayed
	}
	path := writeFile(t, t.TempDir(), "in.pcapng", captureBytes(t, flavPcapNG, layers.LinkTypeEthernet, recs))
	tests := []struct {
		name string
		cfg  OfflineConfig
		want [][]byte
	}{
		{"default-skips-outbound", OfflineConfig{}, [][]byte{frames[0], frames[2]}},
		{"include-outbound", OfflineConfig{IncludeOutbound: true}, frames},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := OpenOffline(path, tc.cfg)
			require.NoError(t, err)
			defer o.Close()
			got, err := readAll(t, o)
			require.Equal(t, io.EOF, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestOfflineConfigInvalid(t *testing.T) {
	path := writeFile(t, t.TempDir(), "in.pcap", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, nil))
	for _, speed := range []float64{-1, math.Inf(1), math.NaN()} {
		_, err := OpenOffline(path, OfflineConfig{Speed: speed})
		assert.Error(t, err, "speed %v", speed)
	}
	_, err := OpenOffline(path, OfflineConfig{WritesTo: io.Discard, WritesFormat: Format(7)})
	assert.ErrorContains(t, err, "Format(7)")
}

func ciFor(frame []byte, intf int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: epoch, CaptureLength: len(frame), Length: len(frame), InterfaceIndex: intf}
}

// badCaptures are malformed inputs with the error they must give: at open
// (frames == -1) or after replaying frames good frames.
func badCaptures(t testing.TB) []struct {
	name   string
	data   []byte
	frames int
	want   []error
} {
	frames := testFrames(t)[:2]
	good := captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, recsEvery(frames, 0))
	goodNG := captureBytes(t, flavPcapNG, layers.LinkTypeEthernet, recsEvery(frames, 0))
	hdrLen := 24
	rec0 := 16 + len(frames[0])

	withHeader := func(mut func(h []byte)) []byte {
		b := append([]byte(nil), good...)
		mut(b[:hdrLen])
		return b
	}
	withRecord0 := func(mut func(rh []byte)) []byte {
		b := append([]byte(nil), good...)
		mut(b[hdrLen : hdrLen+16])
		return b
	}
	gzipGarbage := append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte{0xa5}, 64)...)
	gzipPcap := captureBytes(t, flavPcapGzip, layers.LinkTypeEthernet, recsEvery(frames, 0))
	gzipCut := gzipPcap[:len(gzipPcap)-8] // the gzip trailer (CRC and size) is missing

	// A pcapng file whose second interface is not Ethernet, with a packet on it.
	var mixed bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&mixed, layers.LinkTypeEthernet)
	require.NoError(t, err)
	id, err := nw.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw})
	require.NoError(t, err)
	require.NoError(t, nw.WritePacket(ciFor(frames[0], 0), frames[0]))
	require.NoError(t, nw.WritePacket(ciFor(frames[1], id), frames[1]))
	require.NoError(t, nw.Flush())

	ngHeaderOnly := goodNG[:binary.LittleEndian.Uint32(goodNG[4:])] // the section header block alone
	return []struct {
		name   string
		data   []byte
		frames int
		want   []error
	}{
		{"empty", nil, -1, []error{ErrBadFile}},
		{"three-bytes", []byte{0xd4, 0xc3, 0xb2}, -1, []error{ErrBadFile}},
		{"garbage", []byte("this is not a capture file, it is text\n"), -1, []error{ErrBadFile}},
		{"pcap-header-cut", good[:20], -1, []error{ErrBadFile}},
		{"pcap-bad-version", withHeader(func(h []byte) { binary.LittleEndian.PutUint16(h[4:], 3) }), -1, []error{ErrBadFile}},
		{"pcap-linktype-raw", captureBytes(t, flavPcapNano, layers.LinkTypeRaw, recsEvery(frames, 0)), -1, []error{ErrNotEthernet}},
		{"pcap-linktype-ethernet-with-fcs-bits", withHeader(func(h []byte) { binary.LittleEndian.PutUint32(h[20:], 1|0x14000000) }), -1, []error{ErrNotEthernet}},
		{"pcapng-linktype-raw", captureBytes(t, flavPcapNG, layers.LinkTypeRaw, recsEvery(frames, 0)), -1, []error{ErrNotEthernet}},
		{"pcapng-mixed-linktypes", mixed.Bytes(), 1, []error{ErrNotEthernet}},
		{"pcap-record-header-cut", good[:hdrLen+rec0+8], 1, []error{ErrBadFile, io.ErrUnexpectedEOF}},
		{"pcap-record-data-cut", good[:len(good)-5], 1, []error{ErrBadFile, io.ErrUnexpectedEOF}},
		{"pcap-caplen-huge", withRecord0(func(rh []byte) { binary.LittleEndian.PutUint32(rh[8:], 0x7fffffff) }), 0, []error{ErrBadFile}},
		{"pcap-caplen-over-4GiB-sign", withRecord0(func(rh []byte) {
			binary.LittleEndian.PutUint32(rh[8:], 0xffffffff)
			binary.LittleEndian.PutUint32(rh[12:], 0xffffffff)
		}), 0, []error{ErrBadFile}},
		{"pcap-caplen-over-len", withRecord0(func(rh []byte) { binary.LittleEndian.PutUint32(rh[12:], 1) }), 0, []error{ErrBadFile}},
		{"pcapng-cut", goodNG[:len(goodNG)-7], 1, []error{ErrBadFile}},
		{"pcapng-garbage-block", append(append([]byte(nil), ngHeaderOnly...), 6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3), -1, []error{ErrBadFile}},
		{"pcapng-bad-byte-order", func() []byte {
			b := append([]byte(nil), goodNG...)
			b[8] ^= 0xff
			return b
		}(), -1, []error{ErrBadFile}},
		{"gzip-garbage", gzipGarbage, -1, []error{ErrBadFile}},
		{"gzip-cut", gzipCut, 2, []error{ErrBadFile, io.ErrUnexpectedEOF}},
	}
}

func TestOfflineBadInput(t *testing.T) {
	for _, tc := range badCaptures(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "bad-"+tc.name, tc.data)
			o, err := OpenOffline(path, OfflineConfig{})
			if tc.frames < 0 {
				require.Error(t, err)
				require.Nil(t, o)
				for _, want := range tc.want {
					assert.ErrorIs(t, err, want)
				}
				assert.Contains(t, err.Error(), path, "error must name the file")
				return
			}
			require.NoError(t, err)
			defer o.Close()
			got, err := readAll(t, o)
			require.Error(t, err)
			require.NotEqual(t, io.EOF, err, "a damaged file must not look complete")
			assert.Len(t, got, tc.frames)
			for _, want := range tc.want {
				assert.ErrorIs(t, err, want)
			}
			assert.Contains(t, err.Error(), path, "error must name the file")
			assert.Contains(t, err.Error(), "record", "error must name the record")
			_, err2 := o.ReadFrame(make([]byte, 100))
			assert.Equal(t, err, err2, "read errors are final")
		})
	}
}

func TestOfflineEmptyCaptures(t *testing.T) {
	goodNG := captureBytes(t, flavPcapNG, layers.LinkTypeEthernet, nil)
	tests := []struct {
		name string
		data []byte
	}{
		{"pcap-header-only", captureBytes(t, flavPcapNano, layers.LinkTypeEthernet, nil)},
		{"pcapng-interface-no-packets", goodNG},
		{"pcapng-section-header-only", goodNG[:binary.LittleEndian.Uint32(goodNG[4:])]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "in", tc.data)
			o, err := OpenOffline(path, OfflineConfig{})
			require.NoError(t, err)
			defer o.Close()
			got, err := readAll(t, o)
			assert.Equal(t, io.EOF, err)
			assert.Empty(t, got)
		})
	}
}

func TestOpenOfflineFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenOffline(dir+"/does-not-exist.pcap", OfflineConfig{})
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = OpenOffline(dir, OfflineConfig{})
	require.Error(t, err, "a directory is not a capture")
	assert.Contains(t, err.Error(), dir)
}

// FuzzOpenOffline feeds arbitrary bytes to the replay path: it must give an
// error or frames, never panic, hang or read past the input, and opening the
// input and reading its frames (the first million) must allocate less than
// maxReplayAlloc (issue 12: no capture file under 1 MiB raises the heap by
// more than 16 MiB; gzip lets a small input stand for a large file).
func FuzzOpenOffline(f *testing.F) {
	frames := testFrames(f)[:3]
	for _, flavour := range allFlavours {
		f.Add(captureBytes(f, flavour, layers.LinkTypeEthernet, recsEvery(frames, time.Millisecond)))
	}
	for _, tc := range badCaptures(f) {
		f.Add(tc.data)
	}
	for _, tc := range pcapngCases(f) {
		f.Add(tc.data)
	}
	for _, h := range hostileCaptures() {
		f.Add(h.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Records are at least 16 bytes of the decompressed input, and gzip
		// expands up to 1032 times, so a 64 KiB input can hold 4 million
		// empty frames: replaying a million is enough to see that records
		// allocate nothing, and keeps each input fast.
		alloc, frames, _, err := replayAlloc(func() (*Offline, error) {
			o, err := newOffline(bytes.NewReader(data), "fuzz-input", nil, OfflineConfig{IncludeOutbound: len(data)%2 == 0})
			if err != nil {
				require.Nil(t, o)
			}
			return o, err
		}, 1<<20)
		require.Less(t, alloc, uint64(maxReplayAlloc), "%d-byte input: open and %d frames allocated %d bytes", len(data), frames, alloc)
		if err != io.EOF && err != errFrameLimit {
			require.Contains(t, err.Error(), "fuzz-input", "errors name the file")
		}
	})
}
