package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/pcapio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// demoHost is one emulated station: a host.Host that resolves its peer
// by ARP and ND, and a UDP socket per IP family.
type demoHost struct {
	name   string
	mac    net.HardwareAddr
	v4, v6 netip.Addr
	r      *relay.Relay
	h      *host.Host
	c4, c6 *rudp.Conn
	before relay.Stats // the relay's counters when the UDP exchange began
}

func demo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backendName := fs.String("backend", "memio", "backend: memio, or one of the real-interface backends built in")
	ifname := fs.String("interface", "", "interface for host A (real-interface backends)")
	peer := fs.String("peer", "", "interface for host B; without it both hosts share --interface with hairpin")
	count := fs.Int("count", 3, "datagrams each way per IP family")
	vlanText := fs.String("vlan", "100", "VLAN stack of both hosts, e.g. 100 or 0x88a8:100.200")
	record := fs.String("record", "", "record host B's frames, both directions, to this pcapng file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	vlans, err := frame.ParseVLANs(*vlanText)
	if err != nil {
		return err
	}
	var rec io.Writer // nil unless recording: a nil *os.File would not be a nil io.Writer
	if *record != "" {
		f, err := os.Create(*record)
		if err != nil {
			return err
		}
		defer f.Close()
		rec = f
	}
	ra, rb, err := demoRelays(*backendName, *ifname, *peer, rec)
	if err != nil {
		return err
	}
	defer ra.Close()
	if rb != ra {
		defer rb.Close()
	}

	a := &demoHost{name: "A", mac: net.HardwareAddr{0x02, 0xec, 0, 0, 0, 0x0a},
		v4: netip.MustParseAddr("198.18.0.10"), v6: netip.MustParseAddr("2001:db8::a"), r: ra}
	b := &demoHost{name: "B", mac: net.HardwareAddr{0x02, 0xec, 0, 0, 0, 0x0b},
		v4: netip.MustParseAddr("198.18.0.11"), v6: netip.MustParseAddr("2001:db8::b"), r: rb}
	for _, h := range []*demoHost{a, b} {
		if err := h.open(vlans); err != nil {
			return err
		}
		defer h.h.Close()
		fmt.Fprintf(stdout, "host %s: MAC %s VLAN %q, %v, %v\n", h.name, h.mac, vlans.String(),
			h.c4.LocalAddr(), h.c6.LocalAddr())
	}
	// The hosts find each other by ARP and ND as they ping, each way, so
	// that the UDP exchange below runs on resolved neighbours and the relay
	// counters printed for it count its datagrams alone.
	for _, dir := range [][2]*demoHost{{a, b}, {b, a}} {
		for _, dst := range []netip.Addr{dir[1].v4, dir[1].v6} {
			if err := ping(stdout, dir[0], dir[1], dst); err != nil {
				return err
			}
		}
	}
	a.before, b.before = settledStats(ra, rb)

	for _, fam := range []string{"IPv4", "IPv6"} {
		for _, dir := range [][2]*demoHost{{a, b}, {b, a}} {
			if err := exchange(stdout, fam, dir[0], dir[1], *count); err != nil {
				return err
			}
		}
	}
	for _, h := range []*demoHost{a, b} {
		printStats(stdout, h)
	}
	return nil
}

func demoRelays(name, ifname, peer string, rec io.Writer) (ra, rb *relay.Relay, err error) {
	var pa, pb backend.PacketIO
	switch {
	case name == "memio":
		pa, pb = memio.Pipe(memio.Config{})
	default:
		if pa, err = openBackend(name, ifname); err != nil {
			return nil, nil, err
		}
		if peer != "" {
			if pb, err = openBackend(name, peer); err != nil {
				pa.Close()
				return nil, nil, err
			}
		}
	}
	if rec != nil {
		rp := pb
		if rp == nil {
			rp = pa
		}
		r, err := pcapio.NewRecorder(rp, rec, pcapio.RecorderConfig{Format: pcapio.FormatPcapNG})
		if err != nil {
			return nil, nil, err
		}
		if pb == nil {
			pa = r
		} else {
			pb = r
		}
	}
	if pb == nil {
		// One interface: both hosts behind one relay talk through hairpin.
		r := relay.New(pa, relay.Config{Hairpin: true})
		return r, r, nil
	}
	return relay.New(pa, relay.Config{}), relay.New(pb, relay.Config{}), nil
}

