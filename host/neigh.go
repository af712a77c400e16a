package host

import (
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/rudp"
)

// NeighborConfig tunes a segment's neighbour cache. Zero fields take the
// defaults, which are Linux's.
type NeighborConfig struct {
	// Probes is how many multicast/broadcast requests resolve a neighbour
	// before it is given up (default 3: mcast_solicit).
	Probes int
	// UnicastProbes is how many unicast probes confirm a stale neighbour
	// before it is removed (default 3: ucast_solicit).
	UnicastProbes int
	// RetransTime is the time between probes (default 1 s: retrans_time).
	RetransTime time.Duration
	// ReachableTime is how long a confirmed neighbour is REACHABLE before
	// it turns STALE (default 30 s: base_reachable_time).
	ReachableTime time.Duration
	// MaxEntries bounds the cache (default 8192); beyond it entries that
	// have nothing queued are evicted, and counted.
	MaxEntries int
}

func (c NeighborConfig) withDefaults() NeighborConfig {
	if c.Probes <= 0 {
		c.Probes = 3
	}
	if c.UnicastProbes <= 0 {
		c.UnicastProbes = 3
	}
	if c.RetransTime <= 0 {
		c.RetransTime = time.Second
	}
	if c.ReachableTime <= 0 {
		c.ReachableTime = 30 * time.Second
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 8192
	}
	return c
}

// Queue bounds of frames awaiting resolution: per neighbour for each host
// in bytes, Linux's unres_qlen_bytes (the kernel's queue is per neighbour
// entry of one host; hosts that share a segment's entry each get their
// own), which holds the 45 fragments of a 65,507-byte datagram; and per
// segment in frames.
const (
	maxPendingPerNeighbor = 212992
	maxPendingPerSegment  = 4096
)

// NeighborState is a neighbour cache entry's state, as the kernel names it.
type NeighborState uint8

// Neighbour states.
const (
	Incomplete NeighborState = iota + 1 // being resolved
	Reachable                           // confirmed within ReachableTime
	Stale                               // known, not confirmed lately; used
	Probe                               // stale and being confirmed by unicast probes
)

func (s NeighborState) String() string {
	switch s {
	case Incomplete:
		return "INCOMPLETE"
	case Reachable:
		return "REACHABLE"
	case Stale:
		return "STALE"
	case Probe:
		return "PROBE"
	}
	return "NONE"
}

// Neighbor is a snapshot of a neighbour cache entry.
type Neighbor struct {
	Addr  netip.Addr
	MAC   frame.MAC
	State NeighborState
}

type pending struct {
	ec *etherconn.Conn
	h  *Host
	f  *etherconn.Frame
	n  int
}

type neigh struct {
	addr    netip.Addr
	mac     frame.MAC
	state   NeighborState
	until   int64 // REACHABLE until, Unix ns
	probes  int
	timer   *time.Timer
	prober  *Host // whose MAC and address probes come from
	pending []pending
}

// neighCache is a segment's neighbour cache.
type neighCache struct {
	cfg     NeighborConfig
	mu      sync.RWMutex
	m       map[netip.Addr]*neigh
	npend   int // datagrams queued in all entries
	closed  bool
	evicted uint64
}

func (c *neighCache) init(cfg NeighborConfig) {
	c.cfg = cfg.withDefaults()
	c.m = make(map[netip.Addr]*neigh)
}

// lookup returns the MAC of a usable neighbour. A stale one is used and
// probed, as the kernel does.
func (c *neighCache) lookup(h *Host, a netip.Addr) (frame.MAC, bool) {
	c.mu.RLock()
	n := c.m[a]
	if n == nil || n.state == Incomplete {
		c.mu.RUnlock()
		return frame.MAC{}, false
	}
	mac, state, until := n.mac, n.state, n.until
	c.mu.RUnlock()
	if state == Reachable && now() < until {
		return mac, true
	}
	if state != Probe {
		c.startProbe(h, a)
	}
	return mac, true
}

