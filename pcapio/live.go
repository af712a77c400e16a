package pcapio

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// LiveConfig configures OpenLive. The zero value is ready to use.
type LiveConfig struct {
	// SnapLen is the largest frame captured whole. 0 means MaxSnapLen; it
	// must be at least backend.MaxFrameLen so that jumbo frames with four
	// VLAN tags fit. Frames that arrive longer than SnapLen are dropped and
	// counted in Stats().Dropped rather than returned cut short, and so are
	// frames longer than the interface's MTU allows (merged super-frames:
	// see the package documentation).
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

var (
	_ backend.PacketIO      = (*Live)(nil)
	_ backend.StatsReporter = (*Live)(nil)
)

// Live is a backend.PacketIO on a network interface through libpcap. It
// implements backend.StatsReporter; Stats().Dropped adds up libpcap's drop
// counters and the frames dropped for exceeding the snap length or the
// link's MTU.
//
// A Live handle is bound to the network namespace of the thread that opened
// it; it can be used from any goroutine afterwards.
//
// In a build without cgo OpenLive always fails with ErrLiveUnsupported, so
// no open Live exists; the methods of a zero Live then return
// ErrLiveUnsupported (Close nil, Stats zero, Name empty).
type Live struct {
	name      string
	errClosed error
	c         backend.Counters
	snapped   atomic.Uint64 // frames longer than the snap length or the link allows, dropped
	// maxFrame is the longest frame the interface's MTU (at open) allows,
	// four VLAN tags included: a longer one is a merged super-frame (GSO,
	// GRO), which libpcap hands over whole; 0 when the MTU is not known.
	maxFrame  int
	liveState // the libpcap handle (live_pcap.go); empty without cgo (live_stub.go)
}

// OpenLive opens the network interface ifname for capture and injection.
// ifname is looked up in the network namespace of the calling thread: to
// open an interface in another namespace, call OpenLive on a goroutine that
// has called runtime.LockOSThread and setns(2).
//
// Errors: an unknown interface gives an error satisfying errors.Is(err,
// os.ErrNotExist); missing privileges (capturing needs CAP_NET_RAW) one
// satisfying errors.Is(err, os.ErrPermission); an interface whose link type
// is not Ethernet one satisfying errors.Is(err, ErrNotEthernet). In a build
// without cgo it always fails with an error satisfying errors.Is(err,
// ErrLiveUnsupported).
func OpenLive(ifname string, cfg LiveConfig) (*Live, error) {
	return openLive(ifname, cfg)
}

// Name returns the name of the interface.
func (l *Live) Name() string { return l.name }

// ReadFrame blocks until a frame arrives and copies it into b, VLAN tags in
// place. A frame longer than b is truncated with backend.ErrTruncated.
// Frames this host transmits are never returned. An error other than
// ErrTruncated (the interface went down or was removed) is final.
func (l *Live) ReadFrame(b []byte) (int, error) { return l.readFrame(b) }

// WriteFrame sends frame on the interface as given (pcap_sendpacket). A
// frame longer than the interface accepts gives an error satisfying
// errors.Is(err, backend.ErrFrameTooLong).
func (l *Live) WriteFrame(frame []byte) error { return l.writeFrame(frame) }

// CaptureStats returns libpcap's counters. After Close it returns the last
// values read, which Close refreshes.
func (l *Live) CaptureStats() (CaptureStats, error) { return l.captureStats() }

// Stats returns the handle's counters. Dropped is the sum of libpcap's
// Dropped and IfDropped and of frames dropped for exceeding the snap length.
func (l *Live) Stats() backend.Stats {
	s := l.c.Snapshot()
	cs, _ := l.CaptureStats()
	s.Dropped = cs.Dropped + cs.IfDropped + l.snapped.Load()
	return s
}

// Close closes the handle. It waits for a blocked ReadFrame to return, which
// takes at most LiveConfig.PollInterval. Later calls of every method return
// errors satisfying errors.Is(err, net.ErrClosed). Close is idempotent and
// returns nil.
func (l *Live) Close() error {
	l.close()
	return nil
}
