//go:build linux

package afpacket_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// TestHarnessOpenPair uses the harness the way a conformance factory will.
func TestHarnessOpenPair(t *testing.T) {
	t.Parallel()
	a, b, v := netns.OpenPair(t, func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	}, nil)
	want := mkFrame(v.B.MAC, v.A.MAC, []testkit.Tag{testkit.TagFromTCI(0x88a8, 10), testkit.TagFromTCI(0x8100, 20)}, etherTest, 40, 1)
	require.NoError(t, a.WriteFrame(want))
	got, err := read(t, b.(*afpacket.Conn), 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestKernelUDPInterop sends a UDP datagram from an emulated endpoint to a
// kernel socket and back.
func TestKernelUDPInterop(t *testing.T) {
	t.Parallel()
	k := netns.NewKernelPeer(t, 9000)
	emuMAC, emuIP, kernIP, srv := k.EmuMAC, k.EmuIP, k.KernelIP, k.Server
	c := open(t, k.A, afpacket.Config{})

	eth := &layers.Ethernet{SrcMAC: emuMAC, DstMAC: k.B.MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: emuIP.AsSlice(), DstIP: kernIP.AsSlice()}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9000}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload("hello kernel")))
	require.NoError(t, c.WriteFrame(buf.Bytes()))

	require.NoError(t, srv.SetReadDeadline(time.Now().Add(2*time.Second)))
	p := make([]byte, 100)
	n, from, err := srv.ReadFromUDPAddrPort(p)
	require.NoError(t, err)
	require.Equal(t, "hello kernel", string(p[:n]))
	require.Equal(t, netip.AddrPortFrom(emuIP, 40000), from)

	_, err = srv.WriteToUDPAddrPort([]byte("hello emulated"), from)
	require.NoError(t, err)
	frame, err := read(t, c, 2*time.Second)
	require.NoError(t, err)
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, pkt.ErrorLayer())
	require.Equal(t, emuMAC, pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).DstMAC)
	u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	require.True(t, ok)
	require.Equal(t, layers.UDPPort(40000), u.DstPort)
	require.Equal(t, "hello emulated", string(u.Payload))
}

// emulatedHost is an endpoint that exists on no interface: a relay on an
// afpacket.Conn, an etherconn.Conn with its own MAC and VLAN stack, and a
// rudp.Conn with an address no interface has.
type emulatedHost struct {
	r   *relay.Relay
	ec  *etherconn.Conn
	udp *rudp.Conn
}

// newEmulatedHost opens link with afpacket and puts an emulated UDP host on
// it whose next hop for every destination is gw.
func newEmulatedHost(t *testing.T, link *netns.Link, mac net.HardwareAddr, vlans frame.VLANs, local netip.AddrPort, gw net.HardwareAddr) *emulatedHost {
	t.Helper()
	p := open(t, link, afpacket.Config{})
	h := &emulatedHost{r: relay.New(p, relay.Config{})}
	t.Cleanup(func() { _ = h.r.Close() })
	var err error
	h.ec, err = etherconn.New(h.r, etherconn.Config{MAC: mac, VLANs: vlans})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.ec.Close() })
	h.udp, err = rudp.New(h.ec, rudp.Config{LocalAddr: local,
		Resolve: func(netip.Addr) (net.HardwareAddr, error) { return gw, nil }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.udp.Close() })
	return h
}

