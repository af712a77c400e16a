// Package sockstate is the Close, write-deadline and error state that
// etherconn.Conn and rudp.Conn share, so that both behave as net.UDPConn
// does in one place: the first Close succeeds and later ones fail with
// net.ErrClosed, a write past the deadline fails with
// os.ErrDeadlineExceeded, and errors are *net.OpError.
package sockstate

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/internal/deadline"
	"github.com/etherconn/etherconn/relay"
)

// State is a socket's closed flag and write deadline. The zero value is
// open, without a deadline.
type State struct {
	closed atomic.Bool
	wdl    deadline.Write
}

// Closed reports whether Close was called.
func (s *State) Closed() bool { return s.closed.Load() }

// Close marks the socket closed and reports whether this call did it:
// only the first Close does the work and returns nil.
func (s *State) Close() bool { return !s.closed.Swap(true) }

// CheckWrite returns the error a write must fail with now, or nil.
func (s *State) CheckWrite() error {
	if s.closed.Load() {
		return net.ErrClosed
	}
	if s.wdl.Exceeded() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// CheckOpen returns net.ErrClosed once closed, else nil.
func (s *State) CheckOpen() error {
	if s.closed.Load() {
		return net.ErrClosed
	}
	return nil
}

// SetWriteDeadline sets the write deadline, or fails with net.ErrClosed.
// Writes never wait for a slow receiver, so a write deadline only makes
// writes after it fail.
func (s *State) SetWriteDeadline(t time.Time) error {
	if err := s.CheckOpen(); err != nil {
		return err
	}
	s.wdl.Set(t)
	return nil
}

// OpError wraps err as net.UDPConn does: Source is the local address, Addr
// the remote one (nil for reads). A closed socket's error is plain
// net.ErrClosed, as the net package's; the end of the relay's input keeps
// its cause.
func OpError(op, network string, local, remote net.Addr, err error) error {
	if errors.Is(err, net.ErrClosed) && !errors.Is(err, relay.ErrInputEnded) {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: network, Source: local, Addr: remote, Err: err}
}
