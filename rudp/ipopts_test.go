package rudp_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/frametest"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

// TestIPOptionsDelivery sends every row of the IP options and extension
// headers table (frametest.IPOptions) over a memio pipe to rudp.Conns bound
// to its destinations: a row's datagram arrives exactly when the table says
// etherconn delivers it (not when Linux would not, unless the row says why),
// and every frame the parser refused is counted in the relay's Malformed.
// The afpacket tests send the same rows to the kernel too.
func TestIPOptionsDelivery(t *testing.T) {
	pa, pb := memio.Pipe(memio.Config{QueueLen: 1024})
	defer pa.Close()
	r := relay.New(pb, relay.Config{})
	defer r.Close()
	ec, err := etherconn.New(r, etherconn.Config{MAC: macB})
	require.NoError(t, err)
	defer ec.Close()
	a := frametest.Addrs{SrcMAC: frame.MAC(macA), DstMAC: frame.MAC(macB),
		Src4: netip.MustParseAddr("198.18.0.1"), Dst4: netip.MustParseAddr("198.18.0.2"),
		Src6: netip.MustParseAddr("2001:db8::1"), Dst6: netip.MustParseAddr("2001:db8::2"),
		SrcPort: 546, DstPort: 547}
	conns := [2]net.PacketConn{
		mustConn(t, ec, netip.AddrPortFrom(a.Dst4, a.DstPort).String()),
		mustConn(t, ec, netip.AddrPortFrom(a.Dst6, a.DstPort).String()),
	}

	cases := frametest.IPOptions()
	var refused uint64
	for i, c := range cases {
		require.NoError(t, pa.WriteFrame(c.Frame(a, frametest.Payload(i))), c.Name)
		if c.Err != nil {
			refused++
		}
	}
	var got [2]map[string]bool
	for fam, v6 := range []bool{false, true} {
		require.NoError(t, pa.WriteFrame(frametest.Plain(v6).Frame(a, []byte(frametest.Last))))
		// A pipe keeps the order: nothing can come after the last.
		got[fam], err = frametest.ReceiveAll(conns[fam], 5*time.Second, 0)
		require.NoError(t, err)
	}
	for i, c := range cases {
		fam := 0
		if c.IPv6 {
			fam = 1
		}
		assert.Equal(t, c.Deliver, got[fam][string(frametest.Payload(i))], c.Name)
	}
	assert.Equal(t, refused, r.Stats().Malformed)
}
