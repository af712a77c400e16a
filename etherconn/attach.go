package etherconn

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// Protocol names the received packets an attached Handler takes: those of
// one EtherType or, with IPProto set, only the IPv4 or IPv6 packets
// (EtherType 0x0800 or 0x86dd) whose upper-layer protocol, after IPv6
// extension headers, is IPProto (Packet.Info.Proto; fragments included).
// A packet goes to the handler of its IP protocol first, then to that of
// its whole EtherType, then to the Conn's own queue.
type Protocol struct {
	EtherType uint16
	// IPProto is an IP protocol number such as 17 (UDP) or 58 (ICMPv6);
	// 0 takes the whole EtherType.
	IPProto uint8
}

// String prints the protocol as "0x0800" or "0x0800/17".
func (p Protocol) String() string {
	if p.IPProto == 0 {
		return fmt.Sprintf("%#04x", p.EtherType)
	}
	return fmt.Sprintf("%#04x/%d", p.EtherType, p.IPProto)
}

// ErrAttached reports an Attach for a Protocol that has a handler already.
var ErrAttached = errors.New("etherconn: protocol already has a handler")

// attachment is one protocol's handler.
type attachment struct {
	p Protocol
	h relay.Handler
}

// dispatcher is the Conn's one relay.Handler: it hands each packet to the
// handler attached for its protocol. The list is copied on change and read
// with one atomic load per packet: attaching is rare, receiving is not.
type dispatcher struct {
	ep    *relay.Endpoint
	list  atomic.Pointer[[]attachment]
	mu    sync.Mutex // serializes changes to list and ended
	ended error      // set once the endpoint stopped receiving
}

func (d *dispatcher) Handle(p *relay.Packet) bool {
	l := d.list.Load()
	if l == nil {
		return false
	}
	in := &p.Info
	et := in.Key.EtherType
	if in.Fragment && in.IPVersion == 6 && frame.IsIPv6ExtensionHeader(in.Proto) {
		// A later fragment of a datagram whose extension headers go on
		// after the Fragment header: its protocol shows only once it is
		// whole. With a layer taking IPv6 protocols attached, it goes to
		// reassembly as the first fragment does, under that layer's.
		for _, a := range *l {
			if a.p.EtherType == et && a.p.IPProto != 0 {
				d.ep.Reassemble(p)
				return true
			}
		}
	}
	var whole relay.Handler
	for _, a := range *l {
		if a.p.EtherType != et {
			continue
		}
		if a.p.IPProto == 0 {
			whole = a.h
		} else if in.IPVersion != 0 && a.p.IPProto == in.Proto {
			if a.h.Handle(p) {
				return true
			}
		}
	}
	return whole != nil && whole.Handle(p)
}

// EndpointEnded tells every attached EndNotifier, once per handler however
// many protocols it is attached for.
func (d *dispatcher) EndpointEnded(err error) {
	d.mu.Lock()
	if d.ended == nil || errors.Is(err, net.ErrClosed) {
		d.ended = err
	}
	var l []attachment
	if p := d.list.Load(); p != nil {
		l = *p
	}
	d.mu.Unlock()
	var told []relay.Handler
	for _, a := range l {
		if !slices.ContainsFunc(told, func(h relay.Handler) bool { return sameHandler(h, a.h) }) {
			told = append(told, a.h)
			notify(a.h, err)
		}
	}
}

func notify(h relay.Handler, err error) {
	if n, ok := h.(relay.EndNotifier); ok {
		n.EndpointEnded(err)
	}
}

// sameHandler compares handlers without panicking on uncomparable ones.
func sameHandler(a, b relay.Handler) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// Attach makes h take the received packets of p before they reach the
// Conn's queue, on the goroutine that reads the backend (see relay.Handler
// for what a handler may and must not do). A handler that is a
// relay.EndNotifier learns when the Conn stops receiving, also when that
// happened before it was attached. Attach fails with ErrAttached when p has
// a handler, and with net.ErrClosed after Close.
func (c *Conn) Attach(p Protocol, h relay.Handler) error {
	_, loaded, err := c.attach(p, func() relay.Handler { return h })
	if err == nil && loaded {
		err = fmt.Errorf("etherconn: attach %v: %w", p, ErrAttached)
	}
	return err
}

// LoadOrAttach returns the handler attached for p, or attaches the one
// newHandler makes (called at most once, with no lock held by callers of
// Handle) and reports whether it was loaded. It lets several sockets of a
// layer on one Conn agree on a single shared handler without racing, as
// rudp's Conns do.
func (c *Conn) LoadOrAttach(p Protocol, newHandler func() relay.Handler) (h relay.Handler, loaded bool, err error) {
	return c.attach(p, newHandler)
}

func (c *Conn) attach(p Protocol, newHandler func() relay.Handler) (relay.Handler, bool, error) {
	if err := checkEtherType(p.EtherType); err != nil {
		return nil, false, fmt.Errorf("etherconn: attach %v: %w", p, err)
	}
	if p.IPProto != 0 && p.EtherType != frame.EtherTypeIPv4 && p.EtherType != frame.EtherTypeIPv6 {
		return nil, false, fmt.Errorf("etherconn: attach %v: %w: an IP protocol needs EtherType IPv4 or IPv6", p, ErrBadAddr)
	}
	d := &c.disp
	d.mu.Lock()
	if c.st.Closed() {
		d.mu.Unlock()
		return nil, false, fmt.Errorf("etherconn: attach %v: %w", p, net.ErrClosed)
	}
	var old []attachment
	if l := d.list.Load(); l != nil {
		old = *l
	}
	for _, a := range old {
		if a.p == p {
			d.mu.Unlock()
			return a.h, true, nil
		}
	}
	h := newHandler()
	if h == nil {
		d.mu.Unlock()
		return nil, false, fmt.Errorf("etherconn: attach %v: nil handler", p)
	}
	l := append(slices.Clip(old), attachment{p, h})
	d.list.Store(&l)
	ended := d.ended
	d.mu.Unlock()
	if ended != nil {
		notify(h, ended)
	}
	return h, false, nil
}

// Detach removes the handler attached for p, if any; its packets go to the
// Conn's queue again.
func (c *Conn) Detach(p Protocol) {
	d := &c.disp
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.list.Load()
	if l == nil {
		return
	}
	i := slices.IndexFunc(*l, func(a attachment) bool { return a.p == p })
	if i < 0 {
		return
	}
	n := slices.Delete(slices.Clone(*l), i, i+1)
	d.list.Store(&n)
}

// NewQueue returns a receive queue of up to limit packets (0:
// relay.DefaultQueueLen or the relay's Config.QueueLen; below 0: none) for a
// layer attached to c to push its packets on and its readers to pop. Its
// readers take part in the relay's reader-led receive, so a lone
// request/response through it costs no goroutine handoff.
func (c *Conn) NewQueue(limit int) *relay.Queue { return c.ep.NewQueue(limit) }

// Reassemble hands p, a received IP fragment (p.Info.Fragment set), to the
// relay's IP reassembly (relay.Relay.Reassemble); once its datagram is
// complete, the whole datagram reaches the Conn as a received packet does:
// the handler attached for its protocol, else the Conn's queue. A layer
// attached for an IP protocol calls it for the fragments it is handed, as
// rudp does for UDP: fragments of other protocols are left to whoever
// handles them. It reports whether a datagram was completed.
func (c *Conn) Reassemble(p *relay.Packet) bool { return c.ep.Reassemble(p) }
