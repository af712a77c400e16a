// Package netns is a test harness that builds throwaway Linux network
// namespaces, veth pairs, VLAN sub-interfaces (or, on kernels without them,
// eBPF tagging that gives the kernel the same view: see Link.TagVLANs) and
// bridges, runs code inside a namespace, and tears everything down through
// t.Cleanup, whether the test passes, fails or panics.
//
// Each namespace gets a random name, so parallel tests and packages do not
// collide. Test traffic never leaves the namespaces a test made: there is no
// route to anything else. Addresses come only from 198.18.0.0/15 (IPv4, see
// IPv4) and 2001:db8::/32 (IPv6, see IPv6); MAC addresses are locally
// administered unicast (02:..., see RandomMAC). Unless a test asks for IPv6,
// it is switched off in every namespace so that the kernel sends no
// neighbour discovery, router solicitation or MLD frames that raw-frame tests
// would have to ignore; with IPv6 on, autoconfiguration, router solicitations
// and duplicate address detection stay off.
//
// The harness needs Linux, the ip command (iproute2) and the effective
// capabilities CAP_SYS_ADMIN (to make namespaces), CAP_NET_ADMIN and
// CAP_NET_RAW; Require skips the test with a clear message otherwise.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// Available reports whether this process can use the harness: nil if so,
// else an error that says what is missing.
func Available() error {
	availOnce.Do(func() { availErr = available() })
	return availErr
}

var (
	availOnce sync.Once
	availErr  error
)

// Require skips t unless the harness is usable (see Available).
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("netns: skipping, needs network namespaces: %v", err)
	}
}

// Options tune New and the constructors that make namespaces.
type Options struct {
	// IPv6 keeps IPv6 on (with autoconfiguration, router solicitations and
	// DAD off) instead of disabling it, for tests with IPv6 addresses.
	IPv6 bool
	// MTU, if positive, is set on every link made.
	MTU int
}

func (o *Options) orDefault() Options {
	if o == nil {
		return Options{}
	}
	return *o
}

const namePrefix = "ecn-"

var reapOnce sync.Once

// NS is a named network namespace that lives until the test ends.
type NS struct {
	// Name is the namespace's name, as in ip netns list.
	Name string

	fd   *os.File
	ipv6 bool
	mtu  int
}

