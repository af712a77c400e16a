// Package pcapio provides backend.PacketIO implementations built on the pcap
// ecosystem:
//
//   - [Live] captures and injects frames on a network interface through
//     libpcap (github.com/gopacket/gopacket/pcap). It needs cgo and libpcap;
//     without cgo, [OpenLive] returns [ErrLiveUnsupported].
//   - [Offline] replays a pcap or pcapng capture file as received frames,
//     as fast as possible or paced by the capture timestamps, then returns
//     io.EOF. It is pure Go and needs neither cgo nor libpcap.
//   - [Recorder] wraps any backend.PacketIO and tees every frame read from
//     it and written to it into a pcap or pcapng file, forwarding every
//     ability of what it wraps (batches, Stats, read deadline). It is pure
//     Go too.
//
// # Live capture on Linux
//
// [OpenLive] opens the interface with an inactive libpcap handle set up for
// a relay: immediate mode (each frame is handed over as soon as the kernel
// has it, so no buffering latency at low rates), a snap length that covers
// jumbo frames, promiscuous mode unless disabled (emulated MAC addresses are
// not the interface's own), capture direction "in" so that the handle never
// reads its own or any other local transmission, and an optional BPF filter.
//
// With immediate mode, libpcap on Linux uses a TPACKET_V2 ring. The kernel
// moves the outer VLAN tag of a received frame into packet metadata (VLAN
// offload, and the software untagging every Linux receive path does); libpcap
// puts it back, with its TPID (0x8100 or 0x88a8), before handing the frame
// over, so ReadFrame returns the frame with all of its tags in place, as the
// backend.PacketIO contract demands. The package tests check this on a veth
// pair with single-tagged and QinQ frames.
//
// A read blocks in poll(2) on the capture socket, waking up at the latest
// every [LiveConfig].PollInterval (50ms by default) to check whether the
// handle was closed. A frame wakes the poll at once, so the interval adds no
// latency; an idle handle costs a few system calls per interval. Close
// therefore returns within one poll interval. (libpcap's pcap_breakloop
// cannot be used here: gopacket exposes it only as part of Handle.Close, and
// closing the handle while the reader copies a frame out of the ring that
// Close unmaps would be a use after free.)
//
// A kernel that sends over a virtual link (a veth, a bridge, a tap) with
// segmentation offload (a UDP socket with UDP_SEGMENT, as quic-go uses; TCP
// with TSO), or that merges received frames with GRO, hands capture sockets
// one merged super-frame for many frames. libpcap takes no virtio_net_hdr,
// the kernel's description of such a frame, so it can neither tell a
// super-frame from a frame nor say where its frames end; package afpacket
// can, and splits them. Live drops a frame longer than the interface's MTU
// (as it was at open, plus an Ethernet header and four VLAN tags) allows,
// which can only be a super-frame, and counts it in Stats().Dropped. A
// super-frame no longer than that is returned as one frame: two 200-byte
// datagrams of one UDP_SEGMENT send read as one of 400 bytes. Where that
// matters, use afpacket, or turn segmentation offload off on the sending
// side (ethtool -K dev tx-udp-segmentation off gso off).
//
// # File formats
//
// [Offline] reads classic pcap files (microsecond or nanosecond timestamps,
// either byte order) and pcapng files, optionally gzip-compressed. Only the
// Ethernet link type is accepted. Records cut short by the capture's snap
// length are replayed as captured.
//
// A capture file is untrusted input, and a tiny gzip file can stand for
// gigabytes, so the reader never allocates what a file announces: it reads
// record by record into one frame buffer of backend.MaxFrameLen bytes and
// skips everything else without holding it, so opening a file and replaying
// it allocates a few hundred KiB at most. Like libpcap, it:
//
//   - takes a snap length of 0 or above [MaxSnapLen] in a pcap file header or
//     pcapng interface description as MaxSnapLen (libpcap's
//     pcap_adjust_snapshot) rather than rejecting the file: the header does
//     not bound what is read, records do, and tcpdump and Wireshark read
//     files whose header misstates the snap length;
//   - fails with [ErrBadFile] at a record whose captured length exceeds
//     MaxSnapLen (libpcap's "invalid packet capture length" for pcap; for a
//     pcapng packet libpcap cuts it to the snap length instead, but no
//     capture tool writes one, so both formats are treated alike), and at a
//     pcapng block longer than 16 MiB (libpcap's limit), not a multiple of
//     4, or whose trailer disagrees with its header;
//   - skips a record longer than backend.MaxFrameLen, the largest frame a
//     relay's buffers hold, without reading it into memory, and counts it in
//     Stats().Dropped, as a NIC drops a frame longer than it can take: such
//     records are merged super-frames (tcpdump records GRO'd frames) or
//     damage, and a backend never returns a super-frame as a frame;
//   - reads the simple packet block's data as min(original length, snap
//     length), and skips blocks it has no use for (statistics, name
//     resolution, decryption secrets, custom blocks) without keeping them.
//
// A pcapng section may describe at most 4096 interfaces.
//
// [Recorder] and the write sink of
// [Offline] write either format ([FormatPcap], [FormatPcapNG]); only pcapng
// can mark the direction of each frame (epb_flags inbound/outbound).
package pcapio
