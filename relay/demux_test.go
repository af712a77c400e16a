package relay

import (
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
)

// TestDemuxKey checks that the key is destination frame.MAC + the TPID and VID of
// every tag + the innermost EtherType, and nothing else.
func TestDemuxKey(t *testing.T) {
	r, _ := newDirect(t, Config{})
	eps := map[string]*Endpoint{
		"untagged":   mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1, frame.EtherTypeIPv4)}),
		"8100/100":   mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp1, frame.EtherTypeIPv4)}),
		"88a8/100":   mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x88a8, 100)}, EtherTypes: ets(etExp1)}),
		"9100/100":   mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x9100, 100)}, EtherTypes: ets(etExp1)}),
		"qinq":       mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x88a8, 100), v(200)}, EtherTypes: ets(etExp1)}),
		"4 tags":     mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x88a8, 1), v(2), vt(0x9100, 3), v(4)}, EtherTypes: ets(etExp1)}),
		"B 8100/100": mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: frame.VLANs{{ID: 100, PCP: 3, DEI: true}}, EtherTypes: ets(etExp2, frame.EtherTypeARP)}),
		"B vid 0":    mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: frame.VLANs{v(0)}, EtherTypes: ets(etExp2)}),
	}
	q := func(tpid, vid uint16) testkit.Tag { return testkit.Tag{TPID: tpid, ID: vid} }
	tests := []struct {
		name  string
		dst   frame.MAC
		tags  []testkit.Tag
		et    uint16
		udp   bool   // IPv4/UDP payload instead of raw bytes
		want  string // endpoint name; "" for a miss
		malfm bool
	}{
		{"untagged", macA, nil, etExp1, false, "untagged", false},
		{"untagged IPv4/UDP", macA, nil, frame.EtherTypeIPv4, true, "untagged", false},
		{"8100/100", macA, []testkit.Tag{q(0x8100, 100)}, etExp1, false, "8100/100", false},
		{"8100/100 IPv4/UDP", macA, []testkit.Tag{q(0x8100, 100)}, frame.EtherTypeIPv4, true, "8100/100", false},
		{"8100/100 PCP 7 DEI", macA, []testkit.Tag{{TPID: 0x8100, ID: 100, PCP: 7, DEI: true}}, etExp1, false, "8100/100", false},
		{"88a8/100", macA, []testkit.Tag{q(0x88a8, 100)}, etExp1, false, "88a8/100", false},
		{"88a8/100 PCP 5", macA, []testkit.Tag{{TPID: 0x88a8, ID: 100, PCP: 5}}, etExp1, false, "88a8/100", false},
		{"9100/100", macA, []testkit.Tag{q(0x9100, 100)}, etExp1, false, "9100/100", false},
		{"8100/101", macA, []testkit.Tag{q(0x8100, 101)}, etExp1, false, "", false},
		{"88a8/100 wrong EtherType", macA, []testkit.Tag{q(0x88a8, 100)}, frame.EtherTypeIPv4, true, "", false},
		{"untagged wrong EtherType", macA, nil, etExp2, false, "", false},
		{"qinq", macA, []testkit.Tag{q(0x88a8, 100), q(0x8100, 200)}, etExp1, false, "qinq", false},
		{"qinq inner 88a8", macA, []testkit.Tag{q(0x88a8, 100), q(0x88a8, 200)}, etExp1, false, "", false},
		{"qinq swapped", macA, []testkit.Tag{q(0x88a8, 200), q(0x8100, 100)}, etExp1, false, "", false},
		{"qinq outer only", macA, []testkit.Tag{q(0x88a8, 100)}, etExp2, false, "", false},
		{"qinq plus one", macA, []testkit.Tag{q(0x88a8, 100), q(0x8100, 200), q(0x8100, 300)}, etExp1, false, "", false},
		{"4 tags", macA, []testkit.Tag{q(0x88a8, 1), q(0x8100, 2), q(0x9100, 3), q(0x8100, 4)}, etExp1, false, "4 tags", false},
		{"4 tags with PCP/DEI", macA, []testkit.Tag{{TPID: 0x88a8, ID: 1, PCP: 1}, {TPID: 0x8100, ID: 2, DEI: true}, {TPID: 0x9100, ID: 3, PCP: 7}, q(0x8100, 4)}, etExp1, false, "4 tags", false},
		{"first 3 of 4 tags", macA, []testkit.Tag{q(0x88a8, 1), q(0x8100, 2), q(0x9100, 3)}, etExp1, false, "", false},
		{"5 tags", macA, []testkit.Tag{q(0x88a8, 1), q(0x8100, 2), q(0x9100, 3), q(0x8100, 4), q(0x8100, 5)}, etExp1, false, "", true},
		{"B other PCP", macB, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp2, false, "B 8100/100", false},
		{"B ARP EtherType", macB, []testkit.Tag{q(0x8100, 100)}, frame.EtherTypeARP, false, "B 8100/100", false},
		{"B untagged", macB, nil, etExp2, false, "", false},
		{"B priority tag", macB, []testkit.Tag{{TPID: 0x8100, ID: 0, PCP: 6}}, etExp2, false, "B vid 0", false},
		{"unknown MAC", macX, []testkit.Tag{q(0x8100, 100)}, etExp1, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var upper []gopacket.SerializableLayer
			if tt.udp {
				upper = gpUDP4([]byte("hello"))
			}
			b := gpFrame(t, tt.dst, macR, tt.tags, tt.et, upper...)
			before := r.Stats()
			inject(r, b)
			after := r.Stats()
			for name, ep := range eps {
				got := popAll(ep)
				if name == tt.want {
					require.Len(t, got, 1, "endpoint %q", name)
					assert.Equal(t, b, got[0], "frame delivered as received, padding included")
				} else {
					assert.Empty(t, got, "endpoint %q must not get the frame", name)
				}
			}
			assert.Equal(t, before.FramesIn+1, after.FramesIn)
			switch {
			case tt.malfm:
				assert.Equal(t, before.Malformed+1, after.Malformed)
				assert.Equal(t, before.Misses, after.Misses)
			case tt.want == "":
				assert.Equal(t, before.Misses+1, after.Misses)
				assert.Equal(t, before.Delivered, after.Delivered)
			default:
				assert.Equal(t, before.Delivered+1, after.Delivered)
				assert.Equal(t, before.Misses, after.Misses)
			}
		})
	}
}

