package relay

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/frame"
)

// EndpointConfig says which frames an endpoint receives.
type EndpointConfig struct {
	// MAC is the endpoint's own address: unicast frames to it are delivered.
	MAC frame.MAC
	// VLANs is the VLAN stack frames must carry, outermost first; TPID and
	// VID must match, PCP and DEI may differ.
	VLANs frame.VLANs
	// EtherTypes are the innermost EtherTypes delivered; at least one. Each
	// (MAC, VLAN stack, EtherType) can belong to one endpoint only.
	EtherTypes []uint16
	// Broadcast also delivers frames to ff:ff:ff:ff:ff:ff with a matching
	// VLAN stack and EtherType.
	Broadcast bool
	// Multicast also delivers frames to any multicast address with a
	// matching VLAN stack and EtherType.
	Multicast bool
	// QueueBytes limits the receive queue in bytes (0: the relay's
	// Config.QueueBytes).
	QueueBytes int
	// QueueLen limits the receive queue, in frames (0: the relay's). A
	// negative QueueLen means no queue: frames that no Handler takes are
	// dropped and counted in QueueDrops. Use it for an endpoint that is only
	// read through a Handler (rudp), so that frames nobody reads (ARP, other
	// ports) do not pile up.
	QueueLen int
}

// Handler lets a protocol layer take packets before they reach the
// endpoint's queue. Handle must not block; it reports whether it consumed p
// (calling p.Retain to keep it, for example by pushing it on a Queue).
// Returning false queues p on the endpoint as usual. Handle runs on
// whichever goroutine reads the PacketIO (the read loop, or a blocked reader
// of any endpoint: see "Reader-led receive") and, with Config.Hairpin, also
// on any goroutine that sends a frame to the endpoint, so it must be safe
// for concurrent use. It runs without the relay's lock held, so it may send
// and close endpoints; it may run once more for a packet routed just before
// its endpoint was closed.
type Handler interface {
	Handle(p *Packet) bool
}

// EndNotifier is implemented by a Handler that queues packets elsewhere and
// must learn when its endpoint stops receiving: err satisfies
// errors.Is(err, net.ErrClosed) when the endpoint or relay was closed, and
// wraps ErrInputEnded when the relay's input ended.
type EndNotifier interface {
	EndpointEnded(err error)
}

// Endpoint receives the frames for its keys and sends frames through its
// relay. It is safe for concurrent use.
type Endpoint struct {
	// What the read loop touches for every packet comes first, together:
	// with 100,000 endpoints each delivery is a cache miss, and this keeps
	// it to as few lines as possible.
	next    *Endpoint // next endpoint with the same MAC and VLAN stack
	ets     [4]uint16 // the first EtherTypes, inline for lookup
	handler Handler   // guarded by r.mu
	st      epCounters
	q       Queue

	r        *Relay
	cfg      EndpointConfig
	stack    frame.StackKey
	groupPos []int // position in each broadcast/multicast list, per EtherType
	def      bool
	group    bool // registered with RegisterGroup: no unicast key
	closed   atomic.Bool
}

// wants reports whether the endpoint receives EtherType et.
func (ep *Endpoint) wants(et uint16) bool {
	if et < 0x0600 {
		return false // an 802.3 length, and the value of the unused slots
	}
	for _, e := range ep.ets {
		if e == et {
			return true
		}
	}
	return len(ep.cfg.EtherTypes) > len(ep.ets) && slices.Contains(ep.cfg.EtherTypes[len(ep.ets):], et)
}

func (ep *Endpoint) setGroupPos(et uint16, pos int) {
	if i := slices.Index(ep.cfg.EtherTypes, et); i >= 0 {
		ep.groupPos[i] = pos
	}
}

type epCounters struct {
	framesIn, bytesIn, queueDrops atomic.Uint64
	outCounters
}

