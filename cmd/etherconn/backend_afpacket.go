package main

import (
	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
)

// The afpacket backend: a Linux AF_PACKET socket on --interface (and one on
// --peer), in promiscuous mode. It needs CAP_NET_RAW (root, or setcap
// cap_net_raw,cap_net_admin+ep on the binary). On other systems opening it
// fails with an error that says AF_PACKET is Linux-only. It receives in
// afpacket's default mode, the adaptive receive; "afpacket-frames" is the
// same socket receiving through its TPACKET_V2 frame ring only,
// "afpacket-socket" with recvmmsg, and "afpacket-ring" through a
// TPACKET_V3 block ring (afpacket Config.Receive, Config.Ring).
func init() {
	backends["afpacket"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	}
	backends["afpacket-frames"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{Receive: afpacket.ReceiveFrameRing})
	}
	backends["afpacket-socket"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{Receive: afpacket.ReceiveSocket})
	}
	backends["afpacket-ring"] = func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{Ring: &afpacket.RingConfig{}})
	}
}
