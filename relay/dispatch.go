package relay

import "github.com/etherconn/etherconn/frame"

// reusable returns p if nobody else kept it, else a fresh packet.
func reusable(p *Packet) *Packet {
	if p.refs.Load() == 1 {
		return p
	}
	p.Release()
	return getPacket()
}

// parse parses p once; false means malformed (and counted so). The caller
// counts p in: the read loop once a batch.
func (r *Relay) parse(p *Packet) bool {
	if err := frame.Parse(p.Frame(), &p.Info); err != nil {
		r.st.malformed.Add(1)
		return false
	}
	return true
}

// dispatch parses p once and hands it to every endpoint that wants it.
func (r *Relay) dispatch(p *Packet) {
	r.st.framesIn.Add(1)
	r.st.bytesIn.Add(uint64(p.n))
	if r.parse(p) {
		one := [1]*Packet{p}
		r.dispatchParsed(&r.rx, one[:])
	}
}

// target is one delivery: an endpoint and the handler it had when routed.
type target struct {
	ep *Endpoint
	h  Handler
}

// dispatchParsed routes a batch of parsed packets under one read lock, then
// delivers them with the lock released: a handler may then send (even with
// hairpin) or close endpoints without deadlocking against a writer, and the
// lookups of a batch run back to back, which lets the CPU overlap their
// cache misses. x is the PacketIO's receive state whose scratch space
// the routing uses.
func (r *Relay) dispatchParsed(x *rxState, ps []*Packet) {
	if len(ps) == 0 {
		return
	}
	var ends [DefaultBatchSize + 1]int32
	ts := x.targets[:0]
	r.mu.RLock()
	for i := 0; i < len(ps); i += DefaultBatchSize {
		batch := ps[i:min(i+DefaultBatchSize, len(ps))]
		for j, p := range batch {
			ts = r.routeLocked(p, ts)
			ends[j+1] = int32(len(ts))
		}
		if i+DefaultBatchSize < len(ps) {
			// Deliver this chunk before routing the next: ends has room
			// for one chunk only.
			r.mu.RUnlock()
			prefetchAll(batch, ts, ends[:])
			r.deliverAll(batch, ts, ends[:])
			ts = ts[:0]
			r.mu.RLock()
		}
	}
	r.mu.RUnlock()
	last := ps[(len(ps)-1)/DefaultBatchSize*DefaultBatchSize:]
	prefetchAll(last, ts, ends[:])
	r.deliverAll(last, ts, ends[:])
	// Drop the references until the next batch; let a huge scratch space,
	// left by a burst of broadcasts to many endpoints, go.
	if cap(ts) > 4096 {
		ts = nil
	}
	clear(ts[:cap(ts)])
	x.targets = ts[:0]
}

func (r *Relay) deliverAll(ps []*Packet, ts []target, ends []int32) {
	for j, p := range ps {
		from, to := ends[j], ends[j+1]
		if from == to {
			r.st.misses.Add(1)
			continue
		}
		q := p.compact()
		for _, t := range ts[from:to] {
			r.deliver(t, q)
		}
		q.Release()
	}
}

// routeLocked appends the endpoints that want p to ts. r.mu must be held.
func (r *Relay) routeLocked(p *Packet, ts []target) []target {
	k := &p.Info.Key
	n := len(ts)
	if k.MAC.IsGroup() {
		bcast := k.MAC == frame.BroadcastMAC
		for _, ep := range r.tab.groups[groupKey{k.EtherType, k.Stack}] {
			if (bcast && ep.cfg.Broadcast) || (!bcast && ep.cfg.Multicast) {
				ts = append(ts, target{ep, ep.handler})
			}
		}
	} else if ep := r.tab.lookup(k); ep != nil {
		ts = append(ts, target{ep, ep.handler})
	}
	if r.def != nil && (len(ts) == n || r.mirror) {
		ts = append(ts, target{r.def, r.def.handler})
	}
	return ts
}

// deliver counts p as delivered before handing it over, so that a reader
// who already holds it never sees counters that lag behind; a failed push
// takes the count back.
func (r *Relay) deliver(t target, p *Packet) {
	ep := t.ep
	ep.st.framesIn.Add(1)
	ep.st.bytesIn.Add(uint64(p.n))
	r.st.delivered.Add(1)
	if t.h != nil && t.h.Handle(p) {
		return
	}
	if !ep.q.Push(p) {
		ep.st.framesIn.Add(^uint64(0))
		ep.st.bytesIn.Add(^uint64(p.n - 1))
		r.st.delivered.Add(^uint64(0))
		ep.st.queueDrops.Add(1)
		r.st.queueDrops.Add(1)
	}
}
