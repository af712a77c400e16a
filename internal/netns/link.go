package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etherconn/etherconn/backend"
)

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