// TestRUDPKernelInterop exchanges datagrams both ways between a kernel UDP
// socket on one end of a veth pair and a rudp.Conn on the other end whose
// MAC and IP exist on no interface. The kernel side has the address and a
// permanent neighbour entry for the emulated MAC; the emulated side's
// resolver returns the kernel interface's MAC. IPv4 and IPv6, untagged, and
// with the kernel on an 802.1Q and on 802.1ad+802.1Q VLAN stacks, each made
// two ways: real sub-interfaces (these skip on kernels without
// CONFIG_VLAN_8021Q) and eBPF tagging of the plain veth end with
// netns.TagVLANs ("/tcx"; these skip without TCX), so that the VLAN paths
// run on such kernels too.
func TestRUDPKernelInterop(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	type family struct {
		name            string
		network         string
		emu, kern       netip.Addr
		bits            int
		unspecifiedPeer bool
	}
	families := []family{
		{"ipv4", "udp4", netns.IPv4(1), netns.IPv4(2), 24, false},
		{"ipv6", "udp6", netns.IPv6(1), netns.IPv6(2), 64, false},
	}
	for _, stack := range []struct {
		name  string
		vlans frame.VLANs
		// tcx puts the tags on with netns.TagVLANs instead of
		// sub-interfaces.
		tcx bool
	}{
		{"untagged", nil, false},
		{"vlan100", frame.VLANs{{ID: 100}}, false},
		{"qinq10.20", frame.VLANs{{TPID: 0x88a8, ID: 10}, {ID: 20}}, false},
		{"vlan100/tcx", frame.VLANs{{ID: 100}}, true},
		{"qinq10.20/tcx", frame.VLANs{{TPID: 0x88a8, ID: 10}, {ID: 20}}, true},
	} {
		t.Run(stack.name, func(t *testing.T) {
			t.Parallel()
			v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
			// The kernel's side: the veth end itself, tagged by eBPF or
			// not, or its VLAN sub-interfaces, outermost first.
			kern := v.B
			if stack.tcx {
				var tags []netns.VLANTag
				for _, tag := range stack.vlans {
					tags = append(tags, netns.VLANTag{TPID: tag.EffectiveTPID(), ID: tag.ID})
				}
				kern.TagVLANs(t, tags...)
			} else {
				for _, tag := range stack.vlans {
					kern = kern.AddVLAN(t, tag.EffectiveTPID(), tag.ID)
				}
			}
			emuMAC := netns.RandomMAC()
			for _, fam := range families {
				kern.AddAddr(t, netip.PrefixFrom(fam.kern, fam.bits))
				kern.AddNeighbor(t, fam.emu, emuMAC)
			}
			for i, fam := range families {
				t.Run(fam.name, func(t *testing.T) {
					srv, err := kern.NS.ListenUDP(fam.network, netip.AddrPortFrom(fam.kern, 9000))
					require.NoError(t, err)
					defer srv.Close()
					emuAddr := netip.AddrPortFrom(fam.emu, uint16(40000+i))
					// One relay per family: a second afpacket socket on the
					// same interface works as well as a shared one.
					emu := newEmulatedHost(t, v.A, emuMAC, stack.vlans, emuAddr, kern.MAC)
					// A plain socket beside the relay shows the frames as
					// they were on the wire.
					wire := &kernelFrames{c: open(t, v.A, afpacket.Config{})}
					kernAddr := netip.AddrPortFrom(fam.kern, 9000)
					buf := make([]byte, 2048)
					const rounds = 20
					for r := 0; r < rounds; r++ {
						// emulated -> kernel
						msg := fmt.Sprintf("%s %s to kernel %d", stack.name, fam.name, r)
						_, err := emu.udp.WriteToUDPAddrPort([]byte(msg), kernAddr)
						require.NoError(t, err)
						require.NoError(t, srv.SetReadDeadline(time.Now().Add(3*time.Second)))
						n, from, err := srv.ReadFromUDPAddrPort(buf)
						require.NoError(t, err, "the kernel did not receive datagram %d", r)
						require.Equal(t, msg, string(buf[:n]))
						require.Equal(t, emuAddr, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))

						// kernel -> emulated
						reply := fmt.Sprintf("%s %s from kernel %d", stack.name, fam.name, r)
						_, err = srv.WriteToUDPAddrPort([]byte(reply), from)
						require.NoError(t, err)
						require.NoError(t, emu.udp.SetReadDeadline(time.Now().Add(3*time.Second)))
						n, src, err := emu.udp.ReadFromUDPAddrPort(buf)
						require.NoError(t, err, "the emulated host did not receive datagram %d (relay %+v)", r, emu.r.Stats())
						require.Equal(t, reply, string(buf[:n]))
						require.Equal(t, kernAddr, src)
					}
					// rudp counts a datagram just after queueing it: the
					// reader may be a moment ahead of the counter.
					require.Eventually(t, func() bool { return emu.udp.Stats().DatagramsIn == rounds }, 2*time.Second, time.Millisecond)
					st := emu.udp.Stats()
					require.Equal(t, uint64(rounds), st.DatagramsOut)
					require.Zero(t, st.BadChecksum, "the kernel's checksums are right")
					requireKernelFrameTags(t, wire, kern.MAC, emuMAC, stack.vlans,
						fmt.Sprintf("%s %s from kernel %d", stack.name, fam.name, 0))
				})
			}
		})
	}
}

// requireKernelFrameTags reads from wire the kernel's frame whose UDP
// payload is payload and checks that it came from src to dst with the
// stack vlans on it, byte for byte: the outer tag, which the kernel hands
// the packet socket as metadata, restored in place.
func requireKernelFrameTags(t *testing.T, wire *kernelFrames, src, dst net.HardwareAddr, vlans frame.VLANs, payload string) {
	t.Helper()
	for {
		pkt := wire.next(t, layers.LayerTypeUDP)
		if string(pkt.Layer(layers.LayerTypeUDP).(*layers.UDP).Payload) != payload {
			continue
		}
		f := pkt.Data()
		require.Equal(t, []byte(dst), f[:6])
		require.Equal(t, []byte(src), f[6:12])
		// The tags, then the IP EtherType: no tag more or less.
		want := make([]byte, 0, 4*len(vlans)+2)
		for _, tag := range vlans {
			want = binary.BigEndian.AppendUint16(want, tag.EffectiveTPID())
			want = binary.BigEndian.AppendUint16(want, tag.TCI())
		}
		etype := layers.EthernetTypeIPv4
		if pkt.Layer(layers.LayerTypeIPv6) != nil {
			etype = layers.EthernetTypeIPv6
		}
		want = binary.BigEndian.AppendUint16(want, uint16(etype))
		require.Equal(t, want, f[12:12+len(want)], "VLAN tags on the wire")
		var wantIDs, gotIDs []uint16
		for _, tag := range vlans {
			wantIDs = append(wantIDs, tag.ID)
		}
		for _, l := range pkt.Layers() {
			if d, ok := l.(*layers.Dot1Q); ok {
				gotIDs = append(gotIDs, d.VLANIdentifier)
			}
		}
		require.Equal(t, wantIDs, gotIDs, "gopacket's Dot1Q layers")
		return
	}
}

