package host

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// DefaultMTU is the MTU of a Host whose Config leaves it zero.
const DefaultMTU = 1500

// Config describes a Host.
type Config struct {
	// MAC is the host's unicast MAC address.
	MAC net.HardwareAddr
	// VLANs is its VLAN stack, outermost first.
	VLANs frame.VLANs
	// Addrs are its IPv4 and IPv6 addresses, with the length of their
	// on-link prefix (198.18.0.10/16, 2001:db8::10/64). More can be added
	// and removed at run time (AddAddr, RemoveAddr).
	Addrs []netip.Prefix
	// Gateway4 and Gateway6 are the default routers; unset, only on-link
	// destinations (and Routes) are reachable.
	Gateway4, Gateway6 netip.Addr
	// Routes are more specific routes through gateways.
	Routes []Route
	// MTU is the largest IP packet sent (default DefaultMTU).
	MTU int
	// NoLinkLocal leaves out the IPv6 link-local address made from MAC.
	NoLinkLocal bool
	// Broadcast also delivers IPv4 broadcast frames to the host (a DHCP
	// client needs them). Each broadcast then costs one delivery per host
	// that sets it; ARP broadcasts are answered through the segment either
	// way.
	Broadcast bool
	// AcceptRA learns a default IPv6 router from Router Advertisements
	// when Gateway6 is unset, and solicits one (RFC 4861 §6.3.7) once the
	// host has its link-local address: the segment sends up to 3 Router
	// Solicitations 4 s apart for all its hosts, from the first, until an
	// advertisement names a router.
	AcceptRA bool
	// GratuitousARP announces each IPv4 address when it is added.
	GratuitousARP bool
	// DAD probes each address before it is used: RFC 5227 ARP probes for
	// IPv4, Duplicate Address Detection (RFC 4862 §5.4) for IPv6. AddAddr
	// then takes about a second and fails with ErrDuplicate on a conflict.
	DAD bool
	// PortUnreachable answers UDP to a port nobody listens on with ICMP
	// port unreachable (off by default: see the package documentation).
	PortUnreachable bool
	// EchoMulticast answers ICMPv6 echo requests to the all-nodes group
	// (ff02::1) and to the solicited-node groups of the host's addresses,
	// from the address that fits the asker (Source), as Linux does by
	// default (net.ipv6.icmp.echo_ignore_multicast is 0). Off by default:
	// each host of a segment that has it answers one such request, and
	// 50,000 of them would make it 50,000 replies.
	EchoMulticast bool
	// NoMLD keeps the host from sending Multicast Listener Discovery
	// reports (RFC 3810): by default, as Linux, it reports the
	// solicited-node group of each IPv6 address it adds (twice, the
	// second within a second), answers MLD queries, and reports leaving
	// a group when its last address in it goes. MLD-snooping switches
	// deliver a group's multicast, neighbour solicitations included, only
	// to ports that reported it.
	NoMLD bool
	// EchoRate is how many echo requests a second the host answers at
	// most (0: DefaultEchoRate; below 0: none).
	EchoRate int
	// Neighbor tunes the neighbour cache. It is shared by the hosts of a
	// relay and VLAN stack: the first host there sets it.
	Neighbor NeighborConfig
}

// Route sends the destinations in Prefix through the gateway Via.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
}

// DefaultEchoRate is the echo requests a second a host answers by default.
const DefaultEchoRate = 1000

// Errors of New, AddAddr, ListenUDP and DialUDP.
var (
	// ErrBadConfig reports a Config or argument that cannot be used.
	ErrBadConfig = errors.New("host: invalid config")
	// ErrAddrInUse reports an address another host of the segment has.
	ErrAddrInUse = errors.New("host: address in use by another host on the link")
	// ErrDuplicate reports an address that DAD found in use on the link.
	ErrDuplicate = errors.New("host: duplicate address detected on the link")
)

