//go:build linux

package afpacket_test

// Super-frames from the kernel's own stack: a UDP socket with UDP_SEGMENT
// (what quic-go uses by default) and TCP with TSO send one skb for many
// frames over a veth, and packet sockets on the other end get it whole.
// These tests check that every receive path of a Conn splits them back
// into the frames they stand for, and drops what it cannot split.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
)

// gsoFamily is an address family of the GSO tests: the emulated host's
// address (on no interface) and the kernel's.
type gsoFamily struct {
	name, network string
	emu, kern     netip.Addr
	bits          int
}

var gsoFamilies = []gsoFamily{
	{"ipv4", "udp4", netns.IPv4(1), netns.IPv4(2), 24},
	{"ipv6", "udp6", netns.IPv6(1), netns.IPv6(2), 64},
}

// gsoPeer is a veth pair whose B end (or a VLAN on it) has the kernel's
// addresses of gsoFamilies and a permanent neighbour entry for the
// emulated host's at EmuMAC, so that the kernel sends to it without ARP or
// ND.
type gsoPeer struct {
	*netns.Veth
	Kern   *netns.Link // where the kernel's addresses are
	EmuMAC net.HardwareAddr
}

// gsoStack is how the kernel's frames are tagged: by VLAN sub-interfaces
// of B, outermost first, or (tcx) by eBPF on B itself (netns.TagVLANs), for
// kernels without 802.1Q support.
type gsoStack struct {
	name string
	tags []netns.VLANTag
	tcx  bool
}

var gsoStacks = []gsoStack{
	{name: "untagged"},
	{"vlan100", []netns.VLANTag{{TPID: 0x8100, ID: 100}}, false},
	{"vlan100/tcx", []netns.VLANTag{{TPID: 0x8100, ID: 100}}, true},
	{"qinq10.20/tcx", []netns.VLANTag{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}}, true},
}

func newGSOPeer(t *testing.T, stack gsoStack) *gsoPeer {
	t.Helper()
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
	p := &gsoPeer{Veth: v, Kern: v.B, EmuMAC: netns.RandomMAC()}
	if stack.tcx {
		v.B.TagVLANs(t, stack.tags...)
	} else {
		for _, tag := range stack.tags {
			p.Kern = p.Kern.AddVLAN(t, tag.TPID, tag.ID)
		}
	}
	for _, f := range gsoFamilies {
		p.Kern.AddAddr(t, netip.PrefixFrom(f.kern, f.bits))
		p.Kern.AddNeighbor(t, f.emu, p.EmuMAC)
	}
	return p
}

// sendGSO sends payload to dst in one send from a kernel UDP socket in ns
// with UDP_SEGMENT set to size: one super-frame for len(payload)/size
// datagrams (rounded up).
func sendGSO(t *testing.T, ns *netns.NS, network string, src, dst netip.AddrPort, payload []byte, size int) {
	t.Helper()
	require.NoError(t, ns.SendUDPGSO(network, src, dst, payload, size))
}

// gsoPayload is the payload of datagram seq of a test: no two bytes of
// neighbouring datagrams alike.
func gsoPayload(n, seq int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + seq*7 + i/1000)
	}
	return b
}

// gsoReader reads a Conn one frame at a time (batch 0) or in batches.
type gsoReader struct {
	name  string
	c     *afpacket.Conn
	batch int
}

// collect reads frames from r until want of them match, or none has come
// for d, and returns those that matched; the others are skipped.
func (r gsoReader) collect(t *testing.T, want int, d time.Duration, match func(gopacket.Packet) bool) []gopacket.Packet {
	t.Helper()
	n := max(r.batch, 1)
	bufs, lens := make([][]byte, n), make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, backend.MaxFrameLen)
	}
	defer func() { _ = r.c.SetReadDeadline(time.Time{}) }()
	var got []gopacket.Packet
	for len(got) < want {
		require.NoError(t, r.c.SetReadDeadline(time.Now().Add(d)))
		k := 1
		var err error
		if r.batch == 0 {
			lens[0], err = r.c.ReadFrame(bufs[0])
		} else {
			k, err = r.c.ReadFrames(bufs, lens)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		for i := 0; i < k; i++ {
			require.LessOrEqual(t, lens[i], 1500+14+8, "%s: a frame longer than the link allows", r.name)
			pkt := gopacket.NewPacket(bytes.Clone(bufs[i][:lens[i]]), layers.LayerTypeEthernet, gopacket.Default)
			if match(pkt) {
				got = append(got, pkt)
			}
		}
	}
	return got
}

