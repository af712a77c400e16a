//go:build linux && cgo

package pcapio_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/etherconn"
	efr "github.com/etherconn/etherconn/internal/frame"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/pcapio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// conformanceLinks are the link MTUs the suite runs on.
var conformanceLinks = []struct {
	name       string
	maxPayload int
}{
	{"payload1500", 1500},
	{"jumbo9000", 9000},
}

// TestConformanceLive runs the shared backend suite on libpcap live
// handles on the two ends of a fresh veth pair, each end in its own
// throwaway network namespace with IPv6 off (no kernel ND/MLD noise). It
// needs CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW and skips without them.
func TestConformanceLive(t *testing.T) {
	netns.Require(t)
	for _, link := range conformanceLinks {
		t.Run(link.name, func(t *testing.T) {
			opts := &netns.VethOptions{Options: netns.Options{MTU: link.maxPayload}}
			conformance.Run(t, conformance.Config{
				MaxPayload: link.maxPayload,
				NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
					a, b, _ := netns.OpenPair(t, openLive, opts)
					return a, b
				},
			})
		})
	}
}

func openLive(ifname string) (backend.PacketIO, error) {
	return pcapio.OpenLive(ifname, pcapio.LiveOptions{})
}

// TestMalformedLive is the conformance subtest Malformed without the frame a
// Linux link cannot carry: malformed frames sent over the veth pair arrive
// through libpcap, are counted by the relay and do not stop it.
func TestMalformedLive(t *testing.T) {
	netns.Require(t)
	a, b, _ := netns.OpenPair(t, openLive, nil)
	rb := relay.New(b, relay.Config{})
	defer rb.Close()
	mac := [6]byte{0x02, 0xc0, 0, 0, 0, 2}
	src := [6]byte{0x02, 0xc0, 0, 0, 0, 1}
	ec, err := etherconn.New(rb, etherconn.Config{MAC: mac[:]})
	require.NoError(t, err)
	defer ec.Close()
	to, from := netip.MustParseAddrPort("198.18.0.2:2000"), netip.MustParseAddrPort("198.18.0.1:1000")
	c, err := rudp.New(ec, rudp.Config{LocalAddr: to})
	require.NoError(t, err)
	defer c.Close()

	const msg = "still alive"
	hl, il := efr.HeaderLen(0), efr.IPUDPLen(to.Addr())
	good := make([]byte, hl+il+len(msg))
	efr.PutEthernet(good, mac, src, nil, efr.EtherTypeIPv4)
	copy(good[hl+il:], msg)
	_, err = efr.PutUDP(good[hl:], &efr.UDPHeader{Src: from, Dst: to}, len(msg))
	require.NoError(t, err)
	const ip = efr.EthernetLen
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	fiveTags := make([]byte, efr.HeaderLen(5)+40)
	efr.PutEthernet(fiveTags, mac, src, efr.VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}, 0x8100)
	// The shortest tagged frame the kernel passes on: a tag, the inner
	// EtherType (IPv4) and two bytes, 20 in all.
	shortTagged := make([]byte, 20)
	efr.PutEthernet(shortTagged, mac, src, efr.VLANs{{ID: 100}}, efr.EtherTypeIPv4)
	arriving := map[string][]byte{
		"tag-then-2-bytes": shortTagged,
		"five-tags":        fiveTags,
		"ipv4-short":       mutate(func(b []byte) []byte { return b[:ip+10] }),
		"ipv4-ihl":         mutate(func(b []byte) []byte { b[ip] = 0x4f; return b }),
		"ipv4-version":     mutate(func(b []byte) []byte { b[ip] = 0x55; return b }),
		"ipv4-total":       mutate(func(b []byte) []byte { b[ip+2], b[ip+3] = 0xff, 0xff; return b }),
		"udp-length":       mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0xff, 0x00; return b }),
		"udp-short":        mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0, 4; return b }),
	}
	// Dropped by the receiving kernel: a tag followed by fewer than 6 bytes.
	truncTag := make([]byte, 15)
	efr.PutEthernet(truncTag, mac, src, nil, 0x8100)

	before := rb.Stats()
	require.NoError(t, a.WriteFrame(truncTag))
	for name, f := range arriving {
		require.NoError(t, a.WriteFrame(f), name)
	}
	require.NoError(t, a.WriteFrame(good))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 100)
	n, got, err := c.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, msg, string(buf[:n]), "the relay survives malformed input")
	assert.Equal(t, from, got)
	after := rb.Stats()
	assert.Equal(t, uint64(len(arriving)), after.Malformed-before.Malformed, "every malformed frame that arrived is counted")
	assert.Equal(t, uint64(len(arriving)+1), after.FramesIn-before.FramesIn, "all but the truncated tag arrive")
}
