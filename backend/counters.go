package backend

import "sync/atomic"

// Counters is the one way backends keep their Stats: atomic, so the reader,
// the writers and a Stats call never contend on a lock. The zero value is
// ready; a Counters must not be copied after first use.
type Counters struct {
	framesIn, bytesIn, framesOut, bytesOut, dropped, discarded atomic.Uint64
}

// In counts one frame of n bytes read.
func (c *Counters) In(n int) {
	c.framesIn.Add(1)
	c.bytesIn.Add(uint64(n))
}

// InBatch counts the frames of one batch read, of lens bytes each: two
// atomic adds per batch rather than per frame.
func (c *Counters) InBatch(lens []int) {
	var bytes uint64
	for _, n := range lens {
		bytes += uint64(n)
	}
	c.framesIn.Add(uint64(len(lens)))
	c.bytesIn.Add(bytes)
}

// Out counts one frame of n bytes written.
func (c *Counters) Out(n int) {
	c.framesOut.Add(1)
	c.bytesOut.Add(uint64(n))
}

// OutBatch counts the frames written by one batch write.
func (c *Counters) OutBatch(frames [][]byte) {
	var bytes uint64
	for _, f := range frames {
		bytes += uint64(len(f))
	}
	c.framesOut.Add(uint64(len(frames)))
	c.bytesOut.Add(bytes)
}

// Drop counts n frames lost below the backend (Stats.Dropped).
func (c *Counters) Drop(n uint64) { c.dropped.Add(n) }

// Discard counts one frame accepted for writing but delivered nowhere
// (Stats.Discarded).
func (c *Counters) Discard() { c.discarded.Add(1) }

// Snapshot returns the counts as Stats.
func (c *Counters) Snapshot() Stats {
	return Stats{
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
		Dropped: c.dropped.Load(), Discarded: c.discarded.Load(),
	}
}