// TestPacketInfo checks what a delivered Packet tells its reader.
func TestPacketInfo(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x88a8, 10), v(20)}, EtherTypes: ets(frame.EtherTypeIPv4)})
	payload := []byte("0123456789")
	b := gpFrame(t, macA, macR, []testkit.Tag{{TPID: 0x88a8, ID: 10, PCP: 4}, {TPID: 0x8100, ID: 20, DEI: true}}, frame.EtherTypeIPv4, gpUDP4(payload)...)
	require.Len(t, b, 60, "gopacket pads to 60 bytes")
	inject(r, b)
	p := ep.q.tryPop()
	require.NotNil(t, p)
	defer p.Release()
	assert.Equal(t, b, p.Frame())
	assert.True(t, p.Info.UDP)
	assert.Equal(t, payload, p.UDPPayload())
	assert.Len(t, p.Payload(), 20+8+len(payload), "IP padding trimmed")
	assert.Equal(t, frame.VLANs{{TPID: 0x88a8, ID: 10, PCP: 4}, {TPID: 0x8100, ID: 20, DEI: true}}, p.Info.VLANs())
	assert.Equal(t, macR, frame.SrcMAC(p.Frame()))

	// Decode what the endpoint got with gopacket, independently.
	pkt := gopacket.NewPacket(p.Frame(), layers.LayerTypeEthernet, gopacket.Default)
	udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	require.True(t, ok)
	assert.Equal(t, payload, udp.Payload)
}

