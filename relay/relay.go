package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/backend"
)

// Defaults for Config.
const (
	// DefaultQueueLen is the receive queue limit, in frames, of every queue
	// that does not set its own: endpoints, the default endpoint, and the
	// queues of layers above (rudp).
	DefaultQueueLen = 256
	// DefaultBatchSize is how many frames the read loop asks a
	// backend.BatchReader for at once.
	DefaultBatchSize = 64
	// DefaultQueueBytes is the receive queue limit, in bytes, of every
	// queue that does not set its own: 212,992, Linux's rmem_default, the
	// SO_RCVBUF a kernel socket gets.
	DefaultQueueBytes = 212992
	// DefaultBudget bounds the bytes all queues of a relay pin together:
	// whatever the number of endpoints, remote frames cannot make a relay
	// hold more than this in its queues.
	DefaultBudget = 64 << 20
)

// ErrInputEnded reports that the relay's PacketIO stopped delivering frames
// (an offline capture ran out, an interface went away). It wraps the
// PacketIO's error, so errors.Is(err, io.EOF) holds at the end of a replay.
var ErrInputEnded = errors.New("relay: input ended")

// Config tunes a Relay. The zero Config is ready to use.
type Config struct {
	// QueueLen is the receive queue limit, in frames, of endpoints that do not
	// set their own (default DefaultQueueLen). Queues start empty and grow.
	QueueLen int
	// QueueBytes is the receive queue limit, in bytes, of the queues that
	// do not set their own (default DefaultQueueBytes). A queued packet
	// counts the size of the buffer it pins (256 B, 2 KiB or 9 KiB, or up
	// to 64 KiB for a reassembled datagram: see Packet), as the kernel counts an skb's truesize; an empty queue takes
	// one packet whatever its size, as a kernel socket does.
	QueueBytes int
	// Budget bounds, in bytes counted as for QueueBytes, what all the
	// relay's queues (endpoints, the default endpoint, and the layers'
	// queues from Endpoint.NewQueue) pin together (default DefaultBudget).
	// A delivery that would pass it is dropped and counted in
	// Stats.BudgetDrops. Packets a Handler keeps outside a Queue are the
	// Handler's to bound.
	Budget int64
	// Paused makes New return without reading the PacketIO: register the
	// endpoints, then call Start, so that an offline replay loses none of
	// its first frames to endpoints not registered yet.
	Paused bool
	// Hairpin delivers frames sent through the relay to its own matching
	// endpoints: unicast to a local endpoint stays local, broadcast and
	// multicast go both to local endpoints (not the sender) and to the wire.
	// Without it, frames always go to the wire only, on every backend.
	Hairpin bool
	// BatchSize is how many frames the read loop asks a backend.BatchReader
	// for at once (default DefaultBatchSize; 1 disables batching).
	BatchSize int
	// Reassembly tunes the IP reassembly that layers above ask for
	// (Reassemble): its byte budget and timeouts.
	Reassembly ReassemblyConfig
}

// Relay demultiplexes the frames of one PacketIO, or of several of one link
// (NewGroup), to endpoints and sends their frames. It is safe for
// concurrent use.
type Relay struct {
	pio backend.PacketIO // the first PacketIO: what the relay sends through
	bw  backend.BatchWriter
	cfg Config

	mu      sync.RWMutex // guards the tables; the read loop holds it shared
	tab     table
	def     *Endpoint
	mirror  bool
	closing bool
	ended   error // why the read loop stopped, wrapped in ErrInputEnded

	rx   rxState    // who reads the first PacketIO, and its buffers (lead.go)
	ins  []*rxState // every PacketIO's, ins[0] == &rx (multi.go)
	live int        // loops still reading; guarded by mu
	frag reassembler

	pinned    atomic.Int64 // bytes the queues hold, against cfg.Budget
	started   atomic.Bool
	startOnce sync.Once
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	st        counters
}

