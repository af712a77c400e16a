package rudp_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// An IPv6 datagram to an IPv4-mapped address is IPv6: it must not reach a
// Conn bound to the IPv4 address.
func TestMappedIPv6NotDeliveredToIPv4(t *testing.T) {
	wire, port := memio.Pipe(memio.Config{})
	r := relay.New(port, relay.Config{})
	t.Cleanup(func() { r.Close(); wire.Close() })
	ec, err := etherconn.New(r, etherconn.Config{MAC: macB})
	require.NoError(t, err)
	c4 := mustConn(t, ec, "198.18.0.2:53")
	cw := mustConn(t, ec, "0.0.0.0:67")

	for _, dst := range []string{"::ffff:198.18.0.2", "::ffff:0.0.0.0"} {
		ip6 := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP(dst)}
		udp := &layers.UDP{SrcPort: 9, DstPort: 53}
		if dst == "::ffff:0.0.0.0" {
			udp.DstPort = 67
		}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ip6))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip6, udp, gopacket.Payload("v6")))
		require.NoError(t, wire.WriteFrame(buf.Bytes()))
	}
	for _, c := range []*rudp.Conn{c4, cw} {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, _, err := c.ReadFrom(make([]byte, 10))
		assert.ErrorIs(t, err, errDeadline, "%v got an IPv6 datagram", c.LocalAddr())
	}
}

func TestClosedEtherConn(t *testing.T) {
	ha, _ := newHosts(t)
	require.NoError(t, ha.ec.Close())
	err := ha.ec.Close()
	assert.ErrorIs(t, err, net.ErrClosed, "second Close")
	assert.ErrorIs(t, ha.ec.SetReadDeadline(time.Now()), net.ErrClosed)
	_, err = rudp.New(ha.ec, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:1")})
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = ha.ec.WriteToMAC([]byte("x"), macB, 0x88b5)
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestOpErrorFields(t *testing.T) {
	ha, hb := newHosts(t)
	c := mustConn(t, ha.ec, "198.18.0.1:1000")
	dst := mustConn(t, hb.ec, "198.18.0.2:2000").LocalAddr()
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, _, err := c.ReadFrom(make([]byte, 1))
	var oe *net.OpError
	require.True(t, errors.As(err, &oe))
	assert.Equal(t, "read", oe.Op)
	assert.Equal(t, "udp4", oe.Net)
	assert.Equal(t, c.LocalAddr().String(), oe.Source.String(), "as net.UDPConn: Source is the local address")
	assert.Nil(t, oe.Addr)

	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err = c.WriteTo([]byte("x"), dst)
	require.True(t, errors.As(err, &oe))
	assert.Equal(t, "write", oe.Op)
	assert.Equal(t, dst.String(), oe.Addr.String(), "write errors name the destination")
	assert.True(t, oe.Timeout())
}