// requireTags checks that pkt has the VLAN tags of stack, in order.
func requireTags(t *testing.T, pkt gopacket.Packet, stack []netns.VLANTag) {
	t.Helper()
	var want, got []uint16
	for _, tag := range stack {
		want = append(want, tag.TPID, tag.ID)
	}
	etype := layers.EthernetType(0)
	if e, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		etype = e.EthernetType
	}
	for _, l := range pkt.Layers() {
		if d, ok := l.(*layers.Dot1Q); ok {
			got = append(got, uint16(etype), d.VLANIdentifier)
			etype = d.Type
		}
	}
	require.Equal(t, want, got, "TPIDs and VLAN IDs")
}

// udpTo matches the UDP datagrams to port.
func udpTo(port uint16) func(gopacket.Packet) bool {
	return func(pkt gopacket.Packet) bool {
		u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		return ok && uint16(u.DstPort) == port
	}
}

// requireFrameValid checks a frame with gopacket: it decodes without
// error, and its IPv4 header and transport checksums are right.
func requireFrameValid(t *testing.T, pkt gopacket.Packet) {
	t.Helper()
	require.Nil(t, pkt.ErrorLayer(), "gopacket cannot decode % x", pkt.Data())
	var in frame.Info
	require.NoError(t, frame.Parse(pkt.Data(), &in))
	if in.IPVersion == 4 {
		require.True(t, frame.IPv4ChecksumOK(pkt.Data(), &in), "IPv4 header checksum")
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.UDP:
		requireChecksumValid(t, pkt, l)
	case *layers.TCP:
		requireChecksumValid(t, pkt, l)
	default:
		t.Fatalf("no UDP or TCP in % x", pkt.Data())
	}
}

// gsoReaders opens a Conn on l for every receive path: recvmsg
// (ReadFrame), recvmmsg (ReadFrames in batches smaller and larger than a
// super-frame's segments), the frame ring, which takes super-frames from
// the socket's queue, the block ring, and the adaptive receive on either
// of its rings (ReadFrame, ReadFrames each).
// Each socket's buffer holds a TCP test's stream.
func gsoReaders(t *testing.T, l *netns.Link) []gsoReader {
	ring := afpacket.Config{Ring: &afpacket.RingConfig{}}
	sock := afpacket.Config{Receive: afpacket.ReceiveSocket, ReadBufferSize: 8 << 20}
	frames := afpacket.Config{Receive: afpacket.ReceiveFrameRing, ReadBufferSize: 8 << 20}
	adaptive := afpacket.Config{ReadBufferSize: 8 << 20}
	return []gsoReader{
		{"adaptive", open(t, l, adaptive), 0},
		{"adaptive-blocks/5", open(t, l, afpacket.OnBlocksOnly(adaptive)), 5},
		{"recvmsg", open(t, l, sock), 0},
		{"recvmmsg/3", open(t, l, sock), 3},
		{"recvmmsg/64", open(t, l, sock), 64},
		{"frames", open(t, l, frames), 0},
		{"frames/5", open(t, l, frames), 5},
		{"ring", open(t, l, ring), 0},
		{"ring/5", open(t, l, ring), 5},
	}
}

// TestGSOSplitKernelUDP sends UDP from kernel sockets with UDP_SEGMENT over
// a veth: 4 × 1,000 bytes, 40 × 1,400 and 3 × 1,000 + 1 in one send each,
// over IPv4 and IPv6, untagged and from a VLAN sub-interface. Every receive
// path must return exactly the datagrams sent, in order, byte for byte,
// each in a frame of its own with the lengths and checksums of one (checked
// by gopacket), the VLAN tag in place, and count the super-frames split.
func TestGSOSplitKernelUDP(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	for _, stack := range gsoStacks {
		t.Run(stack.name, func(t *testing.T) {
			t.Parallel()
			p := newGSOPeer(t, stack)
			readers := gsoReaders(t, p.A)
			port := uint16(7000)
			for _, fam := range gsoFamilies {
				for _, tc := range []struct{ size, count, last int }{{1000, 4, 1000}, {1400, 40, 1400}, {1000, 4, 1}} {
					port++
					name := fmt.Sprintf("%s/%d×%d+%d", fam.name, tc.count-1, tc.size, tc.last)
					var payload [][]byte
					var all []byte
					for i := 0; i < tc.count; i++ {
						n := tc.size
						if i == tc.count-1 {
							n = tc.last
						}
						payload = append(payload, gsoPayload(n, i))
						all = append(all, payload[i]...)
					}
					before := make([]afpacket.GSOStats, len(readers))
					for i, r := range readers {
						before[i] = r.c.GSOStats()
					}
					sendGSO(t, p.Kern.NS, fam.network, netip.AddrPortFrom(fam.kern, 0), netip.AddrPortFrom(fam.emu, port), all, tc.size)
					for i, r := range readers {
						t.Run(name+"/"+r.name, func(t *testing.T) {
							got := r.collect(t, tc.count, 2*time.Second, udpTo(port))
							require.Len(t, got, tc.count, "one frame a datagram")
							require.Empty(t, r.collect(t, 1, 50*time.Millisecond, udpTo(port)), "a frame more than datagrams sent")
							for j, pkt := range got {
								requireFrameValid(t, pkt)
								require.Equal(t, payload[j], pkt.TransportLayer().LayerPayload(), "datagram %d", j)
								require.Equal(t, []byte(p.EmuMAC), pkt.Data()[:6])
								requireTags(t, pkt, stack.tags)
							}
							st := r.c.GSOStats()
							assert.Equal(t, before[i].Split+1, st.Split, "the kernel sent one super-frame: the test tests the split")
							assert.Equal(t, before[i].Segments+uint64(tc.count), st.Segments)
							assert.Equal(t, before[i].Dropped, st.Dropped)
						})
					}
				}
			}
		})
	}
}