type counters struct {
	framesIn, bytesIn                        atomic.Uint64
	delivered, misses, malformed, queueDrops atomic.Uint64
	hairpinned, readerFrames, budgetDrops    atomic.Uint64
	outCounters
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
	QueueDrops  uint64 // deliveries dropped because a queue was full (frames or bytes) or Budget was spent
	BudgetDrops uint64 // those of QueueDrops that Config.Budget refused
	WriteErrors uint64 // frames the PacketIO refused to write
	Hairpinned  uint64 // frames sent that were delivered locally (Config.Hairpin)
	// ReaderFrames counts the frames of FramesIn that a blocked endpoint
	// reader read from the PacketIO itself, not the read loop (see
	// "Reader-led receive" in the package documentation).
	ReaderFrames uint64
	// Reassembly counts the IP fragments layers handed to Reassemble.
	Reassembly ReassemblyStats
	// Backend holds the PacketIO's own counters when it reports them.
	Backend backend.Stats
}

// New starts a relay on pio (or, with Config.Paused, makes one that Start
// starts). The relay owns pio from now on and closes it on Close.
func New(pio backend.PacketIO, cfg Config) *Relay {
	return newRelay([]backend.PacketIO{pio}, cfg)
}

// newRelay is New and NewGroup: pios has at least one PacketIO.
func newRelay(pios []backend.PacketIO, cfg Config) *Relay {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	r := &Relay{
		pio:  pios[0],
		cfg:  cfg,
		tab:  newTable(),
		done: make(chan struct{}),
	}
	r.bw, _ = r.pio.(backend.BatchWriter)
	r.frag.init(cfg.Reassembly)
	r.initInputs(pios)
	if !cfg.Paused {
		r.Start()
	}
	return r
}

// Start starts reading the PacketIOs, for a relay made with Config.Paused;
// it does nothing on a relay already started or closed. Until then nobody
// reads them, also not blocked endpoint readers.
func (r *Relay) Start() {
	r.startOnce.Do(func() {
		r.started.Store(true)
		r.startInputs()
	})
}

// Stats returns a snapshot of the relay's counters, summed over its
// PacketIOs (Inputs has each one's).
func (r *Relay) Stats() Stats {
	s := Stats{
		FramesIn: r.st.framesIn.Load(), BytesIn: r.st.bytesIn.Load(),
		FramesOut: r.st.framesOut.Load(), BytesOut: r.st.bytesOut.Load(),
		Delivered: r.st.delivered.Load(), Misses: r.st.misses.Load(),
		Malformed: r.st.malformed.Load(), QueueDrops: r.st.queueDrops.Load(),
		WriteErrors: r.st.writeErrors.Load(), Hairpinned: r.st.hairpinned.Load(),
		ReaderFrames: r.st.readerFrames.Load(), BudgetDrops: r.st.budgetDrops.Load(),
		Reassembly: r.frag.stats(),
	}
	for _, x := range r.ins {
		s.Backend = addStats(s.Backend, x.backendStats())
	}
	return s
}

// Done is closed when the read loop has stopped, by Close or because the
// PacketIO failed or ran out (see Err); on a relay of several PacketIOs,
// when every one's loop has.
func (r *Relay) Done() <-chan struct{} { return r.done }

// Err returns why the read loop stopped by itself: the PacketIO's error
// wrapped in ErrInputEnded, or nil while it runs or when Close stopped it.
// A relay of several PacketIOs stops when all have ended, with all their
// errors (see NewGroup).
func (r *Relay) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ended
}

// Close stops the read loops, closes the PacketIOs and every endpoint;
// blocked readers get net.ErrClosed. It is idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closing = true
		eps := r.endpointsLocked()
		r.mu.Unlock()
		for _, x := range r.ins {
			if err := x.pio.Close(); err != nil && !errors.Is(err, net.ErrClosed) && r.closeErr == nil {
				r.closeErr = fmt.Errorf("relay: close: %w", err)
			}
		}
		r.wakeLoop()                             // the loop may wait for a reader's token
		r.startOnce.Do(func() { close(r.done) }) // never started: no loop to wait for
		<-r.done
		for _, ep := range eps {
			ep.closed.Store(true)
			ep.shut()
		}
		r.frag.close()
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

// run is the first PacketIO's read loop; runInput the others'.
func (r *Relay) run() {
	r.inputEnded(&r.rx, r.loop())
}
