//go:build unix

package relay

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
)

// cpuTime returns the process's user and system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleCPU registers n endpoints on a relay over memio, each with a
// reader blocked in Read, and returns the process's CPU use per second of
// wall time over span, measured once they settled.
func idleCPU(tb testing.TB, n int, span time.Duration) (perSecond time.Duration, polls uint64) {
	return idleCPUOn(tb, n, 1, span)
}

// idleCPUOn is idleCPU on a relay of inputs memio pipes (NewGroup); polls
// are all its loops'.
func idleCPUOn(tb testing.TB, n, inputs int, span time.Duration) (perSecond time.Duration, polls uint64) {
	wires, ports := make([]*memio.Port, inputs), make([]*memio.Port, inputs)
	for i := range inputs {
		wires[i], ports[i] = memio.Pipe(memio.Config{})
	}
	wire := wires[0]
	r := NewGroup(ports, Config{})
	allPolls := func() (n uint64) {
		for _, x := range r.ins {
			n += x.polls.Load()
		}
		return n
	}
	var wg sync.WaitGroup
	defer func() {
		r.Close()
		for _, w := range wires {
			w.Close()
		}
		wg.Wait()
	}()
	for i := range n {
		mac := frame.MAC{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		ep, err := r.Register(EndpointConfig{MAC: mac, EtherTypes: ets(etExp1)})
		require.NoError(tb, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := ep.Read(); err == nil {
				p.Release()
			}
		}()
	}
	// A frame for nobody, as the last of a busy spell; then nothing comes.
	// The first reader to block took the token from the loop: it leads.
	require.NoError(tb, wire.WriteFrame(seqFrame(macR, macR, nil, etExp1, 1)))
	time.Sleep(100 * time.Millisecond)
	runtime.GC() // the sweeping after setting up is not the relay's
	// The runtime goes on working for a while after setting up 10,000
	// readers (scavenging): measured from 200 ms on, 10,000 readers cost
	// 1.5–1.9 ms a second; from 1 s on, 0.2–0.6, as much as one reader.
	time.Sleep(time.Second)
	start, wall, polls0 := cpuTime(tb), time.Now(), allPolls()
	time.Sleep(span)
	used := cpuTime(tb) - start
	return time.Duration(float64(used) / time.Since(wall).Seconds()), allPolls() - polls0
}

// TestIdleCostsNothing: a relay with 10,000 endpoints, each with a reader
// blocked in Read, and no traffic, stops polling: its loop is not woken
// while a reader leads on an idle backend (it polled every 2 ms before,
// which cost 24–67 ms of CPU a second). The CPU used is logged, not
// checked: under the race detector or a loaded machine it says little.
func TestIdleCostsNothing(t *testing.T) {
	cpu, polls := idleCPU(t, 10000, time.Second)
	t.Logf("idle: %v of CPU per second, %d polls", cpu, polls)
	require.Zero(t, polls, "the loop polled an idle relay")
}

// TestIdleGroupCostsNothing is TestIdleCostsNothing on a relay of four
// PacketIOs: no loop polls, as no reader leads (see NewGroup); all four
// block in their reads.
func TestIdleGroupCostsNothing(t *testing.T) {
	cpu, polls := idleCPUOn(t, 10000, 4, time.Second)
	t.Logf("idle: %v of CPU per second, %d polls", cpu, polls)
	require.Zero(t, polls, "a loop polled an idle relay")
}

// BenchmarkIdleCPU reports the CPU an idle relay uses, per second, with 1
// and with 10,000 endpoints whose readers block, on one PacketIO and on
// four (NewGroup). The runs with one endpoint come first: for a few
// seconds after a run with 10,000 the process was measured using 10–45 ms
// of CPU a second with no relay at all (the runtime's work after freeing
// what 10,000 readers held), on one PacketIO as on four.
func BenchmarkIdleCPU(b *testing.B) {
	for _, n := range []int{1, 10000} {
		for _, inputs := range []int{1, 4} {
			name := fmt.Sprintf("endpoints=%d", n)
			if inputs > 1 {
				name = fmt.Sprintf("inputs=%d/%s", inputs, name)
			}
			b.Run(name, func(b *testing.B) {
				var total time.Duration
				for range b.N {
					cpu, _ := idleCPUOn(b, n, inputs, 2*time.Second)
					total += cpu
				}
				b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "cpu-ms/s")
			})
		}
	}
}
