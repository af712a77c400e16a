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
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
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
