package host

import (
	"math/bits"
	"net/netip"
	"sync/atomic"

	"github.com/etherconn/etherconn/frame"
)

// addrOwner is the host that has an address, with its MAC: all an ARP
// answer needs of it.
type addrOwner struct {
	h   *Host
	mac frame.MAC
}

// addrMap maps the segment's addresses to their hosts; the segment's mu
// guards it. IPv4 addresses, which every broadcast ARP request looks up,
// are in table4; IPv6 ones (multicast NS, a host's own lookups) in a Go
// map. The addresses have no zone (AddAddr refuses them).
type addrMap struct {
	v4 table4
	v6 map[[16]byte]addrOwner
}

func (m *addrMap) get(a netip.Addr) addrOwner {
	if a.Is4() {
		if i := m.v4.index(addrKey(a)); i >= 0 {
			return addrOwner{m.v4.owners[i], m.v4.slots[i].mac}
		}
		return addrOwner{}
	}
	return m.v6[a.As16()] // the zero Addr too: no such key
}

func (m *addrMap) set(a netip.Addr, h *Host) {
	if a.Is4() {
		m.v4.set(addrKey(a), h)
		return
	}
	if m.v6 == nil {
		m.v6 = make(map[[16]byte]addrOwner)
	}
	m.v6[a.As16()] = addrOwner{h, h.mac}
}

func (m *addrMap) del(a netip.Addr) {
	if a.Is4() {
		m.v4.del(addrKey(a))
	} else {
		delete(m.v6, a.As16())
	}
}

func (m *addrMap) len() int { return m.v4.n + len(m.v6) }

// answer returns the MAC of the owner of IPv4 address a and counts an ARP
// answer for it, if it has one and it is want (or any, with want nil).
// The segment's mu is held, for reading at least. Answering a broadcast
// request (want nil) reads nothing but the address's slot.
func (m *addrMap) answer(a netip.Addr, want *Host) (frame.MAC, bool) {
	t := &m.v4
	i := t.index(addrKey(a))
	if i < 0 || (want != nil && t.owners[i] != want) {
		return frame.MAC{}, false
	}
	s := &t.slots[i]
	if n := s.arp.Add(1); n >= arpFold {
		t.fold(i, n)
	}
	return s.mac, true
}

// arpFold is where a slot's 32-bit counter is moved into its owner's
// 64-bit total, long before it could wrap.
const arpFold = 1 << 30

// fold moves n answers of slot i into its owner's total. Answers may be
// counted concurrently (a read lock is held): only the one that swaps n
// out moves it, and Stats, which sums under the same read lock, may for
// that moment count n twice; once in a billion answers, never fewer.
func (t *table4) fold(i int, n uint32) {
	h := t.owners[i]
	h.st.arpGone.Add(uint64(n))
	if !t.slots[i].arp.CompareAndSwap(n, 0) {
		h.st.arpGone.Add(^uint64(n - 1)) // another answer came: the next one folds
	}
}

// arpAnswered returns the ARP answers counted for h's IPv4 addresses in
// addrs that h has in the table now; the segment's mu is held.
func (m *addrMap) arpAnswered(h *Host, addrs []netip.Prefix) uint64 {
	var n uint64
	for _, p := range addrs {
		if a := p.Addr(); a.Is4() {
			if i := m.v4.index(addrKey(a)); i >= 0 && m.v4.owners[i] == h {
				n += uint64(m.v4.slots[i].arp.Load())
			}
		}
	}
	return n
}

