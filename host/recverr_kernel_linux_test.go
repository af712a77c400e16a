//go:build linux

package host_test

import (
	"cmp"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

// TestKernelRecvErr runs the rows of recverr_test.go on a kernel UDP
// socket and on a host's rudp.Conn side by side, on one veth, each toward
// an on-link address nobody has, and checks both against the rows'
// expectations: what the kernel does is what the rows say, and the host
// does the same. The kernel resolves with the host's timers (3 probes,
// errRetrans apart); IP_RECVERR / IPV6_RECVERR stand for SetRecvErr.
func TestKernelRecvErr(t *testing.T) {
	r, v, vl := kernelLink(t, false)
	ns := v.B.NS
	for _, fam := range []string{"ipv4", "ipv6"} {
		ns.MustSysctl(t, "net/"+fam+"/neigh/"+v.B.Name+"/retrans_time_ms", strconv.Itoa(int(errRetrans/time.Millisecond)))
		ns.MustSysctl(t, "net/"+fam+"/neigh/"+v.B.Name+"/mcast_solicit", "3")
	}
	// Datagrams for the hosts come from the kernel's side of the veth, as
	// a station's would; those for the kernel from the relay.
	toHosts, err := v.B.Open(func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	})
	require.NoError(t, err)
	t.Cleanup(func() { toHosts.Close() })
	kernAddr := map[bool]netip.Addr{false: addr("198.18.0.2"), true: addr("2001:db8::2")}
	runErrCases(t, func(t *testing.T, c errCase) []errEnv {
		h := errHost(t, r, vl, c)
		kern := kernelErrEnv(t, ns, netip.AddrPortFrom(addrIn(c.v6, 3, c.i), 9), kernAddr[c.v6], c, func(b []byte) error {
			return r.Send(b)
		}, frame.MAC(v.B.MAC))
		return []errEnv{kern, hostErrEnv(t, h, netip.AddrPortFrom(addrIn(c.v6, 2, c.i), 9), c.connected, c.on, toHosts.WriteFrame)}
	})
}

// kernelErrEnv is the env of a kernel UDP socket in ns toward dst, from
// local (its address on the veth, whose MAC is kmac): connected or not,
// with IP_RECVERR / IPV6_RECVERR when c.on. send puts frames on the veth.
func kernelErrEnv(t *testing.T, ns *netns.NS, dst netip.AddrPort, local netip.Addr, c errCase, send func([]byte) error, kmac frame.MAC) errEnv {
	t.Helper()
	network := "udp4"
	if c.v6 {
		network = "udp6"
	}
	var s *net.UDPConn
	err := ns.Do(func() error {
		var err error
		if c.connected {
			s, err = net.DialUDP(network, nil, net.UDPAddrFromAddrPort(dst))
		} else {
			s, err = net.ListenUDP(network, nil)
		}
		return err
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	rc, err := s.SyscallConn()
	require.NoError(t, err)
	recvErr := func(on bool) error {
		v, serr := 0, error(nil)
		if on {
			v = 1
		}
		err := rc.Control(func(fd uintptr) {
			if c.v6 {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVERR, v)
			} else {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVERR, v)
			}
		})
		return cmp.Or(err, serr)
	}
	if c.on {
		require.NoError(t, recvErr(true))
	}
	port := uint16(s.LocalAddr().(*net.UDPAddr).Port)
	return errEnv{
		who: "kernel", s: s, dst: dst, connected: c.connected,
		failed:  func() bool { return kernelNeighFailed(ns, dst.Addr()) },
		arrived: func() bool { return queuedBytes(rc) > 0 },
		off:     func() error { return recvErr(false) },
		inject: func(payload string) error {
			return send(testkit.UDPFrame(kmac, peerMAC, nil, dst, netip.AddrPortFrom(local, port), []byte(payload)))
		},
	}
}

// queuedBytes is the length of the datagram first in c's receive queue
// (SIOCINQ, which leaves a pending error alone), 0 if none.
func queuedBytes(c syscall.RawConn) int {
	n := 0
	_ = c.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}

// kernelNeighFailed waits (up to waitFor) until the kernel's neighbour
// entry for a is FAILED, and a little more: the kernel then sends itself
// the ICMP error, which reaches the socket through the loopback device.
func kernelNeighFailed(ns *netns.NS, a netip.Addr) bool {
	ok := poll(20*time.Millisecond, func() bool { // a process each time
		out, err := exec.Command("ip", "-n", ns.Name, "neigh", "show", a.String()).CombinedOutput()
		return err == nil && strings.Contains(string(out), "FAILED")
	})
	time.Sleep(50 * time.Millisecond)
	return ok
}
