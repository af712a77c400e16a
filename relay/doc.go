// Package relay is the backend-agnostic engine between one backend.PacketIO
// and the many emulated endpoints that share it.
//
// A Relay has one read loop per PacketIO (NewGroup gives it several PacketIOs
// of one link: see below). Each frame is parsed once (Ethernet, VLAN stack,
// IPv4/IPv6, UDP) into offsets and delivered, without copying, to the
// endpoint registered for its destination MAC, VLAN stack (TPID and VID of
// each tag) and innermost EtherType. Broadcast and multicast frames go to every
// endpoint that opted in and whose VLAN stack and EtherType match. Frames no
// endpoint wants go to an optional default endpoint, or are counted as misses.
//
// The read loop never blocks on a slow consumer: each endpoint has a bounded
// queue, and a frame that finds it full is dropped and counted. Packets come
// from a pool, so the steady state allocates nothing per frame.
//
// # IP reassembly
//
// A layer that handles an IP protocol hands the fragments it gets to
// Relay.Reassemble (through etherconn.Conn.Reassemble), which puts
// datagrams back together for all the relay's endpoints within one byte
// budget and per-family timeouts (ReassemblyConfig: 4 MiB, 30 s, 60 s, as
// Linux's ipfrag sysctls), with RFC 5722's rule for overlaps, and counts
// what it drops in Stats.Reassembly. The relay itself delivers fragments
// as it delivers any frame: only layers that ask get datagrams whole.
//
// # Reader-led receive
//
// One goroutine at a time reads the PacketIO: whoever holds the read token.
// Usually that is the relay's read loop, which hands each frame to the
// goroutine blocked reading its endpoint. That handoff wakes a second
// goroutine, and with an idle CPU a second OS thread, for every frame: a lone
// request and its answer pay it on both sides (measured on a veth pair: a
// 28 µs round trip against the kernel's 22 µs). So when the PacketIO has a
// read deadline (backend.ReadDeadliner: afpacket and memio do), a reader that
// would block while nobody reads the PacketIO takes the token and reads it
// itself, for every endpoint: frames for others are dispatched as the loop
// would, and the frame it waits for reaches it without a handoff. Readers of
// the queues that layers above make with Endpoint.NewQueue (rudp's) take
// part the same way.
//
// The loop stays the reader of last resort. It takes the token back at once
// when a leading reader lets go with others waiting or after a busy read,
// and otherwise when the token has lain unheld for between one and two of
// its 2 ms polls: frames for endpoints nobody is reading at that moment
// (handlers, idle queues) wait at most 4 ms. A reader that blocks while the
// loop reads at a low rate with nobody else waiting asks the loop to let go
// (a kick: the PacketIO's read deadline set in the past). Under load readers
// find frames queued or others waiting, and the loop does the reading as
// before. Handlers therefore run on whichever goroutine reads the PacketIO.
// Stats.ReaderFrames counts the frames readers read.
//
// An idle relay costs nothing: after 16 polls in a row (32 ms) that find a
// reader leading and the token not passed on, the loop stops polling until
// a reader lets go (measured with 10,000 blocked readers and no traffic:
// 28 ms of CPU a second before; now 0.5 ms once the runtime has settled
// after setting them up, as much as with one reader: BenchmarkIdleCPU).
//
// # Several PacketIOs of one link
//
// NewGroup makes one relay of several PacketIOs over which the system
// spreads one link's frames: the sockets of an AF_PACKET fanout group, later
// a NIC's queues. Each has its own read loop; all share the endpoint table,
// the budgets and the IP reassembly, so an endpoint registers once, a
// broadcast reaches each endpoint once whichever socket it came by, and
// fragments that arrive on different sockets still meet. The frames of one
// PacketIO keep their order, and so those of a flow that the system keeps
// on one PacketIO (a fanout hash does). Sends go out through the first.
// There is no reader-led receive on such a relay, and its input ends when
// every PacketIO's has: NewGroup says why.
//
// A second loop pays where it has a CPU of its own. On a 2-vCPU VM, 1,000
// flows queued in the sockets of a veth end were delivered to their readers
// at 1.03–1.10 M frames a second by a relay on two sockets against
// 0.68–0.71 M on one (BenchmarkVethGroup drain, a quiet machine; +20–30%
// with other load, nothing under more); with the sender on the same two
// CPUs (flood) two sockets were 10% slower, 560–610 k against 640–690 k,
// one loop keeping up with the sender anyway.
//
// What the loops share is what limits how far they scale. Per batch of
// frames: the table's read lock (two atomic adds on one cache line that
// every loop writes), and the first PacketIO's receive state, which lives
// in the Relay beside the table's fields that every loop reads (false
// sharing). Per frame: the relay's counters (the same words,
// added by every loop: true sharing, not false), and the budget's count of
// pinned bytes per queued packet. Per fragment: the reassembly's mutex.
// Per endpoint only: its counters and queue, shared only by frames of one
// endpoint arriving on different PacketIOs. Measured with two loops on two
// CPUs doing nothing but the loops' work (BenchmarkGroupDispatch, 8 runs),
// a frame cost 104–159 ns of CPU (median 114) on one relay against 99–135
// (median 119) with each loop on a relay of its own: below the noise of
// this machine, where the receive side spends 1.4–2 µs on a frame through
// a veth. Every shared cache line, though, is one more transfer between
// CPUs per frame or batch for each loop added, so queues running at
// millions of frames a second each would want per-loop counters, summed
// by Stats, and the receive states apart from the table.
package relay
