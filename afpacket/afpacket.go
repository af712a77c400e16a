package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/etherconn/etherconn/backend"
	"golang.org/x/net/bpf"
)

// The exported API is declared here once for every system, as
// github.com/mdlayher/packet does it: each method calls an unexported helper
// that the _linux.go files implement and afpacket_others.go stubs with
// errNotSupported.

// Interface checks: a *Conn is a full backend.
var (
	_ backend.PacketIO      = (*Conn)(nil)
	_ backend.BatchReader   = (*Conn)(nil)
	_ backend.BatchWriter   = (*Conn)(nil)
	_ backend.StatsReporter = (*Conn)(nil)
	_ bpf.Setter            = (*Conn)(nil)
)

// Conn is an AF_PACKET socket on one interface. It implements
// backend.PacketIO, backend.BatchReader, backend.BatchWriter and
// backend.StatsReporter. It is safe for one reader (ReadFrame or ReadFrames,
// not both at once) and any number of concurrent writers.
type Conn struct {
	ifname  string
	ifindex int
	hwaddr  net.HardwareAddr
	group   uint16      // the PACKET_FANOUT group joined
	receive ReceiveMode // the receive path Open took

	counters  backend.Counters
	gso       gsoCounters
	closeOnce sync.Once

	// sys is the socket itself: the system's own state, defined per system
	// (an empty struct where AF_PACKET does not exist).
	sys conn
}

// Open opens an AF_PACKET socket on the interface ifname, in the network
// namespace of the calling thread, and configures it as cfg says. The
// interface must exist and be up. On systems other than Linux it fails with
// an error that satisfies errors.Is(err, errors.ErrUnsupported).
func Open(ifname string, cfg Config) (*Conn, error) {
	c, err := open(ifname, cfg)
	if err != nil {
		return nil, openError(ifname, err)
	}
	return c, nil
}

// OpenGroup opens n sockets on ifname that share its incoming frames through
// one PACKET_FANOUT group. cfg.Fanout defaults to FanoutHash; the group is
// new unless cfg names one (FanoutGroup, FanoutJoin).
func OpenGroup(ifname string, cfg Config, n int) ([]*Conn, error) {
	if n < 1 {
		return nil, fmt.Errorf("afpacket: open %s: group of %d sockets", ifname, n)
	}
	if cfg.Fanout == FanoutNone {
		cfg.Fanout = FanoutHash
	}
	conns := make([]*Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := Open(ifname, cfg)
		if err != nil {
			for _, o := range conns {
				_ = o.Close()
			}
			return nil, err
		}
		cfg.FanoutGroup, cfg.FanoutJoin = c.FanoutGroup(), true
		conns = append(conns, c)
	}
	return conns, nil
}

// openError wraps err with the operation and the interface, and explains a
// permission error.
func openError(ifname string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("afpacket: open %s: %w (packet sockets need CAP_NET_RAW: run as root or grant it with setcap cap_net_raw,cap_net_admin+ep)", ifname, err)
	}
	return fmt.Errorf("afpacket: open %s: %w", ifname, err)
}

// Name returns the name of the interface the Conn is bound to.
func (c *Conn) Name() string { return c.ifname }

// Index returns the index of the interface the Conn is bound to.
func (c *Conn) Index() int { return c.ifindex }

// HardwareAddr returns the MAC address the interface had when the Conn was
// opened.
func (c *Conn) HardwareAddr() net.HardwareAddr { return c.hwaddr }

// FanoutGroup returns the PACKET_FANOUT group id the Conn joined (0 is a
// valid id; see Config.FanoutJoin), or 0 without fanout.
func (c *Conn) FanoutGroup() uint16 { return c.group }

// Receive returns the receive path Open took (never ReceiveDefault): the
// one Config.Receive asked for, or where the default fell back to (see
// ReceiveDefault).
func (c *Conn) Receive() ReceiveMode { return c.receive }

// SetReadDeadline sets a deadline for ReadFrame and ReadFrames; a read that
// times out returns an error satisfying errors.Is(err,
// os.ErrDeadlineExceeded) and the Conn stays usable. A zero t means no
// deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setReadDeadline(t) }

// SetBPF replaces the socket's classic BPF filter. Unlike Config.Filter it
// does not drain frames queued before the change. See the package
// documentation for how the filter sees VLAN tags.
func (c *Conn) SetBPF(filter []bpf.RawInstruction) error { return c.setBPF(filter) }

