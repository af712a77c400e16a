package pcapio

import (
	"errors"
	"fmt"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// LiveConfig configures OpenLive. The zero value is ready to use.
type LiveConfig struct {
	// SnapLen is the largest frame captured whole. 0 means MaxSnapLen; it
	// must be at least backend.MaxFrameLen so that jumbo frames with four
	// VLAN tags fit. Frames that arrive longer than SnapLen are dropped and
	// counted in Stats().Dropped rather than returned cut short.
	SnapLen int
	// NoPromiscuous leaves the interface out of promiscuous mode. By
	// default OpenLive enables it, because the MAC addresses a relay
	// emulates are not the interface's own and a NIC filters frames for
	// unknown unicast addresses otherwise.
	NoPromiscuous bool
	// Filter is an optional BPF filter in pcap-filter(7) syntax, run in the
	// kernel before frames are copied to the capture buffer. On Linux the
	// kernel runs it on the frame with its outer VLAN tag moved to metadata:
	// the vlan keyword works (libpcap compiles it for that), but "ip" also
	// matches IPv4 under one tag, and "ether proto 0x8100" matches nothing.
	Filter string
	// BufferSize is the capture buffer size in bytes; 0 keeps libpcap's
	// default (2 MiB). A larger buffer absorbs longer bursts before the
	// kernel drops frames.
	BufferSize int
	// PollInterval bounds how long a read blocked on an idle interface takes
	// to notice Close, and so how long Close can take. 0 means
	// DefaultPollInterval. It adds no latency to frames: an arriving frame
	// ends the wait at once.
	PollInterval time.Duration
}

// DefaultPollInterval is the LiveConfig.PollInterval used when it is zero.
const DefaultPollInterval = 50 * time.Millisecond

// ErrLiveUnsupported is returned by OpenLive in a build without cgo, where
// libpcap cannot be used.
var ErrLiveUnsupported = errors.New("pcapio: live capture needs libpcap, which needs cgo (build with CGO_ENABLED=1 and libpcap headers)")

// CaptureStats are libpcap's own counters for a Live handle (pcap_stats),
// counted since the handle was opened.
type CaptureStats struct {
	// Received is the number of frames the capture received (ps_recv); on
	// Linux this includes frames dropped for lack of buffer space.
	Received uint64
	// Dropped is the number of frames the kernel dropped because the
	// capture buffer was full (ps_drop).
	Dropped uint64
	// IfDropped is the number of frames the interface or its driver dropped
	// (ps_ifdrop), where libpcap can tell.
	IfDropped uint64
}

func (c *LiveConfig) withDefaults() (LiveConfig, error) {
	v := *c
	if v.SnapLen == 0 {
		v.SnapLen = MaxSnapLen
	}
	if v.SnapLen < backend.MaxFrameLen || v.SnapLen > MaxSnapLen {
		return v, fmt.Errorf("pcapio: snap length %d out of range [%d, %d]", v.SnapLen, backend.MaxFrameLen, MaxSnapLen)
	}
	if v.PollInterval == 0 {
		v.PollInterval = DefaultPollInterval
	}
	if v.PollInterval < time.Millisecond {
		return v, fmt.Errorf("pcapio: poll interval %v: must be at least 1ms", v.PollInterval)
	}
	if v.BufferSize < 0 {
		return v, fmt.Errorf("pcapio: negative buffer size %d", v.BufferSize)
	}
	return v, nil
}
