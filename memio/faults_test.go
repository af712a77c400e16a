package memio_test

import (
	"bytes"
	"math/bits"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/memio"
)

// transfer writes count frames a→b and returns everything b received, in
// order, once nothing more can arrive (no delay configured).
func transfer(t *testing.T, f memio.Faults, count int) ([][]byte, memio.FaultStats) {
	t.Helper()
	a, b := memio.Pipe(memio.Config{QueueLen: 4 * count, Faults: f})
	defer a.Close()
	defer b.Close()
	for i := range count {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64+i%50)))
	}
	var got [][]byte
	buf := make([]byte, 200)
	for b.Queued() > 0 {
		n, err := b.ReadFrame(buf)
		require.NoError(t, err)
		got = append(got, bytes.Clone(buf[:n]))
	}
	return got, b.FaultStats()
}

func TestFaultsAreDeterministic(t *testing.T) {
	tests := []struct {
		name   string
		faults memio.Faults
		check  func(t *testing.T, s memio.FaultStats)
	}{
		{"loss", memio.Faults{Loss: 0.3}, func(t *testing.T, s memio.FaultStats) { assert.NotZero(t, s.Lost) }},
		{"duplicate", memio.Faults{Duplicate: 0.3}, func(t *testing.T, s memio.FaultStats) { assert.NotZero(t, s.Duplicated) }},
		{"reorder", memio.Faults{Reorder: 0.3}, func(t *testing.T, s memio.FaultStats) { assert.NotZero(t, s.Reordered) }},
		{"corrupt", memio.Faults{Corrupt: 0.3}, func(t *testing.T, s memio.FaultStats) { assert.NotZero(t, s.Corrupted) }},
		{"all", memio.Faults{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1}, func(t *testing.T, s memio.FaultStats) {
			assert.NotZero(t, s.Lost)
			assert.NotZero(t, s.Duplicated)
			assert.NotZero(t, s.Reordered)
			assert.NotZero(t, s.Corrupted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.faults
			f.Seed = 42
			got1, st1 := transfer(t, f, 500)
			got2, st2 := transfer(t, f, 500)
			assert.Equal(t, got1, got2, "same seed, same writes, same result")
			assert.Equal(t, st1, st2)
			tt.check(t, st1)

			f.Seed = 43
			got3, _ := transfer(t, f, 500)
			assert.NotEqual(t, got1, got3, "another seed gives other faults")
		})
	}
}

func TestDirectionsHaveIndependentStreams(t *testing.T) {
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Seed: 1, Loss: 0.5}})
	defer a.Close()
	defer b.Close()
	for i := range 64 {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64)))
		require.NoError(t, b.WriteFrame(mkFrame(macA, macB, uint32(i), 64)))
	}
	assert.NotEqual(t, a.FaultStats(), memio.FaultStats{})
	// Identical streams would lose exactly the same frames both ways.
	aGot, bGot := drainSeqs(t, a), drainSeqs(t, b)
	assert.NotEqual(t, aGot, bGot)
}

func drainSeqs(t *testing.T, p *memio.Port) []uint32 {
	t.Helper()
	var seqs []uint32
	buf := make([]byte, 200)
	for p.Queued() > 0 {
		n, err := p.ReadFrame(buf)
		require.NoError(t, err)
		seqs = append(seqs, seqOf(buf[:n]))
	}
	return seqs
}

func seqsOf(frames [][]byte) []uint32 {
	s := make([]uint32, len(frames))
	for i, f := range frames {
		s[i] = seqOf(f)
	}
	return s
}

func TestLoss(t *testing.T) {
	got, st := transfer(t, memio.Faults{Loss: 1}, 10)
	assert.Empty(t, got)
	assert.Equal(t, memio.FaultStats{Lost: 10}, st)

	got, st = transfer(t, memio.Faults{Loss: 0.5, Seed: 7}, 1000)
	assert.EqualValues(t, 1000, len(got)+int(st.Lost))
	assert.InDelta(t, 500, st.Lost, 100)
	seqs := seqsOf(got)
	for i := 1; i < len(seqs); i++ {
		require.Less(t, seqs[i-1], seqs[i], "loss alone never reorders")
	}
}

func TestDuplicate(t *testing.T) {
	got, st := transfer(t, memio.Faults{Duplicate: 1}, 5)
	assert.Equal(t, []uint32{0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, seqsOf(got))
	assert.EqualValues(t, 5, st.Duplicated)
	for i := 0; i < len(got); i += 2 {
		assert.Equal(t, got[i], got[i+1])
	}
}

func TestReorder(t *testing.T) {
	// Every frame that finds no frame held back is held, so pairs swap.
	got, st := transfer(t, memio.Faults{Reorder: 1}, 6)
	assert.Equal(t, []uint32{1, 0, 3, 2, 5, 4}, seqsOf(got))
	assert.EqualValues(t, 3, st.Reordered)

	// A held frame waits for the next one, and Close recycles it.
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Reorder: 1}})
	defer a.Close()
	defer b.Close()
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 0, 64)))
	assert.Zero(t, b.Queued())
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 1, 64)))
	assert.Equal(t, []uint32{1, 0}, drainSeqs(t, b))
}

func TestReorderWithDuplicate(t *testing.T) {
	got, _ := transfer(t, memio.Faults{Reorder: 1, Duplicate: 1}, 4)
	assert.Equal(t, []uint32{1, 1, 0, 0, 3, 3, 2, 2}, seqsOf(got))
}

func TestCorruptFlipsOneBit(t *testing.T) {
	const count = 200
	got, st := transfer(t, memio.Faults{Corrupt: 1, Seed: 3}, count)
	require.Len(t, got, count)
	assert.EqualValues(t, count, st.Corrupted)
	for i, g := range got {
		want := mkFrame(macB, macA, uint32(i), 64+i%50)
		require.Len(t, g, len(want))
		diff := 0
		for j := range g {
			diff += bits.OnesCount8(g[j] ^ want[j])
		}
		assert.Equal(t, 1, diff, "frame %d", i)
	}
}

func TestDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Delay: delay}})
	defer a.Close()
	defer b.Close()
	start := time.Now()
	require.NoError(t, a.WriteFrame(mkFrame(macB, macA, 0, 64)))
	assert.Zero(t, b.Queued(), "a delayed frame is not there yet")
	n, err := b.ReadFrame(make([]byte, 100))
	require.NoError(t, err)
	assert.Equal(t, 64, n)
	assert.GreaterOrEqual(t, time.Since(start), delay)
}

func TestJitterKeepsOrder(t *testing.T) {
	const count = 200
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{
		Seed: 9, Delay: time.Millisecond, Jitter: 5 * time.Millisecond,
	}})
	defer a.Close()
	defer b.Close()
	for i := range count {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64)))
	}
	buf := make([]byte, 100)
	for i := range count {
		n, err := b.ReadFrame(buf)
		require.NoError(t, err)
		require.EqualValues(t, i, seqOf(buf[:n]))
	}
}

func TestDelayedFramesDoNotOutliveClose(t *testing.T) {
	// goleak in TestMain checks that no timer goroutine survives.
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Delay: time.Hour, Reorder: 0.5}})
	for i := range 10 {
		require.NoError(t, a.WriteFrame(mkFrame(macB, macA, uint32(i), 64)))
		require.NoError(t, b.WriteFrame(mkFrame(macA, macB, uint32(i), 64)))
	}
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	assert.Zero(t, a.Queued())
	assert.Zero(t, b.Queued())
}
