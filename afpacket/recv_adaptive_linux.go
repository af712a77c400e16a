//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/internal/deadline"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// The adaptive receive's switches (see adaptiveRing).
const (
	// adaptUpFrames frames read from the frame ring within adaptUpWindow
	// move the Conn to the block ring: 4,096 in 20 ms is about 200,000
	// frames/s, a third to a half of what the frame ring takes on a veth
	// before the kernel's cost per frame stops it (0.49–0.99 M/s against
	// the block ring's 0.94–1.49 M in BenchmarkVethCeiling, eight runs).
	adaptUpFrames = 4096
	adaptUpWindow = 20 * time.Millisecond
	// On the block ring, a window of adaptDownWindow or more in which the
	// rate stayed under adaptDownFrames a window (50,000 frames/s), or in
	// which no block came at all, moves the Conn back to the frame ring.
	// The gap to the way up keeps a rate between the two from switching
	// to and fro.
	adaptDownWindow = 50 * time.Millisecond
	adaptDownFrames = 2500
	// adaptLinger is how long the block ring outlives a switch down. The
	// kernel fires a ring's block timer every RingConfig.Timeout for as
	// long as the ring exists, frames or not: 1,000 times a second per
	// Conn by default, which idle Conns were measured to pay for in CPU.
	// The ring is made again at the next switch up (setsockopt, mmap and
	// MADV_POPULATE_WRITE: BenchmarkAdaptiveBuild).
	adaptLinger = 2 * time.Second
	// adaptRetry is how long a Conn stays on its frame ring after the
	// kernel refused the block ring.
	adaptRetry = time.Second
)

// adaptState is where an adaptiveRing's group sends frames, and what the
// reader still has to take from the other ring.
type adaptState uint8

const (
	onFrames adaptState = iota // the frame ring; the block ring is empty
	toBlocks                   // the block ring; the frame ring's last frames first
	onBlocks                   // the block ring; the frame ring is empty
	toFrames                   // the frame ring; the block ring's last frames first
)

// errIdle ends a wait for a block that found none for adaptDownWindow.
var errIdle = errors.New("no block for a while")

// adaptiveRing is ReceiveAdaptive: a frame ring (TPACKET_V2, on the Conn's
// socket) at low rates, for its latency, and a block ring (TPACKET_V3, on a
// second socket) at high rates, for its throughput. The two sockets are
// the only members of a PACKET_FANOUT_CBPF group whose classic BPF program
// returns the member that gets every frame: 0 or 1. Each frame thus goes
// to one ring, neither lost nor duplicated when the reader repoints the
// group. Repointing (PACKET_FANOUT_DATA) waits in the kernel for every
// frame the old program steered (synchronize_net): when it returns, the
// old ring holds all the frames it will ever get, so the reader takes
// those first and order holds. Measured here, a switch takes 0.25–0.9 ms,
// up to 6 ms under a flood; the new ring takes the frames meanwhile.
//
// The reader decides from what it reads (rate): up when frames come fast,
// down when they come slowly or, waiting on the block ring, not at all for
// adaptDownWindow. An idle Conn thus ends on the frame ring and costs
// nothing. A block ring's last block may be half full when the group
// leaves it: the kernel hands it over one to two RingConfig.Timeouts
// (1 ms by default) after its first frame, which is the one wait a switch
// down costs (fillWait bounds it). A link that goes down or up takes the
// group apart and puts it together one member at a time, and for that
// moment frames can reach the other ring: for a second after a link
// event the reader looks there too (resync). The block ring exists only
// from a switch up to adaptLinger after the switch down: an idle Conn
// has no block timer firing and holds only its frame ring's memory.
type adaptiveRing struct {
	c      *Conn
	frames *frameRing
	side   *packet.Conn // the block ring's socket
	sideRx rxSock
	main   *rxSock // the Conn's: its drain mode is the Conn's
	steerX *rxSock // where PACKET_FANOUT_DATA is set: the Conn's socket

	// When to switch: the adapt* constants, but in tests.
	adaptTune
	ring RingConfig // the block ring's

	// life guards the block ring's life: it is made on the way up, by the
	// reader, and taken down by the linger timer, but only while the
	// reader reads the frame ring (up false) and does not look at it.
	life    sync.Mutex
	blocks  *rxRing // nil while there is none
	up      bool    // the reader has left onFrames
	closed  bool
	linger  *time.Timer
	downAt  time.Time // the last switch down
	retryAt time.Time // no block ring before then: the kernel refused one

	// The reader's state: the ring it reads, the window of the rate.
	state adaptState
	n     int
	calls int
	t0    time.Time
	stuck bool // a switch failed: the group stays where it points

	fromFrames bool // the last read was the frame ring's

	// dl is the read deadline of the block ring's socket while the reader
	// waits there (waiting): the Conn's (user), or the reader's probe for
	// idleness when that comes first. Only then: the deadline that a
	// relay's reader-led receive sets and clears at every hand-off is set
	// on one socket, not two, while the reader is on the frame ring.
	dl struct {
		sync.Mutex
		user, probe, set time.Time
		waiting          bool
	}
	// until is the Conn's deadline for the reads that do not wait: they
	// fail once it has passed, as a read through the poller does even
	// with frames there. It is checked, never waited on: deadline.Write's
	// kind.
	until deadline.Write

	// resync is when the reader stops looking at the ring it does not
	// read: until a while after a link event. The kernel takes the group's
	// members out one at a time when the link goes down and puts them back
	// one at a time when it comes up (main first, as the sockets were
	// made), so that for a moment the group has one member, which gets
	// every frame: frames can land in the other ring then.
	resync time.Time

	one    [1][]byte
	oneLen [1]int

	ups, downs atomic.Uint64 // switches made
}

