package afpacket

import (
	"time"

	"golang.org/x/net/bpf"
)

// Config holds the options of Open. The zero value is a promiscuous socket
// without filter, fanout or buffer changes.
type Config struct {
	// NoPromiscuous leaves the interface's promiscuous mode alone. The
	// socket then only sees frames the interface accepts anyway: its own MAC
	// address, broadcast and the multicast groups it has joined.
	NoPromiscuous bool

	// Filter is an optional classic BPF program. Frames it rejects never
	// reach the socket, and no unfiltered frame is returned after Open: the
	// socket drops everything until the filter is in place. The program sees
	// received frames without their outer VLAN tag (see the package
	// documentation).
	Filter []bpf.RawInstruction

	// Fanout, when not FanoutNone, joins the socket to a PACKET_FANOUT group
	// so that several sockets on the same interface share the incoming
	// frames, each frame going to one of them.
	Fanout FanoutMode

	// FanoutGroup is the id of the fanout group to join or create. With
	// FanoutGroup zero and FanoutJoin false, the socket starts a new group
	// with an id the kernel picks (which may be 0); Conn.FanoutGroup reports
	// it, and the group's other sockets join it with FanoutJoin (OpenGroup
	// does this). All sockets of a group must use the same Fanout and fanout
	// flags.
	FanoutGroup uint16

	// FanoutJoin makes a zero FanoutGroup mean group 0 rather than a new
	// group. A non-zero FanoutGroup is always used as given.
	FanoutJoin bool

	// FanoutDefrag asks the kernel to reassemble IP fragments before hashing
	// them to a socket (PACKET_FANOUT_FLAG_DEFRAG).
	FanoutDefrag bool

	// FanoutRollover moves frames to another socket of the group when the
	// chosen one's queue is full (PACKET_FANOUT_FLAG_ROLLOVER).
	FanoutRollover bool

	// ReadBufferSize sets the socket's receive buffer in bytes
	// (SO_RCVBUFFORCE with CAP_NET_ADMIN, else SO_RCVBUF, capped by
	// net.core.rmem_max). 0 means DefaultReadBufferSize; below 0 leaves
	// the kernel's default (net.core.rmem_default, usually 208 KiB).
	ReadBufferSize int

	// WriteBufferSize, if positive, sets the socket's send buffer in bytes
	// (SO_SNDBUFFORCE with CAP_NET_ADMIN, else SO_SNDBUF).
	WriteBufferSize int

	// Receive chooses how frames come in (see "Receive paths" in the
	// package documentation). The zero value, ReceiveDefault, is
	// ReceiveAdaptive; ReceiveBlockRing when Ring is set; ReceiveFrameRing
	// with Fanout.
	Receive ReceiveMode

	// FrameRingSize is the memory of the frame ring (ReceiveFrameRing, and
	// ReceiveAdaptive's) in bytes,
	// rounded down to whole blocks of 256 KiB (at least one). 0 means
	// DefaultFrameRingSize. Frames that find the ring full are dropped and
	// counted in Stats().Dropped. The ring is kernel memory that stays
	// allocated while the Conn is open, 16 MiB a Conn by default (a fanout
	// group of n sockets holds n rings; an adaptive receive also holds its
	// block ring, 16 MiB by default, from a switch up until 2 s after the
	// switch down): a program opening many Conns may
	// want smaller rings, or ReceiveSocket, whose buffer is charged only for
	// frames waiting. The socket and the block ring ignore it.
	FrameRingSize int

	// Ring, when not nil, receives through a memory-mapped TPACKET_V3 ring
	// (ReceiveBlockRing): the kernel copies frames into blocks that the
	// reader takes whole, with no system call and no wake-up per frame.
	// It trades latency for throughput: the kernel hands a block over when
	// it is full or when RingConfig.Timeout has passed since it took its first
	// frame, so at low rates every frame waits up to that long. The default
	// adaptive receive is as fast on a veth without that wait. With
	// Receive set to ReceiveAdaptive, Ring sizes its block ring instead,
	// and a switch down waits up to two of its Timeouts for the block the
	// kernel was filling.
	// ReadBufferSize does not apply to a block ring.
	Ring *RingConfig

	// adapt, set by tests only (export_linux_test.go), replaces the
	// adaptive receive's thresholds.
	adapt *adaptTune
}

// adaptTune is when an adaptive receive switches (see the adapt*
// constants), and whether it starts on its block ring.
type adaptTune struct {
	upFrames, downFrames int
	upWindow, downWindow time.Duration
	blocks               bool
	refused              bool // the kernel refuses every block ring
}

// ReceiveMode is a way for a Conn to take frames in: Config.Receive.
type ReceiveMode int

