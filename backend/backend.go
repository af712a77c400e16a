// Package backend defines PacketIO, the one small interface every link backend
// (afpacket, pcapio, memio, or your own) implements, the optional extension
// interfaces a relay discovers by type assertion, and the errors they share.
//
// A PacketIO moves whole Ethernet frames exactly as they are on the wire:
// destination MAC first, VLAN tags in place, no FCS. Everything above it
// (relay, etherconn, rudp) is backend-agnostic.
package backend

import (
	"errors"
	"net"
	"time"
)

// PacketIO reads and writes one whole Ethernet frame at a time.
//
// Contract (checked by the conformance package):
//   - Frames are exactly as on the wire: destination MAC first, VLAN tags in
//     place (a backend whose OS strips tags restores them), no FCS.
//   - ReadFrame blocks until a frame arrives and copies it into b. If the frame
//     is longer than b, the first len(b) bytes are copied and ErrTruncated is
//     returned with n == len(b); the backend stays usable.
//   - A backend never returns its own transmitted frames from ReadFrame.
//   - A finite source (an offline capture) returns io.EOF when exhausted.
//   - WriteFrame sends frame as given (no padding is added to frames shorter
//     than 60 bytes) and does not retain frame after it returns.
//   - Safe for one reader and any number of concurrent writers.
//   - Close is idempotent and unblocks a blocked ReadFrame; afterwards every
//     call returns an error that satisfies errors.Is(err, net.ErrClosed).
//   - Any ReadFrame error other than ErrTruncated, and than a read deadline's
//     (below), is final for that PacketIO.
//
// Optional abilities are the small interfaces below (BatchReader,
// BatchWriter, StatsReporter, ReadDeadliner), discovered by type assertion.
type PacketIO interface {
	ReadFrame(b []byte) (n int, err error)
	WriteFrame(frame []byte) error
	Close() error
}

// BatchReader is implemented by backends that can read several frames per
// system call. ReadFrames blocks until at least one frame is available, then
// fills bufs[0:n] and their lengths lens[0:n] with as many frames as are ready
// without blocking again. A frame longer than its buffer is truncated and its
// length in lens is the truncated length; that is not reported as an error.
type BatchReader interface {
	ReadFrames(bufs [][]byte, lens []int) (n int, err error)
}

// BatchWriter is implemented by backends that can write several frames per
// system call. WriteFrames returns how many leading frames were sent; n <
// len(frames) comes with a non-nil error.
type BatchWriter interface {
	WriteFrames(frames [][]byte) (n int, err error)
}

// Stats are a backend's own counters. Fields a backend cannot know stay zero.
type Stats struct {
	FramesIn  uint64 // frames returned by ReadFrame/ReadFrames
	BytesIn   uint64
	FramesOut uint64 // frames accepted by WriteFrame/WriteFrames
	BytesOut  uint64
	// Dropped counts frames lost below the backend before it could read them
	// (kernel socket drops, libpcap buffer drops, a full in-memory link).
	Dropped uint64
	// Discarded counts frames the backend accepted for writing but could not
	// deliver anywhere (for example writes during offline replay).
	Discarded uint64
}

// StatsReporter is implemented by backends that keep Stats.
type StatsReporter interface {
	Stats() Stats
}

// ReadDeadliner is implemented by backends whose reads a deadline
// interrupts, with net.Conn semantics for ReadFrame and ReadFrames: a read
// past the deadline fails with an error wrapping os.ErrDeadlineExceeded and
// the backend stays usable; the zero time means no deadline; a deadline set
// from another goroutine interrupts a read already blocked. A relay on such
// a backend lets a blocked endpoint reader read the backend itself (see the
// relay package: reader-led receive).
//
// A wrapper that has the method whatever it wraps returns an error wrapping
// errors.ErrUnsupported when what it wraps lacks the ability; use
// ReadDeadlinerOf to discover the ability through such wrappers.
type ReadDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// ReadDeadlinerOf returns pio's read deadline ability, if it has one: pio
// implements ReadDeadliner and clearing the deadline does not fail with
// errors.ErrUnsupported.
func ReadDeadlinerOf(pio PacketIO) (ReadDeadliner, bool) {
	rd, ok := pio.(ReadDeadliner)
	if !ok || errors.Is(rd.SetReadDeadline(time.Time{}), errors.ErrUnsupported) {
		return nil, false
	}
	return rd, true
}

var (
	// ErrTruncated reports that a received frame was longer than the buffer
	// given to ReadFrame; the returned bytes are its beginning.
	ErrTruncated = errors.New("backend: frame longer than read buffer, truncated")
	// ErrFrameTooShort reports a write of fewer than 14 bytes, which cannot be
	// an Ethernet frame.
	ErrFrameTooShort = errors.New("backend: frame shorter than an Ethernet header")
	// ErrFrameTooLong reports a write longer than the backend can send.
	ErrFrameTooLong = errors.New("backend: frame longer than the link allows")
	// ErrClosed is net.ErrClosed, repeated here so that backends and callers
	// can name it next to the other backend errors.
	ErrClosed = net.ErrClosed
)

// MinFrameLen is the shortest frame a backend accepts for writing: an
// Ethernet header without payload.
const MinFrameLen = 14

// MaxFrameLen is the longest frame the project's own buffers hold: a 9216-byte
// jumbo payload plus an Ethernet header and four VLAN tags.
const MaxFrameLen = 9216 + 14 + 4*4
