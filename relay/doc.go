// Package relay is the backend-agnostic engine between one backend.PacketIO
// and the many emulated endpoints that share it.
//
// A Relay runs one read loop per PacketIO. Each frame is parsed once (Ethernet,
// VLAN stack, IPv4/IPv6, UDP) into offsets and delivered, without copying, to
// the endpoint registered for its destination MAC, VLAN stack (TPID and VID of
// each tag) and innermost EtherType. Broadcast and multicast frames go to every
// endpoint that opted in and whose VLAN stack and EtherType match. Frames no
// endpoint wants go to an optional default endpoint, or are counted as misses.
//
// The read loop never blocks on a slow consumer: each endpoint has a bounded
// queue, and a frame that finds it full is dropped and counted. Packets come
// from a pool, so the steady state allocates nothing per frame.
package relay
