// Package relay is the backend-agnostic engine between one backend.PacketIO
// and the many emulated endpoints that share it.
//
// A Relay has one read loop per PacketIO. Each frame is parsed once (Ethernet,
// VLAN stack, IPv4/IPv6, UDP) into offsets and delivered, without copying, to
// the endpoint registered for its destination MAC, VLAN stack (TPID and VID of
// each tag) and innermost EtherType. Broadcast and multicast frames go to every
// endpoint that opted in and whose VLAN stack and EtherType match. Frames no
// endpoint wants go to an optional default endpoint, or are counted as misses.
//
// The read loop never blocks on a slow consumer: each endpoint has a bounded
// queue, and a frame that finds it full is dropped and counted. Packets come
// from a pool, so the steady state allocates nothing per frame.
//
// # Reader-led receive
//
// One goroutine at a time reads the PacketIO. Usually that is the relay's
// read loop, which hands each frame to the goroutine blocked reading its
// endpoint. When the PacketIO has a SetReadDeadline method (afpacket and memio
// do), a reader that would block while nobody reads the PacketIO reads it
// itself instead, for every endpoint: frames for others are dispatched as the
// loop would, and the frame it waits for reaches it without waking a second
// goroutine. This is what makes a lone request/response as fast as with a
// kernel socket; under load readers find frames queued or see others waiting
// and the loop does the reading, as before. The loop takes over again when a
// reader lets go with others waiting or after a busy read, and at the latest
// about 2 ms after the last reader let go, so frames for endpoints nobody is
// reading at that moment (handlers, idle queues) wait that long at most.
// Handlers therefore run on whichever goroutine reads the PacketIO.
// Stats.ReaderFrames counts the frames readers read.
package relay
