package relay

import (
	"testing"

	"github.com/etherconn/etherconn/internal/testkit"
)

// TestPushRetainsBeforePublishing checks that a packet another goroutine
// pops already carries the queue's reference: while the pusher still holds
// its own, the popper must see at least two. (A Push that retained only
// after unlocking let a fast reader release the packet to the pool while
// the read loop still used it.) The packets here have no buffers and never
// go back to the pool.
func TestPushRetainsBeforePublishing(t *testing.T) {
	const n = 10000
	rounds := 10
	if testkit.RaceEnabled {
		rounds = 2
	}
	bad := 0
	for range rounds {
		q := newQueue(n)
		pkts := make([]Packet, n)
		seen := make(chan []int32)
		go func() {
			refs := make([]int32, 0, n)
			for len(refs) < n {
				if p := q.tryPop(); p != nil {
					refs = append(refs, p.refs.Load())
				}
			}
			seen <- refs
		}()
		for i := range pkts {
			pkts[i].refs.Store(1)
			if !q.Push(&pkts[i]) {
				t.Fatal("queue full")
			}
		}
		for _, r := range <-seen {
			if r < 2 {
				bad++
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d packets were visible to a reader before Push retained them", bad, rounds*n)
	}
}
