package etherconn_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a relay on one end (port) of a memio pipe; wire is the other end.
type rig struct {
	r          *relay.Relay
	port, wire *memio.Port
}

func newRig(t *testing.T) rig {
	port, wire := memio.Pipe(memio.Config{})
	r := relay.New(port, relay.Config{})
	t.Cleanup(func() { r.Close(); wire.Close() })
	return rig{r, port, wire}
}

func newRelay(t *testing.T) *relay.Relay { return newRig(t).r }

// conn returns a Conn at mac1 on the rig's relay.
func (g rig) conn(t *testing.T) *etherconn.Conn {
	t.Helper()
	c, err := etherconn.New(g.r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	return c
}

var mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}

func TestNewErrors(t *testing.T) {
	r := newRelay(t)
	_, err := etherconn.New(r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		cfg  etherconn.Config
		want error
	}{
		{"short MAC", etherconn.Config{MAC: net.HardwareAddr{1, 2, 3}}, nil},
		{"group MAC", etherconn.Config{MAC: net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}}, relay.ErrBadConfig},
		{"taken", etherconn.Config{MAC: mac1}, relay.ErrKeyInUse},
		{"one EtherType taken", etherconn.Config{MAC: mac1, EtherTypes: []uint16{0x88b5, frame.EtherTypeIPv4}}, relay.ErrKeyInUse},
		{"VID 4096", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 4096}}}, relay.ErrBadConfig},
		{"PCP 8", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 1, PCP: 8}}}, relay.ErrBadConfig},
		{"bad TPID", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 1, TPID: 0x1234}}}, relay.ErrBadConfig},
		{"five tags", etherconn.Config{MAC: mac1, VLANs: make(frame.VLANs, 5)}, relay.ErrBadConfig},
		{"TPID as EtherType", etherconn.Config{MAC: mac1, EtherTypes: []uint16{0x8100}}, relay.ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := etherconn.New(r, tc.cfg)
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	// Same MAC, other VLAN stack or other TPID: a different key.
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 100}}})
	require.NoError(t, err)
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 100, TPID: 0x88a8}}})
	require.NoError(t, err)
}

func TestWriteErrors(t *testing.T) {
	c, err := etherconn.New(newRelay(t), etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	_, err = c.WriteToMAC([]byte("x"), net.HardwareAddr{1}, 0x88b5)
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	_, err = c.WriteToFrom([]byte("x"), mac1, 0x88b5, nil, nil)
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	_, err = c.WriteToFrom([]byte("x"), mac1, 0x88b5, mac1, frame.VLANs{{ID: 5000}})
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe)

	require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = c.WriteToMAC([]byte("x"), mac1, 0x88b5)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	_, err = c.WriteToMAC([]byte("x"), mac1, 0x88b5)
	assert.NoError(t, err)
}

func TestReadDeadlineAndClose(t *testing.T) {
	r := newRelay(t)
	c, err := etherconn.New(r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, _, err = c.ReadFrom(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	done := testkit.Go(func() error { _, _, err := c.ReadFrom(make([]byte, 10)); return err })
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, testkit.Await(t, done, 5*time.Second, "Close did not unblock ReadFrom"), net.ErrClosed)
	// Closing frees the key.
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1})
	assert.NoError(t, err)
}

func TestAddrString(t *testing.T) {
	a := &etherconn.Addr{MAC: mac1, VLANs: frame.VLANs{{ID: 100}, {ID: 200, PCP: 3}}, EtherType: 0x0800}
	assert.Equal(t, "02:00:00:00:00:01%100.200/p3#0x0800", a.String())
	assert.Equal(t, "ether", a.Network())
	assert.Equal(t, "02:00:00:00:00:01", (&etherconn.Addr{MAC: mac1}).String())
}

// taker is an attached handler that queues what it takes and remembers
// how the endpoint ended (List returns that).
type taker struct {
	q *relay.Queue
	testkit.Errors
}

func (h *taker) Handle(p *relay.Packet) bool { return h.q.Push(p) }
func (h *taker) EndpointEnded(err error)     { h.Add(err) }