// EndpointStats are one endpoint's counters.
type EndpointStats struct {
	FramesIn    uint64 // frames delivered to the endpoint
	BytesIn     uint64
	QueueDrops  uint64 // frames dropped because its queue was full
	FramesOut   uint64 // frames sent through it
	BytesOut    uint64
	WriteErrors uint64
}

// Errors of Register and RegisterDefault.
var (
	// ErrKeyInUse reports a key that another endpoint holds.
	ErrKeyInUse = errors.New("relay: key already registered")
	// ErrBadConfig reports an EndpointConfig that cannot be registered.
	ErrBadConfig = errors.New("relay: invalid endpoint config")
)

// checkedEndpoint validates cfg and makes an endpoint of it, not yet in
// the tables.
func (r *Relay) checkedEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if len(cfg.EtherTypes) == 0 {
		return nil, fmt.Errorf("%w: no EtherType", ErrBadConfig)
	}
	if err := cfg.VLANs.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	for i, et := range cfg.EtherTypes {
		if frame.IsTPID(et) || et < 0x0600 {
			return nil, fmt.Errorf("%w: EtherType %#04x", ErrBadConfig, et)
		}
		if slices.Contains(cfg.EtherTypes[:i], et) {
			return nil, fmt.Errorf("%w: EtherType %#04x given twice", ErrBadConfig, et)
		}
	}
	// Own copies: the caller may reuse its slices.
	cfg.VLANs = slices.Clip(slices.Clone(cfg.VLANs))
	cfg.EtherTypes = slices.Clip(slices.Clone(cfg.EtherTypes))
	ep := r.newEndpoint(cfg)
	ep.stack = cfg.VLANs.Key()
	copy(ep.ets[:], cfg.EtherTypes) // EtherType 0 is invalid, so unused slots match nothing
	return ep, nil
}

// Register adds an endpoint. Registering a key that another endpoint holds
// fails with ErrKeyInUse; nothing is overridden.
func (r *Relay) Register(cfg EndpointConfig) (*Endpoint, error) {
	if cfg.MAC.IsGroup() {
		return nil, fmt.Errorf("%w: MAC %s is a group address", ErrBadConfig, cfg.MAC)
	}
	ep, err := r.checkedEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, fmt.Errorf("relay: register: %w", errClosed)
	}
	for _, et := range cfg.EtherTypes {
		k := frame.Key{MAC: cfg.MAC, EtherType: et, Stack: ep.stack}
		if r.tab.holder(k) != nil {
			return nil, fmt.Errorf("%w: %s", ErrKeyInUse, keyString(k))
		}
	}
	r.tab.add(ep)
	if r.ended != nil {
		ep.q.End(r.ended)
	}
	return ep, nil
}

// GroupConfig says which broadcast and multicast frames a group endpoint
// receives.
type GroupConfig struct {
	// VLANs is the VLAN stack frames must carry (TPID and VID).
	VLANs frame.VLANs
	// EtherTypes are the innermost EtherTypes delivered; at least one.
	EtherTypes []uint16
	// Broadcast and Multicast select which group frames are delivered; at
	// least one.
	Broadcast, Multicast bool
	// QueueLen and QueueBytes limit the receive queue as for
	// EndpointConfig; a negative QueueLen means no queue (a Handler-only
	// endpoint).
	QueueLen, QueueBytes int
}

// RegisterGroup adds an endpoint with no unicast address: it receives the
// broadcast and/or multicast frames of one VLAN stack and its EtherTypes,
// once each however many endpoints share the stack. It is the per-stack
// attach point of a layer that serves many addresses on one stack (the
// host layer answers ARP and ND for all its hosts through one), so that a
// broadcast request costs one delivery, not one per host. Several may
// exist per stack; each gets every matching frame.
func (r *Relay) RegisterGroup(cfg GroupConfig) (*Endpoint, error) {
	if !cfg.Broadcast && !cfg.Multicast {
		return nil, fmt.Errorf("%w: group endpoint takes neither broadcast nor multicast", ErrBadConfig)
	}
	ep, err := r.checkedEndpoint(EndpointConfig{VLANs: cfg.VLANs, EtherTypes: cfg.EtherTypes,
		Broadcast: cfg.Broadcast, Multicast: cfg.Multicast, QueueLen: cfg.QueueLen, QueueBytes: cfg.QueueBytes})
	if err != nil {
		return nil, err
	}
	ep.group = true
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, fmt.Errorf("relay: register group: %w", errClosed)
	}
	r.tab.add(ep)
	if r.ended != nil {
		ep.q.End(r.ended)
	}
	return ep, nil
}

