//go:build unix

package relay

import (
	"runtime"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
)

// BenchmarkGroupDispatch measures what the loops of a relay of several
// PacketIOs share: loops goroutines each do a read loop's work on batches
// of 64 frames (parse, lookup among its 500 endpoints, delivery to a
// Handler that takes the packet), without a backend, either on one paused
// relay of loops PacketIOs, each with its own receive state ("shared": one
// table and its lock, one set of relay counters), or each on a relay of its
// own ("apart": nothing shared). shared/apart is the cost of sharing.
// cpu-ns/frame is the process's CPU time per frame: other load on the
// machine moves pkts/s much more than it.
func BenchmarkGroupDispatch(b *testing.B) {
	const perLoop = 500
	for _, tc := range []struct {
		name   string
		loops  int
		shared bool
	}{{"loops=1", 1, true}, {"loops=2/shared", 2, true}, {"loops=2/apart", 2, false}} {
		b.Run(tc.name, func(b *testing.B) {
			relays := make([]*Relay, tc.loops)
			xs := make([]*rxState, tc.loops)
			for g := range tc.loops {
				if g == 0 || !tc.shared {
					ins := make([]*testkit.FakeIO, tc.loops)
					for i := range ins {
						ins[i] = testkit.NewFakeIO()
					}
					relays[g] = NewGroup(ins, Config{Paused: true})
					defer relays[g].Close()
				} else {
					relays[g] = relays[0]
				}
				xs[g] = relays[g].ins[g]
			}
			macs := make([][]frame.MAC, tc.loops)
			for g := range tc.loops {
				for i := range perLoop {
					mac := benchMAC(g*perLoop + i)
					ep := mustRegister(b, relays[g], EndpointConfig{MAC: mac, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)})
					ep.SetHandler(takeHandler{})
					macs[g] = append(macs[g], mac)
				}
			}
			fr := benchUDPFrame(b, macs[0][0])
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			testkit.Parallel(tc.loops, func(g int) {
				r, x := relays[g], xs[g]
				ps := make([]*Packet, DefaultBatchSize)
				for i := range ps {
					ps[i] = getPacket()
					ps[i].n = copy(ps[i].buf, fr)
				}
				good := make([]*Packet, 0, len(ps))
				next := 0
				for done := 0; done < b.N/tc.loops; done += len(ps) {
					good = good[:0]
					for _, p := range ps {
						copy(p.buf[:6], macs[g][next][:])
						if next++; next == perLoop {
							next = 0
						}
						if r.parse(p) {
							good = append(good, p)
						}
					}
					r.dispatchParsed(x, good)
				}
				for _, p := range ps {
					p.Release()
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/frame")
			reportRate(b)
		})
	}
}

// takeHandler takes every packet and keeps none.
type takeHandler struct{}

func (takeHandler) Handle(*Packet) bool { return true }
