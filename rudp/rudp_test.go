package rudp_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// host is one emulated station: a relay on one end of a memio pipe and an
// etherconn.Conn on VLAN 100.
type host struct {
	r  *relay.Relay
	ec *etherconn.Conn
}

func newHosts(t testing.TB) (a, b host) {
	t.Helper()
	pa, pb := memio.Pipe(memio.Config{QueueLen: 1024})
	vlans, err := frame.ParseVLANs("100")
	require.NoError(t, err)
	mk := func(p *memio.Port, mac net.HardwareAddr) host {
		r := relay.New(p, relay.Config{})
		t.Cleanup(func() { r.Close() })
		ec, err := etherconn.New(r, etherconn.Config{MAC: mac, VLANs: vlans, Broadcast: true})
		require.NoError(t, err)
		return host{r, ec}
	}
	return mk(pa, macA), mk(pb, macB)
}

// onWire returns an etherconn.Conn with cfg on a relay over one end of a
// memio pipe, and the other end, on which the test writes frames by hand.
func onWire(t *testing.T, cfg etherconn.Config) (*etherconn.Conn, *memio.Port) {
	t.Helper()
	wire, port := memio.Pipe(memio.Config{})
	r := relay.New(port, relay.Config{})
	t.Cleanup(func() { r.Close(); wire.Close() })
	ec, err := etherconn.New(r, cfg)
	require.NoError(t, err)
	return ec, wire
}

func mustConn(t testing.TB, ec *etherconn.Conn, addr string) *rudp.Conn {
	t.Helper()
	c, err := rudp.New(ec, rudp.Config{LocalAddr: netip.MustParseAddrPort(addr)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExchange(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"ipv4", "198.18.0.1:1000", "198.18.0.2:2000"},
		{"ipv6", "[2001:db8::1]:1000", "[2001:db8::2]:2000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := newHosts(t)
			ca, cb := mustConn(t, ha.ec, tc.a), mustConn(t, hb.ec, tc.b)
			require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err := ca.WriteTo([]byte("ping"), cb.LocalAddr())
			require.NoError(t, err)
			buf := make([]byte, 100)
			n, from, err := cb.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "ping", string(buf[:n]))
			assert.Equal(t, ca.LocalAddr().String(), from.String())

			_, err = cb.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			require.NoError(t, ca.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err = ca.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "pong", string(buf[:n]))
			assert.Equal(t, cb.LocalAddr().String(), from.String())
		})
	}
}

func TestDeadlineAndClose(t *testing.T) {
	ha, _ := newHosts(t)
	c := mustConn(t, ha.ec, "198.18.0.1:1000")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, _, err := c.ReadFrom(make([]byte, 10))
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	done := testkit.Go(func() error { _, _, err := c.ReadFrom(make([]byte, 10)); return err })
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, testkit.Await(t, done, 5*time.Second, "Close did not unblock ReadFrom"), net.ErrClosed)
}

var errDeadline = os.ErrDeadlineExceeded

func TestInputEnded(t *testing.T) {
	// A finite backend: the relay's input ends at once.
	ended := testkit.NewFakeIO()
	ended.End()
	r := relay.New(ended, relay.Config{})
	t.Cleanup(func() { r.Close() })
	ec, err := etherconn.New(r, etherconn.Config{MAC: macA})
	require.NoError(t, err)
	before := mustConn(t, ec, "198.18.0.1:1")
	<-r.Done()
	after := mustConn(t, ec, "198.18.0.1:2")
	for _, c := range []*rudp.Conn{before, after} {
		_, _, err := c.ReadFrom(make([]byte, 10))
		assert.ErrorIs(t, err, relay.ErrInputEnded)
		assert.ErrorIs(t, err, io.EOF)
	}
}

// An IPv6 datagram to an IPv4-mapped address is IPv6: it must not reach a
// Conn bound to the IPv4 address.
func TestMappedIPv6NotDeliveredToIPv4(t *testing.T) {
	ec, wire := onWire(t, etherconn.Config{MAC: macB})
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
	ec, wire := onWire(t, etherconn.Config{MAC: macB, QueueLen: -1})
	c := mustConn(t, ec, "198.18.0.2:53")

	dst, src := [6]byte(macB), [6]byte(macA)
	arp := testkit.Frame(dst, src, nil, 0x0806, make([]byte, 46))
	for range 10 {
		require.NoError(t, wire.WriteFrame(arp))
	}
	require.NoError(t, wire.WriteFrame(testkit.UDPFrame(dst, src, nil,
		netip.MustParseAddrPort("198.18.0.1:9"), netip.MustParseAddrPort("198.18.0.2:53"), []byte("dns"))))
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

// TestSetReadBuffer: the receive queue is bounded in bytes by
// SetReadBuffer, as a kernel socket by SO_RCVBUF; what passes it is dropped
// and counted.
func TestSetReadBuffer(t *testing.T) {
	ha, hb := newHosts(t)
	src := mustConn(t, ha.ec, "198.18.0.1:1000")
	dst := mustConn(t, hb.ec, "198.18.0.2:2000")
	require.NoError(t, dst.SetReadBuffer(4*2048)) // four MTU-sized datagrams
	require.NoError(t, dst.SetWriteBuffer(1<<20))
	payload := make([]byte, 1400) // pins a 2 KiB buffer
	for range 10 {
		_, err := src.WriteToUDPAddrPort(payload, dst.LocalAddrPort())
		require.NoError(t, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for dst.Stats().DatagramsIn+dst.Stats().QueueDrops < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := dst.Stats()
	assert.Equal(t, uint64(4), st.DatagramsIn)
	assert.Equal(t, uint64(6), st.QueueDrops)

	assert.ErrorIs(t, dst.SetReadBuffer(-1), syscall.EINVAL)
	require.NoError(t, dst.Close())
	assert.ErrorIs(t, dst.SetReadBuffer(1), net.ErrClosed)
	assert.ErrorIs(t, dst.SetWriteBuffer(1), net.ErrClosed)
}
