//go:build linux

package afpacket

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel takes the outer VLAN tag off every frame before a packet socket
// sees it, and with PACKET_AUXDATA set passes it beside the frame: as a
// control message after recvmsg and recvmmsg, in the frame's header in a
// ring. The functions here read it, with the frame's checksum and length
// status, into an rxMeta (vnet.go), whose restore puts the tag back, so that
// a frame reads as it was on the wire.

// oobSize is the control buffer of one received message: room for the
// PACKET_AUXDATA message and some slack.
const oobSize = 64

// sizeofAuxdata is the size of struct tpacket_auxdata.
const sizeofAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// findAuxdata returns the PACKET_AUXDATA control message in oob, or nil.
// The returned pointer points into oob.
func findAuxdata(oob []byte) *unix.TpacketAuxdata {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return nil
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= unix.CmsgLen(sizeofAuxdata) {
			return (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		}
		next := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if next <= 0 || next >= len(oob) {
			return nil
		}
		oob = oob[next:]
	}
	return nil
}

// auxVLAN returns the VLAN tag the kernel removed from the frame, if any.
func auxVLAN(aux *unix.TpacketAuxdata) (tpid, tci uint16, ok bool) {
	// Old kernels flag a tag only by a non-zero TCI.
	if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 && aux.Vlan_tci == 0 {
		return 0, 0, false
	}
	tpid = tpid8021Q
	if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && aux.Vlan_tpid != 0 {
		tpid = aux.Vlan_tpid
	}
	return tpid, aux.Vlan_tci, true
}

// parseAuxdata finds the PACKET_AUXDATA control message in oob and returns
// the VLAN tag the kernel removed from the frame, if any.
func parseAuxdata(oob []byte) (tpid, tci uint16, ok bool) {
	aux := findAuxdata(oob)
	if aux == nil {
		return 0, 0, false
	}
	return auxVLAN(aux)
}

// auxMeta is the side information of a frame that aux describes; a frame
// without PACKET_AUXDATA (aux nil) has none to restore.
func auxMeta(aux *unix.TpacketAuxdata) rxMeta {
	if aux == nil {
		return rxMeta{whole: true}
	}
	m := rxMeta{csum: aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0, whole: aux.Snaplen == aux.Len}
	m.tpid, m.tci, m.tagged = auxVLAN(aux)
	return m
}
