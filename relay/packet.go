package relay

import (
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
)

// Packet is one received frame and what the relay's single parse learned
// about it. Packets are pooled and reference counted: whoever keeps a Packet
// beyond the call that handed it over calls Retain, and Release when done.
// The frame bytes must not be modified; several endpoints may share them.
type Packet struct {
	buf  []byte
	n    int
	refs atomic.Int32
	cls  uint8 // the size class (pool) the buffer belongs to
	// reasm marks a datagram Reassemble put together from fragments.
	reasm bool
	// Info holds the offsets of every header in Frame, as the relay's one
	// parse found them; layers above read it instead of parsing again.
	Info frame.Info
}

// Buffer size classes. The read loop reads into full-size buffers; a frame
// that endpoints keep is first copied into the smallest class it fits, so a
// queued 60-byte ARP frame pins 256 bytes, not 9 KB: with 50,000 endpoints
// and full queues that is the difference between gigabytes and terabytes.
// The read class has one byte more than the longest frame, so that the
// batch read path can tell a frame that filled the buffer (truncated) from
// one that fits. The largest class holds a reassembled IP datagram (64 KiB
// and its headers); the read loop never reads into it.
var classSizes = [...]int{256, 2048, backend.MaxFrameLen + 1, MaxReassembledLen}

// readClass is the class the read loop reads into.
const readClass = 2

// MaxReassembledLen is the longest frame a reassembled datagram can make:
// 65,535 bytes of IPv6 payload, its header, and Ethernet with four tags.
const MaxReassembledLen = 0xffff + 40 + 14 + 4*4

var packetPools [len(classSizes)]sync.Pool

func init() {
	for i, size := range classSizes {
		packetPools[i].New = func() any { return &Packet{buf: make([]byte, size), cls: uint8(i)} }
	}
}

// getPacket returns a full-size packet holding one reference.
func getPacket() *Packet { return getPacketClass(readClass) }

// getPacketFor returns a packet of the smallest class that holds n bytes.
func getPacketFor(n int) *Packet {
	for i, size := range classSizes {
		if n <= size {
			return getPacketClass(i)
		}
	}
	return getPacket()
}

func getPacketClass(i int) *Packet {
	p := packetPools[i].Get().(*Packet)
	p.refs.Store(1)
	p.n, p.reasm = 0, false
	return p
}

// compact returns a packet to hand to endpoints in place of p, which the
// read loop keeps for its next read: a copy in a smaller buffer when the
// frame fits one, else p itself with a reference added. The caller
// releases the result when done delivering.
func (p *Packet) compact() *Packet {
	if p.n > classSizes[readClass-1] {
		p.Retain()
		return p
	}
	q := getPacketFor(p.n)
	q.n = copy(q.buf, p.buf[:p.n])
	q.Info = p.Info
	return q
}

// Frame returns the frame as received, Ethernet padding included. Its
// capacity ends with the frame: the pooled buffer behind it holds bytes of
// earlier frames, maybe of other endpoints, that must not be reachable.
func (p *Packet) Frame() []byte { return p.buf[:p.n:p.n] }

// Payload returns the Ethernet payload with IP padding trimmed (capacity
// ends with it, as Frame's).
func (p *Packet) Payload() []byte { return p.buf[p.Info.L3:p.Info.End:p.Info.End] }

// UDPPayload returns the UDP payload; it is empty unless Info.UDP is true.
// Its capacity ends with it, as Frame's.
func (p *Packet) UDPPayload() []byte {
	if !p.Info.UDP {
		return nil
	}
	return p.buf[p.Info.Payload:p.Info.PayloadEnd:p.Info.PayloadEnd]
}

// Reassembled reports whether the packet is a datagram that
// Relay.Reassemble put together from fragments: a layer that must refuse
// fragmented messages (IPv6 Neighbor Discovery, RFC 6980) can tell.
func (p *Packet) Reassembled() bool { return p.reasm }

// Retain adds a reference.
func (p *Packet) Retain() { p.refs.Add(1) }

// Release drops a reference; the last one returns the Packet to the pool.
func (p *Packet) Release() {
	if p.refs.Add(-1) == 0 {
		packetPools[p.cls].Put(p)
	}
}

// copyPacket makes a Packet holding a copy of b, parsed.
func copyPacket(b []byte) (*Packet, error) {
	if len(b) > backend.MaxFrameLen {
		return nil, backend.ErrFrameTooLong
	}
	p := getPacketFor(len(b))
	p.n = copy(p.buf, b)
	if err := frame.Parse(p.Frame(), &p.Info); err != nil {
		p.Release()
		return nil, err
	}
	return p, nil
}
