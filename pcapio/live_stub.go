//go:build !cgo

package pcapio

import "fmt"

// liveState is empty: without cgo there is no libpcap handle.
type liveState struct{}

func openLive(ifname string, _ LiveConfig) (*Live, error) {
	return nil, fmt.Errorf("pcapio: open %q: %w", ifname, ErrLiveUnsupported)
}

func (l *Live) readFrame([]byte) (int, error) { return 0, ErrLiveUnsupported }

func (l *Live) writeFrame([]byte) error { return ErrLiveUnsupported }

func (l *Live) captureStats() (CaptureStats, error) { return CaptureStats{}, ErrLiveUnsupported }

func (l *Live) close() {}
