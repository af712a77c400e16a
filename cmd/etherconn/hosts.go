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
	"os/signal"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/relay"
)

// maxHosts bounds --count and --range: a typo must not make the command
// take all memory (a host costs about 2 KiB).
const maxHosts = 1 << 18

// defaultHostMAC is the MAC of the first host; the others count up from it.
var defaultHostMAC = net.HardwareAddr{0x02, 0xec, 0x01, 0x00, 0x00, 0x00}

// hostsConfig is what the flags of etherconn hosts ask for.
type hostsConfig struct {
	backend, ifname string
	vlans           frame.VLANs
	v4              []netip.Prefix // the hosts' IPv4 addresses, with their on-link prefix
	v6              []netip.Prefix // their IPv6 addresses, none or one per host
	gw4, gw6        netip.Addr
	mac             frame.MAC // the first host's
	duration        time.Duration
	echoMulticast   bool
}

func parseHosts(args []string, stderr io.Writer) (*hostsConfig, error) {
	fs := flag.NewFlagSet("hosts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: etherconn hosts --interface IF (--range FIRST-LAST[/LEN] | --prefix P --count N) [flags]

Emulates N hosts on IF: they answer ARP, IPv6 Neighbor Solicitations and
ping for their addresses until interrupted (or --duration ends), with a
status line on stderr each second and a summary on stdout at the end.

  --range 198.18.0.10-198.18.3.255   one host per address; on-link prefix /LEN,
                                     by default the longest one that holds the
                                     range with its network and broadcast
                                     addresses outside it (here /21)
  --prefix 198.18.0.0/16 --count N   N hosts from the prefix's address on (its
                                     first host address for a network address)

flags:`)
		fs.PrintDefaults()
	}
	backendName := fs.String("backend", "afpacket", "real-interface backend: "+backendNames())
	ifname := fs.String("interface", "", "interface to emulate the hosts on (required)")
	vlanText := fs.String("vlan", "", "VLAN stack of the hosts, e.g. 100 or 0x88a8:100.200 (default untagged)")
	rangeText := fs.String("range", "", "IPv4 addresses FIRST-LAST[/LEN], one host each")
	prefixText := fs.String("prefix", "", "IPv4 prefix the hosts' addresses come from (with --count)")
	count := fs.Int("count", 0, "number of hosts (with --prefix)")
	v6Text := fs.String("v6", "", "IPv6 prefix: also give host i the i-th address of it (e.g. 2001:db8::/64)")
	var gateways []string
	fs.Func("gateway", "default gateway, IPv4 or IPv6 (repeat for both)", func(s string) error {
		gateways = append(gateways, s)
		return nil
	})
	macText := fs.String("mac", defaultHostMAC.String(), "MAC of the first host; the others count up from it")
	duration := fs.Duration("duration", 0, "stop after this long (default: run until SIGINT or SIGTERM)")
	echoMulticast := fs.Bool("echo-multicast", false, "answer IPv6 echo to all-nodes and solicited-node groups, as Linux does")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := &hostsConfig{backend: *backendName, ifname: *ifname, duration: *duration, echoMulticast: *echoMulticast}
	if c.ifname == "" {
		return nil, errors.New("--interface is required")
	}
	if _, ok := backends[c.backend]; !ok {
		return nil, fmt.Errorf("unknown backend %q (have %s)", c.backend, backendNames())
	}
	if c.duration < 0 {
		return nil, fmt.Errorf("--duration %v is negative", c.duration)
	}
	var err error
	if c.vlans, err = frame.ParseVLANs(*vlanText); err != nil {
		return nil, fmt.Errorf("--vlan: %w", err)
	}
	switch {
	case (*rangeText == "") == (*prefixText == ""):
		return nil, errors.New("give the addresses with either --range or --prefix and --count")
	case *rangeText != "":
		if *count != 0 {
			return nil, errors.New("--count goes with --prefix; --range gives one host per address")
		}
		c.v4, err = rangeAddrs(*rangeText)
	default:
		c.v4, err = prefixAddrs("--prefix", *prefixText, *count, true)
	}
	if err != nil {
		return nil, err
	}
	if *v6Text != "" {
		if c.v6, err = prefixAddrs("--v6", *v6Text, len(c.v4), false); err != nil {
			return nil, err
		}
	}
	if err := c.setGateways(gateways); err != nil {
		return nil, err
	}
	if c.mac, err = hostMACs(*macText, len(c.v4)); err != nil {
		return nil, err
	}
	return c, nil
}

// hosts runs etherconn hosts.
func hosts(args []string, stdout, stderr io.Writer) error {
	c, err := parseHosts(args, stderr)
	if err != nil {
		return err
	}
	// Signals first: from here on SIGINT ends the run cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reason := "interrupted"
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	pio, err := openBackend(c.backend, c.ifname)
	if err != nil {
		return err
	}
	r := relay.New(pio, relay.Config{})
	defer r.Close()
	start := time.Now()
	hs, err := c.makeHosts(ctx, r)
	defer func() {
		for _, h := range hs {
			h.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d hosts up on %s%s in %v: %s; press Ctrl-C to stop\n", len(hs), c.ifname,
		vlanSuffix(c.vlans), time.Since(start).Round(time.Microsecond), c.describe())
	live := liveLine(stderr)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	started := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			if c.duration > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				reason = "--duration " + c.duration.String() + " elapsed"
			}
			break loop
		case <-r.Done():
			live.end()
			return fmt.Errorf("relay stopped: %w", r.Err())
		case <-tick.C:
			live.show(sumHosts(hs).status(len(hs), r.Stats()))
		}
	}
	live.end()
	s := sumHosts(hs)
	fmt.Fprintf(stdout, "hosts: %d on %s%s, %s; stopped after %v (%s)\n", len(hs), c.ifname, vlanSuffix(c.vlans),
		c.describe(), time.Since(started).Round(time.Millisecond), reason)
	fmt.Fprintf(stdout, "answered: ARP %d, ND %d, echo %d (%d over the echo rate)\n",
		s.ARPAnswered, s.NDAnswered, s.EchoAnswered, s.EchoLimited)
	fmt.Fprintf(stdout, "sent: ARP/ND solicitations %d; dropped: unresolved %d, no route %d, malformed %d, not for us %d\n",
		s.Solicits, s.Unresolved, s.NoRoute, s.Malformed+s.Segment.Malformed, s.NotForUs+s.Segment.NotForUs)
	fmt.Fprintf(stdout, "neighbours: %d (evicted %d)\n", s.Segment.Neighbors, s.Segment.Evicted)
	rs := r.Stats()
	fmt.Fprintf(stdout, "relay: in %d frames/%d bytes, out %d frames/%d bytes, delivered %d, misses %d, malformed %d, queue drops %d, write errors %d\n",
		rs.FramesIn, rs.BytesIn, rs.FramesOut, rs.BytesOut, rs.Delivered, rs.Misses, rs.Malformed, rs.QueueDrops, rs.WriteErrors)
	return nil
}

// makeHosts creates the hosts on r; on error it returns those made, for
// the caller to close.
func (c *hostsConfig) makeHosts(ctx context.Context, r *relay.Relay) ([]*host.Host, error) {
	hs := make([]*host.Host, 0, len(c.v4))
	for i, p := range c.v4 {
		if i%1024 == 0 && ctx.Err() != nil {
			return hs, fmt.Errorf("stopped while making hosts: %w", ctx.Err())
		}
		addrs := []netip.Prefix{p}
		if c.v6 != nil {
			addrs = append(addrs, c.v6[i])
		}
		h, err := host.New(r, host.Config{MAC: c.macAt(i), VLANs: c.vlans, Addrs: addrs,
			Gateway4: c.gw4, Gateway6: c.gw6, EchoMulticast: c.echoMulticast})
		if err != nil {
			return hs, fmt.Errorf("host %d (%v): %w", i, p.Addr(), err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// describe says which addresses and MACs the hosts have.
func (c *hostsConfig) describe() string {
	n := len(c.v4)
	s := fmt.Sprintf("%v to %v/%d", c.v4[0].Addr(), c.v4[n-1].Addr(), c.v4[0].Bits())
	if c.v6 != nil {
		s += fmt.Sprintf(", %v to %v/%d", c.v6[0].Addr(), c.v6[n-1].Addr(), c.v6[0].Bits())
	}
	s += fmt.Sprintf(", MAC %s to %s", c.macAt(0), c.macAt(n-1))
	for _, gw := range []netip.Addr{c.gw4, c.gw6} {
		if gw.IsValid() {
			s += ", gateway " + gw.String()
		}
	}
	return s
}

func vlanSuffix(v frame.VLANs) string {
	if len(v) == 0 {
		return ""
	}
	return " vlan " + v.String()
}

// hostsSum adds up the hosts' counters; Segment is the first host's,
// which all share.
type hostsSum host.Stats

func sumHosts(hs []*host.Host) hostsSum {
	var s hostsSum
	for i, h := range hs {
		st := h.Stats()
		if i == 0 {
			s.Segment = st.Segment
		}
		s.ARPAnswered += st.ARPAnswered
		s.NDAnswered += st.NDAnswered
		s.EchoAnswered += st.EchoAnswered
		s.EchoLimited += st.EchoLimited
		s.Solicits += st.Solicits
		s.Unresolved += st.Unresolved
		s.NoRoute += st.NoRoute
		s.Malformed += st.Malformed
		s.NotForUs += st.NotForUs
	}
	return s
}

func (s hostsSum) status(n int, rs relay.Stats) string {
	return fmt.Sprintf("%d hosts up; answered ARP %d, ND %d, echo %d (%d over rate); neighbours %d; relay in %d, out %d frames, %d dropped",
		n, s.ARPAnswered, s.NDAnswered, s.EchoAnswered, s.EchoLimited, s.Segment.Neighbors,
		rs.FramesIn, rs.FramesOut, rs.QueueDrops+rs.Malformed)
}

// live prints the status line: rewritten in place on a terminal, one line
// each time elsewhere (a log file would otherwise get one endless line).
type live struct {
	w    io.Writer
	tty  bool
	used bool
}

func liveLine(w io.Writer) *live {
	l := &live{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			l.tty = true
		}
	}
	return l
}

func (l *live) show(s string) {
	if l.tty {
		fmt.Fprintf(l.w, "\r%s\x1b[K", s)
		l.used = true
		return
	}
	fmt.Fprintln(l.w, s)
}

func (l *live) end() {
	if l.used {
		fmt.Fprintln(l.w)
		l.used = false
	}
}
