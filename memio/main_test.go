package memio_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	macA  = testkit.MAC(0x0a)
	macB  = testkit.MAC(0x0b)
	macC  = testkit.MAC(0x0c)
	bcast = testkit.Broadcast
	mcast = testkit.Multicast
)

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts are meaningless under it.
const raceEnabled = testkit.RaceEnabled

// mkFrame builds a frame of size bytes (at least the 14-byte header) of the
// local experimental EtherType carrying seq right after the Ethernet header,
// with testkit's fill pattern after it. A frame shorter than 18 bytes is
// testkit.SeqFrame's cut to size, so it holds no whole seq.
func mkFrame(dst, src [6]byte, seq uint32, size int) []byte {
	return testkit.SeqFrame(dst, src, nil, testkit.EtherTypeExp1, seq, size)[:size]
}

// seqOf returns the seq mkFrame put in b (0 when b is too short for one).
func seqOf(b []byte) uint32 {
	seq, _ := testkit.SeqOf(b)
	return seq
}