// DefaultEndpointConfig configures the default endpoint.
type DefaultEndpointConfig struct {
	// Mirror delivers every well-formed frame to the default endpoint, not
	// only those no other endpoint wanted.
	Mirror bool
	// QueueLen limits its receive queue in frames (default: the relay's).
	QueueLen int
	// QueueBytes limits its receive queue in bytes (default: the relay's).
	QueueBytes int
}

// RegisterDefault adds the default endpoint, which receives the frames no
// other endpoint wants (or all frames, with Mirror). There is at most one.
func (r *Relay) RegisterDefault(cfg DefaultEndpointConfig) (*Endpoint, error) {
	ep := r.newEndpoint(EndpointConfig{QueueLen: cfg.QueueLen, QueueBytes: cfg.QueueBytes})
	ep.def = true
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, fmt.Errorf("relay: register default: %w", errClosed)
	}
	if r.def != nil {
		return nil, fmt.Errorf("%w: default endpoint", ErrKeyInUse)
	}
	r.def, r.mirror = ep, cfg.Mirror
	if r.ended != nil {
		ep.q.End(r.ended)
	}
	return ep, nil
}

func (r *Relay) newEndpoint(cfg EndpointConfig) *Endpoint {
	if cfg.QueueLen == 0 {
		cfg.QueueLen = r.cfg.QueueLen
	}
	ep := &Endpoint{r: r, cfg: cfg}
	ep.q.init(r, cfg.QueueLen)
	if cfg.QueueBytes > 0 {
		ep.q.maxB = int64(cfg.QueueBytes)
	}
	return ep
}

// Closed reports whether the endpoint was closed (by itself or its relay).
func (ep *Endpoint) Closed() bool { return ep.closed.Load() }

// Config returns the endpoint's configuration (do not modify its slices).
func (ep *Endpoint) Config() EndpointConfig { return ep.cfg }

// SetHandler installs h (nil removes it) to see packets before the queue.
// An endpoint has one Handler: a layer that shares an endpoint with others
// (etherconn.Conn's attachments) installs one that dispatches.
func (ep *Endpoint) SetHandler(h Handler) {
	ep.r.mu.Lock()
	ep.handler = h
	ended := ep.r.ended
	ep.r.mu.Unlock()
	ep.notifyLate(h, ended)
}

// notifyLate tells a handler installed after the endpoint stopped receiving
// (closed, or the relay's input ended) what it missed. A handler installed
// just as the end happens may hear of it twice.
func (ep *Endpoint) notifyLate(h Handler, ended error) {
	n, ok := h.(EndNotifier)
	switch {
	case !ok:
	case ep.closed.Load():
		n.EndpointEnded(errClosed)
	case ended != nil:
		n.EndpointEnded(ended)
	}
}

// Read returns the next received packet; see Queue.Pop for the errors. The
// caller must Release it.
func (ep *Endpoint) Read() (*Packet, error) { return ep.q.Pop() }

// ReadBatch blocks until a packet is received, then returns as many queued
// packets as fit in ps. The caller must Release each.
func (ep *Endpoint) ReadBatch(ps []*Packet) (int, error) { return ep.q.PopBatch(ps) }

// SetReadDeadline sets the deadline for Read, with net.Conn semantics.
func (ep *Endpoint) SetReadDeadline(t time.Time) { ep.q.SetReadDeadline(t) }

