//go:build linux

package afpacket_test

import (
	"testing"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/internal/netns"
)

// TestConformance runs the shared behaviour suite over a fresh veth pair for
// every subtest, one afpacket.Conn on each end, each end in its own
// namespace with IPv6 off, at the usual MTU and a jumbo one. It skips
// (through the harness) without root.
func TestConformance(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	for _, mtu := range []int{1500, 9000} {
		t.Run(map[int]string{1500: "mtu1500", 9000: "jumbo9000"}[mtu], func(t *testing.T) {
			t.Parallel()
			opts := &netns.VethOptions{Options: netns.Options{MTU: mtu}}
			conformance.Run(t, conformance.Config{
				MaxPayload: mtu,
				NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
					a, b, _ := netns.OpenPair(t, func(ifname string) (backend.PacketIO, error) {
						return afpacket.Open(ifname, afpacket.Config{ReadBufferSize: 4 << 20})
					}, opts)
					return a, b
				},
			})
		})
	}
}
