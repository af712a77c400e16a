package memio_test

import (
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/memio"
)

func newSwitch(t *testing.T, n int) (*memio.Switch, []*memio.Port) {
	t.Helper()
	return newSwitchConfig(t, memio.Config{}, n)
}

// newSwitchConfig returns a switch configured by cfg with n ports, closed
// when the test ends.
func newSwitchConfig(t *testing.T, cfg memio.Config, n int) (*memio.Switch, []*memio.Port) {
	t.Helper()
	sw := memio.NewSwitch(cfg)
	t.Cleanup(func() { sw.Close() })
	ports := make([]*memio.Port, n)
	for i := range ports {
		p, err := sw.AddPort()
		require.NoError(t, err)
		ports[i] = p
	}
	return sw, ports
}

// queued reports how many frames wait at each port.
func queued(ports ...*memio.Port) []int {
	q := make([]int, len(ports))
	for i, p := range ports {
		q[i] = p.Queued()
	}
	return q
}

func drain(ports ...*memio.Port) {
	buf := make([]byte, 2000)
	for _, p := range ports {
		for p.Queued() > 0 {
			_, _ = p.ReadFrame(buf)
		}
	}
}

func TestSwitchForwarding(t *testing.T) {
	type send struct {
		from     int
		dst, src [6]byte
		want     []int // frames queued at ports 0, 1, 2 afterwards
	}
	tests := []struct {
		name  string
		steps []send
	}{
		{"unknown unicast floods", []send{
			{0, macB, macA, []int{0, 1, 1}},
		}},
		{"broadcast floods", []send{
			{1, bcast, macB, []int{1, 0, 1}},
		}},
		{"multicast floods even when learned elsewhere", []send{
			{0, macB, macA, []int{0, 1, 1}},
			{1, mcast, macB, []int{1, 1, 2}},
		}},
		{"learned unicast goes to one port", []send{
			{0, macB, macA, []int{0, 1, 1}}, // learns A on 0
			{1, macA, macB, []int{1, 1, 1}}, // learns B on 1
			{0, macB, macA, []int{1, 2, 1}},
			{2, macA, macC, []int{2, 2, 1}},
		}},
		{"a moved MAC is relearned", []send{
			{0, bcast, macA, []int{0, 1, 1}},
			{2, bcast, macA, []int{1, 2, 1}}, // A now behind port 2
			{1, macA, macB, []int{1, 2, 2}},
		}},
		{"destination behind ingress is filtered", []send{
			{0, bcast, macA, []int{0, 1, 1}},
			{0, macA, macC, []int{0, 1, 1}},
		}},
		{"group source is not learned", []send{
			{0, macB, mcast, []int{0, 1, 1}},
			{1, mcast, macB, []int{1, 1, 2}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := newSwitch(t, 3)
			for i, s := range tt.steps {
				require.NoError(t, p[s.from].WriteFrame(mkFrame(s.dst, s.src, uint32(i), 64)))
				require.Equal(t, s.want, queued(p...), "after step %d", i)
			}
		})
	}
}

func TestSwitchFrameIsExact(t *testing.T) {
	_, p := newSwitch(t, 2)
	want := mkFrame(bcast, macA, 5, 1514)
	require.NoError(t, p[0].WriteFrame(want))
	buf := make([]byte, 2000)
	n, err := p[1].ReadFrame(buf)
	require.NoError(t, err)
	assert.Equal(t, want, buf[:n])
}

func TestSwitchClosingPortForgetsItsMACs(t *testing.T) {
	_, p := newSwitch(t, 3)
	require.NoError(t, p[1].WriteFrame(mkFrame(bcast, macB, 0, 64))) // learn B on 1
	drain(p...)
	require.NoError(t, p[0].WriteFrame(mkFrame(macB, macA, 1, 64)))
	require.Equal(t, []int{0, 1, 0}, queued(p...))

	require.NoError(t, p[1].Close())
	require.NoError(t, p[0].WriteFrame(mkFrame(macB, macA, 2, 64)))
	assert.Equal(t, 1, p[2].Queued(), "B is unknown again, so the frame floods")
}

func TestSwitchDiscardsWhenNoPortTakesFrame(t *testing.T) {
	_, p := newSwitch(t, 1)
	require.NoError(t, p[0].WriteFrame(mkFrame(bcast, macA, 0, 64)))
	require.NoError(t, p[0].WriteFrame(mkFrame(macA, macB, 1, 64))) // A is behind p[0]
	st := p[0].Stats()
	assert.EqualValues(t, 2, st.FramesOut)
	assert.EqualValues(t, 2, st.Discarded)
	assert.Zero(t, p[0].Queued(), "never back out of the ingress port")
}

func TestSwitchClose(t *testing.T) {
	sw, p := newSwitch(t, 3)
	require.NoError(t, sw.Close())
	require.NoError(t, sw.Close(), "idempotent")
	for _, port := range p {
		_, err := port.ReadFrame(make([]byte, 64))
		require.ErrorIs(t, err, net.ErrClosed)
	}
	_, err := sw.AddPort()
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestSwitchPortsFaultsAreIndependentAndDeterministic(t *testing.T) {
	run := func() [][]uint32 {
		sw := memio.NewSwitch(memio.Config{Faults: memio.Faults{Seed: 5, Loss: 0.5}})
		defer sw.Close()
		var ports []*memio.Port
		for range 3 {
			p, err := sw.AddPort()
			require.NoError(t, err)
			ports = append(ports, p)
		}
		for i := range 100 {
			require.NoError(t, ports[0].WriteFrame(mkFrame(bcast, macA, uint32(i), 64)))
		}
		return [][]uint32{drainSeqs(t, ports[1]), drainSeqs(t, ports[2])}
	}
	r1, r2 := run(), run()
	assert.Equal(t, r1, r2)
	assert.NotEqual(t, r1[0], r1[1], "each port draws its own faults")
}

func TestSwitchConcurrency(t *testing.T) {
	const n, frames = 4, 200
	sw := memio.NewSwitch(memio.Config{QueueLen: n * frames})
	var ports []*memio.Port
	for range n {
		p, err := sw.AddPort()
		require.NoError(t, err)
		ports = append(ports, p)
	}
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Go(func() {
			src := [6]byte{0x02, 0, 0, 0, 1, byte(i)}
			for j := range frames {
				dst := bcast
				if j%2 == 1 {
					dst = [6]byte{0x02, 0, 0, 0, 1, byte((i + 1) % n)}
				}
				if err := p.WriteFrame(mkFrame(dst, src, uint32(j), 64)); err != nil {
					assert.ErrorIs(t, err, net.ErrClosed)
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 100)
			for {
				if _, err := p.ReadFrame(buf); err != nil {
					return
				}
			}
		})
	}
	// Ports closing while others write must not race or panic.
	require.NoError(t, ports[n-1].Close())
	_, err := sw.AddPort()
	require.NoError(t, err)
	require.NoError(t, sw.Close())
	wg.Wait()
}
