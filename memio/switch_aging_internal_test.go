package memio

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/testkit"
)

// agingSwitch returns a switch with n ports whose clock the test moves.
func agingSwitch(t *testing.T, cfg Config, n int) (*Switch, []*Port, *time.Duration) {
	t.Helper()
	sw := NewSwitch(cfg)
	t.Cleanup(func() { sw.Close() })
	clock := new(time.Duration)
	sw.now = func() int64 { return int64(*clock) }
	ports := make([]*Port, n)
	for i := range ports {
		p, err := sw.AddPort()
		require.NoError(t, err)
		ports[i] = p
	}
	return sw, ports, clock
}

// testFrame returns a 60-byte frame from test MAC src to test MAC dst.
func testFrame(dst, src byte) []byte {
	return testkit.PatternFrame(testkit.MAC(int(dst)), testkit.MAC(int(src)), nil, testkit.EtherTypeExp1, 60-testkit.EthernetLen)
}

// send writes a frame from port from and returns how many frames each port
// received, emptying their queues.
func send(t *testing.T, ports []*Port, from int, dst, src byte) []int {
	t.Helper()
	require.NoError(t, ports[from].WriteFrame(testFrame(dst, src)))
	got := make([]int, len(ports))
	buf := make([]byte, 100)
	for i, p := range ports {
		for p.Queued() > 0 {
			_, err := p.ReadFrame(buf)
			require.NoError(t, err)
			got[i]++
		}
	}
	return got
}

// Entries age out DefaultMACAging after the last frame from the address, as
// on a real switch: frames for an aged address flood again, and traffic from
// an address keeps its entry alive.
func TestSwitchAgingDefault(t *testing.T) {
	sw, p, clock := agingSwitch(t, Config{}, 3)
	send(t, p, 0, 0xff, 0xa) // learn A on port 0
	send(t, p, 1, 0xff, 0xb) // learn B on port 1
	assert.Equal(t, []int{1, 0, 0}, send(t, p, 2, 0xa, 0xc), "A learned")

	*clock = DefaultMACAging - time.Second
	send(t, p, 1, 0xff, 0xb) // B refreshes its entry
	*clock = DefaultMACAging + time.Second
	assert.Equal(t, []int{1, 1, 0}, send(t, p, 2, 0xa, 0xc), "A aged out: flooded")
	assert.Equal(t, []int{0, 1, 0}, send(t, p, 2, 0xb, 0xc), "B was refreshed")
	assert.Equal(t, 2, sw.Stats().Addresses, "B and C")

	send(t, p, 0, 0xff, 0xa) // A speaks again and is relearned
	assert.Equal(t, []int{1, 0, 0}, send(t, p, 2, 0xa, 0xc))
}

// A full table makes room by reclaiming aged entries, at most once per
// tenth of the aging time; negative aging never ages.
func TestSwitchAgingFreesFullTable(t *testing.T) {
	const aging = 10 * time.Second
	sw, p, clock := agingSwitch(t, Config{MACTable: 2, MACAging: aging}, 2)
	send(t, p, 0, 0xff, 0xa)
	send(t, p, 0, 0xff, 0xb)
	send(t, p, 0, 0xff, 0xc) // full: C not learned
	assert.Equal(t, SwitchStats{Addresses: 2, TableFull: 1}, sw.Stats())

	*clock = 1500 * time.Millisecond
	send(t, p, 0, 0xff, 0xb) // B refreshed: it ages out after 11.5 s
	*clock = 11 * time.Second
	send(t, p, 0, 0xff, 0xc) // A aged: the sweep gives its room to C
	assert.Equal(t, SwitchStats{Addresses: 2, TableFull: 1, Aged: 1}, sw.Stats())
	assert.Equal(t, []int{1, 0}, send(t, p, 1, 0xc, 0xd), "C learned (D is not: full)")

	// B has aged too, but the next sweep is not due before 12 s.
	*clock = 11800 * time.Millisecond
	send(t, p, 0, 0xff, 0xe)
	assert.Equal(t, SwitchStats{Addresses: 1, TableFull: 3, Aged: 1}, sw.Stats())
	*clock = 12 * time.Second
	send(t, p, 0, 0xff, 0xe)
	assert.Equal(t, SwitchStats{Addresses: 2, TableFull: 3, Aged: 2}, sw.Stats())
	assert.Equal(t, []int{1, 0}, send(t, p, 1, 0xe, 0xd), "E learned in B's room")

	never, q, nclock := agingSwitch(t, Config{MACTable: 2, MACAging: -1}, 2)
	send(t, q, 0, 0xff, 0xa)
	*nclock = 1000 * time.Hour
	assert.Equal(t, []int{1, 0}, send(t, q, 1, 0xa, 0xd), "never ages")
	assert.Equal(t, SwitchStats{Addresses: 2}, never.Stats())
}
