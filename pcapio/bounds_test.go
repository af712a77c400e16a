package pcapio

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
)

// maxReplayAlloc is the most a capture file may make OpenOffline plus
// reading all of its frames allocate (issue 12: no capture file under 1 MiB
// raises the heap by more than 16 MiB).
const maxReplayAlloc = 16 << 20

// errFrameLimit ends replayAlloc after its frame limit.
var errFrameLimit = errors.New("frame limit reached")

// replayAlloc opens a capture with open, reads all of its frames (at most
// limit, then it returns errFrameLimit) into one buffer and returns the bytes
// allocated meanwhile (runtime TotalAlloc, which a collection cannot hide),
// the frames read, the Offline's Stats and the final error.
func replayAlloc(open func() (*Offline, error), limit int) (alloc uint64, frames int, st backend.Stats, err error) {
	buf := make([]byte, MaxSnapLen)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	defer func() {
		runtime.ReadMemStats(&after)
		alloc = after.TotalAlloc - before.TotalAlloc
	}()
	o, err := open()
	if err != nil {
		return 0, 0, st, err
	}
	defer o.Close()
	for frames < limit {
		if _, err = o.ReadFrame(buf); err != nil && !errors.Is(err, backend.ErrTruncated) {
			return 0, frames, o.Stats(), err
		}
		frames++
	}
	return 0, frames, o.Stats(), errFrameLimit
}

const (
	hugeSnapLen  = 0x7fffffff
	hostileHuge  = 64 << 20 // the review's record: caplen = len = 64 MiB
	hostileSmall = 1 << 20  // for the checked-in fuzz seeds
)

// hostileCapture returns a capture whose header or interface announces
// snap length 0x7fffffff and whose one record, of kind "pcap", "epb" or
// "spb", claims caplen = len = size bytes (little-endian). It holds have of
// those bytes (zeros), or all of them and the block trailer if have < 0; gz
// compresses the file.
func hostileCapture(kind string, size, have int, gz bool) []byte {
	le := binary.LittleEndian
	var prefix, suffix []byte
	put := func(b *[]byte, vs ...uint32) {
		for _, v := range vs {
			*b = le.AppendUint32(*b, v)
		}
	}
	padded := (size + 3) &^ 3
	switch kind {
	case "pcap":
		put(&prefix, magicPcapMicro, 2|4<<16, 0, 0, hugeSnapLen, uint32(layers.LinkTypeEthernet))
		put(&prefix, 0, 0, uint32(size), uint32(size))
		padded = size
	case "epb", "spb":
		put(&prefix, ngSectionHeader, 28, ngByteOrderMagic, 1, 0xffffffff, 0xffffffff, 28)
		put(&prefix, ngInterface, 20, uint32(layers.LinkTypeEthernet), hugeSnapLen, 20)
		if kind == "epb" {
			put(&prefix, ngEnhancedPacket, uint32(32+padded), 0, 0, 0, uint32(size), uint32(size))
			put(&suffix, uint32(32+padded))
		} else {
			put(&prefix, ngSimplePacket, uint32(16+padded), uint32(size))
			put(&suffix, uint32(16+padded))
		}
	}
	zeros := padded
	if have >= 0 {
		zeros, suffix = have, nil
	}
	if !gz {
		return append(append(prefix, make([]byte, zeros)...), suffix...)
	}
	return gzipZeros(prefix, zeros, suffix)
}

// gzipZeros returns a gzip stream of prefix, n zero bytes and suffix, at
// the best compression, without compressing all the zeros: once the window
// holds only zeros, the deflate blocks for a MiB of zeros ending in a sync
// flush are the same every time, so they are repeated. (Compressing 64 MiB
// under the fuzzer's instrumentation takes seconds per worker.)
func gzipZeros(prefix []byte, n int, suffix []byte) []byte {
	const chunk = 1 << 20
	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff}) // RFC 1952 header, no name
	crc := crc32.Update(0, crc32.IEEETable, prefix)
	zw, _ := flate.NewWriter(&out, flate.BestCompression)
	zw.Write(prefix)
	zero := make([]byte, chunk)
	var seg []byte // the steady-state blocks for one chunk
	for left, first := n, true; left > 0; first = false {
		m := min(left, chunk)
		left -= m
		crc = crc32.Update(crc, crc32.IEEETable, zero[:m])
		if seg != nil && m == chunk {
			out.Write(seg)
			continue
		}
		start := out.Len()
		zw.Write(zero[:m])
		zw.Flush()
		if !first && m == chunk { // the window held only zeros before it
			seg = bytes.Clone(out.Bytes()[start:])
		}
	}
	zw.Write(suffix)
	zw.Close()
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	out.Write(binary.LittleEndian.AppendUint32(nil, crc))
	out.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(prefix)+n+len(suffix))))
	return out.Bytes()
}

// hostileCase is a capture built to make the reader allocate. Its record
// is a bad file, or (replays) a valid one longer than any frame, skipped and
// counted.
type hostileCase struct {
	name    string
	data    []byte
	replays bool
}

var (
	hostileOnce  sync.Once
	hostileCache []hostileCase
)