func TestRegisterKeyInUse(t *testing.T) {
	r, _ := newDirect(t, Config{})
	orig := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp1, etExp2)})

	tests := []struct {
		name string
		cfg  EndpointConfig
	}{
		{"same key", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp1, etExp2)}},
		{"one EtherType", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp2)}},
		{"partial overlap", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp3, etExp1)}},
		{"PCP/DEI differ", EndpointConfig{MAC: macA, VLANs: frame.VLANs{{ID: 100, PCP: 5, DEI: true}}, EtherTypes: ets(etExp1)}},
		{"explicit 0x8100", EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x8100, 100)}, EtherTypes: ets(etExp1)}},
		{"group opt-in differs", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp1), Broadcast: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := r.Register(tt.cfg)
			assert.ErrorIs(t, err, ErrKeyInUse)
			assert.Nil(t, ep)
		})
	}
	// Nothing was overridden or half-registered.
	inject(r, seqFrame(macA, macR, frame.VLANs{v(100)}, etExp1, 1))
	inject(r, seqFrame(macA, macR, frame.VLANs{v(100)}, etExp2, 2))
	assert.Len(t, popAll(orig), 2)
	inject(r, seqFrame(macA, macR, frame.VLANs{v(100)}, etExp3, 3))
	assert.Equal(t, uint64(1), r.Stats().Misses, "etExp3 of the failed partial registration must not be registered")
	// So etExp3 alone is free, as are other stacks.
	mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100)}, EtherTypes: ets(etExp3)})
	mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x88a8, 100)}, EtherTypes: ets(etExp1)})
	mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(100), v(100)}, EtherTypes: ets(etExp1)})

	// A second default endpoint is refused as well.
	def := func() (*Endpoint, error) { return r.RegisterDefault(DefaultEndpointConfig{}) }
	d1, err := def()
	require.NoError(t, err)
	_, err = def()
	assert.ErrorIs(t, err, ErrKeyInUse)
	require.NoError(t, d1.Close())
	d2, err := def()
	require.NoError(t, err, "a closed default endpoint frees the slot")
	assert.NotNil(t, d2)
}

func TestRegisterBadConfig(t *testing.T) {
	r, _ := newDirect(t, Config{})
	tests := []struct {
		name string
		cfg  EndpointConfig
	}{
		{"broadcast MAC", EndpointConfig{MAC: bcast, EtherTypes: ets(etExp1)}},
		{"multicast MAC", EndpointConfig{MAC: mcast, EtherTypes: ets(etExp1)}},
		{"no EtherType", EndpointConfig{MAC: macA}},
		{"empty EtherTypes", EndpointConfig{MAC: macA, EtherTypes: []uint16{}}},
		{"EtherType 0x8100", EndpointConfig{MAC: macA, EtherTypes: ets(0x8100)}},
		{"EtherType 0x88a8", EndpointConfig{MAC: macA, EtherTypes: ets(etExp1, 0x88a8)}},
		{"EtherType 0x9100", EndpointConfig{MAC: macA, EtherTypes: ets(0x9100)}},
		{"802.3 length", EndpointConfig{MAC: macA, EtherTypes: ets(0x05dc)}},
		{"EtherType twice", EndpointConfig{MAC: macA, EtherTypes: ets(etExp1, etExp2, etExp1)}},
		{"VID 4096", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(4096)}, EtherTypes: ets(etExp1)}},
		{"PCP 8", EndpointConfig{MAC: macA, VLANs: frame.VLANs{{ID: 1, PCP: 8}}, EtherTypes: ets(etExp1)}},
		{"bad TPID", EndpointConfig{MAC: macA, VLANs: frame.VLANs{vt(0x1234, 1)}, EtherTypes: ets(etExp1)}},
		{"5 tags", EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(1), v(2), v(3), v(4), v(5)}, EtherTypes: ets(etExp1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := r.Register(tt.cfg)
			assert.ErrorIs(t, err, ErrBadConfig)
			assert.Nil(t, ep)
		})
	}
	assert.Empty(t, r.tab.unicast)
	assert.Empty(t, r.tab.groups)
}

