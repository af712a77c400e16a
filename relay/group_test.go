package relay

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
)

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
