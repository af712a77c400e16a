package rudp_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
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

// An etherconn.Conn used only through rudp can have no queue: UDP still
// reaches the rudp.Conn, everything else is dropped and counted.
func TestHandlerOnlyEtherConn(t *testing.T) {
	wire, port := memio.Pipe(memio.Config{})
	r := relay.New(port, relay.Config{})
	t.Cleanup(func() { r.Close(); wire.Close() })
	ec, err := etherconn.New(r, etherconn.Config{MAC: macB, QueueLen: -1})
	require.NoError(t, err)
	c := mustConn(t, ec, "198.18.0.2:53")

	arp := make([]byte, 60)
	copy(arp, macB)
	copy(arp[6:], macA)
	arp[12], arp[13] = 0x08, 0x06
	buf := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("198.18.0.1").To4(), DstIP: net.ParseIP("198.18.0.2").To4()}
	udp := &layers.UDP{SrcPort: 9, DstPort: 53}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload("dns")))
	for range 10 {
		require.NoError(t, wire.WriteFrame(arp))
	}
	require.NoError(t, wire.WriteFrame(buf.Bytes()))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 10)
	n, _, err := c.ReadFrom(b)
	require.NoError(t, err)
	assert.Equal(t, "dns", string(b[:n]))
	assert.Equal(t, uint64(10), ec.Stats().QueueDrops)
	require.NoError(t, ec.SetReadDeadline(time.Now()))
	_, err = ec.ReadPacket()
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing is queued on the etherconn.Conn")
}
