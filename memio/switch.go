package memio

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Switch is an in-memory learning Ethernet switch. It learns the source MAC
// of every frame a port writes, forwards unicast frames for a learned address
// to that port only, and floods broadcast, multicast and unknown unicast
// frames to every other port. A frame is never sent back out of the port it
// came in on.
//
// Learning ignores VLAN tags (one shared table, as on an unmanaged switch
// that passes tags through), and a MAC seen on a new port moves there. The
// table is bounded, like a hardware switch's: it holds at most
// Config.MACTable addresses, forgets an address Config.MACAging after the
// last frame from it, and when full learns nothing new (see
// Config.MACTable). Its methods are safe for concurrent use.
type Switch struct {
	cfg Config
	now func() int64 // monotonic nanoseconds; tests replace it

	mu        sync.RWMutex
	closed    bool
	ports     []*Port // in creation order, so flooding order is deterministic
	table     map[[6]byte]*macEntry
	next      uint64 // random stream of the next port's link
	nextSweep int64  // earliest now() at which a full table is swept again

	tableFull, aged atomic.Uint64
}

// macEntry is a learned address. port changes only under the switch's
// write lock; seen is refreshed under its read lock by every frame from the
// address, so that steady traffic does not serialise the writers.
type macEntry struct {
	port *Port
	seen atomic.Int64 // now() at the last frame from the address
}

// SwitchStats are a Switch's learning counters.
type SwitchStats struct {
	// Addresses is how many learned addresses are in use (not aged out).
	Addresses int
	// TableFull counts frames whose source address was not learned because
	// the table held Config.MACTable addresses.
	TableFull uint64
	// Aged counts addresses forgotten because no frame came from them for
	// Config.MACAging.
	Aged uint64
}

// NewSwitch returns a switch without ports. cfg applies to every port added
// later; each port's link draws faults from its own stream of
// cfg.Faults.Seed, numbered in the order the ports are added.
func NewSwitch(cfg Config) *Switch {
	start := time.Now()
	return &Switch{
		cfg:   cfg.normalized(),
		now:   func() int64 { return int64(time.Since(start)) },
		table: make(map[[6]byte]*macEntry),
	}
}

// AddPort attaches a new port to the switch. It fails with an error wrapping
// net.ErrClosed after Close. Closing the port detaches it and forgets the
// addresses learned on it.
func (s *Switch) AddPort() (*Port, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("memio: add port: %w", net.ErrClosed)
	}
	p := newPort(s.cfg, s.next)
	s.next++
	p.sw = s
	s.ports = append(s.ports, p)
	return p, nil
}

// Close closes every port and makes later AddPort calls fail. It is
// idempotent.
func (s *Switch) Close() error {
	s.mu.Lock()
	s.closed = true
	ports := slices.Clone(s.ports)
	s.mu.Unlock()
	// Outside the lock: Port.Close calls back into remove.
	for _, p := range ports {
		p.Close()
	}
	return nil
}

func isGroup(mac []byte) bool { return mac[0]&1 != 0 }

// forward is the switch fabric; frame is at least an Ethernet header long.
func (s *Switch) forward(in *Port, frame []byte) {
	dst := [6]byte(frame[0:6])
	src := [6]byte(frame[6:12])
	now := s.now()

	s.mu.RLock()
	if !isGroup(src[:]) {
		if e := s.table[src]; e != nil && e.port == in {
			e.seen.Store(now)
		} else {
			s.mu.RUnlock()
			s.learn(in, src, now)
			s.mu.RLock()
		}
	}
	defer s.mu.RUnlock()

	if !isGroup(dst[:]) {
		if e, ok := s.table[dst]; ok && !s.expired(e, now) {
			if e.port == in {
				// The destination sits behind the ingress port; a real
				// switch filters the frame.
				in.c.Discard()
				return
			}
			e.port.in.send(frame)
			return
		}
	}
	sent := false
	for _, out := range s.ports {
		if out != in {
			out.in.send(frame)
			sent = true
		}
	}
	if !sent {
		in.c.Discard()
	}
}

// learn records that src is behind in, if the table has room for it.
func (s *Switch) learn(in *Port, src [6]byte, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A port is marked closed before remove takes the lock, so this cannot
	// re-learn an address remove has already forgotten.
	if in.closed.Load() {
		return
	}
	if e := s.table[src]; e != nil { // moved, or learned since the read lock
		e.port = in
		e.seen.Store(now)
		return
	}
	if len(s.table) >= s.cfg.MACTable {
		s.sweep(now)
		if len(s.table) >= s.cfg.MACTable {
			s.tableFull.Add(1)
			return
		}
	}
	e := &macEntry{port: in}
	e.seen.Store(now)
	s.table[src] = e
}

// expired reports whether e has aged out.
func (s *Switch) expired(e *macEntry, now int64) bool {
	return s.cfg.MACAging > 0 && now-e.seen.Load() > int64(s.cfg.MACAging)
}

// sweep reclaims aged entries of a full table. Aged entries are already
// ignored by forward, so sweeping is only needed for room; it runs at most
// every tenth of the aging time (and at least every second), so that sources
// arriving at a full table cannot make every frame scan it. s.mu is held.
func (s *Switch) sweep(now int64) {
	if s.cfg.MACAging <= 0 || now < s.nextSweep {
		return
	}
	s.nextSweep = now + int64(min(s.cfg.MACAging/10, time.Second))
	for mac, e := range s.table {
		if s.expired(e, now) {
			delete(s.table, mac)
			s.aged.Add(1)
		}
	}
}

// Stats returns the switch's learning counters.
func (s *Switch) Stats() SwitchStats {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := SwitchStats{TableFull: s.tableFull.Load(), Aged: s.aged.Load()}
	for _, e := range s.table {
		if !s.expired(e, now) {
			st.Addresses++
		}
	}
	return st
}

// remove detaches p and forgets the addresses learned on it.
func (s *Switch) remove(p *Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ports = slices.DeleteFunc(s.ports, func(q *Port) bool { return q == p })
	for mac, e := range s.table {
		if e.port == p {
			delete(s.table, mac)
		}
	}
}