func TestRegisterCopiesConfig(t *testing.T) {
	r, _ := newDirect(t, Config{QueueLen: 7})
	vl := frame.VLANs{v(100)}
	et := ets(etExp1)
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: vl, EtherTypes: et})
	vl[0].ID, et[0] = 200, etExp2 // the caller reuses its slices
	inject(r, seqFrame(macA, macR, frame.VLANs{v(100)}, etExp1, 1))
	assert.Len(t, popAll(ep), 1)
	cfg := ep.Config()
	assert.Equal(t, frame.VLANs{v(100)}, cfg.VLANs)
	assert.Equal(t, ets(etExp1), cfg.EtherTypes)
	assert.Equal(t, 7, cfg.QueueLen, "the relay's queue length is the default")
}

func TestGroupDelivery(t *testing.T) {
	r, _ := newDirect(t, Config{})
	vl := frame.VLANs{v(100)}
	e1 := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: vl, EtherTypes: ets(etExp1), Broadcast: true})
	e2 := mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: vl, EtherTypes: ets(etExp1, etExp2), Broadcast: true, Multicast: true})
	e3 := mustRegister(t, r, EndpointConfig{MAC: macC, VLANs: vl, EtherTypes: ets(etExp1)})
	e4 := mustRegister(t, r, EndpointConfig{MAC: macD, VLANs: frame.VLANs{v(200)}, EtherTypes: ets(etExp1), Broadcast: true})
	e5 := mustRegister(t, r, EndpointConfig{MAC: macE, VLANs: frame.VLANs{vt(0x88a8, 100)}, EtherTypes: ets(etExp1), Broadcast: true, Multicast: true})
	e6 := mustRegister(t, r, EndpointConfig{MAC: macF, VLANs: vl, EtherTypes: ets(etExp3), Multicast: true})
	e7 := mustRegister(t, r, EndpointConfig{MAC: macF, EtherTypes: ets(etExp1), Broadcast: true})
	all := []*Endpoint{e1, e2, e3, e4, e5, e6, e7}

	tests := []struct {
		name string
		dst  frame.MAC
		tags []testkit.Tag
		et   uint16
		want []*Endpoint
	}{
		{"bcast 100", bcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp1, []*Endpoint{e1, e2}},
		{"bcast 100 PCP 3", bcast, []testkit.Tag{{TPID: 0x8100, ID: 100, PCP: 3}}, etExp1, []*Endpoint{e1, e2}},
		{"bcast 100 second EtherType", bcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp2, []*Endpoint{e2}},
		{"mcast 100", mcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp1, []*Endpoint{e2}},
		{"other mcast 100", frame.MAC{0x33, 0x33, 0, 0, 0, 1}, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp1, []*Endpoint{e2}},
		{"mcast 100 etExp3", mcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp3, []*Endpoint{e6}},
		{"bcast 100 etExp3 (e6 multicast only)", bcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp3, nil},
		{"bcast 200", bcast, []testkit.Tag{{TPID: 0x8100, ID: 200}}, etExp1, []*Endpoint{e4}},
		{"mcast 200 (e4 broadcast only)", mcast, []testkit.Tag{{TPID: 0x8100, ID: 200}}, etExp1, nil},
		{"bcast 88a8/100", bcast, []testkit.Tag{{TPID: 0x88a8, ID: 100}}, etExp1, []*Endpoint{e5}},
		{"mcast 88a8/100", mcast, []testkit.Tag{{TPID: 0x88a8, ID: 100}}, etExp1, []*Endpoint{e5}},
		{"bcast untagged", bcast, nil, etExp1, []*Endpoint{e7}},
		{"bcast qinq", bcast, []testkit.Tag{{TPID: 0x88a8, ID: 100}, {TPID: 0x8100, ID: 100}}, etExp1, nil},
		{"bcast 100 unknown EtherType", bcast, []testkit.Tag{{TPID: 0x8100, ID: 100}}, 0x88b8, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.Stats()
			inject(r, gpFrame(t, tt.dst, macR, tt.tags, tt.et))
			after := r.Stats()
			for i, ep := range all {
				n := len(popAll(ep))
				if contains(tt.want, ep) {
					assert.Equal(t, 1, n, "e%d", i+1)
				} else {
					assert.Zero(t, n, "e%d must not get it", i+1)
				}
			}
			assert.Equal(t, before.Delivered+uint64(len(tt.want)), after.Delivered, "counted once per endpoint")
			if len(tt.want) == 0 {
				assert.Equal(t, before.Misses+1, after.Misses)
			} else {
				assert.Equal(t, before.Misses, after.Misses)
			}
		})
	}

	// A closed endpoint leaves its groups; the others stay.
	require.NoError(t, e1.Close())
	inject(r, gpFrame(t, bcast, macR, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp1))
	assert.Len(t, popAll(e2), 1)
	require.NoError(t, e2.Close())
	inject(r, gpFrame(t, bcast, macR, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp1))
	inject(r, gpFrame(t, mcast, macR, []testkit.Tag{{TPID: 0x8100, ID: 100}}, etExp3))
	assert.Len(t, popAll(e6), 1)
	assert.NotContains(t, r.tab.groups, groupKey{etExp1, frame.VLANs{v(100)}.Key()}, "an empty group is deleted")
	assert.NotContains(t, r.tab.groups, groupKey{etExp2, frame.VLANs{v(100)}.Key()})
}

