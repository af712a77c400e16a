//go:build linux

package afpacket

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// cmsg builds a control message buffer with one message.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func auxBytes(a unix.TpacketAuxdata) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&a)), sizeofAuxdata)
}

func TestParseAuxdata(t *testing.T) {
	for _, tc := range []struct {
		name     string
		aux      unix.TpacketAuxdata
		ok       bool
		tpid     uint16
		tci      uint16
		prefixed bool
	}{
		{"no tag", unix.TpacketAuxdata{}, false, 0, 0, false},
		{"8100", unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, Vlan_tci: 0xb064, Vlan_tpid: 0x8100}, true, 0x8100, 0xb064, false},
		{"88a8", unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, Vlan_tci: 0xfffe, Vlan_tpid: 0x88a8}, true, 0x88a8, 0xfffe, false},
		{"tci zero valid", unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, Vlan_tpid: 0x8100}, true, 0x8100, 0, false},
		{"tpid unknown", unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID, Vlan_tci: 5, Vlan_tpid: 0x88a8}, true, 0x8100, 5, false},
		{"old kernel priority only", unix.TpacketAuxdata{Vlan_tci: 0x6000}, true, 0x8100, 0x6000, false},
		{"after other message", unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, Vlan_tci: 7, Vlan_tpid: 0x88a8}, true, 0x88a8, 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oob := cmsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, auxBytes(tc.aux))
			if tc.prefixed {
				oob = append(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)), oob...)
			}
			tpid, tci, ok := parseAuxdata(oob)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.tpid, tpid)
			assert.Equal(t, tc.tci, tci)
		})
	}
	// Garbage never panics and finds nothing.
	good := cmsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, auxBytes(unix.TpacketAuxdata{Vlan_tci: 1}))
	for i := 0; i <= len(good); i++ {
		_, _, ok := parseAuxdata(good[:i])
		assert.Equal(t, i >= unix.CmsgLen(sizeofAuxdata), ok, "length %d", i)
	}
	bad := append([]byte{}, good...)
	(*unix.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(1000)
	_, _, ok := parseAuxdata(bad)
	assert.False(t, ok)
	(*unix.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(0)
	_, _, ok = parseAuxdata(bad)
	assert.False(t, ok)
	wrongType := cmsg(unix.SOL_PACKET, unix.PACKET_AUXDATA+1, auxBytes(unix.TpacketAuxdata{Vlan_tci: 1}))
	_, _, ok = parseAuxdata(wrongType)
	assert.False(t, ok)
	short := cmsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, make([]byte, 8))
	_, _, ok = parseAuxdata(short)
	assert.False(t, ok)
}
