package memio_test

import (
	"encoding/binary"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	macA  = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB  = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	macC  = [6]byte{0x02, 0, 0, 0, 0, 0x0c}
	bcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast = [6]byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
)

// mkFrame builds a frame of size bytes (at least 18) carrying seq right after
// the Ethernet header, with a recognisable fill pattern after it.
func mkFrame(dst, src [6]byte, seq uint32, size int) []byte {
	b := make([]byte, size)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], 0x88b5) // local experimental EtherType
	if size >= 18 {
		binary.BigEndian.PutUint32(b[14:18], seq)
	}
	for i := 18; i < size; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func seqOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[14:18]) }