// TestGSOSplitRUDP is TestGSOSplitKernelUDP through the whole stack: a
// relay on an afpacket Conn, an etherconn.Conn and a rudp.Conn on it, the
// emulated host, read 4 and 40 datagrams from one super-frame each.
func TestGSOSplitRUDP(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	p := newGSOPeer(t, gsoStacks[0])
	for i, fam := range gsoFamilies {
		t.Run(fam.name, func(t *testing.T) {
			emuAddr := netip.AddrPortFrom(fam.emu, uint16(41000+i))
			emu := newEmulatedHost(t, p.A, p.EmuMAC, nil, emuAddr, p.Kern.MAC)
			buf := make([]byte, 2048)
			for _, tc := range []struct{ size, count int }{{1000, 4}, {1400, 40}} {
				var all []byte
				for j := 0; j < tc.count; j++ {
					all = append(all, gsoPayload(tc.size, j)...)
				}
				sendGSO(t, p.Kern.NS, fam.network, netip.AddrPortFrom(fam.kern, 9000), emuAddr, all, tc.size)
				for j := 0; j < tc.count; j++ {
					require.NoError(t, emu.udp.SetReadDeadline(time.Now().Add(3*time.Second)))
					n, from, err := emu.udp.ReadFromUDPAddrPort(buf)
					require.NoError(t, err, "datagram %d of %d (relay %+v)", j, tc.count, emu.r.Stats())
					require.Equal(t, gsoPayload(tc.size, j), buf[:n], "datagram %d of %d", j, tc.count)
					require.Equal(t, netip.AddrPortFrom(fam.kern, 9000), from)
				}
				require.NoError(t, emu.udp.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
				_, _, err := emu.udp.ReadFromUDPAddrPort(buf)
				require.ErrorIs(t, err, os.ErrDeadlineExceeded, "one datagram too many")
			}
			assert.Zero(t, emu.udp.Stats().BadChecksum)
		})
	}
}

// TestGSOSplitKernelTCP streams TCP between two kernel sockets over a veth
// (B sends to A) and reads the stream's frames with every receive path on
// A: TSO super-frames must come split into frames a wire could carry, with
// right checksums, the sequence numbers following on, the stream whole.
func TestGSOSplitKernelTCP(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, nil)
	aIP, bIP := netns.IPv4(1), netns.IPv4(2)
	v.A.AddAddr(t, netip.PrefixFrom(aIP, 24))
	v.B.AddAddr(t, netip.PrefixFrom(bIP, 24))
	v.A.AddNeighbor(t, bIP, v.B.MAC)
	v.B.AddNeighbor(t, aIP, v.A.MAC)
	readers := gsoReaders(t, v.A)
	const size = 256 << 10
	stream := gsoPayload(size, 1)

	var ln net.Listener
	require.NoError(t, v.A.NS.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(aIP, 0).String())
		return err
	}))
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = io.Copy(io.Discard, c)
			c.Close()
		}
		done <- err
	}()
	var conn net.Conn
	require.NoError(t, v.B.NS.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 2*time.Second)
		return err
	}))
	port := uint16(conn.LocalAddr().(*net.TCPAddr).Port)
	_, err := conn.Write(stream)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.NoError(t, <-done)

	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) {
			var data []byte
			var isn uint32
			got := r.collect(t, 1<<20, 500*time.Millisecond, func(pkt gopacket.Packet) bool {
				tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				return ok && uint16(tcp.SrcPort) == port
			})
			for i, pkt := range got {
				requireFrameValid(t, pkt)
				tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp.SYN {
					isn = tcp.Seq + 1
				}
				if len(tcp.Payload) == 0 {
					continue
				}
				require.LessOrEqual(t, len(tcp.Payload), 1460, "frame %d", i)
				// A busy machine may make TCP send some again: bytes seen
				// before must be the same, and none may be missing.
				off := int(tcp.Seq - isn)
				require.LessOrEqual(t, off, len(data), "frame %d: a gap in the stream", i)
				end := off + len(tcp.Payload)
				require.LessOrEqual(t, end, len(stream), "frame %d: past the end of the stream", i)
				require.Equal(t, stream[off:end], tcp.Payload, "frame %d: bytes %d to %d", i, off, end)
				if end > len(data) {
					data = stream[:end]
				}
			}
			require.Len(t, data, len(stream), "the stream, frame by frame")
			assert.Positive(t, r.c.GSOStats().Split, "no super-frame came: the test did not test the split")
			assert.Zero(t, r.c.GSOStats().Dropped)
		})
	}
}

