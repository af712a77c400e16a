package relay

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/frame"
)

// errClosed is what calls on a closed relay or endpoint return.
var errClosed = net.ErrClosed

// Send writes one whole frame. With Config.Hairpin, a frame for a local
// endpoint is delivered to it instead. The frame is not retained.
func (r *Relay) Send(b []byte) error {
	if r.cfg.Hairpin && r.hairpin(b) {
		return nil
	}
	return r.st.sent(b, r.pio.WriteFrame(b))
}

// SendBatch writes frames, in one call when the PacketIO is a
// backend.BatchWriter, and returns how many leading frames were sent.
func (r *Relay) SendBatch(frames [][]byte) (int, error) {
	if r.bw == nil || r.cfg.Hairpin {
		for i, b := range frames {
			if err := r.Send(b); err != nil {
				return i, err
			}
		}
		return len(frames), nil
	}
	n, err := r.bw.WriteFrames(frames)
	return r.st.sentBatch(frames, n, err)
}

// outCounters count what a relay or an endpoint sends: frames and bytes
// written, and writes that failed.
type outCounters struct {
	framesOut, bytesOut, writeErrors atomic.Uint64
}

// sent counts a write of frame b that returned err, and returns err.
func (c *outCounters) sent(b []byte, err error) error {
	if err != nil {
		c.writeErrors.Add(1)
		return err
	}
	c.framesOut.Add(1)
	c.bytesOut.Add(uint64(len(b)))
	return nil
}

// sentBatch counts a write of frames that sent the first n and returned
// err, and returns n and err.
func (c *outCounters) sentBatch(frames [][]byte, n int, err error) (int, error) {
	c.framesOut.Add(uint64(n))
	c.bytesOut.Add(totalLen(frames[:n]))
	if err != nil {
		c.writeErrors.Add(1)
	}
	return n, err
}

// hairpin delivers b to local endpoints and reports whether it must stay
// off the wire (unicast delivered locally).
func (r *Relay) hairpin(b []byte) bool {
	p, err := copyPacket(b)
	if err != nil {
		return false
	}
	defer p.Release()
	k := &p.Info.Key
	src := frame.SrcMAC(b)
	tsp := targetPool.Get().(*[]target)
	defer func() {
		clear(*tsp)
		*tsp = (*tsp)[:0]
		targetPool.Put(tsp)
	}()
	r.mu.RLock()
	ts := r.routeLocked(p, (*tsp)[:0])
	r.mu.RUnlock()
	*tsp = ts
	local := false
	for _, t := range ts {
		if t.ep.def || t.ep.cfg.MAC == src {
			continue // the sender itself, or the default endpoint: wire only
		}
		r.deliver(t, p)
		local = true
	}
	if local {
		r.st.hairpinned.Add(1)
	}
	return local && !k.MAC.IsGroup()
}

// totalLen is the length of frames together, for the byte counters.
func totalLen(frames [][]byte) uint64 {
	var n uint64
	for _, b := range frames {
		n += uint64(len(b))
	}
	return n
}

var targetPool = sync.Pool{New: func() any { return new([]target) }}
