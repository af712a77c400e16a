//go:build linux

package pcapio

// The live tests' view of the shared namespace harness (internal/netns): a
// veth pair with both ends in one throwaway namespace.

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/internal/netns"
)

// effectiveCaps returns the effective capability sets of the calling thread.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

func hasCap(c int) bool {
	caps, err := effectiveCaps()
	return err == nil && caps&(1<<uint(c)) != 0
}

// vethNS is a network namespace holding both ends of a veth pair, up, with
// IPv6 disabled (so the kernel sends no ND/MLD), no addresses and a jumbo
// MTU.
type vethNS struct {
	ns   *netns.NS
	name string // the namespace's name
	a, b string // interface names
}

func runCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newVethNS skips t unless the process may create namespaces (root).
func newVethNS(t testing.TB) *vethNS {
	t.Helper()
	netns.Require(t)
	v := netns.NewVeth(t, &netns.VethOptions{SameNS: true, Options: netns.Options{MTU: 9216}})
	return &vethNS{ns: v.A.NS, name: v.A.NS.Name, a: v.A.Name, b: v.B.Name}
}

// do runs fn on an OS thread inside the namespace. Sockets fn opens stay in
// the namespace.
func (v *vethNS) do(fn func() error) error { return v.ns.Do(fn) }

// openLive opens ifname inside the namespace; the test closes it.
func (v *vethNS) openLive(t testing.TB, ifname string, cfg LiveConfig) *Live {
	t.Helper()
	var l *Live
	err := v.do(func() (err error) {
		l, err = OpenLive(ifname, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("OpenLive(%s) in %s: %v", ifname, v.name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
