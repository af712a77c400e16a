package main

// Builders for the captures in testdata/, used by the golden test. Every
// frame is serialized with gopacket's layers (not the project's own
// builder), so the captures are an independent check of the relay's parser;
// malformed frames, extra tags and odd padding are made from such frames
// byte by byte. Addresses come
// only from 198.18.0.0/15, 192.0.2.0/24 and 2001:db8::/32; MACs are locally
// administered (02:...). Timestamps are fixed, so the files are the same
// bytes on every run and every machine.

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/frame"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// record is one frame of a capture.
type record struct {
	data []byte
	// out marks a frame the recording side sent (pcapng epb_flags
	// outbound); replay skips it unless --outbound is given.
	out bool
}

// captureFile is one file in testdata/.
type captureFile struct {
	name   string // file name in testdata/
	pcapng bool   // pcapng with direction flags, else classic pcap (µs)
	build  func(t testing.TB) []record
}

var captureFiles = []captureFile{
	{"dhcp-vlan100.pcap", false, dhcpCapture},
	{"qinq.pcapng", true, qinqCapture},
	{"ipv6-ext.pcap", false, ipv6ExtCapture},
	{"runts.pcap", false, runtCapture},
	{"malformed.pcap", false, malformedCapture},
	{"bad-checksum.pcap", false, badChecksumCapture},
}

// The stations of the captures, in one table: each capture has MACs of its
// own, which the golden cases name in their flags and expected output.
const (
	dhcpClient  = "02:dc:00:00:00:01" // (a) DHCP
	dhcpClient2 = "02:dc:00:00:00:02"
	dhcpServer  = "02:dc:00:00:00:fe"
	qinqA       = "02:0a:00:00:00:01" // (b) QinQ
	qinqB       = "02:0b:00:00:00:01"
	qinqOther   = "02:0f:00:00:00:01"
	v6A         = "02:06:00:00:00:01" // (c) IPv6 extension headers
	v6B         = "02:06:00:00:00:02"
	runtA       = "02:0d:00:00:00:01" // (d) runts
	runtB       = "02:0d:00:00:00:02"
	malA        = "02:0e:00:00:00:01" // (e) malformed
	malB        = "02:0e:00:00:00:02"
	csA         = "02:0c:00:00:00:01" // (f) bad checksums
	csB         = "02:0c:00:00:00:02"
)

// captureEpoch is the timestamp of the first record; record i is i ms later.
var captureEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// encode writes the records of c as a capture file.
func (c captureFile) encode(t testing.TB) []byte {
	t.Helper()
	recs := c.build(t)
	var buf bytes.Buffer
	ci := func(i int, data []byte) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{
			Timestamp:     captureEpoch.Add(time.Duration(i) * time.Millisecond),
			CaptureLength: len(data),
			Length:        len(data),
		}
	}
	if !c.pcapng {
		w := pcapgo.NewWriter(&buf)
		must(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
		for i, r := range recs {
			if r.out {
				t.Fatalf("%s: classic pcap cannot mark direction", c.name)
			}
			must(t, w.WritePacket(ci(i, r.data), r.data))
		}
		return buf.Bytes()
	}
	// Fixed section and interface options: the defaults name the build
	// machine's OS and architecture.
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{
		Name:                "trunk0",
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          65535,
		TimestampResolution: 9,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "etherconn golden test"}})
	must(t, err)
	in := pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	out := pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionOutbound}
	for i, r := range recs {
		opts := pcapgo.NgPacketOptions{Flags: &in}
		if r.out {
			opts.Flags = &out
		}
		must(t, w.WritePacketWithOptions(ci(i, r.data), r.data, opts))
	}
	must(t, w.Flush())
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// l2 is the Ethernet header of a test frame.
type l2 struct {
	src, dst string // MACs
	vlans    string // VLAN stack in ParseVLANs form, outermost first
}

const bcast = "ff:ff:ff:ff:ff:ff"