// New creates an empty network namespace with its loopback up, and removes
// it when t ends. It calls Require first.
func New(t testing.TB, opt *Options) *NS {
	t.Helper()
	Require(t)
	o := opt.orDefault()
	reapOnce.Do(reapStale)
	// The creating process's PID is in the name, so that namespaces left by
	// a test binary that was killed (a -timeout panic skips t.Cleanup) can
	// be told apart and removed by the next run.
	name := fmt.Sprintf("%s%d-%s", namePrefix, os.Getpid(), randomHex(3))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("netns: ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	ns := &NS{Name: name, ipv6: o.IPv6, mtu: o.MTU}
	t.Cleanup(func() {
		if ns.fd != nil {
			_ = ns.fd.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("netns: ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatalf("netns: open namespace %s: %v", name, err)
	}
	ns.fd = f
	if o.IPv6 {
		for _, dev := range []string{"all", "default"} {
			for _, kv := range ipv6Quiet {
				ns.MustSysctl(t, "net/ipv6/conf/"+dev+"/"+kv[0], kv[1])
			}
		}
	} else {
		ns.MustSysctl(t, "net/ipv6/conf/all/disable_ipv6", "1")
		ns.MustSysctl(t, "net/ipv6/conf/default/disable_ipv6", "1")
	}
	ns.MustIP(t, "link", "set", "lo", "up")
	return ns
}

// ipv6Quiet are the per-interface IPv6 settings that keep the kernel from
// sending frames on its own when IPv6 is on.
var ipv6Quiet = [][2]string{
	{"accept_ra", "0"},
	{"autoconf", "0"},
	{"addr_gen_mode", "1"},
	{"accept_dad", "0"},
	{"dad_transmits", "0"},
	{"router_solicitations", "0"},
}

// Do runs f on an operating system thread that is inside the namespace, and
// returns its error. Sockets f creates stay in the namespace and may be used
// from any goroutine afterwards; goroutines f starts do not run in the
// namespace. A panic in f is raised again in the caller.
func (ns *NS) Do(f func() error) error {
	return runIn(int(ns.fd.Fd()), f)
}

// IP runs the ip command inside the namespace (ip -n NAME args...).
func (ns *NS) IP(args ...string) error {
	full := append([]string{"-n", ns.Name}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// MustIP is IP that fails t on error.
func (ns *NS) MustIP(t testing.TB, args ...string) {
	t.Helper()
	if err := ns.IP(args...); err != nil {
		t.Fatal(err)
	}
}

// Command returns a command that runs name inside the namespace (through ip
// netns exec).
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Sysctl sets a sysctl inside the namespace. key is a path under /proc/sys
// ("net/ipv6/conf/eth0.100/disable_ipv6") or, if it has no slash, the dotted
// form ("net.ipv4.ip_forward").
func (ns *NS) Sysctl(key, value string) error {
	path := key
	if !strings.Contains(key, "/") {
		path = strings.ReplaceAll(key, ".", "/")
	}
	return ns.Do(func() error {
		if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netns: sysctl %s in %s: %w", key, ns.Name, err)
		}
		return nil
	})
}

// MustSysctl is Sysctl that fails t on error.
func (ns *NS) MustSysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := ns.Sysctl(key, value); err != nil {
		t.Fatal(err)
	}
}

// ListenUDP opens a kernel UDP socket inside the namespace, as
// net.ListenUDP does (network "udp", "udp4" or "udp6").
func (ns *NS) ListenUDP(network string, laddr netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(laddr))
		return err
	})
	return c, err
}

// ListenPacket opens a packet-oriented socket inside the namespace, as
// net.ListenPacket does.
func (ns *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Link is a network interface inside a namespace made by this package.
type Link struct {
	// NS is the namespace the interface is in.
	NS *NS
	// Name is the interface name inside NS.
	Name string
	// MAC is the interface's address (locally administered).
	MAC net.HardwareAddr
}

// setup gives a new link its MAC, MTU and IPv6 settings, then brings it up.
func (l *Link) setup(t testing.TB) {
	t.Helper()
	if l.NS.mtu > 0 {
		l.NS.MustIP(t, "link", "set", l.Name, "mtu", strconv.Itoa(l.NS.mtu))
	}
	l.NS.MustIP(t, "link", "set", l.Name, "address", l.MAC.String())
	if l.NS.ipv6 {
		for _, kv := range ipv6Quiet {
			l.NS.MustSysctl(t, "net/ipv6/conf/"+l.Name+"/"+kv[0], kv[1])
		}
	} else {
		l.NS.MustSysctl(t, "net/ipv6/conf/"+l.Name+"/disable_ipv6", "1")
	}
	l.Up(t)
}

// Up brings the interface up. Use WaitUp before sending: a veth gets its
// carrier only when both ends are up.
func (l *Link) Up(t testing.TB) {
	t.Helper()
	l.NS.MustIP(t, "link", "set", l.Name, "up")
}

// WaitUp waits (up to 10 seconds, else it fails t) until the interface is
// operationally up and its queueing discipline is active. Right after a link
// comes up the kernel's link watcher may take up to a second to get there,
// and until then frames sent on it are silently dropped.
func (l *Link) WaitUp(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		out, err := exec.Command("ip", "-n", l.NS.Name, "-j", "link", "show", "dev", l.Name).Output()
		if err == nil {
			var info []struct {
				Operstate string `json:"operstate"`
				Qdisc     string `json:"qdisc"`
			}
			if json.Unmarshal(out, &info) == nil && len(info) == 1 {
				st := info[0]
				if (st.Operstate == "UP" || st.Operstate == "UNKNOWN") && st.Qdisc != "noop" {
					return
				}
				last = fmt.Sprintf("operstate %s, qdisc %s", st.Operstate, st.Qdisc)
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("netns: %s in %s not up after 10s: %s", l.Name, l.NS.Name, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Down takes the interface down.
func (l *Link) Down(t testing.TB) {
	t.Helper()
	l.NS.MustIP(t, "link", "set", l.Name, "down")
}

// Delete removes the interface (for a veth, both ends).
func (l *Link) Delete(t testing.TB) {
	t.Helper()
	l.NS.MustIP(t, "link", "del", l.Name)
}

// AddAddr adds an address with its prefix length to the interface. Use
// addresses from IPv4 and IPv6 only. IPv6 addresses are added without DAD.
func (l *Link) AddAddr(t testing.TB, p netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", p.String(), "dev", l.Name}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	l.NS.MustIP(t, args...)
}

// AddNeighbor adds a permanent neighbour (ARP or ND) entry on the interface,
// so the kernel sends to ip without resolving it first, for example to an
// emulated endpoint that does not answer ARP.
func (l *Link) AddNeighbor(t testing.TB, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	l.NS.MustIP(t, "neigh", "replace", ip.String(), "lladdr", mac.String(), "dev", l.Name, "nud", "permanent")
}

// Index returns the interface index inside its namespace.
func (l *Link) Index() (int, error) {
	var idx int
	err := l.NS.Do(func() error {
		ifi, err := net.InterfaceByName(l.Name)
		if err == nil {
			idx = ifi.Index
		}
		return err
	})
	return idx, err
}

// AddVLAN creates the VLAN sub-interface NAME.VID on the link, with TPID
// proto (0x8100 for 802.1Q, 0x88a8 for 802.1ad), and brings it up. Frames
// sent on the sub-interface leave the parent with that tag. It skips t if the
// kernel has no VLAN support (CONFIG_VLAN_8021Q).
func (l *Link) AddVLAN(t testing.TB, proto uint16, vid uint16) *Link {
	t.Helper()
	var p string
	switch proto {
	case 0x8100:
		p = "802.1Q"
	case 0x88a8:
		p = "802.1ad"
	default:
		t.Fatalf("netns: AddVLAN: TPID %#04x is not 0x8100 or 0x88a8", proto)
	}
	v := &Link{NS: l.NS, Name: fmt.Sprintf("%s.%d", l.Name, vid), MAC: RandomMAC()}
	err := l.NS.IP("link", "add", "link", l.Name, "name", v.Name, "type", "vlan", "protocol", p, "id", strconv.Itoa(int(vid)))
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "Unknown device type") || strings.Contains(msg, "not supported") {
			t.Skipf("netns: skipping, the kernel has no VLAN sub-interfaces (CONFIG_VLAN_8021Q): %v", err)
		}
		t.Fatal(err)
	}
	v.setup(t)
	v.WaitUp(t)
	return v
}

// VLANTag is one tag of the VLAN stack TagVLANs puts on a link.
type VLANTag struct {
	// TPID is 0x8100 (802.1Q) or 0x88a8 (802.1ad), the two the kernel
	// can push.
	TPID uint16
	// ID is the VLAN ID, 0 to 4095.
	ID uint16
}

// TagVLANs gives the kernel's own stack on l the view it would have on a
// VLAN sub-interface of l (for several tags, on the innermost of a chain of
// sub-interfaces; stack is outermost first) without making one, because the
// kernel may be built without CONFIG_VLAN_8021Q, and then AddVLAN skips.
// Addresses, neighbours and sockets go on l itself.
//
// It attaches two eBPF programs to l with TCX. On egress every frame leaves
// with stack pushed; the outer tag is left to the (veth) driver as
// offloaded metadata, as a sub-interface leaves it, so a packet socket on
// the peer gets it through PACKET_AUXDATA. On ingress a frame that carries
// exactly stack (TPIDs and VLAN IDs; priority bits are ignored) has the tags
// popped before the IP stack sees it; any other frame is dropped, as it
// would not reach the sub-interface. Packet sockets on l see frames tagged,
// as on the wire, both ways. The kernel still sizes packets to l's MTU, so
// with three tags or more a full-size frame is longer than the veth peer
// takes.
//
// The programs are detached when t ends, whether it passes, fails or panics.
// It skips t if the kernel or the process's capabilities do not allow
// loading eBPF programs or attaching them with TCX (Linux 6.6 or later,
// CAP_BPF or CAP_SYS_ADMIN, CAP_NET_ADMIN).
func (l *Link) TagVLANs(t testing.TB, stack ...VLANTag) {
	t.Helper()
	if len(stack) == 0 {
		t.Fatal("netns: TagVLANs: empty VLAN stack")
	}
	for _, tag := range stack {
		if (tag.TPID != 0x8100 && tag.TPID != 0x88a8) || tag.ID > 4095 {
			t.Fatalf("netns: TagVLANs: tag %#04x:%d is not 0x8100 or 0x88a8 with an ID up to 4095", tag.TPID, tag.ID)
		}
	}
	// Registered before anything is loaded, so that whatever Do made
	// before an error or a panic is still released.
	var closers []io.Closer
	t.Cleanup(func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i].Close()
		}
	})
	// TCX resolves the interface index in the calling thread's namespace.
	err := l.NS.Do(func() error {
		return attachVLANTagger(l.Name, stack, func(c io.Closer) { closers = append(closers, c) })
	})
	if errors.Is(err, errNoTCX) {
		t.Skipf("netns: skipping, cannot tag VLANs on %s with eBPF: %v", l.Name, err)
	}
	if err != nil {
		t.Fatalf("netns: TagVLANs on %s in %s: %v", l.Name, l.NS.Name, err)
	}
}

// Open runs open(l.Name) inside the link's namespace, so that the socket it
// makes belongs there.
func (l *Link) Open(open OpenFunc) (backend.PacketIO, error) {
	var p backend.PacketIO
	err := l.NS.Do(func() error {
		var err error
		p, err = open(l.Name)
		return err
	})
	return p, err
}

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

// RandomMAC returns a random locally administered unicast MAC address
// (first octet 02).
func RandomMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	_, _ = rand.Read(m[1:])
	m[0] = 0x02
	return m
}

// IPv4 returns host i (1 to 131070) of the benchmarking range 198.18.0.0/15.
// Other values are brought into range.
func IPv4(i int) netip.Addr {
	const hosts = 1<<17 - 2
	i = ((i-1)%hosts+hosts)%hosts + 1
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
}

// IPv6 returns 2001:db8::i from the documentation range 2001:db8::/32.
func IPv6(i int) netip.Addr {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	u := uint64(i)
	for k := 0; k < 8; k++ {
		a[15-k] = byte(u >> (8 * k))
	}
	return netip.AddrFrom16(a)
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errUnsupported says the harness needs Linux.
var errUnsupported = errors.New("network namespaces need Linux")

// errNoTCX marks the errors of attachVLANTagger that mean this kernel or
// process cannot load or attach the programs, as opposed to a bug in them.
var errNoTCX = errors.New("eBPF TCX programs unavailable")