// Probes are sent with c.mu released: with hairpin, the answer comes back
// on the sending goroutine and learns under c.mu.
func (c *neighCache) startProbe(h *Host, a netip.Addr) {
	c.mu.Lock()
	n := c.m[a]
	if n == nil || n.state == Incomplete || n.state == Probe || c.closed ||
		(n.state == Reachable && now() < n.until) {
		c.mu.Unlock()
		return
	}
	n.state, n.probes, n.prober = Probe, 1, h
	mac := n.mac
	c.arm(n)
	c.mu.Unlock()
	h.solicit(a, mac, true)
}

// enqueue queues a frame for a neighbour not resolved yet, and starts
// resolving it.
func (c *neighCache) enqueue(h *Host, a netip.Addr, ec *etherconn.Conn, f *etherconn.Frame, n int) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		f.Release()
		h.st.unresolved.Add(1)
		return
	}
	e := c.m[a]
	if e != nil && e.state != Incomplete {
		// Resolved meanwhile.
		mac := e.mac
		c.mu.Unlock()
		b := f.Bytes(n)
		copy(b[:6], mac[:])
		_ = ec.WriteFrame(b)
		f.Release()
		return
	}
	start := false
	if e == nil {
		if !c.makeRoom() {
			c.mu.Unlock()
			f.Release()
			h.st.unresolved.Add(1)
			return
		}
		// Resolved whether or not the datagram finds room below.
		e = &neigh{addr: a, state: Incomplete, prober: h, probes: 1}
		c.m[a] = e
		c.arm(e)
		start = true
	}
	// h's oldest go until f fits, as the kernel drops the oldest
	// (__neigh_event_send); f itself when nothing of h's is left to go.
	// One walk of the queue finds h's bytes and, eviction by eviction,
	// its next oldest.
	var dropBuf [4]*etherconn.Frame
	drop := dropBuf[:0]
	mine, oldest := e.queuedBy(h)
	for mine+n > maxPendingPerNeighbor || c.npend >= maxPendingPerSegment {
		if oldest < 0 {
			drop = append(drop, f)
			f = nil
			break
		}
		drop = append(drop, e.pending[oldest].f)
		mine -= e.pending[oldest].n
		e.pending = slices.Delete(e.pending, oldest, oldest+1)
		c.npend--
		oldest = e.nextBy(h, oldest)
	}
	if f != nil {
		e.pending = append(e.pending, pending{ec, h, f, n})
		c.npend++
	}
	c.mu.Unlock()
	if start {
		h.solicit(a, frame.MAC{}, false)
	}
	for _, d := range drop {
		d.Release()
		h.st.unresolved.Add(1)
	}
}

// queuedBy returns how many bytes of e's queued frames h sent, and the
// index of the oldest (-1 if none); the cache's mu is held.
func (e *neigh) queuedBy(h *Host) (bytes, oldest int) {
	oldest = -1
	for i := range e.pending {
		if e.pending[i].h == h {
			if oldest < 0 {
				oldest = i
			}
			bytes += e.pending[i].n
		}
	}
	return bytes, oldest
}

// nextBy returns the index of the first of e's queued frames from i on
// that h sent, or -1; the cache's mu is held.
func (e *neigh) nextBy(h *Host, i int) int {
	for ; i < len(e.pending); i++ {
		if e.pending[i].h == h {
			return i
		}
	}
	return -1
}

// makeRoom evicts an entry with nothing queued when the cache is full;
// c.mu is held.
func (c *neighCache) makeRoom() bool {
	if len(c.m) < c.cfg.MaxEntries {
		return true
	}
	for a, e := range c.m { // map order is random: a random victim
		if len(e.pending) == 0 {
			if e.timer != nil {
				e.timer.Stop()
			}
			delete(c.m, a)
			c.evicted++
			return true
		}
	}
	return false
}

// arm (re)starts n's probe timer; c.mu is held.
func (c *neighCache) arm(n *neigh) {
	if n.timer == nil {
		n.timer = time.AfterFunc(c.cfg.RetransTime, func() { c.retry(n) })
		return
	}
	n.timer.Reset(c.cfg.RetransTime)
}

