package rudp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

var families = []struct{ name, a, b string }{
	{"ipv4", "198.18.0.1:1000", "198.18.0.2:2000"},
	{"ipv6", "[2001:db8::1]:1000", "[2001:db8::2]:2000"},
}

// pattern returns n bytes that differ per datagram and per position, so
// that a fragment put in the wrong place or datagram shows.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seed), uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFragmentRoundTrip: datagrams from one byte over one frame up to the
// largest IP allows go out as fragments and come back whole and exact,
// by WriteTo and by WriteBatch, and what the wire carried are fragments
// that each fit the MTU.
func TestFragmentRoundTrip(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, b := newHosts(t)
			ca, cb := mustConn(t, a.ec, fam.a), mustConn(t, b.ec, fam.b)
			require.NoError(t, cb.SetReadBuffer(4<<20))
			largest := frame.MaxUDPPayload4
			oneFrame := 1500 - 28
			if fam.name == "ipv6" {
				largest, oneFrame = frame.MaxUDPPayload6, 1500-48
			}
			sizes := []int{0, oneFrame, oneFrame + 1, 3000, 8192, 9000, 20000, largest}
			buf := make([]byte, 70000)
			for i, n := range sizes {
				want := pattern(i, n)
				_, err := ca.WriteToUDPAddrPort(want, cb.LocalAddrPort())
				require.NoError(t, err, "size %d", n)
				require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
				got, from, err := cb.ReadFromUDPAddrPort(buf)
				require.NoError(t, err, "size %d", n)
				assert.Equal(t, ca.LocalAddrPort(), from)
				assert.True(t, bytes.Equal(want, buf[:got]), "size %d: got %d bytes, not what was sent", n, got)
			}
			// The same sizes in one batch.
			ms := make([]rudp.Message, len(sizes))
			for i, n := range sizes {
				ms[i] = rudp.Message{Buf: pattern(100+i, n), Addr: cb.LocalAddrPort()}
			}
			sent, err := ca.WriteBatch(ms)
			require.NoError(t, err)
			require.Equal(t, len(sizes), sent)
			for i := range sizes {
				require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
				got, _, err := cb.ReadFromUDPAddrPort(buf)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(ms[i].Buf, buf[:got]), "batch datagram %d: got %d bytes", i, got)
			}
			st := b.r.Stats().Reassembly
			assert.Equal(t, uint64(2*(len(sizes)-2)), st.Reassembled)
			assert.Zero(t, st.Invalid+st.Overlaps+st.Evicted+st.Timeouts+st.Duplicates)
			assert.Zero(t, st.Pinned, "bytes left pinned after every datagram completed")
		})
	}
}

// TestFragmentLimits: past the largest datagram IP can carry, and past
// the MTU with DontFragment, a write fails with EMSGSIZE as the kernel's.
func TestFragmentLimits(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, _ := newHosts(t)
			c := mustConn(t, a.ec, fam.a)
			dst := netip.MustParseAddrPort(fam.b)
			largest, oneFrame := frame.MaxUDPPayload4, 1500-28
			if fam.name == "ipv6" {
				largest, oneFrame = frame.MaxUDPPayload6, 1500-48
			}
			_, err := c.WriteToUDPAddrPort(make([]byte, largest+1), dst)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "%v", err)

			port := netip.MustParseAddrPort(fam.a)
			df, err := rudp.New(a.ec, rudp.Config{
				LocalAddr:    netip.AddrPortFrom(port.Addr(), port.Port()+1),
				DontFragment: true,
			})
			require.NoError(t, err)
			defer df.Close()
			_, err = df.WriteToUDPAddrPort(make([]byte, oneFrame), dst)
			assert.NoError(t, err, "a datagram that fits one frame")
			_, err = df.WriteToUDPAddrPort(make([]byte, oneFrame+1), dst)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "DontFragment: %v", err)
			n, err := df.WriteBatch([]rudp.Message{{Buf: []byte("x"), Addr: dst}, {Buf: make([]byte, oneFrame+1), Addr: dst}})
			assert.Equal(t, 1, n)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "DontFragment batch: %v", err)
		})
	}
}

// tap records a copy of every frame the relay reads, in order.
type tap struct {
	backend.PacketIO
	mu     sync.Mutex
	frames [][]byte
}

func (t *tap) ReadFrame(b []byte) (int, error) {
	n, err := t.PacketIO.ReadFrame(b)
	if err == nil {
		t.mu.Lock()
		t.frames = append(t.frames, append([]byte(nil), b[:n]...))
		t.mu.Unlock()
	}
	return n, err
}

// oracleDatagrams reassembles the UDP payloads of frames independently:
// gopacket decodes them, and fragments are put together by offset, a
// duplicate ignored, a datagram delivered once all of it came.
func oracleDatagrams(t *testing.T, frames [][]byte) [][]byte {
	type partial struct {
		pieces map[uint16][]byte
		size   int
	}
	queues := map[uint16]*partial{}
	var out [][]byte
	for _, f := range frames {
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		if ip.Flags&layers.IPv4MoreFragments == 0 && ip.FragOffset == 0 {
			if u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
				out = append(out, u.Payload)
			}
			continue
		}
		q := queues[ip.Id]
		if q == nil {
			q = &partial{pieces: map[uint16][]byte{}, size: -1}
			queues[ip.Id] = q
		}
		off := ip.FragOffset * 8
		if _, dup := q.pieces[off]; dup {
			continue
		}
		q.pieces[off] = ip.Payload
		if ip.Flags&layers.IPv4MoreFragments == 0 {
			q.size = int(off) + len(ip.Payload)
		}
		var whole []byte
		for len(whole) < q.size {
			p, ok := q.pieces[uint16(len(whole))]
			if !ok {
				break
			}
			whole = append(whole, p...)
		}
		if q.size >= 0 && len(whole) == q.size {
			require.GreaterOrEqual(t, len(whole), 8)
			out = append(out, whole[8:])
			delete(queues, ip.Id)
		}
	}
	return out
}

