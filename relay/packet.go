package relay

import (
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/frame"
)

// Packet is one received frame and what the relay's single parse learned
// about it. Packets are pooled and reference counted: whoever keeps a Packet
// beyond the call that handed it over calls Retain, and Release when done.
// The frame bytes must not be modified; several endpoints may share them.
type Packet struct {
	buf  []byte
	n    int
	refs atomic.Int32
	// Info holds the offsets of every header in Frame.
	Info frame.Info
}

var packetPool = sync.Pool{New: func() any {
	// One byte more than the longest frame, so that the batch read path can
	// tell a frame that filled the buffer (truncated) from one that fits.
	return &Packet{buf: make([]byte, backend.MaxFrameLen+1)}
}}

func getPacket() *Packet {
	p := packetPool.Get().(*Packet)
	p.refs.Store(1)
	p.n = 0
	return p
}

// Frame returns the frame as received, Ethernet padding included.
func (p *Packet) Frame() []byte { return p.buf[:p.n] }

// Payload returns the Ethernet payload with IP padding trimmed.
func (p *Packet) Payload() []byte { return p.buf[p.Info.L3:p.Info.End] }

// UDPPayload returns the UDP payload; it is empty unless Info.UDP is true.
func (p *Packet) UDPPayload() []byte {
	if !p.Info.UDP {
		return nil
	}
	return p.buf[p.Info.Payload:p.Info.PayloadEnd]
}

// Retain adds a reference.
func (p *Packet) Retain() { p.refs.Add(1) }

// Release drops a reference; the last one returns the Packet to the pool.
func (p *Packet) Release() {
	if p.refs.Add(-1) == 0 {
		packetPool.Put(p)
	}
}

// copyPacket makes a Packet holding a copy of b, parsed.
func copyPacket(b []byte) (*Packet, error) {
	if len(b) > backend.MaxFrameLen {
		return nil, backend.ErrFrameTooLong
	}
	p := getPacket()
	p.n = copy(p.buf, b)
	if err := frame.Parse(p.Frame(), &p.Info); err != nil {
		p.Release()
		return nil, err
	}
	return p, nil
}
