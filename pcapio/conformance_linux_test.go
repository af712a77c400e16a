//go:build linux && cgo

package pcapio_test

import (
	"testing"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/pcapio"
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
			cfg := conformance.Config{
				MaxPayload: link.maxPayload,
				NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
					a, b, _ := netns.OpenPair(t, openLive, opts)
					return a, b
				},
			}
			conformance.Run(t, cfg)
			conformance.RunStack(t, cfg)
		})
	}
}

func openLive(ifname string) (backend.PacketIO, error) {
	return pcapio.OpenLive(ifname, pcapio.LiveConfig{})
}
