package afpacket

import (
	"fmt"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// BenchmarkSplitGSO splits super-frames as the kernel's UDP GSO and TSO
// make them (40 × 1,400 bytes of UDP, 4 × 1,000, 44 × 1,448 of TCP) into a
// relay-sized buffer, outer tag restored: the cost a super-frame adds to a
// read, checksums included, without the system calls. ns/op is a
// super-frame; pkts/s counts the frames made.
func BenchmarkSplitGSO(b *testing.B) {
	for _, sp := range []gsoSpec{
		{payload: 40 * 1400, mss: 1400},
		{payload: 4 * 1000, mss: 1000},
		{v6: true, payload: 40 * 1400, mss: 1400},
		{tcp: true, payload: 44 * 1448, mss: 1448},
	} {
		name := fmt.Sprintf("v6=%v/tcp=%v/%d×%d", sp.v6, sp.tcp, sp.payload/sp.mss, sp.mss)
		b.Run(name, func(b *testing.B) {
			f, vh := sp.superFrame(b)
			m := rxMeta{vnet: vh, tpid: tpid8021Q, tci: 100, tagged: true, whole: true}
			var g gsoCounters
			var sf superFrame
			dst := make([]byte, backend.MaxFrameLen)
			b.SetBytes(int64(sp.payload))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if !g.startSplit(&sf, f, &m, false) {
					b.Fatal("not split")
				}
				for sf.more() {
					g.segment(&sf, dst)
				}
			}
			b.ReportMetric(float64(g.segments.Load())/time.Since(start).Seconds(), "pkts/s")
		})
	}
}
