package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
)

// Types shared with the layers above, so that users need one import.
type (
	// MAC is an Ethernet address in comparable form.
	MAC = frame.MAC
	// VLAN is one 802.1Q/802.1ad tag.
	VLAN = frame.VLAN
	// VLANs is a VLAN stack, outermost first.
	VLANs = frame.VLANs
	// Key is the demultiplexing key: destination MAC, VLAN stack (TPID and
	// VID of each tag) and innermost EtherType.
	Key = frame.Key
	// Info is what the relay's parse learned about a frame.
	Info = frame.Info
)

// Defaults for Config.
const (
	DefaultQueueLen  = 256
	DefaultBatchSize = 64
)

// Errors returned by Register and Send.
var (
	ErrKeyInUse  = errors.New("relay: key already registered")
	ErrBadConfig = errors.New("relay: invalid endpoint config")
)

// Config tunes a Relay. The zero Config is ready to use.
type Config struct {
	// QueueLen is the receive queue limit, in frames, of endpoints that do not
	// set their own (default DefaultQueueLen). Queues start empty and grow.
	QueueLen int
	// Hairpin delivers frames sent through the relay to its own matching
	// endpoints: unicast to a local endpoint stays local, broadcast and
	// multicast go both to local endpoints (not the sender) and to the wire.
	// Without it, frames always go to the wire only, on every backend.
	Hairpin bool
	// BatchSize is how many frames the read loop asks a backend.BatchReader
	// for at once (default DefaultBatchSize; 1 disables batching).
	BatchSize int
}

// Relay demultiplexes the frames of one PacketIO to endpoints and sends
// their frames. It is safe for concurrent use.
type Relay struct {
	pio backend.PacketIO
	bw  backend.BatchWriter
	cfg Config

	mu      sync.RWMutex // guards the tables; the read loop holds it shared
	tab     table
	def     *Endpoint
	mirror  bool
	closing bool
	ended   error // why the read loop stopped, wrapped in ErrInputEnded

	rx rxState // who reads the PacketIO, and its buffers (lead.go)

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	st        counters
}

type counters struct {
	framesIn, bytesIn, framesOut, bytesOut   atomic.Uint64
	delivered, misses, malformed, queueDrops atomic.Uint64
	writeErrors, hairpinned, readerFrames    atomic.Uint64
}

// Stats are a relay's counters.
type Stats struct {
	FramesIn    uint64 // frames read from the PacketIO
	BytesIn     uint64
	FramesOut   uint64 // frames written to the PacketIO
	BytesOut    uint64
	Delivered   uint64 // deliveries to endpoints; a broadcast counts once per endpoint
	Misses      uint64 // well-formed frames no endpoint wanted, with no default endpoint
	Malformed   uint64 // frames dropped because they could not be parsed (or were truncated)
	QueueDrops  uint64 // deliveries dropped because an endpoint's queue was full
	WriteErrors uint64 // frames the PacketIO refused to write
	Hairpinned  uint64 // frames sent that were delivered locally (Config.Hairpin)
	// ReaderFrames counts the frames of FramesIn that a blocked endpoint
	// reader read from the PacketIO itself, not the read loop (see
	// "Reader-led receive" in the package documentation).
	ReaderFrames uint64
	// Backend holds the PacketIO's own counters when it reports them.
	Backend backend.Stats
}

// New starts a relay on pio. The relay owns pio from now on and closes it
// on Close.
func New(pio backend.PacketIO, cfg Config) *Relay {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	r := &Relay{
		pio:  pio,
		cfg:  cfg,
		tab:  newTable(),
		done: make(chan struct{}),
	}
	r.bw, _ = pio.(backend.BatchWriter)
	r.initRx()
	go r.run()
	return r
}

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() Stats {
	s := Stats{
		FramesIn: r.st.framesIn.Load(), BytesIn: r.st.bytesIn.Load(),
		FramesOut: r.st.framesOut.Load(), BytesOut: r.st.bytesOut.Load(),
		Delivered: r.st.delivered.Load(), Misses: r.st.misses.Load(),
		Malformed: r.st.malformed.Load(), QueueDrops: r.st.queueDrops.Load(),
		WriteErrors: r.st.writeErrors.Load(), Hairpinned: r.st.hairpinned.Load(),
		ReaderFrames: r.st.readerFrames.Load(),
	}
	if sr, ok := r.pio.(backend.StatsReporter); ok {
		s.Backend = sr.Stats()
	}
	return s
}

// Done is closed when the read loop has stopped, by Close or because the
// PacketIO failed or ran out (see Err).
func (r *Relay) Done() <-chan struct{} { return r.done }

// Err returns why the read loop stopped by itself: the PacketIO's error
// wrapped in ErrInputEnded, or nil while it runs or when Close stopped it.
func (r *Relay) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ended
}

// Close stops the read loop, closes the PacketIO and every endpoint; blocked
// readers get net.ErrClosed. It is idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closing = true
		eps := r.endpointsLocked()
		r.mu.Unlock()
		if err := r.pio.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			r.closeErr = fmt.Errorf("relay: close: %w", err)
		}
		r.wakeLoop() // the loop may wait for a reader's token
		<-r.done
		for _, ep := range eps {
			ep.closed.Store(true)
			ep.shut()
		}
	})
	return r.closeErr
}

func (r *Relay) endpointsLocked() []*Endpoint {
	eps := r.tab.all()
	if r.def != nil {
		eps = append(eps, r.def)
	}
	return eps
}

func (r *Relay) run() {
	defer close(r.done)
	err := r.loop()
	r.releaseRx()
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.ended = fmt.Errorf("%w: %w", ErrInputEnded, err)
	eps := r.endpointsLocked()
	r.mu.Unlock()
	for _, ep := range eps {
		ep.end(r.ended)
	}
}

// reusable returns p if nobody else kept it, else a fresh packet.
func reusable(p *Packet) *Packet {
	if p.refs.Load() == 1 {
		return p
	}
	p.Release()
	return getPacket()
}

// parse counts p in and parses it once; false means malformed.
func (r *Relay) parse(p *Packet) bool {
	r.st.framesIn.Add(1)
	r.st.bytesIn.Add(uint64(p.n))
	if err := frame.Parse(p.Frame(), &p.Info); err != nil {
		r.st.malformed.Add(1)
		return false
	}
	return true
}

// dispatch parses p once and hands it to every endpoint that wants it.
func (r *Relay) dispatch(p *Packet) {
	if r.parse(p) {
		one := [1]*Packet{p}
		r.dispatchParsed(one[:])
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
// cache misses.
func (r *Relay) dispatchParsed(ps []*Packet) {
	if len(ps) == 0 {
		return
	}
	var ends [DefaultBatchSize + 1]int32
	ts := r.rx.targets[:0]
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
			r.deliverAll(batch, ts, ends[:])
			ts = ts[:0]
			r.mu.RLock()
		}
	}
	r.mu.RUnlock()
	last := ps[(len(ps)-1)/DefaultBatchSize*DefaultBatchSize:]
	r.deliverAll(last, ts, ends[:])
	// Drop the references until the next batch; let a huge scratch space,
	// left by a burst of broadcasts to many endpoints, go.
	if cap(ts) > 4096 {
		ts = nil
	}
	clear(ts[:cap(ts)])
	r.rx.targets = ts[:0]
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
	var bytes uint64
	for _, b := range frames[:n] {
		bytes += uint64(len(b))
	}
	r.st.framesOut.Add(uint64(n))
	r.st.bytesOut.Add(bytes)
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

var targetPool = sync.Pool{New: func() any { return new([]target) }}

var errClosed = net.ErrClosed
