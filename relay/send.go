package relay

import (
	"net"
	"sync"

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
	if err := r.pio.WriteFrame(b); err != nil {
		r.st.writeErrors.Add(1)
		return err
	}
	r.st.framesOut.Add(1)
	r.st.bytesOut.Add(uint64(len(b)))
	return nil
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
	r.st.framesOut.Add(uint64(n))
	r.st.bytesOut.Add(totalLen(frames[:n]))
	if err != nil {
		r.st.writeErrors.Add(1)
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
