package pcapio

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
)

const benchFrames = 100_000

// writeBenchCapture writes benchFrames frames of mixed sizes (64 to 1450
// bytes, tagged and untagged) to path and returns the total frame bytes.
func writeBenchCapture(b *testing.B, path, flavour string) int64 {
	var templates [][]byte
	for i, s := range testSpecs()[:4] {
		for _, size := range []int{18, 200, 1400} {
			s.payload = size
			s.marker = byte(i)
			templates = append(templates, s.build(b))
		}
	}
	f, err := os.Create(path)
	require.NoError(b, err)
	bw := bufio.NewWriterSize(f, 1<<20)
	var write func(ci gopacket.CaptureInfo, data []byte) error
	flush := func() error { return nil }
	switch flavour {
	case flavPcapNano:
		w := pcapgo.NewWriterNanos(bw)
		require.NoError(b, w.WriteFileHeader(MaxSnapLen, layers.LinkTypeEthernet))
		write = w.WritePacket
	case flavPcapNG:
		w, err := pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet)
		require.NoError(b, err)
		write, flush = w.WritePacket, w.Flush
	}
	var total int64
	for i := 0; i < benchFrames; i++ {
		fr := templates[i%len(templates)]
		binary.BigEndian.PutUint32(fr[len(fr)-4:], uint32(i))
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(fr), Length: len(fr)}
		require.NoError(b, write(ci, fr))
		total += int64(len(fr))
	}
	require.NoError(b, flush())
	require.NoError(b, bw.Flush())
	require.NoError(b, f.Close())
	return total
}

// BenchmarkOfflineReplay replays a 100,000-frame capture as fast as
// possible, one frame per ReadFrame or 64 per ReadFrames.
func BenchmarkOfflineReplay(b *testing.B) {
	for _, flavour := range []string{flavPcapNano, flavPcapNG} {
		for _, batch := range []int{1, 64} {
			name := flavour + "/ReadFrame"
			if batch > 1 {
				name = flavour + "/ReadFrames64"
			}
			b.Run(name, func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "bench."+flavour)
				total := writeBenchCapture(b, path, flavour)
				bufs := make([][]byte, batch)
				for i := range bufs {
					bufs[i] = make([]byte, backend.MaxFrameLen)
				}
				lens := make([]int, batch)
				b.SetBytes(total)
				b.ReportAllocs()
				for b.Loop() {
					o, err := OpenOffline(path, OfflineConfig{})
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for {
						var err error
						if batch == 1 {
							_, err = o.ReadFrame(bufs[0])
							n++
						} else {
							var k int
							k, err = o.ReadFrames(bufs, lens)
							n += k
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					o.Close()
					if n < benchFrames {
						b.Fatalf("replayed %d frames, want %d", n, benchFrames)
					}
				}
				b.ReportMetric(float64(benchFrames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}

// nullIO is a PacketIO that accepts writes and does nothing.
type nullIO struct{}

func (nullIO) ReadFrame(b []byte) (int, error) { return 0, io.EOF }
func (nullIO) WriteFrame(frame []byte) error   { return nil }
func (nullIO) Close() error                    { return nil }

// BenchmarkRecorderWrite records written 128-byte frames to io.Discard.
func BenchmarkRecorderWrite(b *testing.B) {
	fr := frameSpec{payload: 128 - 42}.build(b)
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		b.Run(format.String(), func(b *testing.B) {
			r, err := NewRecorder(nullIO{}, io.Discard, RecorderConfig{Format: format})
			require.NoError(b, err)
			defer r.Close()
			b.SetBytes(int64(len(fr)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.WriteFrame(fr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
