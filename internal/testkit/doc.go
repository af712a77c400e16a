// Package testkit is what the project's tests share: frame builders, a VLAN
// tag type, the malformed-frame table, a scripted fake PacketIO and a
// wrapper that hides a PacketIO's optional abilities, helpers that poll,
// await a goroutine's result and fan out, Exchange, which passes one
// datagram between two sockets, and the race detector flag.
//
// It imports the standard library and backend only: not frame, so that
// frame's own tests (package frame) can use it without an import cycle, and
// so that the frames it builds are encoded independently of the frame
// package's builder and can check it; not testify, so that it costs nothing
// in the build of the exported conformance suite, which uses it.
//
// Builders take MACs as [6]byte, which a frame.MAC (relay.MAC is the same
// type) is assignable to without conversion and a net.HardwareAddr converts
// to ([6]byte(hw)), and VLAN stacks as []Tag; a Tag has the fields of
// frame.VLAN, so each converts to the other with a type conversion, and
// AsTags converts a whole frame.VLANs.
//
// Frames are built with the defaults the project's own builder uses (IPv4
// TTL 64, identification 0, DF set; IPv6 hop limit 64, flow label 0), so that
// a frame from UDPFrame is byte-for-byte what frame.PutUDP writes for the
// same addresses and payload.
package testkit
