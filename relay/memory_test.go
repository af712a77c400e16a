package relay

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
)

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
