package afpacket

import "encoding/binary"

// With PACKET_VNET_HDR set, the kernel puts a struct virtio_net_hdr
// (linux/virtio_net.h) in front of every frame a packet socket receives:
// before the data of recvmsg and recvmmsg, and right before the MAC header
// (at tp_mac - vnetHdrLen) in a ring. It is how the kernel describes a GSO
// or GRO super-frame (one skb that stands for many frames on the wire) and a
// checksum left to the hardware. It writes the fields in host byte order
// (vio_le() is the host's endianness for the legacy header).
//
// The socket then also expects one in front of every frame it sends; see
// send_linux.go.

// vnetHdrLen is the size of struct virtio_net_hdr.
const vnetHdrLen = 10

// virtio_net_hdr flags and GSO types.
const (
	vnetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start/csum_offset hold a partial checksum

	gsoNone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	gsoTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	gsoUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP: UFO, IP fragmentation; never split here
	gsoTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	gsoUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4: UDP GSO (UDP_SEGMENT) and UDP GRO
	gsoECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or'ed into a TCP type
)

// vnetHdr is a decoded struct virtio_net_hdr.
type vnetHdr struct {
	flags   uint8
	gsoType uint8
	// hdrLen is the kernel's hint of the linear header length
	// (skb_headlen); the splitter finds the headers itself.
	hdrLen     uint16
	gsoSize    uint16 // payload bytes per segment
	csumStart  uint16 // where the partial checksum starts, from the MAC header
	csumOffset uint16 // where, from csumStart, the checksum field is
}

// vnetOrder is the byte order of the header's fields: the host's.
var vnetOrder = binary.NativeEndian

// parseVnetHdr decodes the header at the start of b; a short b decodes as
// the zero header (no GSO, no checksum to complete).
func parseVnetHdr(b []byte) vnetHdr {
	if len(b) < vnetHdrLen {
		return vnetHdr{}
	}
	return vnetHdr{
		flags:      b[0],
		gsoType:    b[1],
		hdrLen:     vnetOrder.Uint16(b[2:]),
		gsoSize:    vnetOrder.Uint16(b[4:]),
		csumStart:  vnetOrder.Uint16(b[6:]),
		csumOffset: vnetOrder.Uint16(b[8:]),
	}
}

// put encodes h into the first vnetHdrLen bytes of b.
func (h vnetHdr) put(b []byte) {
	_ = b[vnetHdrLen-1]
	b[0], b[1] = h.flags, h.gsoType
	vnetOrder.PutUint16(b[2:], h.hdrLen)
	vnetOrder.PutUint16(b[4:], h.gsoSize)
	vnetOrder.PutUint16(b[6:], h.csumStart)
	vnetOrder.PutUint16(b[8:], h.csumOffset)
}

// isGSO reports whether the header describes a super-frame.
func (h vnetHdr) isGSO() bool { return h.gsoType != gsoNone }

// rxMeta is what the kernel says about a received frame beside its bytes:
// the outer VLAN tag it took off, checksum and length status (from
// PACKET_AUXDATA or the ring's frame header) and the virtio_net_hdr.
type rxMeta struct {
	vnet      vnetHdr
	tpid, tci uint16
	tagged    bool
	// csum: the transport checksum is left to hardware
	// (TP_STATUS_CSUMNOTREADY, the same as VIRTIO_NET_HDR_F_NEEDS_CSUM).
	csum bool
	// whole: the kernel handed over the whole frame (tp_snaplen ==
	// tp_len); a BPF filter's snap length can cut it.
	whole bool
}

// restore turns the n bytes of a frame that is not a super-frame at the
// start of b back into the frame as it was on the wire: the outer VLAN tag
// is put back, and a checksum the sender left to the hardware is completed.
// It returns the new length and whether bytes were lost because b was too
// short for the restored tag.
func (m *rxMeta) restore(b []byte, n int) (int, bool) {
	lost := false
	if m.tagged {
		n, lost = insertTag(b, n, m.tpid, m.tci)
	}
	if m.csum && m.whole && !lost {
		completeChecksum(b[:n])
	}
	return n, lost
}

// startSplit sets sf up to split the super-frame data that m describes
// (the kernel cut it when cut is set) and counts it split, or dropped when
// it cannot be split.
func (g *gsoCounters) startSplit(sf *superFrame, data []byte, m *rxMeta, cut bool) bool {
	if cut || !m.whole || !sf.init(data, m.vnet, m.tpid, m.tci, m.tagged) {
		g.dropped.Add(1)
		return false
	}
	g.split.Add(1)
	return true
}

// segment writes the next segment of sf into dst, counts it, and lets go of
// the super-frame's bytes after its last segment.
func (g *gsoCounters) segment(sf *superFrame, dst []byte) (int, bool) {
	n, cut := sf.next(dst)
	g.segments.Add(1)
	if !sf.more() {
		sf.reset()
	}
	return n, cut
}