// TestGSOUnsplittableDropped sends super-frames a Conn cannot split, which
// it must drop and count, never returning them as frames: a VXLAN tunnel's
// (the kernel describes it as UDP segmentation, but of the inner datagram:
// the partial checksum is the inner one), one that a BPF filter's snap
// length cuts, and one longer than a ring block.
func TestGSOUnsplittableDropped(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	p := newGSOPeer(t, gsoStacks[0])
	fam := gsoFamilies[0]
	// VXLAN from the kernel's address to the emulated one, through B.
	inner := netip.MustParsePrefix("198.19.0.2/24")
	peer := netip.MustParseAddr("198.19.0.1")
	vx := &netns.Link{NS: p.Kern.NS, Name: "vx" + p.Kern.Name[1:], MAC: netns.RandomMAC()}
	p.Kern.NS.MustIP(t, "link", "add", vx.Name, "address", vx.MAC.String(), "type", "vxlan", "id", "42", "dstport", "4789",
		"local", fam.kern.String(), "remote", fam.emu.String(), "dev", p.Kern.Name)
	p.Kern.NS.MustIP(t, "link", "set", vx.Name, "up")
	vx.AddAddr(t, inner)
	vx.AddNeighbor(t, peer, netns.RandomMAC())

	cut := []bpf.RawInstruction{{Op: 0x06, K: 200}} // ret #200: every frame cut to 200 bytes
	ring := &afpacket.RingConfig{}
	for _, tc := range []struct {
		name        string
		cfg         afpacket.Config
		vxlan       bool
		count, size int
	}{
		{"vxlan/recvmmsg", afpacket.Config{Receive: afpacket.ReceiveSocket}, true, 4, 1000},
		{"vxlan/frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}, true, 4, 1000},
		{"vxlan/adaptive", afpacket.Config{}, true, 4, 1000},
		{"vxlan/adaptive-blocks", afpacket.OnBlocksOnly(afpacket.Config{}), true, 4, 1000},
		{"vxlan/ring", afpacket.Config{Ring: ring}, true, 4, 1000},
		{"snap length/recvmmsg", afpacket.Config{Receive: afpacket.ReceiveSocket, Filter: cut}, false, 4, 1000},
		{"snap length/frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing, Filter: cut}, false, 4, 1000},
		{"snap length/adaptive", afpacket.Config{Filter: cut}, false, 4, 1000},
		{"snap length/adaptive-blocks", afpacket.OnBlocksOnly(afpacket.Config{Filter: cut}), false, 4, 1000},
		{"snap length/ring", afpacket.Config{Filter: cut, Ring: ring}, false, 4, 1000},
		{"ring block", afpacket.Config{Ring: &afpacket.RingConfig{BlockSize: 16 << 10}}, false, 40, 1400},
	} {
		src, dst := netip.AddrPortFrom(fam.kern, 0), netip.AddrPortFrom(fam.emu, 7)
		if tc.vxlan {
			src, dst = netip.AddrPortFrom(inner.Addr(), 0), netip.AddrPortFrom(peer, 7)
		}
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, p.A, tc.cfg)
			sendGSO(t, p.Kern.NS, "udp4", src, dst, gsoPayload(tc.count*tc.size, 0), tc.size)
			// The reads see the drop; then no more frames come.
			isUDP := func(pkt gopacket.Packet) bool { return pkt.Layer(layers.LayerTypeUDP) != nil }
			r := gsoReader{tc.name, c, 8}
			frames := 0
			for end := time.Now().Add(3 * time.Second); c.GSOStats().Dropped == 0 && time.Now().Before(end); {
				frames += len(r.collect(t, 1, 20*time.Millisecond, isUDP))
			}
			frames += len(r.collect(t, 1, 50*time.Millisecond, isUDP))
			require.Equal(t, uint64(1), c.GSOStats().Dropped, "the super-frame was not dropped: %+v", c.GSOStats())
			assert.Zero(t, frames, "a frame of a dropped super-frame came through")
			assert.Zero(t, c.GSOStats().Split)
		})
	}
}

