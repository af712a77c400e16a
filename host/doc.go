// Package host makes emulated endpoints into IP hosts that a real network
// can talk to: each Host has a MAC and VLAN stack (its own etherconn.Conn),
// IPv4 and IPv6 addresses, routes, and answers and resolves neighbours as a
// kernel does, so routers, DHCP and DNS servers and kernel peers reach it
// without static neighbour entries.
//
// # What a Host does
//
//   - ARP (RFC 826): answers requests for its IPv4 addresses with a unicast
//     reply to the asker, learns the asker, resolves next hops by broadcast
//     request (3 probes 1 s apart by default, as Linux's mcast_solicit and
//     retrans_time), and announces added addresses with gratuitous ARP or
//     probes them first as RFC 5227 says, when configured to.
//   - IPv6 Neighbor Discovery (RFC 4861, RFC 4862): answers Neighbor
//     Solicitations for its addresses, the link-local one from its MAC
//     included (made by default), with solicited Neighbor Advertisements,
//     resolves by multicast solicitation to the solicited-node group, runs
//     Duplicate Address Detection on added addresses when configured to, and
//     learns a default router from Router Advertisements when configured to
//     (Config.AcceptRA), soliciting one as Linux does once it has its
//     link-local address: up to 3 Router Solicitations 4 s apart, sent by
//     the segment for all its hosts, since the router it learns serves
//     them all.
//     Messages that break §7.1 (hop limit not 255, code not 0, bad lengths
//     or options) are dropped and counted, and so are ND messages that came
//     fragmented (RFC 6980), as Linux drops them.
//   - ICMP and ICMPv6 echo (RFC 792, RFC 4443): answered by default, rate
//     limited per host, of any size: fragmented requests are reassembled by
//     the relay (etherconn.Conn.Reassemble) and replies longer than the MTU
//     sent as fragments, as Linux answers a large ping; Ping sends them.
//     The reply's IP header is Linux's: the request's TOS or traffic class,
//     an IPv4 identification of its own (DF is clear), and an IPv4
//     request's record route and timestamp options returned with the host
//     recorded twice, as the request came and as the reply left (RFC 1122
//     §3.2.2.6; ping -R and ping -T show it), in the first fragment only.
//     A request whose option has room for the first entry but not the
//     second is not answered, as Linux answers none. The reply has the
//     request's code, whatever it is, as Linux's has (RFC 792 and 4443 say
//     0; OS fingerprinting asks with others). ICMP timestamp requests (RFC
//     792) are answered too, as Linux answers them: the request's
//     originate timestamp and the host's receive and transmit times, in
//     the echo rate and counted in Stats.EchoAnswered.
//   - Echo to a broadcast or multicast address is not answered by default
//     (counted in Stats.Segment.NotForUs): Linux ignores IPv4 broadcast
//     and multicast echo too (icmp_echo_ignore_broadcasts), but answers
//     IPv6 multicast echo (echo_ignore_multicast is 0). Config.EchoMulticast
//     does what Linux does: the host answers echo to all-nodes and to its
//     solicited-node groups, once, from the address that fits the asker.
//     It is off by default because every host of a segment that has it
//     answers one all-nodes ping: 50,000 of them would make one request
//     50,000 replies.
//   - ICMP port unreachable for UDP to a closed port only when
//     Config.PortUnreachable is set: 50,000 emulated hosts that answer
//     every stray datagram would amplify a scan, and a load tester rarely
//     wants them. It goes as Linux's __icmp_send sends it: IPv4 with
//     precedence internetwork control and the datagram's TOS bits and its
//     record route and timestamp options returned as in an echo reply
//     (none sent where they cannot be), IPv6 with traffic class 0. The
//     datagram is quoted as it came, where Linux's quote shows the entries
//     it recorded on receipt.
//   - Multicast Listener Discovery (RFC 3810, and RFC 2710 towards an
//     MLDv1 querier): as RFC 4861 §7.2.1 asks and Linux does, a host
//     reports the solicited-node group of every IPv6 address it adds
//     (before DAD probes it), twice, the second time within a second;
//     answers general and group-specific queries within their maximum
//     response delay; and reports leaving a group when its last address
//     in it goes, or when it closes. MLD-snooping switches deliver a
//     group's multicast, and so the solicitations for the host's
//     addresses, only to ports that reported it. Reports go from the
//     link-local address (the unspecified one before there is one), hop
//     limit 1, with the router alert. Queries count only as Linux takes
//     them: from a link-local address, hop limit 1, with the router
//     alert, and seen only by the hosts in the group they are sent to.
//     After an MLDv1 query the hosts answer in MLDv1 for 260 s (RFC 3810
//     §8.2.1). A segment acts on at most 2 general and 10 group-specific
//     queries a second (each walks its hosts: 45–155 ms among 50,000), and
//     a host has at most one report pending: a flood of queries makes at
//     most one report a host. Where we differ from Linux: a
//     group-and-source-specific query is answered with the group's whole
//     state, an MLDv1 report heard from another listener does not
//     suppress ours, a leave goes once (Linux: twice), and the querier's
//     robustness value is not used. Config.NoMLD sends none.
//   - Source address selection: a socket bound to 0.0.0.0 or :: sends from
//     the address that fits the destination (IPv4: the address whose prefix
//     holds the destination or the next hop, else the first; IPv6: the rules
//     of RFC 6724 that matter on one interface: same address, matching scope,
//     longest matching prefix). A host without an address of the family
//     sends from the unspecified address, as a DHCP client must.
//   - UDP: ListenUDP and DialUDP return rudp.Conns wired to all of the above
//     (rudp.Config.Router).
//
// # Scale
//
// Hosts on one relay and VLAN stack share a segment: one relay group
// endpoint (relay.Relay.RegisterGroup) receives that stack's ARP broadcasts
// and IPv6 multicast once, and one table from address to host answers each
// in O(1), however many hosts there are; hosts register no broadcast or
// multicast delivery of their own. ARP replies are sent by the segment, from
// the host's MAC through the group endpoint with the stack's tags as the
// first host of the segment gave them (so they show in the relay's
// counters, not in those of the host's etherconn.Conn), touching nothing of
// the host: the IPv4 table's 16-byte slot holds the MAC and the address's
// answer counter, and the segment touches the slots of a whole read batch
// before answering any (relay.Prefetcher), so that among 50,000 hosts their
// cache misses overlap and an answer costs about what it does among one.
// The neighbour cache is shared per segment too: 50,000 hosts behind one
// gateway resolve it once.
//
// # Hostile input
//
// What RFC 826, RFC 4861 §7.1 and RFC 4443 say to drop is dropped and
// counted (Stats.Malformed, Stats.Segment.Malformed), and so is what no
// station sends: ARP from a group or zero MAC or from a multicast or
// broadcast address, ND and echo requests from multicast sources, echo
// from 0.0.0.0, ::, or the broadcast address. A message from another
// station claiming an address of one of the segment's hosts (an ARP
// sender, an NS source, an NA target) is a conflict: counted in
// Stats.Segment.Conflicts and ignored, so the address stays the host's and
// the neighbour cache never holds it with a foreign MAC (Linux drops such
// requests as martians). Requests for addresses no host has create no
// neighbour entry; requests for ours do (as in Linux), within
// NeighborConfig.MaxEntries, evictions counted.
//
// # Neighbour cache
//
// Entries follow the kernel's states: INCOMPLETE while resolving, REACHABLE
// for ReachableTime after a confirmation, then STALE (still used; the next
// use sends a unicast probe, PROBE, as Linux's DELAY/PROBE do without the
// DELAY wait) and removed after the probes go unanswered. Datagrams sent to
// a neighbour being resolved wait in a bounded queue (212,992 bytes of
// frames per neighbour for each host, Linux's unres_qlen_bytes, enough for
// the fragments of the largest datagram, as the kernel's per-neighbour
// queue of one host, so that the hosts sharing a gateway entry do not
// crowd each other out; 4,096 frames per segment; the host's oldest is
// dropped beyond) and are sent in order when
// it resolves, or dropped and counted in Stats.Unresolved when it fails.
// A neighbour is resolved even when its datagram found no room. As with a
// kernel socket, the write that queued a datagram succeeded. When
// resolution fails (3 probes, 3 s by default), each datagram still queued
// is reported to the socket that sent it (rudp.ReportError), as Linux
// reports an ICMP host unreachable (ICMPv6 address unreachable) to itself:
// a socket with rudp.Conn.SetRecvErr on (Linux's IP_RECVERR,
// IPV6_RECVERR), connected or not, then fails its next read or write with
// EHOSTUNREACH, once; one without it, connected or not, learns nothing,
// since Linux takes both for soft errors, and the drop shows only in the
// counters. A datagram dropped from a full queue is reported to nobody,
// as in Linux. The cache holds at most NeighborConfig.MaxEntries entries.
package host
