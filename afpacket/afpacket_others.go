//go:build !linux

package afpacket

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/net/bpf"
)

// errNotSupported is returned by everything on systems other than Linux.
var errNotSupported = fmt.Errorf("afpacket: AF_PACKET sockets are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// conn is empty on this system: no Conn here ever holds a socket.
type conn struct{}

func open(string, Config) (*Conn, error) { return nil, errNotSupported }

func (*Conn) setReadDeadline(time.Time) error         { return errNotSupported }
func (*Conn) setBPF([]bpf.RawInstruction) error       { return errNotSupported }
func (*Conn) readFrame([]byte) (int, error)           { return 0, errNotSupported }
func (*Conn) readFrames([][]byte, []int) (int, error) { return 0, errNotSupported }
func (*Conn) writeFrame([]byte) error                 { return errNotSupported }
func (*Conn) writeFrames([][]byte) (int, error)       { return 0, errNotSupported }

// pollDrops has no kernel counter to read here, so Stats reports zeros.
func (*Conn) pollDrops() {}

// linkStats has no link to watch here.
func (*Conn) linkStats() LinkStats { return LinkStats{} }

// close has nothing to close, open having failed, so Close returns nil as
// its contract says of a first call.
func (*Conn) close() error { return nil }
