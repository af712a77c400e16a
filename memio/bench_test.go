package memio_test

import (
	"runtime"
	"testing"

	"github.com/etherconn/etherconn/memio"
)

func reportPPS(b *testing.B, frames int) {
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "pkts/s")
}

// benchPipe returns the ends of a pipe configured by cfg, closed when the
// benchmark ends, and a 64-byte frame from A to B whose bytes it counts per
// op; allocations are reported.
func benchPipe(b *testing.B, cfg memio.Config) (pa, pb *memio.Port, f []byte) {
	pa, pb = memio.Pipe(cfg)
	b.Cleanup(func() {
		pa.Close()
		pb.Close()
	})
	f = mkFrame(macB, macA, 0, 64)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	return pa, pb, f
}

func BenchmarkPipe(b *testing.B) {
	pa, pb, f := benchPipe(b, memio.Config{})
	buf := make([]byte, 1514)
	for b.Loop() {
		if err := pa.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		if _, err := pb.ReadFrame(buf); err != nil {
			b.Fatal(err)
		}
	}
	reportPPS(b, b.N)
}

// BenchmarkPipeConcurrent has a writer and a reader on separate goroutines,
// as a relay does; the queue is large enough that nothing is dropped.
func BenchmarkPipeConcurrent(b *testing.B) {
	pa, pb, f := benchPipe(b, memio.Config{QueueLen: 1 << 16})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1514)
		for range b.N {
			if _, err := pb.ReadFrame(buf); err != nil {
				return
			}
		}
	}()
	b.ResetTimer()
	for range b.N {
		for pb.Queued() > 1<<15 { // pace the writer so no frame is dropped
			runtime.Gosched()
		}
		if err := pa.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	if d := pb.Stats().Dropped; d != 0 {
		b.Fatalf("%d frames dropped", d)
	}
	reportPPS(b, b.N)
}

func BenchmarkPipeBatch(b *testing.B) {
	const batch = 32
	pa, pb := memio.Pipe(memio.Config{})
	defer pa.Close()
	defer pb.Close()
	frames := make([][]byte, batch)
	bufs := make([][]byte, batch)
	for i := range frames {
		frames[i] = mkFrame(macB, macA, uint32(i), 64)
		bufs[i] = make([]byte, 1514)
	}
	lens := make([]int, batch)
	b.SetBytes(64 * batch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pa.WriteFrames(frames); err != nil {
			b.Fatal(err)
		}
		if _, err := pb.ReadFrames(bufs, lens); err != nil {
			b.Fatal(err)
		}
	}
	reportPPS(b, b.N*batch)
}

func BenchmarkSwitchUnicast(b *testing.B) {
	sw := memio.NewSwitch(memio.Config{})
	defer sw.Close()
	var ports [4]*memio.Port
	for i := range ports {
		p, err := sw.AddPort()
		if err != nil {
			b.Fatal(err)
		}
		ports[i] = p
	}
	buf := make([]byte, 1514)
	// Teach the switch where B is.
	_ = ports[1].WriteFrame(mkFrame(bcast, macB, 0, 64))
	for _, p := range ports {
		for p.Queued() > 0 {
			_, _ = p.ReadFrame(buf)
		}
	}
	f := mkFrame(macB, macA, 0, 64)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ports[0].WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		if _, err := ports[1].ReadFrame(buf); err != nil {
			b.Fatal(err)
		}
	}
	reportPPS(b, b.N)
}

func BenchmarkPipeFaults(b *testing.B) {
	pa, pb, f := benchPipe(b, memio.Config{Faults: memio.Faults{Seed: 1, Corrupt: 0.01, Duplicate: 0.01, Reorder: 0.01}})
	buf := make([]byte, 1514)
	for b.Loop() {
		if err := pa.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		for pb.Queued() > 0 {
			if _, err := pb.ReadFrame(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPPS(b, b.N)
}