// steerProgs are the group's two programs: every frame to member 0 (the
// frame ring) or to member 1 (the block ring).
var steerProgs = [2][1]unix.SockFilter{{{Code: 0x06, K: 0}}, {{Code: 0x06, K: 1}}}

// setupAdaptive opens the block ring's socket on ifi beside the Conn's,
// whose frame ring fr is set up already, and joins both to a group of
// their own that sends every frame to fr. Both sockets still drop every
// frame (the setup filter): openGates lets frames in. On an error nothing
// is left but the Conn's socket with fr, which may be in the group alone:
// every frame then goes to it.
func (c *Conn) setupAdaptive(ifi *net.Interface, fr *frameRing, cfg Config) (*adaptiveRing, error) {
	side, err := packet.Listen(ifi, packet.Raw, ethPAll, &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, fmt.Errorf("adaptive receive: second socket: %w", err)
	}
	tune := adaptTune{upFrames: adaptUpFrames, upWindow: adaptUpWindow, downFrames: adaptDownFrames, downWindow: adaptDownWindow}
	if cfg.adapt != nil {
		tune = *cfg.adapt
	}
	a := &adaptiveRing{c: c, frames: fr, side: side, main: &c.sys.rx, steerX: &c.sys.rx, adaptTune: tune}
	if cfg.Ring != nil {
		a.ring = *cfg.Ring
	}
	// Made stopped, so that landed only ever resets it.
	a.linger = time.AfterFunc(time.Hour, a.expire)
	a.linger.Stop()
	if err := c.setupSide(a); err != nil {
		_ = side.Close()
		return nil, fmt.Errorf("adaptive receive: %w", err)
	}
	a.settle(onFrames)
	if tune.blocks {
		if a.goUp(); !a.up {
			_ = side.Close()
			return nil, fmt.Errorf("adaptive receive: no block ring to start on")
		}
		a.settle(onBlocks)
	}
	return a, nil
}

// setupSide sets up a's second socket and the group. The block ring comes
// later (goUp).
func (c *Conn) setupSide(a *adaptiveRing) error {
	var err error
	if a.sideRx.rc, err = a.side.SyscallConn(); err != nil {
		return err
	}
	// Both rings' frames go through one reader that expects vnet headers
	// or none, as the Conn's socket has them.
	if c.sys.vnet {
		if err := setInt(a.sideRx.rc, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"); err != nil {
			return err
		}
	}
	if _, err := ringReq(&a.ring); err != nil {
		return err
	}
	// The group must keep outgoing frames away (Linux 6.10 and later):
	// without that flag, which is the group's and not the sockets', the
	// Conn would lose its send-only socket (see conn.ignoresOutgoing).
	const flags = unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	join := func(x *rxSock, id uint16, f uint32) error {
		return setInt(x.rc, unix.SOL_PACKET, unix.PACKET_FANOUT, int(uint32(id)|(unix.PACKET_FANOUT_CBPF|f)<<16), "PACKET_FANOUT")
	}
	if err := join(a.main, 0, flags|unix.PACKET_FANOUT_FLAG_UNIQUEID); err != nil {
		return err
	}
	c.sys.ignoresOutgoing = true
	id, err := fanoutGroup(a.main.rc)
	if err != nil {
		return err
	}
	if err := join(&a.sideRx, id, flags); err != nil {
		return err
	}
	// A program from the start, so that every switch replaces one: only
	// then does the kernel wait for the frames the old one steered.
	return a.point(0)
}

// point makes the group send every frame to member m.
func (a *adaptiveRing) point(m int) error {
	prog := unix.SockFprog{Len: 1, Filter: &steerProgs[m][0]}
	var serr error
	if err := a.steerX.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, &prog)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setsockopt PACKET_FANOUT_DATA: %w", serr)
	}
	return nil
}

// close closes the second socket, which ends a wait on it, then unmaps
// both rings; the Conn's socket is closed by then.
func (a *adaptiveRing) close() {
	a.life.Lock()
	defer a.life.Unlock()
	a.closed = true
	a.linger.Stop()
	_ = a.side.Close()
	a.frames.close()
	if a.blocks != nil {
		a.blocks.close()
	}
}

// drops takes the kernel's count of the frames the block ring's socket
// dropped (see Conn.pollDrops).
func (a *adaptiveRing) drops() uint64 {
	var st *unix.TpacketStats
	_ = a.sideRx.rc.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st == nil {
		return 0
	}
	return uint64(st.Drops)
}
