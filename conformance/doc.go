// Package conformance holds the behaviour suites that every
// backend.PacketIO runs, the same tests for all, in the spirit of
// golang.org/x/net/nettest. It uses the standard testing package only, so
// running it adds no assertion library to a backend's build.
//
// There are two suites, both run as subtests of the caller's test, both
// over a Config whose NewPair makes two connected PacketIOs (a memio pipe,
// two ports of a memio switch, the two ends of a veth pair):
//
//   - Run checks the backend.PacketIO contract itself: frames byte for byte
//     as on the wire with VLAN and QinQ tags (each decoded again by an
//     independent decoder, gopacket), group destinations, short frames
//     without padding, malformed frames carried as they are, that a backend
//     never reads its own frames, truncation into a short buffer, Close
//     (idempotent, unblocking a blocked read, final, safe while writers
//     write), one reader with concurrent writers on both ends, and the
//     optional abilities a backend has: backend.BatchReader,
//     backend.BatchWriter, backend.ReadDeadliner (found with
//     backend.ReadDeadlinerOf) and backend.StatsReporter. A subtest for an
//     ability the backend lacks is skipped.
//   - RunStack checks the project's stack over the pair: relay demux by MAC,
//     VLAN stack and EtherType, broadcast and multicast, the default
//     endpoint, etherconn endpoints, rudp over IPv4 and IPv6 with every
//     header checked by gopacket, Ethernet padding, bad checksums, shared
//     ports, malformed input, concurrent flows, counters, emulated hosts
//     (package host: UDP over IPv4, IPv6 and link-local IPv6 between two
//     hosts that resolve each other by ARP and ND, and ping), and
//     TestPacketConn on two rudp.Conns.
//
// A backend runs both; Run is what it promises, RunStack what users build
// on it. A third-party backend's test looks like this (memio stands in for
// the backend):
//
//	func TestConformance(t *testing.T) {
//		cfg := conformance.Config{
//			NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
//				a, b := memio.Pipe(memio.Config{QueueLen: 1024})
//				return a, b
//			},
//		}
//		t.Run("PacketIO", func(t *testing.T) { conformance.Run(t, cfg) })
//		t.Run("Stack", func(t *testing.T) { conformance.RunStack(t, cfg) })
//	}
//
// The two suites' subtests have different names, so one test can run both
// side by side. Every subtest gets a fresh pair and closes it at the end. The suites send
// frames from source MACs starting 02:c0 and ignore every other frame, so a
// link that carries frames of its own (a kernel's) does not disturb them.
//
// Each subtest runs under a watchdog: if it has not finished after
// Config.Watchdog (DefaultWatchdog, 30 s, unless set), it fails with a
// message that names it and the limit and holds a dump of every goroutine,
// taken when the limit passed; the watchdog then closes the subtest's
// PacketIOs, so that a blocked call returns, and the suite goes on with the
// next subtest instead of hanging the test binary. A subtest that is still
// blocked after that (a backend whose Close does not unblock it) is left
// running on its goroutine.
//
// TestPacketConn is the net.PacketConn part on its own: it takes a factory
// of two connected net.PacketConns, so it can check any UDP-like
// connection. RunStack runs it on rudp.
package conformance
