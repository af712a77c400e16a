package relay

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// EtherTypes for frames whose payload the parser does not look into.
const (
	etExp1 uint16 = 0x88b5 // IEEE local experimental 1
	etExp2 uint16 = 0x88b6 // IEEE local experimental 2
	etExp3 uint16 = 0x88b7
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

// tag is a frame.VLAN tag for the gopacket builder: gopacket is an encoder
// independent of frame, so the demux tests do not check the
// parser against its own builder.
type tag struct {
	tpid uint16
	pcp  uint8
	dei  bool
	vid  uint16
}

// gpFrame encodes an Ethernet frame with gopacket: the tags outermost first,
// the innermost EtherType et, and the given upper layers (or a fixed raw
// payload when none). gopacket pads the frame to 60 bytes.
func gpFrame(t testing.TB, dst, src frame.MAC, tags []tag, et uint16, upper ...gopacket.SerializableLayer) []byte {
	t.Helper()
	next := func(i int) layers.EthernetType {
		if i < len(tags) {
			return layers.EthernetType(tags[i].tpid)
		}
		return layers.EthernetType(et)
	}
	ls := []gopacket.SerializableLayer{&layers.Ethernet{
		DstMAC: dst[:], SrcMAC: src[:], EthernetType: next(0),
	}}
	for i, tg := range tags {
		ls = append(ls, &layers.Dot1Q{
			Priority: tg.pcp, DropEligible: tg.dei, VLANIdentifier: tg.vid, Type: next(i + 1),
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

// ethFrame builds a frame with frame: header plus payload.
func ethFrame(dst, src frame.MAC, vlans frame.VLANs, et uint16, payload []byte) []byte {
	b := make([]byte, frame.HeaderLen(len(vlans))+len(payload))
	n := frame.PutEthernet(b, dst, src, vlans, et)
	copy(b[n:], payload)
	return b
}

// seqFrame builds a 60-byte experimental-EtherType frame carrying seq.
func seqFrame(dst, src frame.MAC, vlans frame.VLANs, et uint16, seq uint32) []byte {
	hl := frame.HeaderLen(len(vlans))
	b := ethFrame(dst, src, vlans, et, make([]byte, 60-hl))
	binary.BigEndian.PutUint32(b[hl:], seq)
	return b
}

func seqOf(p *Packet) uint32 { return binary.BigEndian.Uint32(p.Payload()) }

// fakeIO is a scripted PacketIO: ReadFrame returns what the test feeds it,
// in order, and blocks otherwise until Close. Writes are recorded. It does
// not implement BatchReader; batchIO adds that.
type fakeIO struct {
	feed      chan fed
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	written  [][]byte
	writeErr error
}

type fed struct {
	frame []byte
	err   error
}

func newFakeIO() *fakeIO {
	return &fakeIO{feed: make(chan fed, 1024), closed: make(chan struct{})}
}

// give queues frames for ReadFrame.
func (f *fakeIO) give(frames ...[]byte) {
	for _, b := range frames {
		f.feed <- fed{frame: b}
	}
}

// fail queues an error for ReadFrame.
func (f *fakeIO) fail(err error) { f.feed <- fed{err: err} }

func (f *fakeIO) ReadFrame(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	select {
	case x := <-f.feed:
		if x.err != nil {
			return copy(b, x.frame), x.err
		}
		n := copy(b, x.frame)
		if n < len(x.frame) {
			return n, backend.ErrTruncated
		}
		return n, nil
	case <-f.closed:
		return 0, net.ErrClosed
	}
}

func (f *fakeIO) WriteFrame(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	if f.writeErr != nil {
		return f.writeErr
	}
	f.written = append(f.written, append([]byte(nil), b...))
	return nil
}

func (f *fakeIO) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeIO) takeWritten() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.written
	f.written = nil
	return w
}

// batchIO is a fakeIO that is also a backend.BatchReader, returning every
// frame that is ready at once, like memio.
type batchIO struct{ *fakeIO }

func (f batchIO) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	n, err := f.ReadFrame(bufs[0])
	if err != nil && err != backend.ErrTruncated {
		return 0, err
	}
	lens[0] = n
	got := 1
	for got < len(bufs) {
		select {
		case x := <-f.feed:
			if x.err != nil {
				// Put the error back for the next call, as a real
				// backend reports it on the next read.
				f.feed <- x
				return got, nil
			}
			lens[got] = copy(bufs[got], x.frame)
			got++
			continue
		default:
		}
		break
	}
	return got, nil
}

// singleIO hides every optional interface of a PacketIO, so the relay takes
// its one-frame-per-call read path.
type singleIO struct{ pio backend.PacketIO }

func (s singleIO) ReadFrame(b []byte) (int, error) { return s.pio.ReadFrame(b) }
func (s singleIO) WriteFrame(b []byte) error       { return s.pio.WriteFrame(b) }
func (s singleIO) Close() error                    { return s.pio.Close() }

// newDirect returns a relay whose read loop waits on an idle fakeIO, so
// that the test can drive r.dispatch synchronously from its own goroutine.
func newDirect(t testing.TB, cfg Config) (*Relay, *fakeIO) {
	t.Helper()
	f := newFakeIO()
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
