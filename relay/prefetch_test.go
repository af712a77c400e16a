package relay

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/etherconn/etherconn/frame"
)

// recorder is a handler that logs its Prefetch and Handle calls.
type recorder struct {
	name string
	log  *[]string
}

func (h recorder) Handle(p *Packet) bool {
	*h.log = append(*h.log, fmt.Sprintf("handle %s%d", h.name, seqOf(p)))
	return true
}

type prefetcher struct{ recorder }

func (h prefetcher) Prefetch(p *Packet) {
	*h.log = append(*h.log, fmt.Sprintf("prefetch %s%d", h.name, seqOf(p)))
}

// TestPrefetcher: a handler that is a Prefetcher sees Prefetch for each of
// its packets of a routed chunk before any of them is delivered; others
// see only Handle.
func TestPrefetcher(t *testing.T) {
	r, _ := newDirect(t, Config{})
	var log []string
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	a.SetHandler(prefetcher{recorder{"a", &log}})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	b.SetHandler(recorder{"b", &log})
	batch := func(macs ...frame.MAC) {
		var ps []*Packet
		for i, m := range macs {
			p := getPacket()
			p.n = copy(p.buf, seqFrame(m, macR, nil, etExp1, uint32(i)))
			if r.parse(p) {
				ps = append(ps, p)
			}
		}
		r.dispatchParsed(&r.rx, ps)
		for _, p := range ps {
			p.Release()
		}
	}
	batch(macA, macB, macA)
	assert.Equal(t, []string{"prefetch a0", "prefetch a2", "handle a0", "handle b1", "handle a2"}, log)

	// Past a chunk (DefaultBatchSize), each chunk is prefetched before it
	// is delivered, after the one before.
	log = nil
	macs := make([]frame.MAC, DefaultBatchSize+2)
	for i := range macs {
		macs[i] = macA
	}
	batch(macs...)
	var want []string
	for _, chunk := range [][2]int{{0, DefaultBatchSize}, {DefaultBatchSize, DefaultBatchSize + 2}} {
		for _, what := range []string{"prefetch", "handle"} {
			for i := chunk[0]; i < chunk[1]; i++ {
				want = append(want, fmt.Sprintf("%s a%d", what, i))
			}
		}
	}
	assert.Equal(t, want, log)
}