// addrKey is an IPv4 address as table4's key.
func addrKey(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// slot4 is one address of table4 with all that answering a broadcast ARP
// request for it touches: its owner's MAC and the address's answer
// counter (the owner's ARPAnswered is the sum over its addresses). 16
// bytes, four in a cache line, with the owner itself in a slice beside:
// among 50,000 hosts an answer then costs one cache miss, in a table half
// the size of a Go map of the same, where the map (its control word, then
// its slot) and a counter elsewhere cost three.
type slot4 struct {
	key uint32        // the address; 0 (0.0.0.0, no host's) marks a free slot
	arp atomic.Uint32 // answers; folded into the owner's total before it wraps
	mac frame.MAC
}

// table4 is an open-addressing hash table of IPv4 addresses with linear
// probing, at most maxLoad full: a lookup reads the slot the hash points
// at and, mostly, no more than its cache line. Only AddAddr inserts, so
// remote input never grows it; a lookup of any address ends at a free
// slot, which the load limit guarantees.
type table4 struct {
	slots  []slot4 // a power of two long
	owners []*Host // the owner of slots[i] is owners[i]
	n      int
	shift  uint8 // 32 - log2(len(slots))
	// view is slots and shift for prefetch, which takes no lock.
	view atomic.Pointer[view4]
}

type view4 struct {
	slots []slot4
	shift uint8
}

// minTable4 is the size of a table's first slots (4 cache lines); a table
// grows when more than maxLoadNum/maxLoadDen of it would be used.
const (
	minTable4              = 16
	maxLoadNum, maxLoadDen = 1, 2
)

// home is where k's probe starts: Fibonacci hashing, which spreads the
// consecutive addresses hosts are usually given over the whole table.
func (t *table4) home(k uint32) int { return home4(k, t.shift) }

func home4(k uint32, shift uint8) int { return int((k * 0x9e3779b1) >> shift) }

// prefetch touches the slot where k's probe starts, for relay.Prefetcher:
// loaded now, with the loads of the other requests of a read batch, it is
// in cache when answering looks for k. It takes no lock (a lock's atomic
// would wait for the load, and the loads would not overlap): it reads the
// slot's counter, which writers only write atomically, through view.
func (t *table4) prefetch(k uint32) {
	if v := t.view.Load(); v != nil {
		_ = v.slots[home4(k, v.shift)].arp.Load()
	}
}

// index returns the slot that holds k, or -1.
func (t *table4) index(k uint32) int {
	if k == 0 || t.n == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i, probes := t.home(k), 0; probes < len(t.slots); i, probes = (i+1)&mask, probes+1 {
		switch t.slots[i].key {
		case k:
			return i
		case 0:
			return -1
		}
	}
	return -1
}

// set makes h the owner of k; an address h has keeps its counter.
func (t *table4) set(k uint32, h *Host) {
	if k == 0 {
		return
	}
	if i := t.index(k); i >= 0 {
		if old := t.owners[i]; old != h { // a new owner starts from zero
			old.st.arpGone.Add(uint64(t.slots[i].arp.Swap(0)))
		}
		t.owners[i], t.slots[i].mac = h, h.mac
		return
	}
	if (t.n+1)*maxLoadDen > len(t.slots)*maxLoadNum {
		t.grow()
	}
	t.put(k, h.mac, h, 0)
	t.n++
}

// put fills the first free slot of k's probe; the table has one.
func (t *table4) put(k uint32, mac frame.MAC, h *Host, arp uint32) {
	mask := len(t.slots) - 1
	i := t.home(k)
	for t.slots[i].key != 0 {
		i = (i + 1) & mask
	}
	s := &t.slots[i]
	s.key, s.mac = k, mac
	s.arp.Store(arp)
	t.owners[i] = h
}

// grow doubles the table (to minTable4 at first) and puts every address
// in its new place, counters included.
func (t *table4) grow() {
	old, owners := t.slots, t.owners
	size := max(minTable4, 2*len(old))
	t.slots, t.owners = make([]slot4, size), make([]*Host, size)
	t.shift = uint8(32 - bits.Len(uint(size)-1))
	for i := range old {
		if o := &old[i]; o.key != 0 {
			t.put(o.key, o.mac, owners[i], o.arp.Load())
		}
	}
	t.view.Store(&view4{t.slots, t.shift})
}

// del removes k, crediting its answers to its owner (Stats keeps them),
// and closes the gap as linear probing needs (backward shift: no
// tombstones, so lookups stay short however many hosts come and go).
func (t *table4) del(k uint32) {
	i := t.index(k)
	if i < 0 {
		return
	}
	t.owners[i].st.arpGone.Add(uint64(t.slots[i].arp.Load()))
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].key != 0; j = (j + 1) & mask {
		h := t.home(t.slots[j].key)
		// The address at j may fill the gap at i unless its home lies
		// cyclically in (i, j]: it would then sit before its home.
		if (i <= j && i < h && h <= j) || (i > j && (i < h || h <= j)) {
			continue
		}
		to, from := &t.slots[i], &t.slots[j]
		to.key, to.mac = from.key, from.mac
		to.arp.Store(from.arp.Load())
		t.owners[i] = t.owners[j]
		i = j
	}
	g := &t.slots[i]
	g.key, g.mac = 0, frame.MAC{}
	g.arp.Store(0)
	t.owners[i] = nil
	t.n--
	if t.n == 0 { // the last address left: give the memory back
		t.slots, t.owners, t.shift = nil, nil, 0
		t.view.Store(nil)
	}
}