var (
	mac2     = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	protoUDP = etherconn.Protocol{EtherType: frame.EtherTypeIPv4, IPProto: frame.ProtoUDP}
	protoV4  = etherconn.Protocol{EtherType: frame.EtherTypeIPv4}
)

// pair returns a Conn at mac1 on a relay over one end of a memio pipe, and
// the other end.
func pair(t *testing.T) (*etherconn.Conn, *memio.Port) {
	g := newRig(t)
	return g.conn(t), g.wire
}

// udpFrame is an IPv4/UDP frame from mac2 to mac1.
func udpFrame(payload string) []byte {
	return testkit.UDPFrame([6]byte(mac1), [6]byte(mac2), nil,
		netip.MustParseAddrPort("198.18.0.2:9"), netip.MustParseAddrPort("198.18.0.1:53"), []byte(payload))
}

func pop(t *testing.T, q *relay.Queue) *relay.Packet {
	t.Helper()
	q.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := q.Pop()
	require.NoError(t, err)
	return p
}

func TestAttachDispatch(t *testing.T) {
	c, wire := pair(t)
	udp := &taker{q: c.NewQueue(0)}
	v4 := &taker{q: c.NewQueue(0)}
	require.NoError(t, c.Attach(protoUDP, udp))
	require.NoError(t, c.Attach(protoV4, v4))

	// UDP goes to the IP-protocol handler, another IPv4 packet to the
	// EtherType's, ARP to the Conn's own queue.
	require.NoError(t, wire.WriteFrame(udpFrame("dns")))
	p := pop(t, udp.q)
	assert.Equal(t, "dns", string(p.UDPPayload()))
	p.Release()

	icmp := udpFrame("ping")
	icmp[14+9] = 1 // protocol ICMP; the parser does not check the IPv4 checksum
	require.NoError(t, wire.WriteFrame(icmp))
	p = pop(t, v4.q)
	assert.Equal(t, uint8(1), p.Info.Proto)
	p.Release()

	require.NoError(t, wire.WriteFrame(testkit.Frame([6]byte(mac1), [6]byte(mac2), nil, frame.EtherTypeARP, make([]byte, 46))))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	p, err := c.ReadPacket()
	require.NoError(t, err)
	assert.Equal(t, frame.EtherTypeARP, p.Info.Key.EtherType)
	p.Release()

	// Detached, UDP falls back to the EtherType's handler.
	c.Detach(protoUDP)
	require.NoError(t, wire.WriteFrame(udpFrame("again")))
	p = pop(t, v4.q)
	assert.Equal(t, "again", string(p.UDPPayload()))
	p.Release()
}

func TestAttachErrors(t *testing.T) {
	c, _ := pair(t)
	h := &taker{q: c.NewQueue(0)}
	require.NoError(t, c.Attach(protoUDP, h))
	assert.ErrorIs(t, c.Attach(protoUDP, h), etherconn.ErrAttached)
	assert.ErrorIs(t, c.Attach(etherconn.Protocol{EtherType: frame.EtherTypeARP, IPProto: 17}, h), etherconn.ErrBadAddr)
	assert.ErrorIs(t, c.Attach(etherconn.Protocol{EtherType: 0x8100}, h), etherconn.ErrBadAddr)
	assert.Error(t, c.Attach(protoV4, nil))

	got, loaded, err := c.LoadOrAttach(protoUDP, func() relay.Handler { t.Fatal("made a second handler"); return nil })
	require.NoError(t, err)
	assert.True(t, loaded)
	assert.Same(t, h, got)

	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Attach(protoV4, h), net.ErrClosed)
}

// TestLoadOrAttachRace: racing callers agree on one handler.
func TestLoadOrAttachRace(t *testing.T) {
	c, _ := pair(t)
	const n = 16
	got := make([]relay.Handler, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h, _, err := c.LoadOrAttach(protoUDP, func() relay.Handler { return &taker{} })
			assert.NoError(t, err)
			got[i] = h
		})
	}
	wg.Wait()
	for _, h := range got {
		assert.Same(t, got[0], h)
	}
}

