//go:build linux

package pcapio

// A minimal private network namespace harness for the live tests. It will
// be replaced by the shared internal/netns package.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// requireNetnsCaps skips the test unless the process may create network
// namespaces and veth pairs and capture on them.
func requireNetnsCaps(t testing.TB) {
	t.Helper()
	var missing []string
	for _, c := range []struct {
		cap  int
		name string
	}{{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}, {unix.CAP_NET_RAW, "CAP_NET_RAW"}, {unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}} {
		if !hasCap(c.cap) {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		t.Skipf("live pcap test skipped: needs %s in the effective set (run as root) to build a network namespace with a veth pair", strings.Join(missing, ", "))
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("live pcap test skipped: the ip command (iproute2) is not installed")
	}
}

// vethNS is a network namespace holding both ends of a veth pair, up, with
// IPv6 disabled (so the kernel sends no ND/MLD) and no addresses.
type vethNS struct {
	name       string
	a, b       string           // interface names
	macA, macB net.HardwareAddr // interface MACs, not used by test frames
}

func runCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newVethNS(t testing.TB) *vethNS {
	t.Helper()
	requireNetnsCaps(t)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(rnd[:])
	v := &vethNS{
		name: "pcapio-test-" + suffix,
		a:    "pa" + suffix,
		b:    "pb" + suffix,
		macA: net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x01, 0x0a},
		macB: net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x01, 0x0b},
	}
	runCmd(t, "ip", "netns", "add", v.name)
	// Deleting the namespace destroys the veth pair inside it. Registered
	// before anything else can fail, so that it runs even on failure.
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", v.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", v.name, err, out)
		}
	})
	runCmd(t, "ip", "netns", "exec", v.name, "sysctl", "-q", "-w",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	runCmd(t, "ip", "-n", v.name, "link", "add", v.a, "address", v.macA.String(), "mtu", "9216",
		"type", "veth", "peer", "name", v.b, "address", v.macB.String(), "mtu", "9216")
	for _, ifname := range []string{v.a, v.b} {
		runCmd(t, "ip", "netns", "exec", v.name, "sysctl", "-q", "-w", "net.ipv6.conf."+ifname+".disable_ipv6=1")
		runCmd(t, "ip", "-n", v.name, "link", "set", ifname, "up")
	}
	// The kernel attaches the real queueing discipline and reports the link
	// up asynchronously (linkwatch); until then frames sent are silently
	// dropped by the noop qdisc. Wait for both ends.
	for _, ifname := range []string{v.a, v.b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := exec.Command("ip", "-n", v.name, "-o", "link", "show", "dev", ifname).CombinedOutput()
			if err != nil {
				t.Fatalf("ip link show %s: %v\n%s", ifname, err, out)
			}
			if strings.Contains(string(out), "state UP") && !strings.Contains(string(out), "qdisc noop") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not come up: %s", ifname, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return v
}

// do runs fn on a fresh OS thread inside the namespace. The thread is never
// unlocked, so it ends with the goroutine instead of going back to the Go
// scheduler in the wrong namespace. Sockets fn opens stay in the namespace.
func (v *vethNS) do(fn func() error) error {
	f, err := os.Open(filepath.Join("/var/run/netns", v.name))
	if err != nil {
		return err
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", v.name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openLive opens ifname inside the namespace; the test closes it.
func (v *vethNS) openLive(t testing.TB, ifname string, opts LiveOptions) *Live {
	t.Helper()
	var l *Live
	err := v.do(func() (err error) {
		l, err = OpenLive(ifname, opts)
		return err
	})
	if err != nil {
		t.Fatalf("OpenLive(%s) in %s: %v", ifname, v.name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
