package afpacket

import (
	"encoding/binary"

	"github.com/etherconn/etherconn/frame"
)

// IP protocol numbers whose checksum completeChecksum fills in.
const (
	protoTCP = 6
	protoUDP = 17
)

// completeChecksum finishes the TCP or UDP checksum of frame f that its
// sender left for the hardware to compute (checksum offload). Such a frame
// carries, in its checksum field, only the sum of the pseudo-header; a NIC
// would complete it on the wire, but a frame that never reaches a NIC (a
// veth, the kernel's own traffic between namespaces) is handed to packet
// sockets as it is. Completing it makes the frame the one a wire would carry,
// as the receiving kernel stack assumes it is. The checksum covers the
// transport header and payload, the partial sum included, as the kernel's
// skb_checksum_help computes it. Frames of other protocols, fragments and
// frames that do not parse are left alone.
func completeChecksum(f []byte) {
	var in frame.Info
	if frame.Parse(f, &in) != nil || in.IPVersion == 0 || in.Fragment {
		return
	}
	var field, end int
	switch in.Proto {
	case protoUDP:
		if !in.UDP {
			return
		}
		field, end = in.L4+6, in.PayloadEnd
	case protoTCP:
		field, end = in.L4+16, in.End
	default:
		return
	}
	if field+2 > end {
		return
	}
	c := frame.Checksum(f[in.L4:end])
	if c == 0 {
		c = 0xffff // as the kernel does (CSUM_MANGLED_0): zero means "none" in UDP over IPv4
	}
	binary.BigEndian.PutUint16(f[field:], c)
}
