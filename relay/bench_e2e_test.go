package relay

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
)

// countHandler consumes every packet, as rudp's handler does, and counts.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Handle(*Packet) bool {
	h.n.Add(1)
	return true
}

// BenchmarkDemuxMemio is the whole receive path with n endpoints: frames
// written in batches into a memio pipe, the relay's read loop reading them
// in batches, parsing, looking up among n endpoints (round-robin, the worst
// case for caches) and handing each to its endpoint's handler. The window
// of frames in flight stays below the pipe's queue, so nothing is dropped.
func BenchmarkDemuxMemio(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		var got atomic.Int64
		r, wire := newWire(b, Config{}, memio.Config{QueueLen: 4096})
		frames := make([][]byte, n)
		for i := range n {
			mac := benchMAC(i)
			ep := mustRegister(b, r, EndpointConfig{MAC: mac, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)})
			ep.SetHandler(countHandler{&got})
			frames[i] = benchUDPFrame(b, mac)
		}
		runtime.GC()
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			start := got.Load()
			const batch, window = 64, 2048
			sent, next := 0, 0
			out := make([][]byte, batch)
			for sent < b.N {
				for int(got.Load()-start) < sent-window {
					runtime.Gosched()
				}
				k := min(batch, b.N-sent)
				for i := range k {
					out[i] = frames[next]
					if next++; next == n {
						next = 0
					}
				}
				if _, err := wire.WriteFrames(out[:k]); err != nil {
					b.Fatal(err)
				}
				sent += k
			}
			for int(got.Load()-start) < b.N {
				runtime.Gosched()
			}
			b.StopTimer()
			reportRate(b)
		})
	}
}
