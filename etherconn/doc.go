// Package etherconn sends and receives Ethernet payloads for one emulated
// endpoint: a MAC address and a VLAN stack that no OS interface has.
//
// A Conn is registered with a relay.Relay, which demultiplexes the frames of
// one backend (a real interface, a capture, or memory) by destination MAC,
// VLAN stack and EtherType. Conn implements net.PacketConn with *Addr as the
// address type, so it can be used by code written for any packet connection;
// WriteToMAC and WriteToFrom are the direct forms, ReadPacket the
// allocation-free read.
//
// # The seam for protocol layers
//
// A layer above a Conn (rudp for UDP, the host layer for ARP, ND and ICMP,
// or your own PPPoE or LLDP) attaches to it through three public calls and
// nothing else:
//
//   - Attach (or LoadOrAttach, for layers that share one handler among many
//     sockets) installs a relay.Handler for a Protocol: an EtherType, or one
//     IP protocol within IPv4 or IPv6. It runs where the relay delivers, with
//     the same zero-copy *relay.Packet and the relay's one parse in
//     Packet.Info; what no attached handler takes goes to the Conn's own
//     queue, read with ReadFrom and ReadPacket.
//   - NewQueue makes a receive queue for such a layer's readers, which take
//     part in the relay's reader-led receive as the Conn's own readers do.
//   - NewFrame builds a frame in place for sending: a pooled buffer with the
//     Conn's Ethernet header and VLAN tags written and room for the payload
//     after it, sent with WriteFrame or, batched, WriteFrames.
//
// # Addresses
//
// Where users configure and address (Config, Addr, WriteTo*), MACs are
// net.HardwareAddr; on the per-frame seam (PutHeader, NewFrame) and in the
// relay they are the comparable, allocation-free frame.MAC.
package etherconn
