//go:build !cgo

package pcapio

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/etherconn/etherconn/backend"
)

var _ backend.PacketIO = (*Live)(nil)

func TestOpenLiveUnsupported(t *testing.T) {
	l, err := OpenLive("lo", LiveConfig{})
	assert.Nil(t, l)
	assert.ErrorIs(t, err, ErrLiveUnsupported)
	assert.ErrorContains(t, err, "cgo")
}
