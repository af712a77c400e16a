// Package memio is an in-memory backend.PacketIO: Ethernet links that need no
// root, no kernel and no network, for tests and simulations.
//
// Pipe returns the two ends of a point-to-point cable. NewSwitch returns a
// learning switch to which any number of ports can be added. Both hand out
// *Port values, which implement backend.PacketIO together with the optional
// backend.BatchReader, backend.BatchWriter and backend.StatsReporter.
//
// Like a real cable, a link never blocks its writer: every receiving port has
// a bounded queue, and a frame that finds it full is dropped and counted in
// the receiver's Stats.Dropped. Writes copy the frame into a pooled buffer, so
// a steady stream of frames allocates nothing. Nothing a writer does grows
// memory without a bound: the delay line of a link holds at most
// Faults.DelayLimit frames, and a Switch learns at most Config.MACTable
// addresses, each forgotten Config.MACAging after its last frame.
//
// A link can misbehave on purpose. Faults configures loss, duplication,
// reordering, bit corruption and delay, drawn from a random source seeded by
// Faults.Seed: the same sequence of writes on a link always suffers the same
// faults, which keeps tests that use them reproducible.
package memio