// NewQueue returns an empty queue of up to limit packets (0:
// Config.QueueLen of the relay, below 0: none) for a protocol layer that
// takes packets with a Handler and queues them for its own readers. Its
// readers take part in reader-led receive like the endpoint's own.
func (ep *Endpoint) NewQueue(limit int) *Queue {
	if limit == 0 {
		limit = ep.r.cfg.QueueLen
	}
	q := new(Queue)
	q.init(ep.r, limit)
	return q
}

// Reassemble hands p, a received IP fragment, to the relay's reassembly
// (see Relay.Reassemble) and, once the datagram is complete, delivers it to
// the endpoint as a received frame: to its handler, else its queue. It
// reports whether it delivered one. Each endpoint reassembles the fragments
// it receives: the fragments of a broadcast or multicast datagram make one
// whole datagram for every endpoint they go to (each counted against the
// relay's budget).
func (ep *Endpoint) Reassemble(p *Packet) bool {
	whole := ep.r.frag.add(p, ep)
	if whole == nil {
		return false
	}
	ep.r.mu.RLock()
	h := ep.handler
	ep.r.mu.RUnlock()
	ep.r.deliver(target{ep, h}, whole)
	whole.Release()
	return true
}

// Queued returns how many packets wait in the receive queue.
func (ep *Endpoint) Queued() int { return ep.q.Len() }

// Send writes one whole frame through the relay.
func (ep *Endpoint) Send(b []byte) error {
	if ep.closed.Load() {
		return errClosed
	}
	return ep.st.sent(b, ep.r.Send(b))
}

// SendBatch writes whole frames through the relay, in one backend call when
// the backend supports it, and returns how many leading frames were sent.
func (ep *Endpoint) SendBatch(frames [][]byte) (int, error) {
	if ep.closed.Load() {
		return 0, errClosed
	}
	n, err := ep.r.SendBatch(frames)
	return ep.st.sentBatch(frames, n, err)
}

// Stats returns a snapshot of the endpoint's counters.
func (ep *Endpoint) Stats() EndpointStats {
	return EndpointStats{
		FramesIn: ep.st.framesIn.Load(), BytesIn: ep.st.bytesIn.Load(),
		QueueDrops: ep.st.queueDrops.Load(), FramesOut: ep.st.framesOut.Load(),
		BytesOut: ep.st.bytesOut.Load(), WriteErrors: ep.st.writeErrors.Load(),
	}
}

// Close unregisters the endpoint and unblocks its readers with
// net.ErrClosed. It is idempotent.
func (ep *Endpoint) Close() error {
	if ep.closed.Swap(true) {
		return nil
	}
	r := ep.r
	r.mu.Lock()
	if ep.def {
		if r.def == ep {
			r.def, r.mirror = nil, false
		}
	} else {
		r.tab.remove(ep)
	}
	r.mu.Unlock()
	ep.shut()
	return nil
}

// shut closes the queue and tells the handler.
func (ep *Endpoint) shut() {
	ep.q.Close()
	ep.notifyEnd(errClosed)
}

// end marks the input as ended for the queue and the handler.
// err already wraps ErrInputEnded, so 100,000 endpoints share one error
// rather than wrapping it 100,000 times.
func (ep *Endpoint) end(err error) {
	ep.q.End(err)
	ep.notifyEnd(err)
}

func (ep *Endpoint) notifyEnd(err error) {
	ep.r.mu.RLock()
	h := ep.handler
	ep.r.mu.RUnlock()
	if n, ok := h.(EndNotifier); ok {
		n.EndpointEnded(err)
	}
}

func keyString(k frame.Key) string {
	var s frame.VLANs
	for i := uint32(0); i < k.Stack.N; i++ {
		s = append(s, frame.VLAN{TPID: uint16(k.Stack.Tags[i] >> 16), ID: uint16(k.Stack.Tags[i])})
	}
	return fmt.Sprintf("MAC %s VLANs %q EtherType %#04x", k.MAC, s.String(), k.EtherType)
}
