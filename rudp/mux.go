package rudp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// bindKey is a bound local address in comparable form; IPv4 addresses are
// stored 4-in-6.
type bindKey struct {
	ip   [16]byte
	port uint16
	v4   bool // an IPv6 packet to ::ffff:a.b.c.d must not reach an IPv4 Conn
}

func keyOf(ap netip.AddrPort) bindKey {
	a := ap.Addr().Unmap()
	return bindKey{ip: a.As16(), port: ap.Port(), v4: a.Is4()}
}

// wildcard returns the key of the unspecified address of ip's family.
func wildcard(v4 bool, port uint16) bindKey {
	if v4 {
		return keyOf(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	}
	return keyOf(netip.AddrPortFrom(netip.IPv6Unspecified(), port))
}

// udpProtocols are what the mux is attached for on an etherconn.Conn.
var udpProtocols = [...]etherconn.Protocol{
	{EtherType: frame.EtherTypeIPv4, IPProto: frame.ProtoUDP},
	{EtherType: frame.EtherTypeIPv6, IPProto: frame.ProtoUDP},
}

// muxOf returns the mux of ec, attaching a new one for IPv4 and IPv6 UDP
// the first time. Racing callers agree on one: LoadOrAttach decides for
// IPv4, and the IPv6 attachment takes the same mux.
func muxOf(ec *etherconn.Conn) (*mux, error) {
	var m *mux
	for _, p := range udpProtocols {
		h, _, err := ec.LoadOrAttach(p, func() relay.Handler {
			if m == nil {
				return &mux{ec: ec}
			}
			return m
		})
		if err != nil {
			return nil, err
		}
		got, ok := h.(*mux)
		if !ok || (m != nil && got != m) {
			return nil, fmt.Errorf("%w: %v has a %T handler", etherconn.ErrAttached, p, h)
		}
		m = got
	}
	return m, nil
}

// mux demultiplexes the UDP datagrams reaching one etherconn.Conn to the
// rudp.Conns bound on it, by local IP and port. It runs on the relay's read
// loop as the handler attached for UDP, so a datagram goes straight from the
// relay into its Conn's queue: no goroutine per endpoint.
type mux struct {
	ec *etherconn.Conn
	mu sync.RWMutex
	// single is the only bound Conn while there is one: most endpoints have
	// one UDP socket, and a map costs more than the rest of the endpoint.
	single *Conn
	conns  map[bindKey]*Conn
	any    *Conn // accept-any Conn, if one is bound
	ended  error // set once the etherconn.Conn stopped receiving
}

// Handle takes UDP datagrams for a bound Conn; everything else goes on to
// the etherconn.Conn's own queue.
func (m *mux) Handle(p *relay.Packet) bool {
	in := &p.Info
	if in.Fragment && in.Proto == frame.ProtoUDP {
		// The whole datagram, once complete, comes back through Handle.
		m.ec.Reassemble(p)
		return true
	}
	if !in.UDP {
		return false
	}
	var k bindKey
	if in.IPVersion == 4 {
		copy(k.ip[:], v4InV6Prefix)
		copy(k.ip[12:], in.DstIP(p.Frame()))
		k.v4 = true
	} else {
		copy(k.ip[:], in.DstIP(p.Frame()))
	}
	k.port = in.DstPort
	m.mu.RLock()
	c := m.lookup(k, in.IPVersion == 4)
	m.mu.RUnlock()
	if c == nil {
		return false
	}
	if c.router != nil && !c.router.IsLocal(dstAddr(&k)) {
		return false // not for this host (any more): as Linux, whatever the binding
	}
	c.receive(p)
	return true
}

var v4InV6Prefix = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}

func dstAddr(k *bindKey) netip.Addr {
	a := netip.AddrFrom16(k.ip)
	if k.v4 {
		return a.Unmap()
	}
	return a
}

func (m *mux) lookup(k bindKey, v4 bool) *Conn {
	if c := m.single; c != nil {
		if c.bound == k || c.bound == wildcard(v4, k.port) {
			return c
		}
		return m.any
	}
	if c := m.conns[k]; c != nil {
		return c
	}
	if c := m.conns[wildcard(v4, k.port)]; c != nil {
		return c
	}
	return m.any
}

// bind adds c under its local address; port 0 picks a free ephemeral port.
func (m *mux) bind(c *Conn) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.acceptAny {
		if m.any != nil {
			return ErrAcceptAnyInUse
		}
	}
	local := c.local
	if local.Port() == 0 {
		port, ok := m.freePort(local.Addr())
		if !ok {
			return ErrNoFreePort
		}
		local = netip.AddrPortFrom(local.Addr(), port)
	}
	k := keyOf(local)
	if m.taken(k) {
		return ErrPortInUse
	}
	c.local, c.bound = local, k
	if m.ended != nil {
		c.end(m.ended) // a Conn made after the end must not block forever
	}
	if c.acceptAny {
		m.any = c
	}
	switch {
	case m.single == nil && m.conns == nil:
		m.single = c
	default:
		if m.conns == nil {
			m.conns = map[bindKey]*Conn{m.single.bound: m.single}
			m.single = nil
		}
		m.conns[k] = c
	}
	return nil
}

func (m *mux) taken(k bindKey) bool {
	if m.single != nil {
		return m.single.bound == k
	}
	return m.conns[k] != nil
}

// Ephemeral ports: Linux's default ip_local_port_range.
const ephemeralFirst, ephemeralLast = 32768, 60999

// freePort picks a free ephemeral port as RFC 6056's first algorithm does:
// a random start, then the next free port, so that a fresh endpoint's
// ports cannot be guessed (DNS clients rely on it, RFC 5452).
func (m *mux) freePort(addr netip.Addr) (uint16, bool) {
	const n = ephemeralLast - ephemeralFirst + 1
	start := rand.N(uint32(n))
	for i := range uint32(n) {
		port := uint16(ephemeralFirst + (start+i)%n)
		if !m.taken(keyOf(netip.AddrPortFrom(addr, port))) {
			return port, true
		}
	}
	return 0, false
}

func (m *mux) unbind(c *Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.any == c {
		m.any = nil
	}
	if m.single == c {
		m.single = nil
		return
	}
	if m.conns[c.bound] == c {
		delete(m.conns, c.bound)
	}
}

// EndpointEnded passes the end of the etherconn.Conn's input on to every
// bound Conn, so that their blocked readers return too.
func (m *mux) EndpointEnded(err error) {
	m.mu.Lock()
	if m.ended == nil || errors.Is(err, net.ErrClosed) {
		m.ended = err
	}
	conns := make([]*Conn, 0, len(m.conns)+1)
	if m.single != nil {
		conns = append(conns, m.single)
	}
	for _, c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.end(err)
	}
}