// layers returns the Ethernet and 802.1Q/802.1ad layers for h, with the
// innermost EtherType et.
func (h l2) layers(t testing.TB, et layers.EthernetType) []gopacket.SerializableLayer {
	t.Helper()
	src, err := net.ParseMAC(h.src)
	must(t, err)
	dst, err := net.ParseMAC(h.dst)
	must(t, err)
	tags, err := frame.ParseVLANs(h.vlans)
	must(t, err)
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst}
	ls := []gopacket.SerializableLayer{eth}
	next := &eth.EthernetType
	for _, v := range tags {
		*next = layers.EthernetType(v.EffectiveTPID())
		d := &layers.Dot1Q{Priority: v.PCP, DropEligible: v.DEI, VLANIdentifier: v.ID}
		ls = append(ls, d)
		next = &d.Type
	}
	*next = et
	return ls
}

// serialize builds a frame with lengths and checksums computed by gopacket;
// gopacket's Ethernet layer pads frames to 60 bytes with zeros.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return bytes.Clone(buf.Bytes())
}

// ip4 is an IPv4 header template for UDP.
func ip4(src, dst netip.Addr, id uint16) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// udp4 builds a UDP/IPv4 frame.
func udp4(t testing.TB, h l2, from, to string, payload []byte) []byte {
	t.Helper()
	f, d := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	ip := ip4(f.Addr(), d.Addr(), 0x1000+uint16(len(payload)))
	u := &layers.UDP{SrcPort: layers.UDPPort(f.Port()), DstPort: layers.UDPPort(d.Port())}
	must(t, u.SetNetworkLayerForChecksum(ip))
	return serialize(t, append(h.layers(t, layers.EthernetTypeIPv4), ip, u, gopacket.Payload(payload))...)
}

// udp6 builds a UDP/IPv6 frame with the raw extension headers ext (their
// first Next Header byte chain must end in 17) between IPv6 and UDP;
// firstNext is the IPv6 Next Header (17 without extension headers).
func udp6(t testing.TB, h l2, from, to string, firstNext layers.IPProtocol, ext []byte, payload []byte) []byte {
	t.Helper()
	f, d := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: firstNext, SrcIP: f.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(f.Port()), DstPort: layers.UDPPort(d.Port())}
	must(t, u.SetNetworkLayerForChecksum(ip))
	ls := append(h.layers(t, layers.EthernetTypeIPv6), ip)
	if len(ext) > 0 {
		ls = append(ls, gopacket.Payload(ext))
	}
	return serialize(t, append(ls, u, gopacket.Payload(payload))...)
}

// --- (a) DHCP on VLAN 100 ---

var (
	dhcpServerIP = netip.MustParseAddr("192.0.2.1")
	dhcpYourIP   = netip.MustParseAddr("192.0.2.100")
)

// dhcp builds a BOOTP/DHCP message padded to BOOTP's 300 bytes, as clients
// and servers send them.
func dhcp(t testing.TB, op layers.DHCPOp, msg layers.DHCPMsgType, client string, yiaddr netip.Addr, opts ...layers.DHCPOption) *layers.DHCPv4 {
	t.Helper()
	chaddr, err := net.ParseMAC(client)
	must(t, err)
	d := &layers.DHCPv4{
		Operation:    op,
		HardwareType: layers.LinkTypeEthernet,
		HardwareLen:  6,
		Xid:          0x3903f326 + uint32(chaddr[5]),
		ClientHWAddr: chaddr,
		ClientIP:     net.IPv4zero.To4(),
		YourClientIP: net.IPv4zero.To4(),
		NextServerIP: net.IPv4zero.To4(),
		RelayAgentIP: net.IPv4zero.To4(),
		Options:      append([]layers.DHCPOption{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msg)})}, opts...),
	}
	if yiaddr.IsValid() {
		d.YourClientIP = yiaddr.AsSlice()
	}
	n := 240 + 1 // fixed part, magic cookie and the end option
	for _, o := range d.Options {
		n += 2 + len(o.Data)
	}
	for ; n < 300; n++ {
		d.Options = append(d.Options, layers.DHCPOption{Type: layers.DHCPOptPad})
	}
	return d
}

func dhcpUDP(t testing.TB, h l2, from, to string, d *layers.DHCPv4) []byte {
	t.Helper()
	f, dst := netip.MustParseAddrPort(from), netip.MustParseAddrPort(to)
	ip := ip4(f.Addr(), dst.Addr(), 0)
	ip.TTL = 128
	u := &layers.UDP{SrcPort: layers.UDPPort(f.Port()), DstPort: layers.UDPPort(dst.Port())}
	must(t, u.SetNetworkLayerForChecksum(ip))
	return serialize(t, append(h.layers(t, layers.EthernetTypeIPv4), ip, u, d)...)
}