func contains(eps []*Endpoint, ep *Endpoint) bool {
	for _, e := range eps {
		if e == ep {
			return true
		}
	}
	return false
}

func TestDefaultEndpoint(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1), Broadcast: true})
	matched := seqFrame(macA, macR, nil, etExp1, 1)
	unmatched := seqFrame(macB, macR, nil, etExp1, 2)
	bcastNobody := seqFrame(bcast, macR, frame.VLANs{v(9)}, etExp1, 3)
	bcastEp := seqFrame(bcast, macR, nil, etExp1, 4)
	malformed := []byte{1, 2, 3}

	// Without a default endpoint, misses are counted.
	for _, b := range [][]byte{matched, unmatched, bcastNobody, bcastEp, malformed} {
		inject(r, b)
	}
	assert.Len(t, popAll(ep), 2)
	st := r.Stats()
	assert.Equal(t, uint64(2), st.Misses)
	assert.Equal(t, uint64(1), st.Malformed)

	// A default endpoint gets what nobody else wanted, well-formed only.
	def, err := r.RegisterDefault(DefaultEndpointConfig{})
	require.NoError(t, err)
	for _, b := range [][]byte{matched, unmatched, bcastNobody, bcastEp, malformed} {
		inject(r, b)
	}
	assert.Len(t, popAll(ep), 2)
	assert.Equal(t, [][]byte{unmatched, bcastNobody}, popAll(def))
	assert.Equal(t, uint64(2), r.Stats().Misses, "no more misses")
	assert.Equal(t, uint64(2), def.Stats().FramesIn)
	require.NoError(t, def.Close())
	require.NoError(t, def.Close(), "idempotent")

	// With Mirror it gets every well-formed frame; the others still do.
	def, err = r.RegisterDefault(DefaultEndpointConfig{Mirror: true, QueueLen: 16})
	require.NoError(t, err)
	for _, b := range [][]byte{matched, unmatched, bcastNobody, bcastEp, malformed} {
		inject(r, b)
	}
	assert.Len(t, popAll(ep), 2)
	assert.Equal(t, [][]byte{matched, unmatched, bcastNobody, bcastEp}, popAll(def))
	require.NoError(t, def.Close())

	// Closed: misses again.
	inject(r, unmatched)
	assert.Equal(t, uint64(3), r.Stats().Misses)
}

