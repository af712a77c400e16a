package frame_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/frametest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ipoptAddrs are the addresses of the table's frames here.
var ipoptAddrs = frametest.Addrs{
	SrcMAC: frame.MAC{2, 0, 0, 0, 0, 1}, DstMAC: frame.MAC{2, 0, 0, 0, 0, 2},
	Src4: netip.MustParseAddr("192.0.2.1"), Dst4: netip.MustParseAddr("192.0.2.2"),
	Src6: netip.MustParseAddr("2001:db8::1"), Dst6: netip.MustParseAddr("2001:db8::2"),
	SrcPort: 40000, DstPort: 547,
}

// TestIPOptionsTable parses every row of the IP options and extension
// headers table: Parse refuses the frame with the row's error, or parses it
// and finds the UDP datagram exactly when the row says etherconn delivers
// it. The afpacket tests check the table's Linux column against the running
// kernel.
func TestIPOptionsTable(t *testing.T) {
	payload := []byte("ip options and extension headers")
	for _, c := range frametest.IPOptions() {
		t.Run(c.Name, func(t *testing.T) {
			b := c.Frame(ipoptAddrs, payload)
			b = b[:len(b):len(b)] // a read past len(b) panics
			orig := bytes.Clone(b)
			var in frame.Info
			err := frame.Parse(b, &in)
			require.Equal(t, orig, b, "Parse modified the frame")
			if c.Err != nil {
				require.ErrorIs(t, err, c.Err)
				return
			}
			require.NoError(t, err)
			require.Empty(t, frame.InfoProblem(b, &in))
			require.Equal(t, c.Deliver, in.UDP)
			if !in.UDP {
				return
			}
			assert.Equal(t, payload, b[in.Payload:in.PayloadEnd])
			assert.Equal(t, ipoptAddrs.DstPort, in.DstPort)
			assert.True(t, frame.UDPChecksumOK(b, &in))
			if in.IPVersion == 4 {
				assert.True(t, frame.IPv4ChecksumOK(b, &in))
			}
		})
	}
}
