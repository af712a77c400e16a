package relay

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

func benchMAC(i int) frame.MAC {
	return frame.MAC{0x02, 0x42, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// benchPerFrame runs op b.N times, each moving frame fr once, and reports
// allocations, bytes and packets per second.
func benchPerFrame(b *testing.B, fr []byte, op func() error) {
	b.ReportAllocs()
	b.SetBytes(int64(len(fr)))
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b)
}

// benchUDPFrame is a frame.VLAN 100 IPv4/UDP frame with a 64-byte payload.
func benchUDPFrame(b *testing.B, dst frame.MAC) []byte {
	return gpFrame(b, dst, macR, []testkit.Tag{{TPID: 0x8100, ID: 100}}, frame.EtherTypeIPv4, gpUDP4(make([]byte, 64))...)
}

// BenchmarkDemux measures the read loop's per-frame work without a backend:
// parse, key lookup among n endpoints, enqueue, and the reader's pop and
// release. Frames go to the endpoints in turn.
func BenchmarkDemux(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		// Set up once, not on every b.N round, and collect the set-up
		// garbage before measuring: a GC cycle over 100,000 endpoints
		// running beside the loop would be measured too.
		r, _ := newDirect(b, Config{})
		macs := make([]frame.MAC, n)
		eps := make([]*Endpoint, n)
		for i := range n {
			macs[i] = benchMAC(i)
			eps[i] = mustRegister(b, r, EndpointConfig{MAC: macs[i], VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)})
		}
		p := getPacket()
		p.n = copy(p.buf, benchUDPFrame(b, macs[0]))
		step := func(j int) {
			copy(p.buf[:6], macs[j][:])
			r.dispatch(p)
			eps[j].q.tryPop().Release()
		}
		for j := range n { // every queue has its ring
			step(j)
		}
		runtime.GC()
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			before := r.Stats().Delivered
			j := 0
			for range b.N {
				step(j)
				if j++; j == n {
					j = 0
				}
			}
			b.StopTimer()
			reportRate(b)
			if got := r.Stats().Delivered - before; got != uint64(b.N) {
				b.Fatalf("delivered %d of %d", got, b.N)
			}
		})
		p.Release()
		r.Close()
	}
}

// BenchmarkRelayMemio runs end to end: memio pipe → relay read loop →
// endpoint Read, 64-byte UDP payloads. "pingpong" waits for each packet
// before writing the next; "stream" keeps up to 256 frames in flight.
func BenchmarkRelayMemio(b *testing.B) {
	setup := func(b *testing.B) (*Endpoint, *memio.Port, []byte, *Relay) {
		r, wire := newWire(b, Config{QueueLen: 1024}, memio.Config{QueueLen: 1024})
		ep := mustRegister(b, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)})
		return ep, wire, benchUDPFrame(b, macA), r
	}
	b.Run("pingpong", func(b *testing.B) {
		ep, wire, fr, _ := setup(b)
		benchPerFrame(b, fr, func() error {
			if err := wire.WriteFrame(fr); err != nil {
				return err
			}
			p, err := ep.Read()
			if err == nil {
				p.Release()
			}
			return err
		})
	})
	b.Run("stream", func(b *testing.B) {
		ep, wire, fr, r := setup(b)
		const window = 256
		var read atomic.Int64
		done := make(chan error, 1)
		go func() {
			for i := range int64(b.N) {
				for i-read.Load() >= window {
					runtime.Gosched()
				}
				if err := wire.WriteFrame(fr); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		benchPerFrame(b, fr, func() error {
			p, err := ep.Read()
			if err == nil {
				p.Release()
				read.Add(1)
			}
			return err
		})
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if st := r.Stats(); st.QueueDrops != 0 || st.Backend.Dropped != 0 {
			b.Fatalf("drops: %+v", st)
		}
	})
}

// BenchmarkSend measures Endpoint.Send into memio (whose queue is full, so
// the frame is copied and dropped there).
func BenchmarkSend(b *testing.B) {
	r, _ := newWire(b, Config{}, memio.Config{QueueLen: 16})
	ep := mustRegister(b, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)})
	fr := benchUDPFrame(b, macR)
	benchPerFrame(b, fr, func() error { return ep.Send(fr) })
}

// BenchmarkRegister100k measures the time and the heap kept per endpoint
// when 100,000 endpoints are registered on one relay.
func BenchmarkRegister100k(b *testing.B) {
	const n = 100000
	for _, tt := range []struct {
		name string
		cfg  func(frame.MAC) EndpointConfig
	}{
		{"ethertypes=1", func(m frame.MAC) EndpointConfig {
			return EndpointConfig{MAC: m, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(frame.EtherTypeIPv4)}
		}},
		{"ethertypes=3,broadcast", func(m frame.MAC) EndpointConfig {
			return EndpointConfig{MAC: m, VLANs: frame.VLANs{v(100)}, Broadcast: true,
				EtherTypes: ets(frame.EtherTypeARP, frame.EtherTypeIPv4, frame.EtherTypeIPv6)}
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			cfgs := make([]EndpointConfig, n)
			for i := range cfgs {
				cfgs[i] = tt.cfg(benchMAC(i))
			}
			var heap uint64
			var elapsed time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				r := New(testkit.NewFakeIO(), Config{}) // never delivers a frame
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				start := time.Now()
				for i := range cfgs {
					if _, err := r.Register(cfgs[i]); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(start)
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(r)
				heap += after.HeapAlloc - before.HeapAlloc
				r.Close()
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(heap)/float64(b.N*n), "B/endpoint")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/endpoint")
		})
	}
}

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

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if testkit.RaceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
}

func TestSendZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	r, _ := newWire(t, Config{}, memio.Config{QueueLen: 16}) // the wire is never read: its queue fills and drops
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(10)}, EtherTypes: ets(frame.EtherTypeIPv4)})
	fr := gpFrame(t, macR, macA, []testkit.Tag{{TPID: 0x8100, ID: 10}}, frame.EtherTypeIPv4, gpUDP4(make([]byte, 64))...)
	frs := [][]byte{fr, fr, fr}
	for range 100 { // warm up
		require.NoError(t, ep.Send(fr))
	}
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = ep.Send(fr) }), "Send")
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = ep.SendBatch(frs) }), "SendBatch")
}

func TestHairpinZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	r, _ := newDirect(t, Config{Hairpin: true})
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	fr := seqFrame(macB, macA, nil, etExp1, 1)
	run := func() {
		_ = a.Send(fr)
		b.q.tryPop().Release()
	}
	for range 100 {
		run()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, run))
}

// TestDispatchZeroAllocs measures the receive path without a backend:
// parse, look up, deliver, and the reader's pop and release.
func TestDispatchZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	r, _ := newDirect(t, Config{})
	vl := frame.VLANs{vt(0x88a8, 10), v(20)}
	tags := []testkit.Tag{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}}
	eps := []*Endpoint{
		mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: vl, EtherTypes: ets(frame.EtherTypeIPv4), Broadcast: true}),
		mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: vl, EtherTypes: ets(frame.EtherTypeIPv4), Broadcast: true}),
		mustRegister(t, r, EndpointConfig{MAC: macC, VLANs: vl, EtherTypes: ets(frame.EtherTypeIPv4), Broadcast: true}),
	}
	handled := mustRegister(t, r, EndpointConfig{MAC: macD, VLANs: vl, EtherTypes: ets(frame.EtherTypeIPv4)})
	handled.SetHandler(&consumer{})
	def, err := r.RegisterDefault(DefaultEndpointConfig{})
	require.NoError(t, err)
	queues := append(eps[:len(eps):len(eps)], def)
	drain := func() {
		for _, ep := range queues {
			for p := ep.q.tryPop(); p != nil; p = ep.q.tryPop() {
				p.Release()
			}
		}
	}
	udp := gpUDP4(make([]byte, 64))
	tests := []struct {
		name string
		b    []byte
	}{
		{"unicast", gpFrame(t, macA, macR, tags, frame.EtherTypeIPv4, udp...)},
		{"broadcast to 3", gpFrame(t, bcast, macR, tags, frame.EtherTypeIPv4, udp...)},
		{"handler", gpFrame(t, macD, macR, tags, frame.EtherTypeIPv4, udp...)},
		{"default", gpFrame(t, macX, macR, tags, frame.EtherTypeIPv4, udp...)},
		{"malformed", gpFrame(t, macA, macR, tags, frame.EtherTypeIPv4, gpUDP4(nil)...)[:30]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := getPacket()
			defer p.Release()
			p.n = copy(p.buf, tt.b)
			run := func() {
				r.dispatch(p)
				drain()
			}
			for range 100 {
				run()
			}
			assert.Zero(t, testing.AllocsPerRun(1000, run))
			assert.Equal(t, int32(1), p.refs.Load(), "every delivery was released")
		})
	}
	require.NoError(t, def.Close())
	t.Run("miss", func(t *testing.T) {
		p := getPacket()
		defer p.Release()
		p.n = copy(p.buf, tests[3].b)
		assert.Zero(t, testing.AllocsPerRun(1000, func() { r.dispatch(p) }))
	})
}

// TestEndToEndZeroAllocs goes through memio and the relay's read loop to an
// endpoint's Read, with and without a read deadline.
func TestEndToEndZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	for _, tt := range []struct {
		name     string
		deadline bool
	}{{"no deadline", false}, {"deadline per read", true}} {
		t.Run(tt.name, func(t *testing.T) {
			r, wire := newWire(t, Config{}, memio.Config{})
			ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(10)}, EtherTypes: ets(frame.EtherTypeIPv4)})
			fr := gpFrame(t, macA, macR, []testkit.Tag{{TPID: 0x8100, ID: 10}}, frame.EtherTypeIPv4, gpUDP4(make([]byte, 64))...)
			run := func() {
				if tt.deadline {
					ep.SetReadDeadline(time.Now().Add(waitLong))
				}
				if err := wire.WriteFrame(fr); err != nil {
					panic(err)
				}
				p, err := ep.Read()
				if err != nil {
					panic(err)
				}
				p.Release()
			}
			for range 200 {
				run()
			}
			assert.Zero(t, testing.AllocsPerRun(2000, run))
		})
	}
}