// ReadFrame blocks until a frame arrives and copies it into b, with the VLAN
// tag the kernel took off put back. A frame longer than b is cut to len(b)
// and returned with backend.ErrTruncated. A super-frame (GSO, GRO) is
// returned as the frames it stands for, one a call. It never returns frames
// sent out of the interface. A link that goes down does not end it: it waits for the
// link to come back. A removed interface does (see "Link loss" in the
// package documentation).
func (c *Conn) ReadFrame(b []byte) (int, error) { return c.readFrame(b) }

// ReadFrames blocks until at least one frame arrives, then fills bufs and
// lens with as many frames as are queued, up to min(len(bufs), len(lens),
// 1024): from the ring's slots or blocks the kernel handed over, or with one
// recvmmsg call (of 64 messages at most on a socket that splits
// super-frames), as Config.Receive chose (see the package documentation). VLAN tags are restored and super-frames
// split as in ReadFrame; the frames of a super-frame that bufs cannot take
// are returned by the next reads. A frame longer than its buffer is cut;
// lens holds the cut length and no error is reported.
func (c *Conn) ReadFrames(bufs [][]byte, lens []int) (int, error) { return c.readFrames(bufs, lens) }

// WriteFrame sends frame out of the interface exactly as given: no padding,
// tags as they are in the frame. It does not keep frame. A frame shorter than
// 14 bytes fails with backend.ErrFrameTooShort, one longer than the interface
// allows with backend.ErrFrameTooLong. The kernel allows the MTU plus 14
// bytes, and 4 more when the outer TPID is 0x8100.
func (c *Conn) WriteFrame(frame []byte) error { return c.writeFrame(frame) }

// WriteFrames sends frames in order with sendmmsg, up to 1024 per system
// call, each exactly as given. It returns how many leading frames were sent;
// fewer than len(frames) comes with an error, for example
// backend.ErrFrameTooShort for a frame under 14 bytes (the frames before it
// are sent).
func (c *Conn) WriteFrames(frames [][]byte) (int, error) { return c.writeFrames(frames) }

// Stats returns the Conn's frame and byte counters and the frames the kernel
// dropped because the socket's receive queue was full. It makes one
// getsockopt(PACKET_STATISTICS) call, which resets the kernel's counter; the
// Conn adds it up, so Dropped only grows.
func (c *Conn) Stats() backend.Stats {
	c.pollDrops()
	return c.counters.Snapshot()
}

// GSOStats are a Conn's counters of super-frames: frames that the kernel
// hands a packet socket merged, as one buffer with one set of headers for
// what a wire carries as many frames (GSO on send, GRO on receive; see
// "Super-frames" in the package documentation). The segments a Conn splits
// them into are counted in Stats as the frames they are; the super-frames
// themselves are not.
type GSOStats struct {
	// Split counts the super-frames split into the frames they stand for.
	Split uint64
	// Segments counts the frames made from them.
	Segments uint64
	// Dropped counts the super-frames dropped whole: of a kind the Conn
	// does not split, with headers or lengths that do not add up, or cut
	// short (by a BPF filter's snap length, or a ring block too small to
	// hold them).
	Dropped uint64
}

// GSOStats returns the Conn's super-frame counters. It makes no system
// call.
func (c *Conn) GSOStats() GSOStats {
	return GSOStats{Split: c.gso.split.Load(), Segments: c.gso.segments.Load(), Dropped: c.gso.dropped.Load()}
}

// LinkStats are a Conn's counters of link loss: how often and how long its
// interface was down, and whether it was removed. See "Link loss" in the
// package documentation.
type LinkStats struct {
	// Downs counts the times the Conn saw the interface go down: the
	// kernel's ENETDOWN to a read, or a look at a link that a write found
	// down. A link that comes up and goes down again before the Conn has
	// looked (see Down) counts once.
	Downs uint64
	// Down reports that the interface is down now, as the Conn last saw:
	// it looks at a link that is down at least every 20 ms, so Down turns
	// false up to that long after the link is back up.
	Down bool
	// DownTime is the time the interface was down in all, the current
	// down period included.
	DownTime time.Duration
	// Removed reports that the interface was removed or moved to another
	// network namespace: reading has ended (the read error wraps ENODEV).
	Removed bool
}

// LinkStats returns the Conn's link-loss counters. It makes no system call.
func (c *Conn) LinkStats() LinkStats { return c.linkStats() }

// Close closes the socket, which drops its promiscuous membership, and
// unblocks a blocked read. It is idempotent: calls after the first return
// nil. Every other call after Close fails with an error satisfying
// errors.Is(err, net.ErrClosed).
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.close() })
	return err
}
