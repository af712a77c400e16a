//go:build !linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/net/bpf"
)

// errNotSupported is returned by everything on systems other than Linux.
var errNotSupported = fmt.Errorf("afpacket: AF_PACKET sockets are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Conn is an AF_PACKET socket on one interface. On this system it cannot be
// opened; see the Linux build.
type Conn struct{}

// Open fails on this system: AF_PACKET sockets exist only on Linux.
func Open(ifname string, cfg Config) (*Conn, error) {
	return nil, fmt.Errorf("afpacket: open %s: %w", ifname, errNotSupported)
}

// OpenGroup fails on this system: AF_PACKET sockets exist only on Linux.
func OpenGroup(ifname string, cfg Config, n int) ([]*Conn, error) {
	return nil, fmt.Errorf("afpacket: open %s: %w", ifname, errNotSupported)
}

// Name returns the interface name; empty on this system.
func (c *Conn) Name() string { return "" }

// Index returns the interface index; zero on this system.
func (c *Conn) Index() int { return 0 }

// HardwareAddr returns the interface's MAC address; nil on this system.
func (c *Conn) HardwareAddr() net.HardwareAddr { return nil }

// FanoutGroup returns the fanout group id; zero on this system.
func (c *Conn) FanoutGroup() uint16 { return 0 }

// SetReadDeadline fails on this system.
func (c *Conn) SetReadDeadline(t time.Time) error { return errNotSupported }

// SetBPF fails on this system.
func (c *Conn) SetBPF(filter []bpf.RawInstruction) error { return errNotSupported }

// ReadFrame fails on this system.
func (c *Conn) ReadFrame(b []byte) (int, error) { return 0, errNotSupported }

// ReadFrames fails on this system.
func (c *Conn) ReadFrames(bufs [][]byte, lens []int) (int, error) { return 0, errNotSupported }

// WriteFrame fails on this system.
func (c *Conn) WriteFrame(frame []byte) error { return errNotSupported }

// WriteFrames fails on this system.
func (c *Conn) WriteFrames(frames [][]byte) (int, error) { return 0, errNotSupported }

// Stats returns zero counters on this system.
func (c *Conn) Stats() backend.Stats { return backend.Stats{} }

// Close does nothing on this system.
func (c *Conn) Close() error { return nil }