// TestFragmentFaults: over a link that loses, duplicates and reorders
// frames, the receiver delivers exactly the datagrams an independent
// reassembly of the frames that arrived finds, in order, byte-exact:
// never a wrong one, none missed.
func TestFragmentFaults(t *testing.T) {
	pa, pb := memio.Pipe(memio.Config{QueueLen: 8192,
		Faults: memio.Faults{Seed: 7, Loss: 0.03, Duplicate: 0.05, Reorder: 0.05}})
	tp := &tap{PacketIO: pb}
	ra, rb := relay.New(pa, relay.Config{}), relay.New(tp, relay.Config{})
	defer ra.Close()
	defer rb.Close()
	ea, err := etherconn.New(ra, etherconn.Config{MAC: macA})
	require.NoError(t, err)
	eb, err := etherconn.New(rb, etherconn.Config{MAC: macB, Broadcast: true})
	require.NoError(t, err)
	ca := mustConn(t, ea, "198.18.0.1:1000")
	cb, err := rudp.New(eb, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.2:2000"), QueueLen: 4096})
	require.NoError(t, err)
	defer cb.Close()
	require.NoError(t, cb.SetReadBuffer(256<<20))

	const count = 300
	for i := range count {
		n := 100 + (i*7919)%20000
		_, err := ca.WriteToUDPAddrPort(pattern(i, n), cb.LocalAddrPort())
		require.NoError(t, err)
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // let the receiver keep up with its queue
		}
	}
	var got [][]byte
	buf := make([]byte, 70000)
	for {
		require.NoError(t, cb.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		n, _, err := cb.ReadFromUDPAddrPort(buf)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	tp.mu.Lock()
	want := oracleDatagrams(t, tp.frames)
	tp.mu.Unlock()
	require.NotEmpty(t, want)
	require.Less(t, len(want), count+count/2)
	assert.Zero(t, cb.Stats().QueueDrops)
	require.Equal(t, len(want), len(got), "datagrams delivered vs found by the oracle; %+v %+v %+v", cb.Stats(), rb.Stats(), eb.Stats())
	for i := range want {
		require.True(t, bytes.Equal(want[i], got[i]), "datagram %d differs", i)
	}
	t.Logf("%d datagrams sent, %d delivered, reassembly %+v", count, len(got), rb.Stats().Reassembly)
}

// BenchmarkFragments sends datagrams one at a time and reads each back on
// the other relay: 1,400 bytes (one frame) against 8 KiB (6 fragments,
// fragmented by the sender and reassembled by the receiver), IPv4 and
// IPv6, in one run.
func BenchmarkFragments(b *testing.B) {
	for _, fam := range families {
		for _, size := range []int{1400, 8192} {
			b.Run(fmt.Sprintf("%s/%dB", fam.name, size), func(b *testing.B) {
				ha, hb := newHosts(b)
				ca, cb := mustConn(b, ha.ec, fam.a), mustConn(b, hb.ec, fam.b)
				payload := pattern(1, size)
				buf := make([]byte, 9000)
				dst := cb.LocalAddrPort()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := ca.WriteToUDPAddrPort(payload, dst); err != nil {
						b.Fatal(err)
					}
					if n, _, err := cb.ReadFromUDPAddrPort(buf); err != nil || n != size {
						b.Fatal(n, err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
				b.ReportMetric(float64(ha.r.Stats().FramesOut)/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}

// TestFragmentsWithOptionsAfter: an IPv6 datagram whose destination options
// header follows the Fragment header (it is part of the fragmentable part,
// RFC 8200 §4.5) reaches the socket whole: the later fragment, whose next
// header says "destination options", meets the first, which Parse reads
// through to UDP.
func TestFragmentsWithOptionsAfter(t *testing.T) {
	ec, wire := onWire(t, etherconn.Config{MAC: macB})
	c := mustConn(t, ec, "[2001:db8::2]:2000")
	src, dst := netip.MustParseAddrPort("[2001:db8::1]:1000"), c.LocalAddrPort()
	payload := pattern(3, 3000)
	udp := make([]byte, frame.IPv6Len+frame.UDPLen+len(payload))
	copy(udp[frame.IPv6Len+frame.UDPLen:], payload)
	_, err := frame.PutUDP(udp, &frame.UDPHeader{Src: src, Dst: dst}, len(payload))
	require.NoError(t, err)
	// The fragmentable part: destination options (PadN), then UDP.
	part := append([]byte{frame.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}, udp[frame.IPv6Len:]...)
	for _, cut := range [][2]int{{1000, len(part)}, {0, 1000}} { // the later one first
		off, end := cut[0], cut[1]
		ip := make([]byte, frame.IPv6Len+frame.IPv6FragmentLen)
		copy(ip, udp[:frame.IPv6Len])
		ip[6] = 44
		binary.BigEndian.PutUint16(ip[4:], uint16(frame.IPv6FragmentLen+end-off))
		fo := uint16(off)
		if end < len(part) {
			fo |= 1
		}
		ip[40] = 60 // the Fragment header's next header
		binary.BigEndian.PutUint16(ip[42:], fo)
		binary.BigEndian.PutUint32(ip[44:], 0x1234)
		f := testkit.Frame([6]byte(macB), [6]byte(macA), nil, frame.EtherTypeIPv6, append(ip, part[off:end]...))
		require.NoError(t, wire.WriteFrame(f))
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
	buf := make([]byte, 4000)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, src, from)
	assert.Equal(t, payload, buf[:n])
}