func dhcpCapture(t testing.TB) []record {
	sid := layers.NewDHCPOption(layers.DHCPOptServerID, dhcpServerIP.AsSlice())
	lease := layers.NewDHCPOption(layers.DHCPOptLeaseTime, []byte{0, 0, 0x0e, 0x10})
	mask := layers.NewDHCPOption(layers.DHCPOptSubnetMask, []byte{255, 255, 255, 0})
	router := layers.NewDHCPOption(layers.DHCPOptRouter, dhcpServerIP.AsSlice())
	prl := layers.NewDHCPOption(layers.DHCPOptParamsRequest, []byte{1, 3, 6, 51})
	reqIP := layers.NewDHCPOption(layers.DHCPOptRequestIP, dhcpYourIP.AsSlice())

	up := l2{dhcpClient, bcast, "100"}
	down := l2{dhcpServer, dhcpClient, "100"}
	const (
		cli = "0.0.0.0:68"
		all = "255.255.255.255:67"
		srv = "192.0.2.1:67"
		you = "192.0.2.100:68"
	)
	src, err := net.ParseMAC(dhcpClient)
	must(t, err)
	arpProbe := serialize(t, append(up.layers(t, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: src, SourceProtAddress: []byte{0, 0, 0, 0},
		DstHwAddress: make([]byte, 6), DstProtAddress: dhcpYourIP.AsSlice(),
	})...)
	return []record{
		{data: dhcpUDP(t, up, cli, all, dhcp(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, dhcpClient, netip.Addr{}, prl))},
		{data: dhcpUDP(t, down, srv, you, dhcp(t, layers.DHCPOpReply, layers.DHCPMsgTypeOffer, dhcpClient, dhcpYourIP, sid, lease, mask, router))},
		{data: dhcpUDP(t, up, cli, all, dhcp(t, layers.DHCPOpRequest, layers.DHCPMsgTypeRequest, dhcpClient, netip.Addr{}, reqIP, sid, prl))},
		// Another subscriber on VLAN 200: no endpoint there.
		{data: dhcpUDP(t, l2{dhcpClient2, bcast, "200"}, cli, all, dhcp(t, layers.DHCPOpRequest, layers.DHCPMsgTypeDiscover, dhcpClient2, netip.Addr{}, prl))},
		{data: dhcpUDP(t, down, srv, you, dhcp(t, layers.DHCPOpReply, layers.DHCPMsgTypeAck, dhcpClient, dhcpYourIP, sid, lease, mask, router))},
		// The client checks that nobody else has the address (RFC 5227).
		{data: arpProbe},
	}
}

// --- (b) QinQ, recorded at host A (its own frames outbound) ---

const qinqStack = "0x88a8:100.200"

func qinqCapture(t testing.TB) []record {
	ab := l2{qinqA, qinqB, qinqStack}
	ba := l2{qinqB, qinqA, qinqStack}
	toB := func(stack string) l2 { return l2{qinqOther, qinqB, stack} }
	const (
		a4, b4, o4 = "198.18.1.1:5000", "198.18.1.2:6000", "198.18.1.3:7000"
		a6, b6     = "[2001:db8:1::1]:5000", "[2001:db8:1::2]:6000"
	)
	return []record{
		{data: udp4(t, ab, a4, b4, []byte("ping 1 over IPv4")), out: true},
		{data: udp4(t, ba, b4, a4, []byte("pong 1 over IPv4"))},
		{data: udp6(t, ab, a6, b6, layers.IPProtocolUDP, nil, []byte("ping 2 over IPv6")), out: true},
		{data: udp6(t, ba, b6, a6, layers.IPProtocolUDP, nil, []byte("pong 2 over IPv6"))},
		// PCP and DEI are not part of the key: still B's.
		{data: udp4(t, l2{qinqA, qinqB, "0x88a8:100/p5.200/p3/dei"}, a4, b4, []byte("ping 3 with priorities")), out: true},
		// Same VIDs, other TPIDs or VIDs: other keys, nobody's.
		{data: udp4(t, toB("100.200"), o4, b4, []byte("outer TPID 0x8100"))},
		{data: udp4(t, toB("0x88a8:100"), o4, b4, []byte("outer tag only"))},
		{data: udp4(t, toB("0x88a8:100.201"), o4, b4, []byte("inner VID 201"))},
		{data: udp4(t, toB("0x88a8:100.200.300"), o4, b4, []byte("three tags"))},
		{data: udp4(t, toB("0x88a8:100.200"), o4, b4, []byte("from a third host"))},
	}
}

