package host_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// fragments cuts the ICMPv6 message msg from src to dst into IPv6
// fragments of 16 bytes of data, as frames to the host.
func (w *wire) fragments(src, dst netip.Addr, hop uint8, msg []byte) [][]byte {
	var fr frame.Fragmenter
	ip := frame.IPHeader{Src: src, Dst: dst, Proto: frame.ProtoICMPv6, TTL: hop}
	require.NoError(w.t, fr.InitIP(&ip, msg[:8], msg[8:], frame.IPv6Len+frame.IPv6FragmentLen+16, 77))
	var out [][]byte
	for !fr.Done() {
		b := make([]byte, 200)
		n := fr.Next(b)
		out = append(out, w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv6, gopacket.Payload(b[:n])))
	}
	return out
}

// TestFragmentedICMPv6: an echo request that comes in fragments is
// reassembled and answered; a neighbor solicitation that comes in
// fragments is ignored (RFC 6980), as Linux ignores it.
func TestFragmentedICMPv6(t *testing.T) {
	w := newWire(t, nil)
	w.defaultHost(host.Config{})
	echo := icmpMsg(t, peer6, host6, 128, 0, &icmp.Echo{ID: 7, Seq: 1, Data: make([]byte, 40)})
	for _, f := range w.fragments(peer6, host6, 64, echo) {
		w.send(f)
	}
	w.expect("an echo reply", isICMP(129))

	ns := icmpMsg(t, peer6, host6, 135, 0, &icmp.RawBody{Data: nsBody(host6, ndOpt(1, peerMAC))})
	for _, f := range w.fragments(peer6, host6, 255, ns) {
		w.send(f)
	}
	w.none("an advertisement for a fragmented solicitation", isND(136, host6))
}
