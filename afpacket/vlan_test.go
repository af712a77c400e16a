package afpacket

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInsertTag(t *testing.T) {
	frame := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}
	tag := []byte{0x81, 0x00, 0xa0, 0x64}
	for _, tc := range []struct {
		name    string
		n, size int
		lost    bool
	}{
		{"room", 60, 64, false},
		{"exact", 60, 200, false},
		{"header only", 14, 18, false},
		{"macs only", 12, 16, false},
		{"two short", 60, 62, true},
		{"no room", 60, 60, true},
		{"cut in tag", 14, 14, true},
		{"buffer 13", 13, 13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := frame(tc.n)
			want := append(append(append([]byte{}, src[:12]...), tag...), src[12:]...)
			if len(want) > tc.size {
				want = want[:tc.size]
			}
			b := make([]byte, tc.size)
			copy(b, src)
			m, lost := insertTag(b, tc.n, 0x8100, 0xa064)
			assert.Equal(t, tc.lost, lost)
			assert.Equal(t, len(want), m)
			assert.True(t, bytes.Equal(want, b[:m]), "got % x\nwant % x", b[:m], want)
		})
	}
	// Frames shorter than two MACs and bad lengths are left alone.
	b := frame(8)
	m, lost := insertTag(b, 8, 0x8100, 1)
	assert.Equal(t, 8, m)
	assert.False(t, lost)
	assert.Equal(t, frame(8), b)
	m, _ = insertTag(b, 20, 0x8100, 1)
	assert.Equal(t, 20, m)
	assert.Equal(t, frame(8), b)
}

func TestFanoutModeString(t *testing.T) {
	for m, s := range map[FanoutMode]string{FanoutNone: "none", FanoutHash: "hash", FanoutLB: "lb", FanoutCPU: "cpu",
		FanoutRollover: "rollover", FanoutRandom: "random", FanoutQM: "qm", FanoutMode(99): "invalid"} {
		assert.Equal(t, s, m.String())
	}
}
