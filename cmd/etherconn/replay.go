package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/pcapio"
	"github.com/etherconn/etherconn/relay"
)

// endpointFlags collects repeated --endpoint values.
type endpointFlags []string

func (e *endpointFlags) String() string     { return strings.Join(*e, " ") }
func (e *endpointFlags) Set(v string) error { *e = append(*e, v); return nil }

// endpointSpec is MAC[/VLANS][#ETHERTYPE,...].
type endpointSpec struct {
	text string
	cfg  etherconn.Config
}

func parseEndpoint(text string) (endpointSpec, error) {
	s := endpointSpec{text: text}
	rest, ets, hasETs := strings.Cut(text, "#")
	macText, vlanText, _ := strings.Cut(rest, "/")
	mac, err := net.ParseMAC(macText)
	if err != nil {
		return s, fmt.Errorf("endpoint %q: %w", text, err)
	}
	vlans, err := frame.ParseVLANs(vlanText)
	if err != nil {
		return s, fmt.Errorf("endpoint %q: %w", text, err)
	}
	s.cfg = etherconn.Config{MAC: mac, VLANs: vlans}
	if hasETs {
		for _, f := range strings.Split(ets, ",") {
			et, err := strconv.ParseUint(f, 0, 16)
			if err != nil {
				return s, fmt.Errorf("endpoint %q: EtherType %q: %w", text, f, err)
			}
			s.cfg.EtherTypes = append(s.cfg.EtherTypes, uint16(et))
		}
	}
	return s, nil
}

func replay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var eps endpointFlags
	fs.Var(&eps, "endpoint", "an endpoint, MAC[/VLANS][#ETHERTYPE,...], e.g. 02:00:00:00:00:01/100.200#0x0800 (repeatable; default EtherTypes ARP, IPv4, IPv6)")
	bcast := fs.Bool("broadcast", true, "endpoints also receive broadcast frames")
	mcast := fs.Bool("multicast", false, "endpoints also receive multicast frames")
	unmatched := fs.Bool("unmatched", false, "also print the frames no endpoint receives")
	outbound := fs.Bool("outbound", false, "also replay the frames the recorded side sent (pcapng direction flags)")
	speed := fs.Float64("speed", 0, "pace by capture timestamps at this speed (0: as fast as possible)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: etherconn replay [flags] FILE\n\nReplays a pcap/pcapng capture into a relay and prints what each endpoint receives, then the counters.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("need exactly one capture file")
	}
	var specs []endpointSpec
	for _, e := range eps {
		s, err := parseEndpoint(e)
		if err != nil {
			return err
		}
		s.cfg.Broadcast, s.cfg.Multicast = *bcast, *mcast
		specs = append(specs, s)
	}

	pio, err := pcapio.OpenOffline(fs.Arg(0), pcapio.OfflineConfig{Speed: *speed, IncludeOutbound: *outbound})
	if err != nil {
		return err
	}
	// Paused: no frame is read before every endpoint is in place, so none
	// is lost to an endpoint that does not exist yet.
	r := relay.New(pio, relay.Config{Paused: true})
	defer r.Close()

	conns := make([]*etherconn.Conn, len(specs))
	for i, s := range specs {
		if conns[i], err = etherconn.New(r, s.cfg); err != nil {
			return err
		}
	}
	var def *relay.Endpoint
	if *unmatched {
		if def, err = r.RegisterDefault(relay.DefaultEndpointConfig{}); err != nil {
			return err
		}
	}
	outs := make([]strings.Builder, len(specs)+1)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drain(&outs[i], c.ReadPacket)
		}()
	}
	if def != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drain(&outs[len(specs)], func() (*relay.Packet, error) { return def.Read() })
		}()
	}
	r.Start()
	wg.Wait()

	for i, s := range specs {
		st := conns[i].Stats()
		fmt.Fprintf(stdout, "endpoint %s: %d frames, %d bytes, %d queue drops\n", s.text, st.FramesIn, st.BytesIn, st.QueueDrops)
		io.WriteString(stdout, outs[i].String())
	}
	if def != nil {
		fmt.Fprintf(stdout, "unmatched: %d frames\n", def.Stats().FramesIn)
		io.WriteString(stdout, outs[len(specs)].String())
	}
	st := r.Stats()
	fmt.Fprintf(stdout, "relay: in %d frames/%d bytes, delivered %d, misses %d, malformed %d, queue drops %d\n",
		st.FramesIn, st.BytesIn, st.Delivered, st.Misses, st.Malformed, st.QueueDrops)
	return nil
}

// drain reads packets until the input ends and describes each on its own line.
func drain(w io.Writer, read func() (*relay.Packet, error)) {
	for i := 1; ; i++ {
		p, err := read()
		if err != nil {
			if !errors.Is(err, relay.ErrInputEnded) && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(w, "  error: %v\n", err)
			}
			return
		}
		fmt.Fprintf(w, "  %d: %s\n", i, describe(p))
		p.Release()
	}
}

// describe prints what the relay's parse found: no second parse here.
func describe(p *relay.Packet) string {
	f, in := p.Frame(), &p.Info
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s > %s", frame.SrcMAC(f), in.Key.MAC)
	if v := in.VLANs(); len(v) > 0 {
		fmt.Fprintf(&sb, " vlan %s", v)
	}
	fmt.Fprintf(&sb, " type %#04x len %d", in.Key.EtherType, len(f))
	switch {
	case in.UDP:
		src, _ := netip.AddrFromSlice(in.SrcIP(f))
		dst, _ := netip.AddrFromSlice(in.DstIP(f))
		fmt.Fprintf(&sb, " udp %v > %v payload %d",
			netip.AddrPortFrom(src, in.SrcPort), netip.AddrPortFrom(dst, in.DstPort), in.PayloadEnd-in.Payload)
		if !frame.UDPChecksumOK(f, in) {
			sb.WriteString(" bad-checksum")
		}
	case in.IPVersion != 0:
		fmt.Fprintf(&sb, " ipv%d proto %d", in.IPVersion, in.Proto)
		if in.Fragment {
			sb.WriteString(" fragment")
		}
	}
	if in.IPVersion == 4 && !frame.IPv4ChecksumOK(f, in) {
		sb.WriteString(" bad-ip-checksum")
	}
	return sb.String()
}
