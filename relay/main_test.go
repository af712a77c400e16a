package relay

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// EtherTypes for frames whose payload the parser does not look into: the
// kit's two local experimental ones, and a third for tests that need one
// more (0x88b7, the OUI extended EtherType, which no stack on the path
// handles either).
const (
	etExp1 = testkit.EtherTypeExp1
	etExp2 = testkit.EtherTypeExp2
	etExp3 = uint16(0x88b7)
)

var (
	macA  = frame.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB  = frame.MAC{0x02, 0, 0, 0, 0, 0x0b}
	macC  = frame.MAC{0x02, 0, 0, 0, 0, 0x0c}
	macD  = frame.MAC{0x02, 0, 0, 0, 0, 0x0d}
	macE  = frame.MAC{0x02, 0, 0, 0, 0, 0x0e}
	macF  = frame.MAC{0x02, 0, 0, 0, 0, 0x0f}
	macX  = frame.MAC{0x02, 0, 0, 0, 0, 0x99} // nobody's
	macR  = frame.MAC{0x02, 0, 0, 0, 0, 0xee} // the remote sender
	bcast = frame.BroadcastMAC
	mcast = frame.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
)

// memioBig is a memio link whose queue never overflows in the tests.
var memioBig = memio.Config{QueueLen: 4096}

// waitLong bounds every wait in the tests; reaching it is a failure, not a
// measurement.
const waitLong = 5 * time.Second

// gpFrame encodes an Ethernet frame with gopacket, an encoder independent
// of frame, so that the demux tests do not check the parser against its own
// builder: the tags outermost first, the innermost EtherType et, and the
// given upper layers (or a fixed raw payload when none). gopacket pads the
// frame to 60 bytes.
func gpFrame(t testing.TB, dst, src frame.MAC, tags []testkit.Tag, et uint16, upper ...gopacket.SerializableLayer) []byte {
	t.Helper()
	next := func(i int) layers.EthernetType {
		if i < len(tags) {
			return layers.EthernetType(tags[i].WireTPID())
		}
		return layers.EthernetType(et)
	}
	ls := []gopacket.SerializableLayer{&layers.Ethernet{
		DstMAC: dst[:], SrcMAC: src[:], EthernetType: next(0),
	}}
	for i, tg := range tags {
		ls = append(ls, &layers.Dot1Q{
			Priority: tg.PCP, DropEligible: tg.DEI, VLANIdentifier: tg.ID, Type: next(i + 1),
		})
	}
	if len(upper) == 0 {
		upper = []gopacket.SerializableLayer{gopacket.Payload("relay test payload")}
	}
	ls = append(ls, upper...)
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

// gpUDP4 returns IPv4+UDP layers carrying payload, for gpFrame.
func gpUDP4(payload []byte) []gopacket.SerializableLayer {
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(192, 0, 2, 1).To4(), DstIP: net.IPv4(192, 0, 2, 2).To4(),
	}
	udp := &layers.UDP{SrcPort: 1111, DstPort: 2222}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	return []gopacket.SerializableLayer{ip, udp, gopacket.Payload(payload)}
}

// seqFrame is the kit's SeqFrame of the minimum Ethernet size (60 bytes)
// for a VLAN stack given as the endpoints are configured.
func seqFrame(dst, src frame.MAC, vlans frame.VLANs, et uint16, seq uint32) []byte {
	return testkit.SeqFrame(dst, src, testkit.AsTags(vlans), et, seq, 60)
}

// seqOf returns the sequence number seqFrame put in p's frame.
func seqOf(p *Packet) uint32 {
	seq, _ := testkit.SeqOf(p.Frame())
	return seq
}

// newDirect returns a relay whose read loop waits on an idle FakeIO, so
// that the test can drive r.dispatch synchronously from its own goroutine.
func newDirect(t testing.TB, cfg Config) (*Relay, *testkit.FakeIO) {
	t.Helper()
	f := testkit.NewFakeIO()
	r := New(f, cfg)
	t.Cleanup(func() { r.Close() })
	return r, f
}

// inject runs one frame through dispatch the way the read loop does.
func inject(r *Relay, b []byte) {
	p := getPacket()
	p.n = copy(p.buf, b)
	r.dispatch(p)
	p.Release()
}

// newWire returns a relay on one end of a memio pipe and the other end,
// the "wire", through which the test sends and receives frames.
func newWire(t testing.TB, cfg Config, mcfg memio.Config) (*Relay, *memio.Port) {
	t.Helper()
	wire, port := memio.Pipe(mcfg)
	r := New(port, cfg)
	t.Cleanup(func() {
		r.Close()
		wire.Close()
	})
	return r, wire
}

func mustRegister(t testing.TB, r *Relay, cfg EndpointConfig) *Endpoint {
	t.Helper()
	ep, err := r.Register(cfg)
	require.NoError(t, err)
	return ep
}

// readWithin reads the next packet from ep, failing the test after waitLong.
func readWithin(t testing.TB, ep *Endpoint) *Packet {
	t.Helper()
	ep.SetReadDeadline(time.Now().Add(waitLong))
	defer ep.SetReadDeadline(time.Time{})
	p, err := ep.Read()
	require.NoError(t, err)
	return p
}

// popAll empties ep's queue and returns the frames it held.
func popAll(ep *Endpoint) [][]byte {
	var out [][]byte
	for p := ep.q.tryPop(); p != nil; p = ep.q.tryPop() {
		out = append(out, append([]byte(nil), p.Frame()...))
		p.Release()
	}
	return out
}

func v(id uint16) frame.VLAN        { return frame.VLAN{ID: id} }
func vt(tpid, id uint16) frame.VLAN { return frame.VLAN{TPID: tpid, ID: id} }
func ets(types ...uint16) []uint16  { return types }