// hostileCaptures are the review's files (a 63 KiB gzip whose one record
// claims 64 MiB, in pcap, pcapng EPB and pcapng SPB form), plain files whose
// record claims 64 MiB but holds 16 bytes, and smaller gzip files of the same
// shape. Built once: compressing 64 MiB takes a moment.
func hostileCaptures() []hostileCase {
	hostileOnce.Do(func() {
		for _, kind := range []string{"pcap", "epb", "spb"} {
			hostileCache = append(hostileCache,
				hostileCase{"gzip-" + kind + "-caplen-64MiB", hostileCapture(kind, hostileHuge, -1, true), false},
				// A simple packet block has no captured length: it holds
				// min(original length, snap length), here MaxSnapLen bytes.
				hostileCase{"gzip-" + kind + "-caplen-1MiB", hostileCapture(kind, hostileSmall, -1, true), kind == "spb"},
				hostileCase{"plain-" + kind + "-caplen-64MiB-holds-16", hostileCapture(kind, hostileHuge, 16, false), false},
			)
		}
	})
	return hostileCache
}

// Issue 12, finding 1: a 63 KiB gzip file whose one record claims 64 MiB
// made OpenOffline plus ReadFrame allocate 256 MiB. No record may make the
// reader allocate more than a frame buffer: these files fail at their record
// (captured length above MaxSnapLen, or a pcapng block above the largest
// one accepted) without allocating for it.
func TestOfflineHostileCapturesAllocateLittle(t *testing.T) {
	for _, h := range hostileCaptures() {
		t.Run(h.name, func(t *testing.T) {
			require.Less(t, len(h.data), 1<<20, "the finding is about files under 1 MiB")
			if bytes.HasPrefix(h.data, []byte{0x1f, 0x8b}) { // a valid stream, all of it there
				zr, err := gzip.NewReader(bytes.NewReader(h.data))
				require.NoError(t, err)
				n, err := io.Copy(io.Discard, zr)
				require.NoError(t, err)
				require.Greater(t, n, int64(hostileSmall))
			}
			path := writeFile(t, t.TempDir(), h.name, h.data)
			alloc, frames, st, err := replayAlloc(func() (*Offline, error) { return OpenOffline(path, OfflineConfig{}) }, 10)
			t.Logf("%d-byte file: %d frames, %d dropped, allocated %.2f MiB, %v", len(h.data), frames, st.Dropped, float64(alloc)/(1<<20), err)
			assert.Less(t, alloc, uint64(maxReplayAlloc), "bytes allocated by open and replay")
			assert.Zero(t, frames)
			if h.replays {
				assert.Equal(t, io.EOF, err)
				assert.EqualValues(t, 1, st.Dropped, "longer than a frame: skipped and counted")
				return
			}
			require.Error(t, err)
			assert.NotEqual(t, io.EOF, err, "the record is not replayed")
			assert.ErrorIs(t, err, ErrBadFile)
			assert.Contains(t, err.Error(), "record 1")
		})
	}
}

// The snap length of a pcap header or pcapng interface above MaxSnapLen (or
// zero) is taken as MaxSnapLen, as libpcap does: such files open and replay
// their frames.
func TestOfflineHugeSnapLenClamped(t *testing.T) {
	frame := testFrames(t)[0]
	for _, kind := range []string{"pcap", "epb", "spb"} {
		t.Run(kind, func(t *testing.T) {
			data := hostileCapture(kind, len(frame), 0, false)
			data = append(data, frame...)
			if kind != "pcap" {
				data = append(data, make([]byte, (4-len(frame)%4)%4)...)
				data = binary.LittleEndian.AppendUint32(data, binary.LittleEndian.Uint32(data[52:56]))
			}
			o, err := newOffline(bytes.NewReader(data), "huge-snaplen", nil, OfflineConfig{})
			require.NoError(t, err)
			defer o.Close()
			got, err := readAll(t, o)
			assert.Equal(t, io.EOF, err)
			assert.Equal(t, [][]byte{frame}, got)
		})
	}
}

// Records longer than backend.MaxFrameLen, the largest frame any relay
// buffer holds (merged super-frames, as tcpdump records them with GRO on), but
// within MaxSnapLen are skipped without being read into memory and counted in
// Stats().Dropped, as DESIGN.md asks of a backend handed a super-frame; the
// frames around them replay.
func TestOfflineOversizedRecordsSkipped(t *testing.T) {
	small := testFrames(t)[0]
	big := frameSpec{payload: 20000, marker: 9}.build(t)
	limit := frameSpec{payload: backend.MaxFrameLen - 42, marker: 8}.build(t)
	require.Len(t, limit, backend.MaxFrameLen)
	recs := recsEvery([][]byte{small, big, limit, append(bytes.Clone(limit), 0), small}, time.Millisecond)
	for _, flavour := range allFlavours {
		t.Run(flavour, func(t *testing.T) {
			data := captureBytes(t, flavour, layers.LinkTypeEthernet, recs)
			o, err := newOffline(bytes.NewReader(data), flavour, nil, OfflineConfig{})
			require.NoError(t, err)
			defer o.Close()
			got, err := readAll(t, o)
			assert.Equal(t, io.EOF, err)
			require.Len(t, got, 3)
			assert.True(t, bytes.Equal(small, got[0]) && bytes.Equal(limit, got[1]) && bytes.Equal(small, got[2]), "the frames around the oversized ones")
			st := o.Stats()
			assert.EqualValues(t, 2, st.Dropped, "oversized records counted")
			assert.EqualValues(t, 3, st.FramesIn)
		})
	}
}