// TestWriteWithVnetHeader sends through the main socket alone (the
// send-only socket closed), which has PACKET_VNET_HDR and so takes a vnet
// header in front of every frame: WriteFrame and WriteFrames must send
// every frame as given, also one whose first bytes read as a vnet header
// asking for segmentation, and fail a frame too long as before.
func TestWriteWithVnetHeader(t *testing.T) {
	t.Parallel()
	a, b, v := pair(t, afpacket.Config{}, afpacket.Config{})
	require.True(t, afpacket.HasVnet(a))
	afpacket.DropTx(a)
	require.False(t, afpacket.HasTx(a))
	frames := seqFrames(v, 20, 100)
	frames = append(frames, mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 1500, 20))
	// A destination MAC that a kernel expecting a vnet header would take
	// for flags NEEDS_CSUM, gso_type UDP_L4 and gso_size 1000.
	vnetLike := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 100, 21)
	copy(vnetLike, []byte{0x01, 0x05, 0x2a, 0x00, 0xe8, 0x03})
	frames = append(frames, vnetLike)
	for _, f := range frames {
		require.NoError(t, a.WriteFrame(f))
	}
	writeAll(t, a, frames)
	for round := 0; round < 2; round++ {
		for i, f := range frames {
			got, err := read(t, b, 2*time.Second)
			require.NoError(t, err, "round %d frame %d", round, i)
			require.Equal(t, f, got, "round %d frame %d", round, i)
		}
	}
	long := mkFrame(v.B.MAC, v.A.MAC, nil, etherTest, 1600, 0)
	require.ErrorIs(t, a.WriteFrame(long), backend.ErrFrameTooLong)
	_, err := a.WriteFrames([][]byte{long})
	require.ErrorIs(t, err, backend.ErrFrameTooLong)
	expectNothing(t, b, 100*time.Millisecond)
}

// BenchmarkReadGSO reads super-frames of 40 × 1,400 bytes that a kernel
// UDP socket with UDP_SEGMENT sends over a veth, split by ReadFrames
// (batches of 64), on the socket and on the ring: the receive side of a
// quic-go peer's traffic. Rounds of 16 super-frames are sent with the timer
// stopped, then read; pkts/s counts the datagrams read.
func BenchmarkReadGSO(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"recvmmsg", afpacket.Config{Receive: afpacket.ReceiveSocket, ReadBufferSize: 32 << 20}},
		{"frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing, ReadBufferSize: 32 << 20}},
		{"adaptive", afpacket.Config{ReadBufferSize: 32 << 20}},
		{"ring", afpacket.Config{Ring: &afpacket.RingConfig{}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := netns.NewVeth(b, nil)
			emuMAC, emu, kern := netns.RandomMAC(), netns.IPv4(1), netns.IPv4(2)
			v.B.AddAddr(b, netip.PrefixFrom(kern, 24))
			v.B.AddNeighbor(b, emu, emuMAC)
			c := open(b, v.A, tc.cfg)
			const perSend, size, sends = 40, 1400, 16
			payload := gsoPayload(perSend*size, 0)
			bufs, lens := make([][]byte, 64), make([]int, 64)
			for i := range bufs {
				bufs[i] = make([]byte, backend.MaxFrameLen)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			var elapsed time.Duration
			for done := 0; done < b.N; {
				b.StopTimer()
				for i := 0; i < sends; i++ {
					require.NoError(b, v.B.NS.SendUDPGSO("udp4", netip.AddrPortFrom(kern, 0), netip.AddrPortFrom(emu, 9), payload, size))
				}
				require.NoError(b, c.SetReadDeadline(time.Now().Add(5*time.Second)))
				b.StartTimer()
				start := time.Now()
				for got := 0; got < sends*perSend; {
					n, err := c.ReadFrames(bufs, lens)
					require.NoError(b, err, "after %d of %d frames (%+v)", got, sends*perSend, c.GSOStats())
					got += n
				}
				elapsed += time.Since(start)
				done += sends * perSend
			}
			b.StopTimer()
			b.ReportMetric(float64(c.GSOStats().Segments)/elapsed.Seconds(), "pkts/s")
		})
	}
}
