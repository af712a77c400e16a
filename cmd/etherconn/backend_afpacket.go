package main

import (
	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
)

// The afpacket backend: a Linux AF_PACKET socket on --interface (and one on
// --peer), in promiscuous mode. It needs CAP_NET_RAW (root, or setcap
// cap_net_raw,cap_net_admin+ep on the binary). On other systems opening it
// fails with an error that says AF_PACKET is Linux-only. "afpacket-ring"
// is the same socket receiving through a TPACKET_V3 ring (afpacket
// Config.Ring).
func init() {
	backends["afpacket"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	}
	backends["afpacket-ring"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{Ring: &afpacket.RingConfig{}})
	}
}
