//go:build !cgo

package pcapio

import (
	"fmt"

	"github.com/etherconn/etherconn/backend"
)

// Live would be a libpcap handle; this build has no cgo, so OpenLive always
// fails with ErrLiveUnsupported and no Live value exists.
type Live struct{}

// OpenLive returns ErrLiveUnsupported: this build has no cgo.
func OpenLive(ifname string, cfg LiveConfig) (*Live, error) {
	return nil, fmt.Errorf("pcapio: open %q: %w", ifname, ErrLiveUnsupported)
}

// ReadFrame returns ErrLiveUnsupported.
func (l *Live) ReadFrame(b []byte) (int, error) { return 0, ErrLiveUnsupported }

// WriteFrame returns ErrLiveUnsupported.
func (l *Live) WriteFrame(frame []byte) error { return ErrLiveUnsupported }

// Close does nothing.
func (l *Live) Close() error { return nil }

// Stats returns zero Stats.
func (l *Live) Stats() backend.Stats { return backend.Stats{} }

// CaptureStats returns ErrLiveUnsupported.
func (l *Live) CaptureStats() (CaptureStats, error) { return CaptureStats{}, ErrLiveUnsupported }

// Name returns the empty string.
func (l *Live) Name() string { return "" }