// --- (c) IPv6 with extension headers ---

// Raw IPv6 extension headers. Each begins with its Next Header byte.
func hopByHop(next byte) []byte {
	// Router Alert (MLD) and a PadN of 0 bytes: 8 bytes, Hdr Ext Len 0.
	return []byte{next, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00}
}

func dstOpts(next byte) []byte {
	// An unknown option of type 0x1e (the two high bits 00: skip it if
	// unknown) with 12 bytes of data: 16 bytes, Hdr Ext Len 1.
	return []byte{next, 1, 0x1e, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
}

func fragHdr(next byte, offset uint16, more bool) []byte {
	b := []byte{next, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return b
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func ipv6ExtCapture(t testing.TB) []record {
	ab, ba := l2{v6A, v6B, ""}, l2{v6B, v6A, ""}
	const a, b = "[2001:db8:6::1]:7000", "[2001:db8:6::2]:7001"
	const (
		hbh  = layers.IPProtocolIPv6HopByHop
		dst  = layers.IPProtocolIPv6Destination
		frag = layers.IPProtocolIPv6Fragment
		udp  = byte(layers.IPProtocolUDP)
	)
	noNext := udp6(t, ab, a, b, hbh, cat(hopByHop(byte(dst)), dstOpts(59)), []byte("after No Next Header: not UDP"))
	return []record{
		{data: udp6(t, ab, a, b, layers.IPProtocolUDP, nil, []byte("no extension headers"))},
		{data: udp6(t, ab, a, b, hbh, cat(hopByHop(byte(dst)), dstOpts(udp)), []byte("hop-by-hop, then destination options"))},
		{data: udp6(t, ba, b, a, hbh, cat(hopByHop(byte(dst)), dstOpts(udp)), []byte("the answer, same headers"))},
		{data: udp6(t, ab, a, b, hbh, hopByHop(udp), []byte("hop-by-hop only"))},
		{data: udp6(t, ab, a, b, dst, dstOpts(udp), []byte("destination options only"))},
		{data: udp6(t, ab, a, b, dst, cat(dstOpts(byte(dst)), dstOpts(udp)), []byte("two destination options headers"))},
		{data: noNext},
		// A first fragment (offset 0, more fragments): no reassembly, so it
		// is an IPv6 fragment, not a datagram.
		{data: udp6(t, ab, a, b, hbh, cat(hopByHop(byte(frag)), fragHdr(udp, 0, true)), []byte("first fragment of a longer datagram"))},
	}
}

// --- (d) runts padded to 60 bytes ---

// padWith overwrites the Ethernet padding after the IP packet of f (ending
// at ipEnd) with v, as some NICs and switches send it.
func padWith(f []byte, ipEnd int, v byte) []byte {
	for i := ipEnd; i < len(f); i++ {
		f[i] = v
	}
	return f
}

func runtCapture(t testing.TB) []record {
	ab := l2{runtA, runtB, ""}
	tagged := l2{runtA, runtB, "100"}
	const a, b = "198.18.2.1:4000", "198.18.2.2:4001"
	var recs []record
	// Untagged: 42 bytes of headers, so payloads under 18 bytes are padded.
	for _, n := range []int{0, 1, 5, 17, 18} {
		recs = append(recs, record{data: udp4(t, ab, a, b, bytes.Repeat([]byte{'a' + byte(n%26)}, n))})
	}
	// Padding that is not zero must not leak into the payload either.
	recs = append(recs, record{data: padWith(udp4(t, ab, a, b, []byte("junk")), 14+28+4, 0xee)})
	// IPv4 options (Router Alert) in a runt: IHL 6.
	{
		f, d := netip.MustParseAddrPort(a), netip.MustParseAddrPort(b)
		ip := ip4(f.Addr(), d.Addr(), 7)
		ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
		u := &layers.UDP{SrcPort: 4000, DstPort: 4001}
		must(t, u.SetNetworkLayerForChecksum(ip))
		recs = append(recs, record{data: serialize(t, append(ab.layers(t, layers.EthernetTypeIPv4), ip, u, gopacket.Payload("opt"))...)})
	}
	// 802.1Q: 46 bytes of headers.
	recs = append(recs,
		record{data: udp4(t, tagged, a, b, []byte("vl"))},
		record{data: udp4(t, tagged, a, b, []byte("fourteen bytes"))},
	)
	// A tag inserted after padding (a switch tagging a 60-byte frame): 64
	// bytes with 0xee padding behind a 3-byte payload.
	{
		f := padWith(udp4(t, ab, a, b, []byte("tag")), 14+28+3, 0xee)
		tag := []byte{0x81, 0x00, 0x00, 100}
		recs = append(recs, record{data: cat(f[:12], tag, f[12:])})
	}
	return recs
}

// --- (e) malformed frames ---

func malformedCapture(t testing.TB) []record {
	h := l2{malA, malB, "100"}
	const a, b = "198.18.3.1:1000", "198.18.3.2:2000"
	good := udp4(t, h, a, b, []byte("still alive after the malformed ones"))
	const ip = 14 + 4 // IPv4 header offset in good
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	four := udp4(t, l2{malA, malB, "101.102.103.104"}, a, b, []byte("five tags"))
	five := cat(four[:12], []byte{0x81, 0x00, 0x00, 100}, four[12:])
	v6 := udp6(t, h, "[2001:db8:3::1]:1000", "[2001:db8:3::2]:2000", layers.IPProtocolIPv6HopByHop, hopByHop(17), []byte("ext header past the end"))
	return []record{
		{data: good[:10]}, // not even an Ethernet header
		{data: good[:16]}, // a VLAN tag cut short: its TCI, no inner EtherType
		{data: five},      // more than four tags
		{data: mutate(func(b []byte) []byte { b[ip] = 0x44; return b })},                    // IHL 4: shorter than an IPv4 header
		{data: mutate(func(b []byte) []byte { b[ip] = 0x4f; return b })},                    // IHL 15: the IP header swallows the UDP header
		{data: mutate(func(b []byte) []byte { b[ip+2], b[ip+3] = 0x05, 0xdc; return b })},   // total length 1500 in a short frame
		{data: mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0x01, 0x00; return b })}, // UDP length 256 > IP payload
		{data: mutate(func(b []byte) []byte { b[ip+24], b[ip+25] = 0, 4; return b })},       // UDP length 4 < header
		{data: func() []byte { b := bytes.Clone(v6); b[ip+41] = 0xff; return b }()},         // Hdr Ext Len 255: past the end
		{data: good},
	}
}

// --- (f) bad checksums ---

func badChecksumCapture(t testing.TB) []record {
	h := l2{csA, csB, ""}
	const a4, b4 = "198.18.4.1:3000", "198.18.4.2:3001"
	const a6, b6 = "[2001:db8:4::1]:3000", "[2001:db8:4::2]:3001"
	const ip = 14
	good4 := udp4(t, h, a4, b4, []byte("good IPv4 checksum"))
	bad4 := udp4(t, h, a4, b4, []byte("bad IPv4 UDP checksum"))
	bad4[ip+28] ^= 0x20 // a payload bit flipped after the checksum was made
	zero4 := udp4(t, h, a4, b4, []byte("no IPv4 UDP checksum (zero)"))
	zero4[ip+26], zero4[ip+27] = 0, 0
	badIP := udp4(t, h, a4, b4, []byte("bad IPv4 header checksum"))
	badIP[ip+8]-- // TTL decremented without fixing the header checksum
	good6 := udp6(t, h, a6, b6, layers.IPProtocolUDP, nil, []byte("good IPv6 checksum"))
	bad6 := udp6(t, h, a6, b6, layers.IPProtocolUDP, nil, []byte("bad IPv6 UDP checksum"))
	bad6[ip+48] ^= 0x01
	zero6 := udp6(t, h, a6, b6, layers.IPProtocolUDP, nil, []byte("zero IPv6 UDP checksum: invalid"))
	zero6[ip+46], zero6[ip+47] = 0, 0
	return []record{{data: good4}, {data: bad4}, {data: zero4}, {data: badIP}, {data: good6}, {data: bad6}, {data: zero6}}
}
