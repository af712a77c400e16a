//go:build !cgo

package pcapio

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/etherconn/etherconn/backend"
)

func TestOpenLiveUnsupported(t *testing.T) {
	l, err := OpenLive("lo", LiveConfig{})
	assert.Nil(t, l)
	assert.ErrorIs(t, err, ErrLiveUnsupported)
	assert.ErrorContains(t, err, "cgo")

	// No open Live exists without cgo; a zero one has the stub's answers.
	var z Live
	_, err = z.ReadFrame(make([]byte, 100))
	assert.ErrorIs(t, err, ErrLiveUnsupported)
	assert.ErrorIs(t, z.WriteFrame(make([]byte, 60)), ErrLiveUnsupported)
	_, err = z.CaptureStats()
	assert.ErrorIs(t, err, ErrLiveUnsupported)
	assert.Equal(t, backend.Stats{}, z.Stats())
	assert.Empty(t, z.Name())
	assert.NoError(t, z.Close())
}