// Host is an emulated IP host. It is safe for concurrent use.
type Host struct {
	ec    *etherconn.Conn
	seg   *segment
	mac   frame.MAC
	mtu   uint16 // beside mac: a Host is then 288 bytes, a size class less
	cfg   hostOpts
	addrs atomic.Pointer[[]netip.Prefix] // copy on write; read on every send
	amu   sync.Mutex                     // serializes address changes
	echo  tokenBucket
	ping  pinger
	st    counters
	done  atomic.Bool
	// ipID numbers the IPv4 packets the host makes itself (echo replies,
	// pings, ICMP errors): they go with DF clear, so their identifications
	// must differ (RFC 6864). It fits in done's padding.
	ipID atomic.Uint32
}

// nextID returns the identification of the host's next IPv4 packet.
func (h *Host) nextID() uint16 { return uint16(h.ipID.Add(1)) }

// hostOpts is what a Host keeps of its Config: with 50,000 hosts the
// rest (MAC, VLANs, Addrs, NeighborConfig, ...) would cost as much memory
// as the Host itself.
type hostOpts struct {
	Gateway4, Gateway6                            netip.Addr
	Routes                                        []Route
	PortUnreachable, DAD, GratuitousARP, AcceptRA bool
	EchoMulticast, NoMLD                          bool
}

