package relay

// Prefetcher is an optional interface of a Handler whose Handle looks into
// a structure too big for the CPU's caches (the host layer's table of the
// addresses of 50,000 hosts): the read loop calls Prefetch for every
// packet of a read batch routed to the handler before it delivers any of
// them, so that the handler can touch what Handle will need (a cache line)
// for all of them back to back, and the CPU overlaps the batch's cache
// misses instead of taking them one after another. Prefetch runs on the
// read loop with no lock of the relay held, and on a relay of several
// PacketIOs (NewGroup) on several loops at once, so it must be safe for
// concurrent use (reading only, as the host's does); it must be quick, must not
// block, send or keep p, and should do nothing that waits for memory (an
// atomic read-modify-write, a lock: on x86 those wait for the loads
// before them, and the misses no longer overlap).
type Prefetcher interface {
	Prefetch(p *Packet)
}

// prefetchAll calls Prefetch for the packets of a routed batch (ends as
// in deliverAll) whose handlers have it.
func prefetchAll(ps []*Packet, ts []target, ends []int32) {
	for j, p := range ps {
		for _, t := range ts[ends[j]:ends[j+1]] {
			if pf, ok := t.h.(Prefetcher); ok {
				pf.Prefetch(p)
			}
		}
	}
}
