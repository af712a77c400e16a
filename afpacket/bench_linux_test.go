//go:build linux

package afpacket_test

// Benchmarks of a Conn alone on a fresh veth pair: the writer on A, the
// reader on B (bench_harness_linux_test.go has the harness).

import (
	"testing"
	"time"

	gpafpacket "github.com/gopacket/gopacket/afpacket"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/internal/netns"
)

func BenchmarkWriteFrame(b *testing.B) {
	w, _ := benchWriter(b)
	frame := benchFrame()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := w.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, time.Since(start))
}

func BenchmarkWriteFrames(b *testing.B) {
	w, _ := benchWriter(b)
	frame := benchFrame()
	batch := repeat(frame, benchBatch)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := writeN(w, batch, b.N); err != nil {
		b.Fatal(err)
	}
	reportRate(b, b.N, time.Since(start))
}

// readConfigs are the readers of BenchmarkReadFrame and
// BenchmarkReadFrames, each mode with room for a drain round (16,384
// frames: the frame ring's slots are 1,664 bytes).
var readConfigs = []afpacket.Config{
	{Receive: afpacket.ReceiveSocket, ReadBufferSize: 256 << 20},
	{Receive: afpacket.ReceiveFrameRing, FrameRingSize: 32 << 20},
}

func BenchmarkReadFrame(b *testing.B) {
	for _, cfg := range readConfigs {
		b.Run(cfg.Receive.String(), func(b *testing.B) {
			readBench(b, func(b *testing.B, l *netns.Link) benchReader {
				return frameReader(open(b, l, cfg))
			})
		})
	}
}

func BenchmarkReadFrames(b *testing.B) {
	for _, cfg := range readConfigs {
		b.Run(cfg.Receive.String(), func(b *testing.B) {
			readBench(b, func(b *testing.B, l *netns.Link) benchReader {
				return framesReader(open(b, l, cfg))
			})
		})
	}
}

// BenchmarkReadTPacketV3 is a reference ceiling: gopacket's TPACKET_V3 ring
// reader (see tpacketReader), measured like ReadFrames and fed by our
// sendmmsg writer.
func BenchmarkReadTPacketV3(b *testing.B) {
	readBench(b, func(b *testing.B, l *netns.Link) benchReader {
		return tpacketReader(b, l, 64, 100*time.Millisecond, gpafpacket.TPacketVersion3)
	})
}
