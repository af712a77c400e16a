package memio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/memio"
)

// heapHeld returns the live heap after a full collection (two, so that
// sync.Pool's victim cache is emptied too): what a structure retains, which
// allocation counts cannot show when pooled buffers are reused.
func heapHeld() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

const mib = 1 << 20

// A writer faster than the delay (the review's 50,000 60-byte frames with a
// 2 s delay, here an hour so that none is delivered meanwhile) must not grow
// the delay line without bound: beyond DefaultDelayLimit frames are dropped
// and counted, and the line holds about 2 MiB, not 100 MiB.
func TestDelayLineBoundedByDefault(t *testing.T) {
	const frames = 50_000
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Delay: time.Hour}})
	defer a.Close()
	defer b.Close()
	f := mkFrame(macB, macA, 0, 60)
	before := heapHeld()
	for range frames {
		require.NoError(t, a.WriteFrame(f))
	}
	held := heapHeld() - before
	t.Logf("delay line holds %.1f MiB for %d frames written", float64(held)/mib, frames)
	assert.Less(t, held, int64(8*mib), "heap held by the delay line")
	assert.EqualValues(t, frames-memio.DefaultDelayLimit, b.Stats().Dropped)
	assert.EqualValues(t, frames-memio.DefaultDelayLimit, b.FaultStats().DelayDropped)
	assert.EqualValues(t, frames, a.Stats().FramesOut)
}

// A configured limit applies, frames within it are delivered in order, and
// the line takes frames again once it has drained.
func TestDelayLimitConfigured(t *testing.T) {
	const limit, delay = 10, 20 * time.Millisecond
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Delay: delay, DelayLimit: limit}})
	defer a.Close()
	defer b.Close()
	for i := range 3 * limit {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64)))
	}
	assert.EqualValues(t, 2*limit, b.Stats().Dropped)
	assert.Equal(t, memio.FaultStats{DelayDropped: 2 * limit}, b.FaultStats())
	buf := make([]byte, 100)
	for i := range limit {
		n, err := b.ReadFrame(buf)
		require.NoError(t, err)
		require.EqualValues(t, i, seqOf(buf[:n]))
	}
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 99, 64)))
	n, err := b.ReadFrame(buf)
	require.NoError(t, err)
	assert.EqualValues(t, 99, seqOf(buf[:n]), "a drained line takes frames again")
	assert.EqualValues(t, 2*limit, b.Stats().Dropped)
}

// srcMAC returns the i-th of many locally administered unicast addresses.
func srcMAC(i int) [6]byte {
	return [6]byte{0x02, 0xee, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// reached counts the frames that arrived at p, queued or dropped at its full
// queue.
func reached(p *memio.Port) uint64 { return uint64(p.Queued()) + p.Stats().Dropped }

// A flood of source addresses (the review's 500,000 MACs added 20 MiB that
// never aged) fills the table up to DefaultMACTable and no further: the
// addresses it learned first keep their entries, the others are not learned
// and frames for them flood, as on a hardware switch whose table is full.
func TestSwitchTableBoundedByDefault(t *testing.T) {
	const sources = 200_000
	sw, p := newSwitchConfig(t, memio.Config{QueueLen: 1}, 3)
	f := mkFrame(bcast, macA, 0, 60)
	before := heapHeld()
	for i := range sources {
		src := srcMAC(i)
		copy(f[6:12], src[:])
		require.NoError(t, p[0].WriteFrame(f))
	}
	held := heapHeld() - before
	t.Logf("table holds %.2f MiB after %d source addresses", float64(held)/mib, sources)
	assert.Less(t, held, int64(2*mib), "heap held by the learning table")
	st := sw.Stats()
	assert.Equal(t, memio.DefaultMACTable, st.Addresses)
	assert.EqualValues(t, sources-memio.DefaultMACTable, st.TableFull)

	// Frames from port 1 to every source: the learned ones go to port 0
	// only, the rest flood to port 2 as well.
	base := reached(p[2])
	copy(f[6:12], macB[:])
	for i := range sources {
		dst := srcMAC(i)
		copy(f[0:6], dst[:])
		require.NoError(t, p[1].WriteFrame(f))
	}
	assert.EqualValues(t, sources-memio.DefaultMACTable, reached(p[2])-base, "frames for unlearned addresses flood")
}

// A configured table size applies; an address already learned can still
// move to another port when the table is full; closing a port makes room.
func TestSwitchTableConfigured(t *testing.T) {
	sw, p := newSwitchConfig(t, memio.Config{MACTable: 2, MACAging: -1}, 3)
	send := func(from int, dst, src [6]byte) []int {
		drain(p...)
		require.NoError(t, p[from].WriteFrame(mkFrame(dst, src, 0, 64)))
		return queued(p...)
	}
	send(0, bcast, macA)
	send(1, bcast, macB)
	send(2, bcast, macC) // table full: C is not learned
	assert.Equal(t, memio.SwitchStats{Addresses: 2, TableFull: 1}, sw.Stats())
	assert.Equal(t, []int{0, 1, 1}, send(0, macC, macA), "C unknown: flooded")
	assert.Equal(t, []int{0, 1, 0}, send(0, macB, macA), "B learned: forwarded")

	assert.Equal(t, []int{1, 1, 0}, send(2, bcast, macA), "A moves to port 2")
	assert.Equal(t, []int{0, 0, 1}, send(1, macA, macB), "A is behind port 2 now")
	assert.Equal(t, memio.SwitchStats{Addresses: 2, TableFull: 1}, sw.Stats())

	require.NoError(t, p[1].Close()) // forgets B
	send(0, bcast, macC)
	assert.Equal(t, memio.SwitchStats{Addresses: 2, TableFull: 1}, sw.Stats(), "C learned in B's room")
	assert.Equal(t, []int{1, 0, 0}, send(2, macC, macA), "C is behind port 0")
}
