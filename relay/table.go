package relay

import "github.com/etherconn/etherconn/frame"

// l2Key finds the endpoints of one MAC and VLAN stack. The EtherType is
// checked on the endpoints themselves: one map entry per endpoint, not per
// EtherType, keeps the map small and a lookup to one probe. pad makes the
// struct free of implicit padding, so the map hashes it as one block.
type l2Key struct {
	mac   frame.MAC
	pad   uint16
	stack frame.StackKey
}

// groupKey finds the endpoints that opted in to broadcast or multicast on a
// VLAN stack and EtherType.
type groupKey struct {
	etherType uint16
	stack     frame.StackKey
}

// table holds the endpoints of a relay; guarded by Relay.mu.
type table struct {
	unicast   map[l2Key]*Endpoint // chained through Endpoint.next
	groups    map[groupKey][]*Endpoint
	groupOnly map[*Endpoint]struct{} // endpoints of RegisterGroup, in groups only
}

func newTable() table {
	return table{unicast: make(map[l2Key]*Endpoint), groups: make(map[groupKey][]*Endpoint),
		groupOnly: make(map[*Endpoint]struct{})}
}

// lookup returns the endpoint for a unicast key, or nil.
func (t *table) lookup(k *frame.Key) *Endpoint {
	for ep := t.unicast[l2Key{mac: k.MAC, stack: k.Stack}]; ep != nil; ep = ep.next {
		if ep.wants(k.EtherType) {
			return ep
		}
	}
	return nil
}

// holder returns the endpoint that holds the key, if any.
func (t *table) holder(k frame.Key) *Endpoint { return t.lookup(&k) }

// add inserts ep under all its keys; the caller checked they are free.
func (t *table) add(ep *Endpoint) {
	if ep.group {
		t.groupOnly[ep] = struct{}{}
	} else {
		lk := l2Key{mac: ep.cfg.MAC, stack: ep.stack}
		ep.next = t.unicast[lk]
		t.unicast[lk] = ep
	}
	if !ep.cfg.Broadcast && !ep.cfg.Multicast {
		return
	}
	ep.groupPos = make([]int, len(ep.cfg.EtherTypes))
	for i, et := range ep.cfg.EtherTypes {
		g := groupKey{et, ep.stack}
		ep.groupPos[i] = len(t.groups[g])
		t.groups[g] = append(t.groups[g], ep)
	}
}

// remove takes ep out of every table, in time independent of how many
// endpoints there are.
func (t *table) remove(ep *Endpoint) {
	lk := l2Key{mac: ep.cfg.MAC, stack: ep.stack}
	if ep.group {
		delete(t.groupOnly, ep)
	} else if head := t.unicast[lk]; head == ep {
		if ep.next == nil {
			delete(t.unicast, lk)
		} else {
			t.unicast[lk] = ep.next
		}
	} else {
		for prev := head; prev != nil; prev = prev.next {
			if prev.next == ep {
				prev.next = ep.next
				break
			}
		}
	}
	ep.next = nil
	for i, et := range ep.cfg.EtherTypes {
		if ep.groupPos == nil {
			break
		}
		g := groupKey{et, ep.stack}
		list := t.groups[g]
		pos, last := ep.groupPos[i], len(list)-1
		if pos > last || list[pos] != ep {
			continue
		}
		moved := list[last]
		list[pos], list[last] = moved, nil
		moved.setGroupPos(et, pos)
		if last == 0 {
			delete(t.groups, g)
		} else {
			t.groups[g] = list[:last]
		}
	}
}

// all returns every endpoint once.
func (t *table) all() []*Endpoint {
	var eps []*Endpoint
	for _, ep := range t.unicast {
		for ; ep != nil; ep = ep.next {
			eps = append(eps, ep)
		}
	}
	for ep := range t.groupOnly {
		eps = append(eps, ep)
	}
	return eps
}
