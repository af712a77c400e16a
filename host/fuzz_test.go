package host_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/icmp"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// fuzzMaxEntries bounds the neighbour cache of FuzzHostInput's segment.
const fuzzMaxEntries = 64

// The station whose ARP request follows every fuzz frame: its answer
// shows the frame was handled.
var (
	markerMAC = frame.MAC{0x02, 0, 0, 0, 2, 0xfe}
	marker4   = netip.MustParseAddr("198.18.0.250")
)

// fuzzSeeds are valid frames of every kind the hosts handle.
func fuzzSeeds(w *wire) map[string][]byte {
	sn := frame.SolicitedNode(host6)
	snMAC, _ := frame.MulticastMAC(sn)
	allMAC, _ := frame.MulticastMAC(allNode)
	raBody := []byte{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	return map[string][]byte{
		"arp_request":       w.arpRequest(host4),
		"arp_request_other": w.arpRequest(netip.MustParseAddr("198.18.0.2")),
		"arp_reply":         w.arp(hostMAC, layers.ARPReply, peerMAC, peer4, hostMAC, host4),
		"arp_gratuitous":    w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, peer4, frame.MAC{}, peer4),
		"arp_probe":         w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, netip.IPv4Unspecified(), frame.MAC{}, host4),
		"ns":                w.ns(host6),
		"ns_unicast":        w.icmp6(hostMAC, peer6, host6, 255, 135, 0, nsBody(host6, ndOpt(1, peerMAC))),
		"ns_dad":            w.icmp6(snMAC, netip.IPv6Unspecified(), sn, 255, 135, 0, nsBody(host6)),
		"na":                w.na(hostMAC, peer6, host6, 0x60, peer6),
		"na_all_nodes":      w.na(allMAC, peer6, allNode, 0x20, peer6),
		"ra":                w.icmp6(allMAC, peerLL, allNode, 255, 134, 0, append(raBody, ndOpt(1, peerMAC)...)),
		"echo4":             w.echo(hostMAC, peer4, host4, 1, 2, []byte("ping")),
		"echo6":             w.echo(hostMAC, peer6, host6, 1, 2, []byte("ping")),
		"udp_closed_port":   w.udp(hostMAC, netip.AddrPortFrom(peer4, 4000), netip.AddrPortFrom(host4, 9), []byte("x")),
		"echo4_rr":          w.echoWith(peer4, host4, 0xb8, []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}}, []byte("rr")),
		"echo4_ts":          w.echoWith(peer4, host4, 0, []layers.IPv4Option{{OptionType: 68, OptionLength: 12, OptionData: []byte{5, 1, 0, 0, 0, 0, 0, 0, 0, 0}}}, []byte("ts")),
		"timestamp": w.ip(hostMAC, peer4, host4, 64, layers.IPProtocolICMPv4,
			icmpMsg(w.t, peer4, host4, 13, 0, &icmp.RawBody{Data: make([]byte, 16)})),
		"echo6_all_nodes":    w.echo(allMAC, peerLL, allNode, 1, 2, []byte("all")),
		"mld_query_general":  w.queryFrame(peerLL, allNode, netip.IPv6Unspecified(), false, 100),
		"mld_query_specific": w.queryFrame(peerLL, sn, sn, false, 100),
		"mld_query_v1":       w.queryFrame(peerLL, allNode, netip.IPv6Unspecified(), true, 100),
	}
}

// FuzzHostInput feeds random frames (seeded with valid ARP, NS, NA, RA,
// echo and UDP frames) to a relay with two hosts, through a memio pipe:
// nothing may panic, the hosts must go on answering, and the neighbour
// cache and the queues stay within their bounds.
func FuzzHostInput(f *testing.F) {
	w := newWire(f, nil)
	ncfg := host.NeighborConfig{MaxEntries: fuzzMaxEntries}
	a := w.defaultHost(host.Config{Neighbor: ncfg, AcceptRA: true, PortUnreachable: true, Broadcast: true, EchoMulticast: true})
	w.host(host.Config{MAC: mac(2), Addrs: pfxs("198.18.0.2/24", "2001:db8::2/64"), Neighbor: ncfg})
	for _, s := range fuzzSeeds(w) {
		f.Add(s)
	}
	buf := make([]byte, backend.MaxFrameLen)
	mark := w.arp(frame.BroadcastMAC, layers.ARPRequest, markerMAC, marker4, frame.MAC{}, host4)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < backend.MinFrameLen || len(in) > backend.MaxFrameLen {
			return
		}
		if err := w.end.WriteFrame(in); err != nil {
			t.Fatal(err)
		}
		if err := w.end.WriteFrame(mark); err != nil {
			t.Fatal(err)
		}
		// Frames are handled in order: once the marker is answered, so
		// was the input. What it made the hosts send is read and dropped.
		deadline := time.Now().Add(waitFor)
		for {
			if err := w.end.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			n, err := w.end.ReadFrame(buf)
			if err != nil {
				t.Fatalf("the marker was not answered after % x: %v (%+v)", in, err, a.Stats())
			}
			if n >= 42 && frame.MAC(buf[:6]) == markerMAC && buf[21] == 2 && netip.AddrFrom4([4]byte(buf[38:42])) == marker4 {
				break
			}
		}
		st := a.Stats()
		if st.Segment.Neighbors > fuzzMaxEntries || len(a.Neighbors()) > fuzzMaxEntries {
			t.Fatalf("%d neighbour entries, bound %d", st.Segment.Neighbors, fuzzMaxEntries)
		}
		if st.Segment.PendingNow > 1024 {
			t.Fatalf("%d datagrams pending", st.Segment.PendingNow)
		}
		if !a.HasAddr(host4) || !a.HasAddr(host6) || st.Segment.Addresses != 6 {
			t.Fatalf("addresses changed: %v, %+v", a.Addrs(), st.Segment)
		}
	})
}
