package memio

import (
	"fmt"
	"net"
	"slices"
	"sync"
)

// Switch is an in-memory learning Ethernet switch. It learns the source MAC
// of every frame a port writes, forwards unicast frames for a learned address
// to that port only, and floods broadcast, multicast and unknown unicast
// frames to every other port. A frame is never sent back out of the port it
// came in on.
//
// Learning ignores VLAN tags (one shared table, as on an unmanaged switch
// that passes tags through), entries never age out, and a MAC seen on a new
// port moves there. Its methods are safe for concurrent use.
type Switch struct {
	cfg Config

	mu     sync.RWMutex
	closed bool
	ports  []*Port // in creation order, so flooding order is deterministic
	table  map[[6]byte]*Port
	next   uint64 // random stream of the next port's link
}

// NewSwitch returns a switch without ports. cfg applies to every port added
// later; each port's link draws faults from its own stream of
// cfg.Faults.Seed, numbered in the order the ports are added.
func NewSwitch(cfg Config) *Switch {
	return &Switch{cfg: cfg.normalized(), table: make(map[[6]byte]*Port)}
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

	s.mu.RLock()
	if !isGroup(src[:]) && s.table[src] != in {
		s.mu.RUnlock()
		s.mu.Lock()
		// A port is marked closed before remove takes the lock, so this
		// cannot re-learn an address remove has already forgotten.
		if !in.closed.Load() {
			s.table[src] = in
		}
		s.mu.Unlock()
		s.mu.RLock()
	}
	defer s.mu.RUnlock()

	if !isGroup(dst[:]) {
		if out, ok := s.table[dst]; ok {
			if out == in {
				// The destination sits behind the ingress port; a real
				// switch filters the frame.
				in.c.Discard()
				return
			}
			out.in.send(frame)
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

// remove detaches p and forgets the addresses learned on it.
func (s *Switch) remove(p *Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ports = slices.DeleteFunc(s.ports, func(q *Port) bool { return q == p })
	for mac, q := range s.table {
		if q == p {
			delete(s.table, mac)
		}
	}
}