// New makes a host on r: it registers its etherconn.Conn (MAC, VLAN stack;
// ARP, IPv4 and IPv6), joins the segment of its stack and adds cfg.Addrs.
// The Host owns the Conn; Close closes it and everything made on it.
func New(r *relay.Relay, cfg Config) (*Host, error) {
	mac, err := frame.MACFrom(cfg.MAC)
	if err != nil {
		return nil, fmt.Errorf("host: new: %w: %w", ErrBadConfig, err)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 9216 {
		return nil, fmt.Errorf("host: new: %w: MTU %d not in 576..9216", ErrBadConfig, cfg.MTU)
	}
	for _, rt := range cfg.Routes {
		if !rt.Prefix.IsValid() || !rt.Via.IsValid() || rt.Prefix.Addr().Is4() != rt.Via.Is4() {
			return nil, fmt.Errorf("host: new: %w: route %v via %v", ErrBadConfig, rt.Prefix, rt.Via)
		}
	}
	if (cfg.Gateway4.IsValid() && !cfg.Gateway4.Is4()) || (cfg.Gateway6.IsValid() && !cfg.Gateway6.Is6()) {
		return nil, fmt.Errorf("host: new: %w: gateways %v, %v", ErrBadConfig, cfg.Gateway4, cfg.Gateway6)
	}
	ec, err := etherconn.New(r, etherconn.Config{MAC: cfg.MAC, VLANs: cfg.VLANs, Broadcast: cfg.Broadcast, QueueLen: -1})
	if err != nil {
		return nil, fmt.Errorf("host: new: %w", err)
	}
	h := &Host{ec: ec, mac: mac, mtu: uint16(cfg.MTU), cfg: hostOpts{
		Gateway4: cfg.Gateway4, Gateway6: cfg.Gateway6, Routes: slices.Clone(cfg.Routes),
		PortUnreachable: cfg.PortUnreachable, DAD: cfg.DAD, GratuitousARP: cfg.GratuitousARP, AcceptRA: cfg.AcceptRA,
		EchoMulticast: cfg.EchoMulticast, NoMLD: cfg.NoMLD,
	}}
	h.addrs.Store(new([]netip.Prefix))
	rate := cfg.EchoRate
	if rate == 0 {
		rate = DefaultEchoRate
	}
	h.echo.init(rate)
	h.ping.id = uint16(rand.Uint32())
	h.ipID.Store(rand.Uint32())
	if h.seg, err = joinSegment(r, cfg.VLANs, cfg.Neighbor); err != nil {
		ec.Close()
		return nil, fmt.Errorf("host: new: %w", err)
	}
	if cfg.EchoMulticast {
		h.seg.echoMulticast.Add(1)
	}
	if err := h.attach(); err != nil {
		h.Close()
		return nil, fmt.Errorf("host: new: %w", err)
	}
	if !cfg.NoLinkLocal {
		if err := h.AddAddr(netip.PrefixFrom(frame.LinkLocal(mac), 64)); err != nil {
			h.Close()
			return nil, err
		}
	}
	for _, p := range cfg.Addrs {
		if err := h.AddAddr(p); err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// attach installs the host's handlers on its Conn.
func (h *Host) attach() error {
	for _, a := range []struct {
		p etherconn.Protocol
		h relay.Handler
	}{
		{etherconn.Protocol{EtherType: frame.EtherTypeARP}, (*arpHandler)(h)},
		{etherconn.Protocol{EtherType: frame.EtherTypeIPv4, IPProto: frame.ProtoICMP}, (*icmp4Handler)(h)},
		{etherconn.Protocol{EtherType: frame.EtherTypeIPv6, IPProto: frame.ProtoICMPv6}, (*icmp6Handler)(h)},
	} {
		if err := h.ec.Attach(a.p, a.h); err != nil {
			return err
		}
	}
	if h.cfg.PortUnreachable {
		for _, et := range []uint16{frame.EtherTypeIPv4, frame.EtherTypeIPv6} {
			if err := h.ec.Attach(etherconn.Protocol{EtherType: et}, (*unreachHandler)(h)); err != nil {
				return err
			}
		}
	}
	return nil
}

// MAC returns the host's MAC address.
func (h *Host) MAC() net.HardwareAddr { return h.mac.HardwareAddr() }

// EtherConn returns the host's etherconn.Conn, for protocols of your own
// (attach them with its Attach; ARP, ICMP and ICMPv6 are the host's).
func (h *Host) EtherConn() *etherconn.Conn { return h.ec }

// Addrs returns the host's addresses, the link-local one included.
func (h *Host) Addrs() []netip.Prefix { return slices.Clone(*h.addrs.Load()) }

// HasAddr reports whether a is one of the host's addresses.
func (h *Host) HasAddr(a netip.Addr) bool {
	for _, p := range *h.addrs.Load() {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// AddAddr adds an address with its on-link prefix length (a DHCP client
// installs its lease this way). With Config.DAD it is probed first; with
// Config.GratuitousARP an IPv4 address is announced.
func (h *Host) AddAddr(p netip.Prefix) error {
	if !p.IsValid() || p.Addr().IsUnspecified() || p.Addr().IsMulticast() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return fmt.Errorf("host: add %v: %w: not a unicast address with a prefix length", p, ErrBadConfig)
	}
	if h.done.Load() {
		return fmt.Errorf("host: add %v: %w", p, net.ErrClosed)
	}
	h.amu.Lock()
	defer h.amu.Unlock()
	if h.done.Load() { // closed while we waited: Close removed the others
		return fmt.Errorf("host: add %v: %w", p, net.ErrClosed)
	}
	if h.HasAddr(p.Addr()) {
		return nil
	}
	// A new solicited-node group is joined (reported) before DAD probes
	// the address, as RFC 4862 §5.4.2 asks, and left if the address is not
	// added after all; joined again, robustly, once it is.
	var join []netip.Addr
	if g := frame.SolicitedNode(p.Addr()); p.Addr().Is6() && !h.inGroup(g) {
		join = []netip.Addr{g}
	}
	probed := false
	fail := func(err error) error {
		if probed {
			h.sendMLD(frame.MLDChangeToInclude, join)
		}
		return fmt.Errorf("host: add %v: %w", p, err)
	}
	if h.cfg.DAD {
		h.sendMLD(frame.MLDChangeToExclude, join)
		probed = true
		if err := h.probeDuplicate(p.Addr()); err != nil {
			return fail(err)
		}
	}
	if err := h.seg.addAddr(p.Addr(), h); err != nil {
		return fail(err)
	}
	old := *h.addrs.Load()
	l := make([]netip.Prefix, len(old)+1) // exact: kept by every host
	copy(l, old)
	l[len(old)] = p
	h.addrs.Store(&l)
	h.joinGroups(join)
	if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
		h.seg.rs.start(h)
	}
	if p.Addr().Is4() && h.cfg.GratuitousARP {
		h.sendARP(frame.ARPRequest, frame.BroadcastMAC, p.Addr(), frame.MAC{}, p.Addr())
	}
	return nil
}

// RemoveAddr removes an address: it is no longer answered for, and no
// socket receives datagrams to it any more (unless it was the host's last
// address of its family: see IsLocal). Sockets bound to the address itself
// keep their binding, as on Linux, and receive again if it is added back.
func (h *Host) RemoveAddr(a netip.Addr) error {
	h.amu.Lock()
	defer h.amu.Unlock()
	old := *h.addrs.Load()
	i := slices.IndexFunc(old, func(p netip.Prefix) bool { return p.Addr() == a })
	if i < 0 {
		return fmt.Errorf("host: remove %v: %w: no such address", a, ErrBadConfig)
	}
	// Out of the segment first: its answer count moves to the host's
	// total while Stats still sees the address (see arpAnswered).
	h.seg.removeAddr(a, h)
	l := slices.Delete(slices.Clone(old), i, i+1)
	h.addrs.Store(&l)
	if g := frame.SolicitedNode(a); a.Is6() && !h.inGroup(g) {
		h.sendMLD(frame.MLDChangeToInclude, []netip.Addr{g})
	}
	return nil
}

// ListenUDP returns a UDP socket bound to laddr: one of the host's
// addresses or the unspecified address of a family (port 0 picks an
// ephemeral port). It sends through the host's routes, neighbour cache
// and source address selection, and with its MTU.
func (h *Host) ListenUDP(laddr netip.AddrPort) (*rudp.Conn, error) {
	return h.newUDP(laddr, netip.AddrPort{})
}

// DialUDP returns a UDP socket connected to raddr, as net.DialUDP does: a
// net.Conn (Read, Write, RemoteAddr) that is also a net.PacketConn. An
// invalid or unspecified laddr takes the source address selected for raddr
// and an ephemeral port.
func (h *Host) DialUDP(laddr, raddr netip.AddrPort) (*rudp.Conn, error) {
	if !raddr.IsValid() || raddr.Addr().IsUnspecified() || raddr.Port() == 0 {
		return nil, fmt.Errorf("host: dial %v: %w", raddr, ErrBadConfig)
	}
	dst := raddr.Addr().Unmap()
	if !laddr.IsValid() || laddr.Addr().IsUnspecified() {
		src := h.Source(dst)
		if !src.IsValid() {
			return nil, &net.OpError{Op: "dial", Net: udpNet(dst), Addr: net.UDPAddrFromAddrPort(raddr), Err: syscall.EADDRNOTAVAIL}
		}
		laddr = netip.AddrPortFrom(src, laddr.Port())
	}
	return h.newUDP(laddr, netip.AddrPortFrom(dst, raddr.Port()))
}

func (h *Host) newUDP(laddr, raddr netip.AddrPort) (*rudp.Conn, error) {
	a := laddr.Addr().Unmap()
	if !a.IsValid() || (!a.IsUnspecified() && !h.HasAddr(a)) {
		return nil, &net.OpError{Op: "listen", Net: udpNet(a), Addr: net.UDPAddrFromAddrPort(laddr), Err: syscall.EADDRNOTAVAIL}
	}
	return rudp.New(h.ec, rudp.Config{LocalAddr: laddr, RemoteAddr: raddr, Router: h})
}

func udpNet(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp6"
}

// MTU implements rudp.Router.
func (h *Host) MTU() int { return int(h.mtu) }

// Close closes the host: its etherconn.Conn (so every socket made on it
// stops, its blocked readers returning net.ErrClosed), its addresses and
// its place in the segment. It is idempotent.
func (h *Host) Close() error {
	if h.done.Swap(true) {
		return nil
	}
	h.amu.Lock()
	// Leave every group while the Conn still sends, as Linux's MLDv1 does
	// when an interface goes down (its MLDv2 cancels the report instead;
	// a switch learns sooner this way).
	var groups [8]netip.Addr
	h.sendMLD(frame.MLDChangeToInclude, h.mldGroups(groups[:0]))
	h.seg.mld.forget(h)
	for _, p := range *h.addrs.Load() {
		h.seg.removeAddr(p.Addr(), h)
	}
	h.addrs.Store(new([]netip.Prefix))
	h.amu.Unlock()
	h.ping.closeAll()
	h.seg.neigh.forget(h)
	if h.cfg.EchoMulticast {
		h.seg.echoMulticast.Add(-1)
	}
	err := h.ec.Close()
	h.seg.leave()
	return err
}

// now is the clock of timers and rate limits, in Unix ns.
func now() int64 { return time.Now().UnixNano() }
