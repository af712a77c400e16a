//go:build linux

package afpacket_test

import (
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/internal/netns"
)

// TestConformance runs the shared behaviour suite over a fresh veth pair for
// every subtest, one afpacket.Conn on each end, each end in its own
// namespace with IPv6 off, at the usual MTU and a jumbo one, receiving with
// recvmmsg and with a TPACKET_V3 ring. It skips (through the harness)
// without root.
func TestConformance(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	cases := []struct {
		name string
		mtu  int
		cfg  afpacket.Config
	}{
		{"socket/mtu1500", 1500, afpacket.Config{Receive: afpacket.ReceiveSocket}},
		{"socket/jumbo9000", 9000, afpacket.Config{Receive: afpacket.ReceiveSocket}},
		{"frames/mtu1500", 1500, afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"frames/jumbo9000", 9000, afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"adaptive/mtu1500", 1500, afpacket.Config{}},
		{"adaptive/jumbo9000", 9000, afpacket.Config{}},
		{"adaptive-blocks/mtu1500", 1500, afpacket.OnBlocksOnly(afpacket.Config{})},
		// Switching on every few frames and every millisecond, through
		// the suite's bursts and pauses.
		{"adaptive-switching/mtu1500", 1500, afpacket.SwitchOften(afpacket.Config{}, 8, time.Millisecond)},
		{"ring/mtu1500", 1500, afpacket.Config{Ring: &afpacket.RingConfig{}}},
		// Small blocks, so that the suite's bursts span many blocks and
		// wrap the ring; a jumbo frame still fits in one.
		{"ring/jumbo9000", 9000, afpacket.Config{Ring: &afpacket.RingConfig{BlockSize: 16 << 10, Blocks: 256}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := &netns.VethOptions{Options: netns.Options{MTU: tc.mtu}}
			cfg := conformance.Config{
				MaxPayload: tc.mtu,
				NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
					a, b, _ := netns.OpenPair(t, func(ifname string) (backend.PacketIO, error) {
						return afpacket.Open(ifname, tc.cfg)
					}, opts)
					return a, b
				},
			}
			conformance.Run(t, cfg)
			conformance.RunStack(t, cfg)
		})
	}
}