func TestQueueFullDrops(t *testing.T) {
	r, _ := newDirect(t, Config{QueueLen: 3})
	small := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	big := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1), QueueLen: 10, Broadcast: true})
	for i := range 8 {
		inject(r, seqFrame(macA, macR, nil, etExp1, uint32(i)))
		inject(r, seqFrame(macB, macR, nil, etExp1, uint32(i)))
	}
	assert.Equal(t, 3, small.Queued())
	assert.Equal(t, 8, big.Queued())
	st := r.Stats()
	assert.Equal(t, uint64(5), st.QueueDrops)
	assert.Equal(t, uint64(11), st.Delivered)
	assert.Equal(t, uint64(5), small.Stats().QueueDrops)
	assert.Equal(t, uint64(3), small.Stats().FramesIn)
	assert.Zero(t, big.Stats().QueueDrops)

	// The oldest frames are kept, in order.
	for i := range 3 {
		p := small.q.tryPop()
		require.NotNil(t, p)
		assert.Equal(t, uint32(i), seqOf(p))
		p.Release()
	}
	// Room again.
	inject(r, seqFrame(macA, macR, nil, etExp1, 100))
	p := small.q.tryPop()
	require.NotNil(t, p)
	assert.Equal(t, uint32(100), seqOf(p))
	p.Release()

	// A broadcast counts a drop only for the full endpoint.
	for range 2 {
		inject(r, seqFrame(bcast, macR, nil, etExp1, 7))
	}
	assert.Equal(t, 10, big.Queued())
	assert.Equal(t, uint64(0), big.Stats().QueueDrops)
	inject(r, seqFrame(bcast, macR, nil, etExp1, 7))
	assert.Equal(t, uint64(1), big.Stats().QueueDrops)
	assert.Equal(t, uint64(6), r.Stats().QueueDrops)
}

// TestSlowConsumerDoesNotStall runs end to end: an endpoint that is never
// read must not hold up another one.
func TestSlowConsumerDoesNotStall(t *testing.T) {
	r, wire := newWire(t, Config{QueueLen: 2}, memioBig)
	slow := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	fast := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1), QueueLen: 1000})
	const n = 300
	for i := range n {
		require.NoError(t, wire.WriteFrame(seqFrame(macA, macR, nil, etExp1, uint32(i))))
		require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, uint32(i))))
	}
	for i := range n {
		p := readWithin(t, fast)
		assert.Equal(t, uint32(i), seqOf(p))
		p.Release()
	}
	// The last frame for slow came before the last one for fast, so all
	// were dispatched.
	assert.Equal(t, 2, slow.Queued())
	assert.Equal(t, uint64(n-2), slow.Stats().QueueDrops)
	assert.Equal(t, uint64(n-2), r.Stats().QueueDrops)
	assert.Zero(t, r.Stats().Backend.Dropped, "the backend never had to drop")
}