// TestKernelChecksumOffloadCompleted captures UDP datagrams and TCP SYNs the
// kernel's own stack sends over a veth. Such frames leave the kernel with the
// transport checksum left to the (absent) hardware: only the pseudo-header
// sum is in the field, and the packet socket flags them
// TP_STATUS_CSUMNOTREADY. The Conn must complete the checksum, so that the
// frames it returns are those a wire would carry; gopacket checks them.
func TestKernelChecksumOffloadCompleted(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
	emuMAC := netns.RandomMAC()
	type fam struct {
		udp, tcp  string
		emu, kern netip.Addr
		bits      int
	}
	fams := []fam{
		{"udp4", "tcp4", netns.IPv4(1), netns.IPv4(2), 24},
		{"udp6", "tcp6", netns.IPv6(1), netns.IPv6(2), 64},
	}
	for _, f := range fams {
		v.B.AddAddr(t, netip.PrefixFrom(f.kern, f.bits))
		v.B.AddNeighbor(t, f.emu, emuMAC)
	}
	recvmmsg, ring := open(t, v.A, afpacket.Config{}), open(t, v.A, afpacket.Config{Ring: &afpacket.RingConfig{}})
	for _, rx := range []*kernelFrames{
		{c: recvmmsg, name: "recvmsg"}, {c: recvmmsg, batch: true, name: "recvmmsg"}, {c: ring, name: "ring"}, {c: ring, batch: true, name: "ring-batch"},
	} {
		for _, f := range fams {
			t.Run(fmt.Sprintf("%s %s", f.udp, rx.name), func(t *testing.T) {
				srv, err := v.B.NS.ListenUDP(f.udp, netip.AddrPortFrom(f.kern, 0))
				require.NoError(t, err)
				defer srv.Close()
				for _, size := range []int{0, 1, 33, 1000} {
					_, err := srv.WriteToUDPAddrPort(make([]byte, size), netip.AddrPortFrom(f.emu, 7))
					require.NoError(t, err)
					pkt := rx.next(t, layers.LayerTypeUDP)
					u := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
					require.Len(t, u.Payload, size)
					requireChecksumValid(t, pkt, u)
				}
			})
			t.Run(fmt.Sprintf("%s SYN %s", f.tcp, rx.name), func(t *testing.T) {
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = v.B.NS.Do(func() error {
						d := net.Dialer{Timeout: 300 * time.Millisecond}
						conn, err := d.Dial(f.tcp, netip.AddrPortFrom(f.emu, 80).String())
						if err == nil {
							conn.Close()
						}
						return nil
					})
				}()
				defer func() { <-done }()
				pkt := rx.next(t, layers.LayerTypeTCP)
				tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				require.True(t, tcp.SYN)
				requireChecksumValid(t, pkt, tcp)
			})
		}
	}
}

// kernelFrames reads frames from c one by one or in batches.
type kernelFrames struct {
	c       *afpacket.Conn
	batch   bool
	name    string // for subtest names
	pending [][]byte
}

// next reads frames until one has a layer of type want (the kernel may send
// neighbour discovery or MLD frames in between).
func (k *kernelFrames) next(t *testing.T, want gopacket.LayerType) gopacket.Packet {
	t.Helper()
	for {
		if len(k.pending) == 0 {
			if k.batch {
				k.pending = readAll(t, k.c, 1, 2*time.Second)
			} else {
				f, err := read(t, k.c, 2*time.Second)
				require.NoError(t, err)
				k.pending = [][]byte{f}
			}
		}
		f := k.pending[0]
		k.pending = k.pending[1:]
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.Layer(want) != nil {
			require.Nil(t, pkt.ErrorLayer())
			return pkt
		}
	}
}

// requireChecksumValid checks the transport checksum of l with gopacket.
func requireChecksumValid(t *testing.T, pkt gopacket.Packet, l interface {
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
}) {
	t.Helper()
	require.NoError(t, l.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
	err, res := l.VerifyChecksum()
	require.NoError(t, err)
	require.True(t, res.Valid, "checksum %#04x, want %#04x in % x", res.Actual, res.Correct, pkt.Data())
}