// Receive modes.
const (
	// ReceiveDefault is ReceiveAdaptive; ReceiveBlockRing when Config.Ring
	// is set; ReceiveFrameRing when Config.Fanout is, or when the kernel
	// has no adaptive receive (before Linux 6.10). Should the kernel refuse
	// the frame ring (it needs DefaultFrameRingSize bytes of kernel memory)
	// while FrameRingSize is 0, Open falls back to ReceiveSocket.
	ReceiveDefault ReceiveMode = iota
	// ReceiveFrameRing takes frames from a memory-mapped TPACKET_V2 ring
	// of fixed-size slots, each handed to the reader as soon as the kernel
	// has written it. Frames too long for a slot (past 16 KiB, or past the
	// MTU: super-frames) come whole through the socket's queue, in their
	// place in the order, while it has room (ReadBufferSize); beyond that
	// they come cut to the slot (ErrTruncated from ReadFrame; a cut
	// super-frame is dropped and counted in GSOStats). A BPF filter's snap
	// length does not cut the ones that come whole.
	ReceiveFrameRing
	// ReceiveSocket reads the socket's queue: recvmsg(2) for ReadFrame,
	// recvmmsg(2) for ReadFrames.
	ReceiveSocket
	// ReceiveBlockRing takes frames from a TPACKET_V3 ring of blocks, sized
	// by Config.Ring (the zero RingConfig when nil).
	ReceiveBlockRing
	// ReceiveAdaptive takes frames from a frame ring while they come at
	// under about 200,000 a second, for its latency, and from a block ring
	// (Config.Ring, or the zero RingConfig) above that, for its
	// throughput, switching as the rate changes: back below about 50,000
	// a second, or after 50 ms without a block. The block ring has a
	// second socket; the two form a fanout group of their own, which
	// sends each frame to one ring, so a switch loses, repeats and
	// reorders nothing. The block ring exists from a switch up until 2 s
	// after the switch down, so an idle Conn holds the frame ring's
	// memory only. It needs Linux 6.10 or later
	// (PACKET_FANOUT_FLAG_IGNORE_OUTGOING), and no Config.Fanout.
	ReceiveAdaptive
)

// String returns the mode's name as the package documentation uses it.
func (m ReceiveMode) String() string {
	switch m {
	case ReceiveDefault:
		return "default"
	case ReceiveFrameRing:
		return "frame ring"
	case ReceiveSocket:
		return "socket"
	case ReceiveBlockRing:
		return "block ring"
	case ReceiveAdaptive:
		return "adaptive"
	}
	return "invalid"
}

// DefaultFrameRingSize is Config.FrameRingSize's default, 16 MiB: about
// 10,000 slots of a 1,500-byte MTU.
const DefaultFrameRingSize = 16 << 20

// DefaultReadBufferSize is Config.ReadBufferSize's default, 4 MiB. With
// the kernel's default (208 KiB) the socket receive lost 51–68% of a
// flood of small frames on a veth, with 4 MiB 13–40% (BenchmarkVethDefaults,
// "kernel" against "socket", one sitting), delivering 0.26–0.39 M against
// 0.45–0.57 M datagrams/s. The kernel charges only for frames that wait, so
// an idle socket costs nothing for it. The frame ring uses it for the
// frames too long for its slots; the block ring has its own memory
// (RingConfig) and ignores it.
const DefaultReadBufferSize = 4 << 20

// RingConfig sizes the TPACKET_V3 receive ring of Config.Ring. The zero
// value is 64 blocks of 256 KiB (16 MiB) retired after 1 ms.
type RingConfig struct {
	// BlockSize is the size of one block in bytes: a power of two, at
	// least the page size. A frame, with its 48-byte header, must fit in a
	// block, or it is cut. 0 means 256 KiB.
	BlockSize int

	// Blocks is the number of blocks, at most 65535. Frames the kernel
	// finds no free block for are dropped and counted in Stats().Dropped.
	// 0 means 64.
	Blocks int

	// Timeout is how long the kernel keeps filling a block that is not full
	// before it hands it to the reader: the most a frame waits at low
	// rates. The kernel counts whole milliseconds, from 1 ms (also what 0
	// means) to 65.535 s.
	Timeout time.Duration
}

// FanoutMode selects how a PACKET_FANOUT group spreads frames over its
// sockets.
type FanoutMode int

// Fanout modes, after the kernel's PACKET_FANOUT_* modes.
const (
	// FanoutNone does not join a fanout group.
	FanoutNone FanoutMode = iota
	// FanoutHash sends all frames of a flow to the same socket.
	FanoutHash
	// FanoutLB spreads frames round robin.
	FanoutLB
	// FanoutCPU picks the socket by the receiving CPU.
	FanoutCPU
	// FanoutRollover fills one socket before moving on to the next.
	FanoutRollover
	// FanoutRandom picks a socket at random.
	FanoutRandom
	// FanoutQM picks the socket by the receive queue of the NIC.
	FanoutQM
)

// String returns the kernel's name of the mode.
func (m FanoutMode) String() string {
	switch m {
	case FanoutNone:
		return "none"
	case FanoutHash:
		return "hash"
	case FanoutLB:
		return "lb"
	case FanoutCPU:
		return "cpu"
	case FanoutRollover:
		return "rollover"
	case FanoutRandom:
		return "random"
	case FanoutQM:
		return "qm"
	}
	return "invalid"
}