func TestMalformed(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(1)}, EtherTypes: ets(frame.EtherTypeIPv4, frame.EtherTypeIPv6, etExp1)})
	def, err := r.RegisterDefault(DefaultEndpointConfig{Mirror: true})
	require.NoError(t, err)

	good := gpFrame(t, macA, macR, []testkit.Tag{{TPID: 0x8100, ID: 1}}, frame.EtherTypeIPv4, gpUDP4([]byte("x"))...)
	const l3 = 18
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"1 byte", []byte{0x02}},
		{"13 bytes", good[:13]},
		{"TPID only", good[:14]},
		{"tag without EtherType", good[:16]},
		{"tag, EtherType cut", good[:17]},
		{"second tag truncated", testkit.Frame(macA, macR, testkit.Dot1Q(1), 0x8100, []byte{0, 2})},
		{"5 tags", testkit.Frame(macA, macR, testkit.Dot1Q(1, 2, 3, 4), 0x8100, []byte{0, 5, 0x88, 0xb5})},
		{"IPv4 too short", good[:l3+19]},
		{"IPv4 version 5", mod(func(b []byte) []byte { b[l3] = 0x55; return b })},
		{"IPv4 IHL 4", mod(func(b []byte) []byte { b[l3] = 0x44; return b })},
		{"IPv4 IHL past frame", mod(func(b []byte) []byte { b[l3] = 0x4f; return b[:l3+40] })},
		{"IPv4 total length past frame", mod(func(b []byte) []byte { b[l3+2], b[l3+3] = 0x05, 0xdc; return b })},
		{"IPv4 total length below IHL", mod(func(b []byte) []byte { b[l3+2], b[l3+3] = 0, 19; return b })},
		{"UDP length past IP", mod(func(b []byte) []byte { b[l3+20+4], b[l3+20+5] = 0, 200; return b })},
		{"UDP length below 8", mod(func(b []byte) []byte { b[l3+20+4], b[l3+20+5] = 0, 7; return b })},
		{"IPv6 too short", testkit.Frame(macA, macR, testkit.Dot1Q(1), frame.EtherTypeIPv6, make([]byte, 39))},
		{"IPv6 payload length past frame", testkit.Frame(macA, macR, testkit.Dot1Q(1), frame.EtherTypeIPv6, append([]byte{0x60, 0, 0, 0, 0, 100, 17, 64}, make([]byte, 32)...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.Stats()
			require.NotPanics(t, func() { inject(r, tt.b) })
			after := r.Stats()
			assert.Equal(t, before.Malformed+1, after.Malformed)
			assert.Equal(t, before.Delivered, after.Delivered)
			assert.Equal(t, before.Misses, after.Misses)
			assert.Zero(t, ep.Queued())
			assert.Zero(t, def.Queued(), "not even mirrored")
		})
	}
	// The unmodified frame is fine.
	inject(r, good)
	assert.Len(t, popAll(ep), 1)
	popAll(def)
}

// TestMalformedRandom throws random bytes and random mutations of good
// frames at the parser: nothing may panic, and every frame is counted once.
func TestMalformedRandom(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(1)}, EtherTypes: ets(frame.EtherTypeIPv4, frame.EtherTypeIPv6)})
	def, err := r.RegisterDefault(DefaultEndpointConfig{QueueLen: 1})
	require.NoError(t, err)
	good := gpFrame(t, macA, macR, []testkit.Tag{{TPID: 0x8100, ID: 1}}, frame.EtherTypeIPv4, gpUDP4([]byte("some payload bytes"))...)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	for i := range n {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, rng.IntN(120))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if len(b) > 14 && rng.IntN(2) == 0 {
				b[12], b[13] = 0x81, 0x00
			}
		} else {
			b = append([]byte(nil), good[:rng.IntN(len(good)+1)]...)
			for range rng.IntN(4) {
				if len(b) > 0 {
					b[rng.IntN(len(b))] = byte(rng.Uint32())
				}
			}
		}
		require.NotPanics(t, func() { inject(r, b) })
		popAll(ep)
		popAll(def)
	}
	st := r.Stats()
	assert.Equal(t, uint64(n), st.FramesIn)
	assert.Equal(t, uint64(n), st.Malformed+st.Delivered+st.QueueDrops+st.Misses)
}

// TestTruncatedRead checks that a frame the backend had to truncate is
// counted as malformed and that the relay keeps reading.
func TestTruncatedRead(t *testing.T) {
	f := testkit.NewFakeIO()
	r := New(f, Config{})
	defer r.Close()
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	f.Give(make([]byte, backend.MaxFrameLen+1)) // longer than the relay's buffer
	f.Give(seqFrame(macA, macR, nil, etExp1, 1))
	p := readWithin(t, ep)
	p.Release()
	st := r.Stats()
	assert.Equal(t, uint64(2), st.FramesIn)
	assert.Equal(t, uint64(1), st.Malformed)
}

