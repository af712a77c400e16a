package frametest_test

import (
	"net/netip"
	"testing"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/frametest"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTable checks the table's own rules: unique names, a reason wherever
// etherconn and Linux differ and nowhere else, no delivery of a frame Parse
// refuses.
func TestTable(t *testing.T) {
	names := map[string]bool{}
	for _, c := range frametest.IPOptions() {
		assert.False(t, names[c.Name], "two rows named %q", c.Name)
		names[c.Name] = true
		assert.Equal(t, c.Linux != c.Deliver, c.Why != "", "%s: Why must say why, exactly where etherconn and Linux differ", c.Name)
		assert.False(t, c.Err != nil && c.Deliver, "%s: delivered although Parse refuses it", c.Name)
	}
}

// TestFrameChecksums checks the checksums of the table's frames, so that no
// row is dropped for a wrong one instead of for what it tests: the IPv4
// header's of every IPv4 row, and the UDP checksum with gopacket, a decoder
// independent of frame, wherever it finds the datagram.
func TestFrameChecksums(t *testing.T) {
	a := frametest.Addrs{
		SrcMAC: frame.MAC{2, 0, 0, 0, 0, 1}, DstMAC: frame.MAC{2, 0, 0, 0, 0, 2},
		Src4: netip.MustParseAddr("192.0.2.1"), Dst4: netip.MustParseAddr("192.0.2.2"),
		Src6: netip.MustParseAddr("2001:db8::1"), Dst6: netip.MustParseAddr("2001:db8::2"),
		SrcPort: 1, DstPort: 2,
	}
	udps := 0
	for _, c := range frametest.IPOptions() {
		b := c.Frame(a, []byte("checked by gopacket"))
		if !c.IPv6 {
			assert.True(t, frame.IPv4ChecksumOK(b, &frame.Info{L3: frame.EthernetLen}), "%s: IPv4 header checksum", c.Name)
		}
		pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			continue
		}
		udps++
		require.NoError(t, u.SetNetworkLayerForChecksum(pkt.NetworkLayer()), c.Name)
		err, res := u.VerifyChecksum()
		require.NoError(t, err, c.Name)
		assert.True(t, res.Valid, "%s: UDP checksum", c.Name)
	}
	t.Logf("gopacket decoded the UDP datagram of %d rows", udps)
	require.Positive(t, udps)
}