func (h *demoHost) open(vlans frame.VLANs) error {
	var err error
	if h.h, err = host.New(h.r, host.Config{MAC: h.mac, VLANs: vlans,
		Addrs: []netip.Prefix{netip.PrefixFrom(h.v4, 24), netip.PrefixFrom(h.v6, 64)}}); err != nil {
		return err
	}
	if h.c4, err = h.h.ListenUDP(netip.AddrPortFrom(h.v4, 5000)); err != nil {
		return err
	}
	h.c6, err = h.h.ListenUDP(netip.AddrPortFrom(h.v6, 5000))
	return err
}

// ping pings dst, one of to's addresses, from host from.
func ping(w io.Writer, from, to *demoHost, dst netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rtt, err := from.h.Ping(ctx, dst)
	if err != nil {
		return fmt.Errorf("host %s: %w", from.name, err)
	}
	fmt.Fprintf(w, "%s pinged   %s at %v: reply in %v\n", from.name, to.name, dst, rtt.Round(time.Microsecond))
	return nil
}

// settledStats returns the relays' counters once they stop changing: a
// relay counts a frame sent after its write returns, which may be after the
// peer got it, so the last echo reply can still be uncounted when the ping
// returns. On a busy link they never settle; it gives up after 200 ms.
func settledStats(ra, rb *relay.Relay) (sa, sb relay.Stats) {
	sa, sb = ra.Stats(), rb.Stats()
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		na, nb := ra.Stats(), rb.Stats()
		if na == sa && nb == sb {
			break
		}
		sa, sb = na, nb
	}
	return sa, sb
}

func (h *demoHost) conn(fam string) *rudp.Conn {
	if fam == "IPv4" {
		return h.c4
	}
	return h.c6
}

func exchange(w io.Writer, fam string, from, to *demoHost, count int) error {
	src, dst := from.conn(fam), to.conn(fam)
	buf := make([]byte, 2048)
	for i := range count {
		msg := fmt.Sprintf("hello %d from %s to %s over %s", i, from.name, to.name, fam)
		if _, err := src.WriteTo([]byte(msg), dst.LocalAddr()); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s sent     %-45q to   %v\n", from.name, msg, dst.LocalAddr())
		dst.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, addr, err := dst.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) || err != nil {
			return fmt.Errorf("host %s: %w", to.name, err)
		}
		fmt.Fprintf(w, "%s received %-45q from %v\n", to.name, buf[:n], addr)
	}
	return nil
}

func printStats(w io.Writer, h *demoHost) {
	s, b := h.r.Stats(), h.before
	fmt.Fprintf(w, "relay of host %s: in %d frames/%d bytes, out %d frames/%d bytes, delivered %d, misses %d, malformed %d, queue drops %d, write errors %d, hairpinned %d (UDP exchange)\n",
		h.name, s.FramesIn-b.FramesIn, s.BytesIn-b.BytesIn, s.FramesOut-b.FramesOut, s.BytesOut-b.BytesOut,
		s.Delivered-b.Delivered, s.Misses-b.Misses, s.Malformed-b.Malformed, s.QueueDrops-b.QueueDrops,
		s.WriteErrors-b.WriteErrors, s.Hairpinned-b.Hairpinned)
	for _, c := range []*rudp.Conn{h.c4, h.c6} {
		st := c.Stats()
		fmt.Fprintf(w, "  %v: datagrams in %d, out %d, bad checksum %d, queue drops %d\n",
			c.LocalAddr(), st.DatagramsIn, st.DatagramsOut, st.BadChecksum, st.QueueDrops)
	}
	hs := h.h.Stats()
	fmt.Fprintf(w, "  host %s: answered ARP %d, ND %d, echo %d; sent solicitations %d; before the exchange its relay had in %d frames, out %d\n",
		h.name, hs.ARPAnswered, hs.NDAnswered, hs.EchoAnswered, hs.Solicits, b.FramesIn, b.FramesOut)
	nbs := h.h.Neighbors()
	slices.SortFunc(nbs, func(x, y host.Neighbor) int { return x.Addr.Compare(y.Addr) })
	for _, n := range nbs {
		fmt.Fprintf(w, "  neighbour %v at %s, %s\n", n.Addr, n.MAC, n.State)
	}
}
