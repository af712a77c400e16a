package relay

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
)

// TestPacketSlicesEndWithFrame: a received packet's slices cannot be
// resliced into the pooled buffer's earlier contents, which hold frames of
// other endpoints (before, reslicing Frame to its capacity showed them in
// 50 of 50 reads).
func TestPacketSlicesEndWithFrame(t *testing.T) {
	r, wire := newWire(t, Config{}, memio.Config{})
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	big := seqFrame(macA, macR, nil, etExp1, 1)
	big = append(big, make([]byte, 1400)...)
	for i := range big[20:] {
		big[20+i] = 0xee // a secret of endpoint A's
	}
	for i := range 50 {
		require.NoError(t, wire.WriteFrame(big))
		readWithin(t, a).Release()
		require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, uint32(i))))
		p := readWithin(t, b)
		for name, s := range map[string][]byte{"Frame": p.Frame(), "Payload": p.Payload()} {
			assert.Equal(t, len(s), cap(s), "%s of read %d reaches past the frame", name, i)
			assert.NotContains(t, string(s[:cap(s)]), "\xee\xee\xee\xee", "%s of read %d", name, i)
		}
		p.Release()
	}
}

// TestUDPPayloadCap checks UDPPayload's capacity on a parsed UDP frame.
func TestUDPPayloadCap(t *testing.T) {
	b := make([]byte, 200)
	n := frame.PutEthernet(b, macA, macR, nil, frame.EtherTypeIPv4)
	h := frame.UDPHeader{Src: netip.MustParseAddrPort("198.18.0.2:9"), Dst: netip.MustParseAddrPort("198.18.0.1:53")}
	m, err := frame.PutUDP(b[n:], &h, 3)
	require.NoError(t, err)
	p, err := copyPacket(append(b[:n+m:n+m], 0, 0, 0, 0)) // Ethernet padding after it
	require.NoError(t, err)
	defer p.Release()
	u := p.UDPPayload()
	assert.Len(t, u, 3)
	assert.Equal(t, len(u), cap(u))
}