// A queued frame pins a buffer of its own size class, not a full-size one:
// 50,000 endpoints with full queues of small frames must fit in memory.
func TestQueuedFramesPinSmallBuffers(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(frame.EtherTypeARP, etExp1)})
	for _, tc := range []struct {
		size, wantCap int
	}{
		{60, 256}, {256, 256}, {257, 2048}, {1514, 2048}, {2049, classSizes[2]},
	} {
		p := getPacket()
		p.n = copy(p.buf, gpFrame(t, macA, macB, nil, etExp1))
		p.n = tc.size
		r.dispatch(p)
		got := ep.q.tryPop()
		require.NotNil(t, got, "size %d", tc.size)
		assert.Equal(t, tc.wantCap, cap(got.buf), "size %d", tc.size)
		assert.Equal(t, p.buf[:tc.size], got.Frame())
		if tc.size <= 2048 {
			assert.Equal(t, int32(1), p.refs.Load(), "the read buffer stays the read loop's")
		}
		got.Release()
		p.Release()
	}
}

func TestNoQueue(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(frame.EtherTypeARP), QueueLen: -1})
	inject(r, testkit.Frame(macA, macB, nil, frame.EtherTypeARP, make([]byte, 46)))
	assert.Zero(t, ep.Queued())
	assert.Equal(t, uint64(1), ep.Stats().QueueDrops)
}

// An 802.3 frame (length, not EtherType, in the type field) must not match
// the unused EtherType slots of an endpoint.
func TestLengthFieldMatchesNothing(t *testing.T) {
	r, _ := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(frame.EtherTypeIPv4)})
	for _, et := range []uint16{0, 46, 0x05ff} {
		inject(r, testkit.Frame(macA, macB, nil, et, make([]byte, 46)))
	}
	assert.Zero(t, ep.Queued())
	assert.Equal(t, uint64(3), r.Stats().Misses)
}

// TestRegisterGroup: a group endpoint gets each broadcast or multicast
// frame of its stack once, beside the opted-in endpoints, and no unicast.
func TestRegisterGroup(t *testing.T) {
	r, _ := newDirect(t, Config{})
	vl := frame.VLANs{v(100)}
	g, err := r.RegisterGroup(GroupConfig{VLANs: vl, EtherTypes: ets(etExp1), Broadcast: true, Multicast: true})
	require.NoError(t, err)
	bcastOnly, err := r.RegisterGroup(GroupConfig{VLANs: vl, EtherTypes: ets(etExp1), Broadcast: true})
	require.NoError(t, err)
	// 1,000 unicast endpoints on the stack that did not opt in.
	for i := range 1000 {
		mustRegister(t, r, EndpointConfig{MAC: benchMAC(i), VLANs: vl, EtherTypes: ets(etExp1)})
	}
	mcast := frame.MAC{0x33, 0x33, 0xff, 0, 0, 1}
	inject(r, seqFrame(frame.BroadcastMAC, macR, vl, etExp1, 1))
	inject(r, seqFrame(mcast, macR, vl, etExp1, 2))
	inject(r, seqFrame(frame.BroadcastMAC, macR, frame.VLANs{v(200)}, etExp1, 3)) // other stack
	inject(r, seqFrame(frame.BroadcastMAC, macR, vl, etExp2, 4))                  // other EtherType
	inject(r, seqFrame(benchMAC(1), macR, vl, etExp1, 5))                         // unicast
	assert.Len(t, popAll(g), 2)
	assert.Len(t, popAll(bcastOnly), 1)
	assert.Equal(t, uint64(3), r.Stats().Delivered-1, "two to g, one to bcastOnly, one unicast")

	_, err = r.RegisterGroup(GroupConfig{VLANs: vl, EtherTypes: ets(etExp1)})
	assert.ErrorIs(t, err, ErrBadConfig, "neither broadcast nor multicast")
	_, err = r.RegisterGroup(GroupConfig{VLANs: vl, Broadcast: true})
	assert.ErrorIs(t, err, ErrBadConfig, "no EtherType")

	require.NoError(t, g.Close())
	inject(r, seqFrame(frame.BroadcastMAC, macR, vl, etExp1, 6))
	assert.Len(t, popAll(bcastOnly), 1)
	require.NoError(t, r.Close())
	assert.True(t, bcastOnly.Closed(), "the relay's Close closes group endpoints too")
}
