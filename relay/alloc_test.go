package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

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
