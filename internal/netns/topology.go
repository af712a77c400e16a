package netns

import (
	"net"
	"net/netip"
	"testing"

	"github.com/etherconn/etherconn/backend"
)

// Veth is a veth pair: a frame sent on A arrives on B and back.
type Veth struct {
	A, B *Link
}

// VethOptions tune NewVeth.
type VethOptions struct {
	Options
	// SameNS puts both ends in one namespace instead of one each.
	SameNS bool
}

// NewVeth creates a veth pair, each end up and in its own new namespace (or
// both in one with SameNS), with random locally administered MACs.
func NewVeth(t testing.TB, opt *VethOptions) *Veth {
	t.Helper()
	var o VethOptions
	if opt != nil {
		o = *opt
	}
	nsA := New(t, &o.Options)
	nsB := nsA
	if !o.SameNS {
		nsB = New(t, &o.Options)
	}
	return newVethBetween(t, nsA, nsB)
}

// NewVethBetween creates a veth pair with one end in a and the other in b
// (which may be the same namespace).
func NewVethBetween(t testing.TB, a, b *NS) *Veth {
	t.Helper()
	return newVethBetween(t, a, b)
}

func newVethBetween(t testing.TB, a, b *NS) *Veth {
	t.Helper()
	base := "e" + randomHex(3)
	v := &Veth{
		A: &Link{NS: a, Name: base + "a", MAC: RandomMAC()},
		B: &Link{NS: b, Name: base + "b", MAC: RandomMAC()},
	}
	a.MustIP(t, "link", "add", v.A.Name, "type", "veth", "peer", "name", v.B.Name, "netns", b.Name)
	v.A.setup(t)
	v.B.setup(t)
	v.A.WaitUp(t)
	v.B.WaitUp(t)
	return v
}

// LAN is a kernel bridge in a hub namespace with one host namespace per port,
// each host reaching the bridge over a veth.
type LAN struct {
	// Hub holds the bridge and the bridge-side veth ends.
	Hub *NS
	// Bridge is the bridge interface in Hub.
	Bridge *Link
	// Hosts are the host-side veth ends, one namespace each.
	Hosts []*Link
	// Ports are the bridge-side veth ends, Ports[i] facing Hosts[i].
	Ports []*Link
}

// NewLAN creates a bridge (no STP, no forwarding delay, no VLAN filtering, no
// multicast snooping, so tagged frames and multicast pass as they are) with n
// hosts attached, each in its own namespace.
func NewLAN(t testing.TB, n int, opt *Options) *LAN {
	t.Helper()
	hub := New(t, opt)
	br := &Link{NS: hub, Name: "br" + randomHex(3), MAC: RandomMAC()}
	// vlan_filtering is off by default (and the option is missing from
	// kernels built without CONFIG_BRIDGE_VLAN_FILTERING).
	hub.MustIP(t, "link", "add", br.Name, "type", "bridge", "stp_state", "0", "forward_delay", "0",
		"mcast_snooping", "0")
	br.setup(t)
	lan := &LAN{Hub: hub, Bridge: br}
	for i := 0; i < n; i++ {
		host := New(t, opt)
		v := newVethBetween(t, hub, host)
		hub.MustIP(t, "link", "set", v.A.Name, "master", br.Name)
		lan.Ports = append(lan.Ports, v.A)
		lan.Hosts = append(lan.Hosts, v.B)
	}
	br.WaitUp(t)
	return lan
}

// OpenFunc opens a PacketIO on the named interface. The harness calls it
// inside the interface's namespace.
type OpenFunc func(ifname string) (backend.PacketIO, error)

// OpenPair creates a fresh veth pair (NewVeth) and opens a PacketIO on each
// end; a frame written to a is read from b and back. Both are closed when t
// ends. It suits a conformance factory.
func OpenPair(t testing.TB, open OpenFunc, opt *VethOptions) (a, b backend.PacketIO, v *Veth) {
	t.Helper()
	v = NewVeth(t, opt)
	var err error
	if a, err = v.A.Open(open); err != nil {
		t.Fatalf("netns: open %s: %v", v.A.Name, err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if b, err = v.B.Open(open); err != nil {
		t.Fatalf("netns: open %s: %v", v.B.Name, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return a, b, v
}

// KernelPeer is a veth pair set up for an emulated host on A to talk UDP
// over IPv4 with the kernel's own stack on B: B has KernelIP/24 and a
// permanent neighbour entry for EmuIP at EmuMAC, an address and a MAC that
// no interface has (so the kernel needs no ARP to answer), and Server, a
// kernel UDP socket in B's namespace, listens on KernelIP. EmuIP and
// KernelIP are IPv4(1) and IPv4(2).
type KernelPeer struct {
	*Veth
	EmuMAC          net.HardwareAddr
	EmuIP, KernelIP netip.Addr
	// Server is closed when the test ends.
	Server *net.UDPConn
}

// NewKernelPeer makes a fresh veth pair (NewVeth) and sets B up as
// KernelPeer describes, with Server on the given port. It fails t if the
// socket does not open.
func NewKernelPeer(t testing.TB, port uint16) *KernelPeer {
	t.Helper()
	k := &KernelPeer{Veth: NewVeth(t, nil), EmuMAC: RandomMAC(), EmuIP: IPv4(1), KernelIP: IPv4(2)}
	k.B.AddAddr(t, netip.PrefixFrom(k.KernelIP, 24))
	k.B.AddNeighbor(t, k.EmuIP, k.EmuMAC)
	var err error
	if k.Server, err = k.B.NS.ListenUDP("udp4", netip.AddrPortFrom(k.KernelIP, port)); err != nil {
		t.Fatalf("netns: listen on %v in %s: %v", k.KernelIP, k.B.NS.Name, err)
	}
	t.Cleanup(func() { _ = k.Server.Close() })
	return k
}
