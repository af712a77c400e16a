package relay

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/etherconn/etherconn/frame"
)

// model is an independent reassembly of one datagram's fragments, written
// from the rules (RFC 791, RFC 8200 §4.5, RFC 5722, Linux's ip_frag_queue
// and ip6_frag_queue) with a byte map instead of pieces, to check the
// reassembler against.
type model struct {
	data   [0x10000 + 16]byte
	have   [0x10000 + 16]bool
	size   int // -1 until the last fragment
	maxEnd int
	pieces int // fragments held
}

func newModel() *model { return &model{size: -1} }

// add applies one fragment; it returns the fragmentable part when the
// datagram completes, and whether the model's queue is to be dropped.
func (m *model) add(v6 bool, off int, data []byte, more bool) (whole []byte, drop bool) {
	n := len(data)
	if v6 && more && n%8 != 0 {
		return nil, false // dropped alone (parameter problem)
	}
	if !v6 && more {
		n &^= 7
	}
	limit := 0xffff - 20
	if v6 {
		limit = 0xffff
	}
	if off+n > limit {
		return nil, false // dropped alone
	}
	if v6 && off == 0 && n < 8 && n > 0 {
		return nil, false // RFC 7112: the first fragment must hold the UDP header
	}
	if n == 0 {
		return nil, true
	}
	end := off + n
	if !more && ((m.size >= 0 && end != m.size) || end < m.maxEnd) {
		return nil, true
	}
	if more && m.size >= 0 && end > m.size {
		return nil, true
	}
	covered, clear := true, true
	for i := off; i < end; i++ {
		covered = covered && m.have[i]
		clear = clear && !m.have[i]
	}
	if covered {
		return nil, false // a duplicate
	}
	if !clear {
		return nil, true // an overlap
	}
	if m.pieces == 1024 {
		return nil, true // too many fragments
	}
	m.pieces++
	for i := off; i < end; i++ {
		m.data[i], m.have[i] = data[i-off], true
	}
	m.maxEnd = max(m.maxEnd, end)
	if !more {
		m.size = end
	}
	if m.size < 0 {
		return nil, false
	}
	for i := range m.size {
		if !m.have[i] {
			return nil, false
		}
	}
	return m.data[:m.size], true
}

// FuzzReassemble feeds the reassembler fragment sets decoded from the
// input, in any order, with gaps, overlaps, duplicates, lying lengths and
// data past the end, and checks that it delivers exactly what the model
// reassembles, never more than its budget holds, and never panics. With
// the first byte's top bit set the rest is raw frames instead, checked
// only for the budget and for what is delivered being whole and parsed.
func FuzzReassemble(f *testing.F) {
	d := udpDatagram(false, 3000)
	seed := []byte{0, 0x0b, 0xb8} // IPv4, 3,000 bytes
	for _, fr := range split(d, 1480) {
		flags := byte(0)
		if fr.more {
			flags = 1
		}
		seed = binary.BigEndian.AppendUint16(append(seed, 0), uint16(fr.off))
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(fr.data)))
		seed = append(seed, flags)
	}
	f.Add(seed)
	seed6 := append([]byte{1}, seed[1:]...)
	f.Add(seed6)
	raw := []byte{0x80}
	for _, fr := range split(d, 1480) {
		b := fragFrame(false, 3, fr)
		raw = append(binary.BigEndian.AppendUint16(raw, uint16(len(b))), b...)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 {
			return
		}
		if in[0]&0x80 != 0 {
			fuzzRaw(t, in[1:])
			return
		}
		v6 := in[0]&1 != 0
		size := 16 + int(binary.BigEndian.Uint16(in[1:]))%20000
		base := [2][]byte{udpDatagram(v6, size), udpDatagram(v6, size)}
		base[1][9] ^= 0xff // the second datagram differs
		ra := newReassembler(ReassemblyConfig{})
		defer ra.close()
		models := [2]*model{newModel(), newModel()}
		ops := in[3:]
		for len(ops) >= 6 {
			id := int(ops[0] & 1)
			off := int(binary.BigEndian.Uint16(ops[1:]))
			n := int(binary.BigEndian.Uint16(ops[3:])) % 2048
			more := ops[5]&1 != 0
			ops = ops[6:]
			off &^= 7 // the header can only say multiples of 8
			data := make([]byte, n)
			if off < len(base[id]) {
				copy(data, base[id][off:])
			}
			p, err := copyPacket(fragFrame(v6, uint32(id), frag{off, data, more}))
			if err != nil {
				if off == 0 && !more {
					continue // no fragment: a UDP datagram, malformed
				}
				t.Fatalf("test fragment does not parse: %v", err)
			}
			// Offset 0 and no more fragments is no fragment at all: it
			// goes to no queue, in Linux either.
			var got []byte
			var w *Packet
			if p.Info.Fragment {
				w = ra.add(p, nil)
			}
			p.Release()
			if ra.stats().Pinned > DefaultReassemblyBudget {
				t.Fatalf("pinned %d over the budget", ra.stats().Pinned)
			}
			var want []byte
			if p.Info.Fragment {
				var drop bool
				want, drop = models[id].add(v6, off, data, more)
				if drop {
					models[id] = newModel()
				}
			}
			if want != nil {
				// Delivered only if its UDP length fits what came.
				if ulen := int(binary.BigEndian.Uint16(want[4:])); ulen < 8 || ulen > len(want) {
					want = nil
				}
			}
			if w != nil {
				if !w.Info.UDP || w.Info.Fragment {
					t.Fatalf("delivered a datagram that is not whole UDP: %+v", w.Info)
				}
				got = w.Frame()[w.Info.L4:w.Info.PayloadEnd]
			}
			switch {
			case (want == nil) != (w == nil):
				t.Fatalf("fragment id %d off %d len %d more %v: delivered %v, model %v", id, off, n, more, w != nil, want != nil)
			case w != nil && !bytes.Equal(got, want[:len(got)]):
				t.Fatalf("delivered other bytes than the model's")
			}
			if w != nil {
				w.Release()
			}
		}
	})
}

// fuzzRaw feeds raw frames (2-byte length, bytes) to a small reassembler.
func fuzzRaw(t *testing.T, in []byte) {
	const budget = 16 << 10
	ra := newReassembler(ReassemblyConfig{Budget: budget})
	defer ra.close()
	for len(in) >= 2 {
		n := min(int(binary.BigEndian.Uint16(in)), len(in)-2)
		b := in[2 : 2+n]
		in = in[2+n:]
		p, err := copyPacket(b)
		if err != nil {
			continue
		}
		if p.Info.Fragment {
			if w := ra.add(p, nil); w != nil {
				var in frame.Info
				if err := frame.Parse(w.Frame(), &in); err != nil || in.Fragment {
					t.Fatalf("delivered a datagram that does not parse whole: %v", err)
				}
				w.Release()
			}
		}
		p.Release()
		if ra.stats().Pinned > budget {
			t.Fatalf("pinned %d over the budget %d", ra.stats().Pinned, budget)
		}
	}
}