// retry sends the next probe of n, or gives it up.
func (c *neighCache) retry(n *neigh) {
	c.mu.Lock()
	if c.closed || c.m[n.addr] != n || (n.state != Incomplete && n.state != Probe) {
		c.mu.Unlock()
		return
	}
	limit := c.cfg.Probes
	if n.state == Probe {
		limit = c.cfg.UnicastProbes
	}
	if n.probes < limit && n.prober != nil {
		n.probes++
		prober, mac, unicast := n.prober, n.mac, n.state == Probe
		c.arm(n)
		c.mu.Unlock()
		prober.solicit(n.addr, mac, unicast)
		return
	}
	delete(c.m, n.addr) // FAILED: the kernel keeps it a while; a new send resolves again
	drop := n.pending
	n.pending = nil
	c.npend -= len(drop)
	c.mu.Unlock()
	for _, p := range drop {
		// As Linux's ICMP host/address unreachable to itself: the socket
		// that sent it learns, if it asked to (rudp.Conn.SetRecvErr).
		rudp.ReportError(p.ec, p.f.Bytes(p.n), syscall.EHOSTUNREACH)
		p.f.Release()
		p.h.st.unresolved.Add(1)
	}
}

// learn records that a has mac. confirmed (a solicited reply) makes the
// entry REACHABLE; otherwise an existing entry is updated to STALE if the
// MAC changed, and a new one is made STALE only if create. It reports
// whether the cache has the entry now.
func (c *neighCache) learn(a netip.Addr, mac frame.MAC, confirmed, create bool) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || mac.IsGroup() || mac == (frame.MAC{}) {
		return false
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	e := c.m[a]
	if e == nil {
		if !create || !c.makeRoom() {
			c.mu.Unlock()
			return false
		}
		e = &neigh{addr: a, state: Stale, mac: mac}
		c.m[a] = e
		c.mu.Unlock()
		return true
	}
	wasIncomplete := e.state == Incomplete
	switch {
	case confirmed:
		e.state, e.until = Reachable, now()+int64(c.cfg.ReachableTime)
		if e.timer != nil {
			e.timer.Stop()
		}
	case wasIncomplete || e.mac != mac:
		e.state = Stale
		if e.timer != nil {
			e.timer.Stop()
		}
	}
	e.mac = mac
	flush := e.pending
	e.pending = nil
	c.npend -= len(flush)
	c.mu.Unlock()
	for _, p := range flush {
		b := p.f.Bytes(p.n)
		copy(b[:6], mac[:])
		_ = p.ec.WriteFrame(b)
		p.f.Release()
	}
	return true
}

// entries returns a snapshot of the cache.
func (c *neighCache) entries() []Neighbor {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Neighbor, 0, len(c.m))
	for _, e := range c.m {
		st := e.state
		if st == Reachable && now() >= e.until {
			st = Stale
		}
		out = append(out, Neighbor{Addr: e.addr, MAC: e.mac, State: st})
	}
	return out
}

// forget removes what h queued and makes h no prober; h is closing.
func (c *neighCache) forget(h *Host) {
	c.mu.Lock()
	var drop []pending
	for a, e := range c.m {
		kept := e.pending[:0]
		for _, p := range e.pending {
			if p.h == h {
				drop = append(drop, p)
			} else {
				kept = append(kept, p)
			}
		}
		e.pending = kept
		if e.prober == h {
			if len(kept) > 0 {
				e.prober = kept[0].h
			} else if e.state == Incomplete || e.state == Probe {
				if e.timer != nil {
					e.timer.Stop()
				}
				delete(c.m, a)
			} else {
				e.prober = nil
			}
		}
	}
	c.npend -= len(drop)
	c.mu.Unlock()
	for _, p := range drop {
		p.f.Release()
	}
}

// close stops every timer and drops what is queued.
func (c *neighCache) close() {
	c.mu.Lock()
	c.closed = true
	var drop []pending
	for _, e := range c.m {
		if e.timer != nil {
			e.timer.Stop()
		}
		drop = append(drop, e.pending...)
	}
	c.m = nil
	c.mu.Unlock()
	for _, p := range drop {
		p.f.Release()
	}
}
