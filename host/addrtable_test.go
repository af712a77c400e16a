package host

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestTable4 checks table4 against a Go map through random adds, removals
// and answers, across growth and the backward shifts of removal: every
// address is found where the map has it, with its owner, MAC and count,
// absent ones are not, the counts of removed addresses go to their
// owners, and no probe runs long.
func TestTable4(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(r *rand.Rand, i int) uint32
	}{
		{"consecutive", func(_ *rand.Rand, i int) uint32 { return 198<<24 | 18<<16 + uint32(i) + 1 }},
		{"random", func(r *rand.Rand, _ int) uint32 { return r.Uint32() | 1 }},
		{"stride 256", func(_ *rand.Rand, i int) uint32 { return 198<<24 | 18<<16 + uint32(i)<<8 + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			hosts := make([]*Host, 8)
			for i := range hosts {
				hosts[i] = &Host{mac: [6]byte{2, 0, 0, 0, 0, byte(i)}}
			}
			var tab table4
			type entry struct {
				h   *Host
				arp uint32
			}
			ref := map[uint32]*entry{}
			gone := map[*Host]uint64{}
			var keys []uint32
			check := func() {
				t.Helper()
				if tab.n != len(ref) {
					t.Fatalf("n = %d, want %d", tab.n, len(ref))
				}
				for k, e := range ref {
					i := tab.index(k)
					if i < 0 || tab.owners[i] != e.h || tab.slots[i].mac != e.h.mac || tab.slots[i].arp.Load() != e.arp {
						t.Fatalf("%#x: slot %d, want owner %p count %d", k, i, e.h, e.arp)
					}
				}
				for _, h := range hosts {
					if h.st.arpGone.Load() != gone[h] {
						t.Fatalf("host %v: gone %d, want %d", h.mac, h.st.arpGone.Load(), gone[h])
					}
				}
			}
			for i := range 20000 {
				switch op := r.IntN(10); {
				case op < 6 || len(keys) == 0: // add
					k := tc.key(r, i)
					if ref[k] != nil {
						continue
					}
					h := hosts[r.IntN(len(hosts))]
					tab.set(k, h)
					ref[k] = &entry{h: h}
					keys = append(keys, k)
				case op < 8: // answer
					k := keys[r.IntN(len(keys))]
					if e := ref[k]; e != nil {
						if i := tab.index(k); i >= 0 {
							tab.slots[i].arp.Add(1)
							e.arp++
						}
					}
				default: // remove
					j := r.IntN(len(keys))
					k := keys[j]
					keys[j] = keys[len(keys)-1]
					keys = keys[:len(keys)-1]
					if e := ref[k]; e != nil {
						gone[e.h] += uint64(e.arp)
						delete(ref, k)
					}
					tab.del(k)
				}
				if i%997 == 0 {
					check()
				}
			}
			check()
			for range 1000 {
				if k := r.Uint32(); ref[k] == nil && tab.index(k) >= 0 {
					t.Fatalf("%#x found, not added", k)
				}
			}
			if tab.index(0) >= 0 {
				t.Fatal("0.0.0.0 found")
			}
			if longest := tab.longestRun(); longest > 64 {
				t.Errorf("a run of %d occupied slots among %d (%d used)", longest, len(tab.slots), tab.n)
			}
			for k := range ref {
				tab.del(k)
			}
			if tab.n != 0 || tab.slots != nil || tab.view.Load() != nil {
				t.Fatalf("emptied table keeps %d entries, %d slots", tab.n, len(tab.slots))
			}
		})
	}
}

// longestRun is the longest stretch of occupied slots: what a lookup of
// an absent address may have to read, at worst.
func (t *table4) longestRun() int {
	longest, run := 0, 0
	for i := range 2 * len(t.slots) { // twice round: a run may wrap
		if t.slots[i%len(t.slots)].key != 0 {
			run++
			longest = max(longest, min(run, len(t.slots)))
		} else {
			run = 0
		}
	}
	return longest
}

// TestTable4Fold: a slot's 32-bit counter moves into its owner's total
// before it wraps, and the sum stays right.
func TestTable4Fold(t *testing.T) {
	h := &Host{mac: [6]byte{2, 0, 0, 0, 0, 1}}
	var m addrMap
	a := netip.MustParseAddr("198.18.0.1")
	m.set(a, h)
	i := m.v4.index(addrKey(a))
	m.v4.slots[i].arp.Store(arpFold - 2)
	for range 5 {
		if _, ok := m.answer(a, nil); !ok {
			t.Fatal("no answer")
		}
	}
	want := uint64(arpFold + 3)
	got := h.st.arpGone.Load() + m.arpAnswered(h, []netip.Prefix{netip.PrefixFrom(a, 16)})
	if got != want || h.st.arpGone.Load() == 0 {
		t.Fatalf("answers %d (folded %d), want %d", got, h.st.arpGone.Load(), want)
	}
	if _, ok := m.answer(a, &Host{}); ok {
		t.Fatal("answered for another host")
	}
}
