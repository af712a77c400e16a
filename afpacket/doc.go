// Package afpacket is a backend.PacketIO that sends and receives whole
// Ethernet frames through a Linux AF_PACKET socket (SOCK_RAW, ETH_P_ALL)
// bound to one network interface. It lets a program speak for MAC addresses
// and VLANs that no interface of the operating system has.
//
// # Privileges
//
// Opening a packet socket needs CAP_NET_RAW in the network namespace that owns
// the interface; root has it. To run an unprivileged binary, grant the
// capabilities to the file once:
//
//	setcap cap_net_raw,cap_net_admin+ep ./yourprogram
//
// CAP_NET_ADMIN is only used to raise socket buffers above
// net.core.rmem_max/wmem_max (Config.ReadBufferSize, Config.WriteBufferSize).
// Without CAP_NET_RAW, Open fails with an error that satisfies
// errors.Is(err, os.ErrPermission) and names the missing capability.
//
// # Promiscuous mode
//
// Frames addressed to emulated MAC addresses are not addressed to the
// interface, so by default Open puts the interface into promiscuous mode. It
// does so by socket membership (PACKET_MR_PROMISC), not by setting the
// interface flag: the kernel counts memberships, leaves the interface as
// other users want it, and drops the membership when the socket is closed,
// even if the process dies. Config.NoPromiscuous opts out.
//
// # VLAN tags and offload
//
// On receive, the Linux kernel removes the outer 802.1Q (0x8100) or 802.1ad
// (0x88a8) tag of every frame before packet sockets see it, whatever the
// interface's rx-vlan offload setting is, and passes the tag beside the frame.
// Inner tags stay in place and other TPIDs such as 0x9100 are never removed.
// Conn asks the kernel for that side information (PACKET_AUXDATA) and puts the
// tag back right after the source MAC address, with its TPID, priority (PCP)
// and DEI bits, so every frame returned by ReadFrame and ReadFrames is
// byte-for-byte the frame that was on the wire. A tag with VID 0 that carries
// only a priority is restored too. Frames are sent exactly as given: tags in
// the frame go out in the frame, and nothing is padded.
//
// A classic BPF filter (Config.Filter, Conn.SetBPF) runs inside the kernel on
// the frame as the kernel holds it, that is without its outer tag. A filter
// that must look at the outer tag uses the ancillary loads of
// golang.org/x/net/bpf: ExtVLANTagPresent, ExtVLANTag and ExtVLANProto.
//
// # Checksum offload
//
// A frame the kernel's own stack sends over a virtual interface (a veth, a
// bridge port, a tap; a virtio NIC too) may carry only the pseudo-header sum in its TCP or UDP
// checksum field, the rest being left to a NIC that never sees the frame
// (the packet socket reports such frames with TP_STATUS_CSUMNOTREADY, and
// its vnet header, below, with VIRTIO_NET_HDR_F_NEEDS_CSUM). Conn
// completes the checksum of these frames, over IPv4 and IPv6, as the NIC
// would have, so that UDP from a kernel socket in a container or another
// namespace is not dropped as corrupt by rudp. Other frames are returned as
// they arrived.
//
// # Super-frames (GSO and GRO)
//
// The kernel also leaves segmentation to the absent NIC. A UDP socket with
// UDP_SEGMENT (quic-go uses it by default) or TCP with TSO hands a virtual
// link one buffer, with one set of headers, for many frames, and GRO
// merges received frames the same way. Packet sockets get such a
// super-frame whole: as such, one send of 4 × 1,000 bytes would read as one
// 4,000-byte datagram, and one longer than a relay's buffers would be cut.
//
// A Conn has the kernel describe every frame it receives (PACKET_VNET_HDR: a
// struct virtio_net_hdr in front of each, in every receive mode, the ring
// included) and splits each super-frame into the frames it stands for, as
// the kernel's software segmentation would have: each gets a copy of the
// Ethernet header (outer VLAN tag restored), of the IP and of the UDP or
// TCP header, gso_size bytes of payload (the last may have fewer), its own
// IPv4 total length, identification (one more each segment: the header
// does not say when the kernel would have kept it fixed) and header
// checksum, or IPv6 payload length, its own UDP length or TCP sequence
// number and flags (FIN and PSH on the last, CWR on the first only), and a
// complete checksum. ReadFrame returns one segment a call and keeps the
// others for the calls after it; ReadFrames fills as many buffers as it has
// and keeps the rest. Stats counts the segments as the frames they are;
// GSOStats counts the super-frames.
//
// A super-frame arrives whole however short the read buffer: recvmsg and
// recvmmsg go on past the caller's buffer into a spill area of 64 KiB a
// message, which is why on such a socket one recvmmsg call asks for 64
// messages at most (4 MiB of spill areas for a Conn that reads batches of
// 64, touched only where super-frames spill into them); a ring holds any
// frame that fits its blocks. A frame that is not a super-frame and is
// longer than the buffer is cut, as before.
//
// What cannot be split is dropped and counted in GSOStats().Dropped, never
// returned as a frame: a super-frame of another kind (UFO, or a tunnel's: a
// VXLAN super-frame is described as UDP segmentation, but the checksum to
// complete is that of its inner datagram, which gives it away), one whose
// headers or lengths do not add up or that would make more than 2,048
// frames, one cut short by a BPF filter's snap length or by a ring block
// too small for it (256 KiB blocks, the default, hold any), and TCP longer
// than 64 KiB (BIG TCP). Super-frames the vnet header cannot describe at
// all (SCTP's, ESP's) the kernel drops itself: recvmsg and recvmmsg
// fail with EINVAL for them, which a Conn counts in GSOStats().Dropped and
// reads on; a ring's drops of them are the kernel's, in Stats().Dropped. A
// BPF filter sees the super-frame, not its segments.
//
// With PACKET_VNET_HDR the kernel also expects a vnet header in front of
// every frame sent on the socket. Writes go through the send-only socket
// (see Throughput), which has none, and where they finish on the main
// socket they go behind a zero header (no offload asked for): either way
// frames leave exactly as given. On a kernel that refuses PACKET_VNET_HDR a
// Conn reads as it did before, super-frames as the kernel hands them over.
//
// # Own frames
//
// A Conn never returns frames that leave the interface: the socket sets
// PACKET_IGNORE_OUTGOING, and frames the kernel marks PACKET_OUTGOING are
// dropped in any case. This also hides frames sent by other sockets, or the
// kernel's own stack, out of the same interface.
//
// # Throughput
//
// ReadFrames and WriteFrames (backend.BatchReader, backend.BatchWriter) move
// many frames per system call: sendmmsg(2), and recvmmsg(2) or a ring's
// slots or blocks (see Receive paths). Several sockets on one interface can
// share the incoming load with PACKET_FANOUT (Config.Fanout, OpenGroup). All I/O waits in the Go runtime's network
// poller; no operating system thread is blocked.
//
// A Conn sends through a second packet socket that takes in no frames and
// that the network poller does not watch. The kernel signals write space on
// a socket each time it frees a frame that socket sent, and on a watched
// socket every signal wakes the poller's thread while a read waits: on a
// veth pair that cost a busy sender a quarter of its rate. When the
// send-only socket's buffer is full, the write finishes on the main socket,
// where the wait is the poller's, so frames keep their order. The second
// socket is only used where the kernel keeps outgoing frames from the main
// one (Linux 4.20 and later, 6.10 and later in a fanout group); elsewhere
// the main socket would receive a copy of every frame sent, and a Conn
// sends through the main socket as before.
//
// # Receive paths
//
// Open chooses, once, how a Conn takes frames in (Config.Receive):
//
//   - The frame ring (ReceiveFrameRing): a memory-mapped TPACKET_V2 ring of
//     fixed-size slots, 16 MiB by default (Config.FrameRingSize), each slot
//     sized for the interface's MTU. The kernel copies each frame into the
//     next slot (a frame that finds it still the reader's is dropped and
//     counted) and wakes the reader at once; the reader copies frames out
//     and gives their slots back without a system call while there are
//     any. A frame longer than a slot (slots stop at 16 KiB, for loopback's
//     or a jumbo MTU's sake), such as a super-frame, is queued whole on the
//     socket as well (PACKET_COPY_THRESH) while the socket's buffer has
//     room, and the reader takes it from there with recvmsg when it comes
//     to its slot, so that order holds; without room it comes cut to the
//     slot. A BPF filter's snap length does not cut such frames. The ring's
//     pages are written once at Open so that no frame pays for the first
//     touch of its page: on this project's VM that made Open take 35 ms
//     instead of 2, and saved each of a fresh ring's first frames about 6 µs.
//   - The block ring (ReceiveBlockRing, or Config.Ring): a TPACKET_V3 ring.
//     The kernel packs frames into blocks and wakes the reader once a block,
//     which makes it the cheapest way in for a flood, at a price in latency:
//     a block goes to the reader when it is full or RingConfig.Timeout (1 ms
//     by default, the least there is) after its first frame, so at low rates
//     a frame waits up to that long.
//   - The adaptive receive (ReceiveAdaptive, the default): both rings, each
//     on a socket of its own, which form a PACKET_FANOUT_CBPF group of
//     their own. The group's one-instruction classic BPF program sends
//     every frame to one of them: the frame ring while frames come at under
//     about 200,000 a second, the block ring above that, until the rate
//     falls under about 50,000 a second or no block comes for 50 ms. The
//     reader decides from what it reads and repoints the group
//     (PACKET_FANOUT_DATA). The kernel waits, before that call returns, for
//     every frame the old program sent on its way (synchronize_net), so the
//     reader takes the old ring's last frames first: a switch loses,
//     repeats and reorders nothing. A switch took 0.25–0.9 ms here, up to
//     6 ms under a flood, while the new ring took the frames. Going down,
//     the block the kernel was filling comes one to two of its timeouts
//     (RingConfig.Timeout) after its first frame, the one wait a switch
//     costs. A link that goes down or up changes the group one member at
//     a time, and for that moment every frame goes to the one member left:
//     for a second after a link event the reader takes such frames from
//     the other ring too, in the order it finds them. The block ring is made at a switch up (1.6 ms) and
//     taken down 2 s after the switch down: the kernel fires a ring's
//     block timer every millisecond while the ring exists, which an idle
//     Conn must not pay for. It needs Linux 6.10 or later, where a fanout
//     group keeps outgoing frames away (PACKET_FANOUT_FLAG_IGNORE_OUTGOING);
//     on older kernels, with Config.Fanout (the group is the adaptive
//     receive's own), and where the second socket or the group cannot be
//     made, the default is the frame ring alone (Conn.Receive tells).
//   - The socket (ReceiveSocket): recvmsg(2) for ReadFrame, recvmmsg(2) for
//     ReadFrames, from the socket's queue (Config.ReadBufferSize).
//
// Measured on a veth pair on this project's 2-vCPU VM (five runs of
// BenchmarkVethDefaults, BenchmarkVethRTT; 64-byte datagrams, default
// settings otherwise), the adaptive receive delivered 0.67–1.12 M
// datagrams/s with no loss, 0.84–0.94 of the block ring's rate at the
// median (0.62–1.0 in all), where the frame ring alone delivered
// 0.63–0.96 M and the socket 0.44–1.02 M with up to 39% lost in the
// kernel's queue. Its round trip at low rates is the frame ring's: 0.94–1.15
// of the kernel UDP socket's at the median, 1.15–1.38 at the 99th
// percentile, where the block ring's was 0.86–1.86 ms. On a veth the
// receiving side's kernel work runs on the sender's CPU, and the frame
// ring's costs more per frame than the block ring's (a wake-up and a slot
// status a frame), which is what the switch up saves. The default is meant
// to be right everywhere; the frame ring alone suits programs that open
// many Conns and never see floods, the block ring readers that never need
// a low latency (captures).
//
// A default receive whose frame ring the kernel refuses (it needs
// FrameRingSize of kernel memory) falls back to the socket; a default
// receive without a second socket or group falls back to the frame ring
// alone; a mode asked for by name fails Open instead.
// Tags, checksums, super-frames, link loss and own-frame filtering work the
// same on every path; the conformance suite runs over each.
//
// # Link loss
//
// A Conn treats its link as a kernel socket does. A link that goes down and
// comes back up ends nothing: the kernel tells the socket ENETDOWN once, the
// read goes on waiting (in the poller, without spinning) and frames come
// again once the link is up, on the same socket; writes fail meanwhile with
// an error wrapping ENETDOWN. That holds on every receive path: the ring,
// which reads no error from a system call, takes the socket's pending error
// whenever it finds none of its blocks ready. Conn.LinkStats counts the
// gaps.
//
// An interface that is removed, or moved to another network namespace,
// ends reading: the blocked read, and every read after it, returns an error
// that names the interface and wraps ENODEV, once the frames the socket
// still held are read. The kernel reports no removal (it takes the link down
// first, then unbinds the socket in silence), so while its link is down a
// Conn looks, at most every 20 ms, at its socket's binding and at whether
// the interface index still exists in the socket's namespace; gone is gone
// for good, since the kernel never binds the socket again. A relay on the
// Conn then ends with relay.ErrInputEnded wrapping that error.
//
// The package works on Linux only; on other systems Open returns an error
// that satisfies errors.Is(err, errors.ErrUnsupported).
package afpacket