// TestAttachedLearnEnd: a handler attached for two protocols hears of the
// end once, and one attached after the end still hears of it.
func TestAttachedLearnEnd(t *testing.T) {
	g := newRig(t)
	c := g.conn(t)
	h := &taker{q: c.NewQueue(0)}
	require.NoError(t, c.Attach(protoUDP, h))
	require.NoError(t, c.Attach(etherconn.Protocol{EtherType: frame.EtherTypeIPv6, IPProto: 17}, h))

	g.port.Close() // the relay's input ends under it
	<-g.r.Done()
	require.Len(t, h.List(), 1)
	assert.ErrorIs(t, h.List()[0], relay.ErrInputEnded)

	late := &taker{q: c.NewQueue(0)}
	require.NoError(t, c.Attach(protoV4, late))
	require.Len(t, late.List(), 1)
	assert.ErrorIs(t, late.List()[0], relay.ErrInputEnded)

	require.NoError(t, c.Close())
	assert.ErrorIs(t, h.List()[len(h.List())-1], net.ErrClosed)
}

// TestNewQueueReaderLed: a reader of a queue made with NewQueue reads the
// backend itself when nobody else does (memio has read deadlines).
func TestNewQueueReaderLed(t *testing.T) {
	g := newRig(t)
	c := g.conn(t)
	h := &taker{q: c.NewQueue(0)}
	require.NoError(t, c.Attach(protoUDP, h))
	for i := range 50 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			pop(t, h.q).Release()
		}()
		time.Sleep(time.Millisecond) // let the reader block first
		require.NoError(t, g.wire.WriteFrame(udpFrame("x")), "frame %d", i)
		<-done
	}
	assert.NotZero(t, g.r.Stats().ReaderFrames, "no frame was read by a blocked reader")
}

// TestNewFrame builds a frame in place and checks it with the parser.
func TestNewFrame(t *testing.T) {
	c, wire := pair(t)
	f := c.NewFrame(frame.MAC(mac2), 0x88b5)
	assert.Equal(t, c.HeaderLen(), len(f.Bytes(0)))
	n := copy(f.Payload(), "in place")
	require.NoError(t, c.WriteFrame(f.Bytes(n)))
	f.Release()

	buf := make([]byte, 1600)
	require.NoError(t, wire.SetReadDeadline(time.Now().Add(5*time.Second)))
	m, err := wire.ReadFrame(buf)
	require.NoError(t, err)
	var in frame.Info
	require.NoError(t, frame.Parse(buf[:m], &in))
	assert.Equal(t, frame.MAC(mac2), in.Key.MAC)
	assert.Equal(t, frame.MAC(mac1), frame.SrcMAC(buf[:m]))
	assert.Equal(t, "in place", string(buf[in.L3:m]))

	allocs := testing.AllocsPerRun(100, func() {
		f := c.NewFrame(frame.MAC(mac2), 0x88b5)
		n := copy(f.Payload(), "in place")
		_ = c.WriteFrame(f.Bytes(n))
		f.Release()
		_, _ = wire.ReadFrame(buf)
	})
	// The race detector makes sync.Pool drop a share of what is put back
	// on purpose, so pooled frames are made again now and then.
	if !testkit.RaceEnabled {
		assert.Zero(t, allocs)
	}
}

// TestCloseAfterRelayClose: the user's first Close succeeds even when the
// relay was closed first, as net.UDPConn's first Close does.
func TestCloseAfterRelayClose(t *testing.T) {
	g := newRig(t)
	c := g.conn(t)
	require.NoError(t, g.r.Close())
	_, err := c.ReadPacket()
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.NoError(t, c.Close(), "first Close")
	err = c.Close()
	assert.ErrorIs(t, err, net.ErrClosed, "second Close")
	var oe *net.OpError
	assert.True(t, errors.As(err, &oe))
	assert.False(t, errors.Is(err, io.EOF))
}
