package pcapio

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test addresses: MACs are locally administered, IPs from the benchmarking
// ranges 198.18.0.0/15 and the documentation range 2001:db8::/32.
var (
	macA = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a}
	macB = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x0b}
	ip4A = net.IP{198, 18, 0, 10}
	ip4B = net.IP{198, 19, 0, 11}
	ip6A = net.ParseIP("2001:db8::a")
	ip6B = net.ParseIP("2001:db8::b")
)

// udpOf decodes frame f with gopacket and returns its UDP destination port
// and payload, and false if f holds no UDP datagram.
func udpOf(f []byte) (port uint16, payload []byte, ok bool) {
	u, ok := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
	if !ok {
		return 0, nil, false
	}
	return uint16(u.DstPort), u.Payload, true
}

// frameSpec describes a test frame; build serializes it with gopacket.
type frameSpec struct {
	name    string
	src     net.HardwareAddr
	dst     net.HardwareAddr
	tags    []testkit.Tag // TPID and ID only: gopacket writes PCP and DEI as 0
	v6      bool
	arp     bool // a 42-byte ARP request instead of UDP (shorter than 60)
	payload int  // UDP payload length
	marker  byte // first payload byte, to tell frames apart
}

func (s frameSpec) build(t testing.TB) []byte {
	t.Helper()
	src, dst := s.src, s.dst
	if src == nil {
		src = macA
	}
	if dst == nil {
		dst = macB
	}
	inner := layers.EthernetTypeIPv4
	switch {
	case s.arp:
		inner = layers.EthernetTypeARP
	case s.v6:
		inner = layers.EthernetTypeIPv6
	}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: inner}
	ls = append(ls, eth)
	for i, tg := range s.tags {
		if i == 0 {
			eth.EthernetType = layers.EthernetType(tg.WireTPID())
		}
		next := inner
		if i+1 < len(s.tags) {
			next = layers.EthernetType(s.tags[i+1].WireTPID())
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: tg.ID, Type: next})
	}
	if s.arp {
		ls = append(ls, &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: src, SourceProtAddress: ip4A,
			DstHwAddress: make([]byte, 6), DstProtAddress: ip4B,
		})
	} else {
		payload := make([]byte, s.payload)
		for i := range payload {
			payload[i] = byte(i)
		}
		if len(payload) > 0 {
			payload[0] = s.marker
		}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
		if s.v6 {
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: ip6A, DstIP: ip6B}
			require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
			ls = append(ls, ip)
		} else {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ip4A, DstIP: ip4B}
			require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
			ls = append(ls, ip)
		}
		ls = append(ls, udp, gopacket.Payload(payload))
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

// testSpecs are the frames replayed and recorded by the tests: untagged,
// 802.1Q, QinQ with both common outer TPIDs, IPv6, a frame shorter than the
// Ethernet minimum and a jumbo frame.
func testSpecs() []frameSpec {
	return []frameSpec{
		{name: "untagged-v4", payload: 32, marker: 1},
		{name: "dot1q-v4", tags: testkit.Dot1Q(100), payload: 100, marker: 2},
		{name: "qinq-88a8-v4", tags: []testkit.Tag{{TPID: testkit.TPIDDot1AD, ID: 100}, {ID: 200}}, payload: 64, marker: 3},
		{name: "qinq-8100-v6", tags: testkit.Dot1Q(300, 301), v6: true, payload: 200, marker: 4},
		{name: "arp-42-bytes", arp: true},
		{name: "jumbo-v4", payload: 9000, marker: 6},
	}
}

func testFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range testSpecs() {
		out = append(out, s.build(t))
	}
	return out
}

// rec is a record of a test capture file.
type rec struct {
	ts   time.Time
	data []byte
	dir  pcapgo.NgEpbFlag // pcapng only; 0 = no flags option
}

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// recsEvery spaces frames gap apart from epoch.
func recsEvery(frames [][]byte, gap time.Duration) []rec {
	out := make([]rec, len(frames))
	for i, f := range frames {
		out[i] = rec{ts: epoch.Add(time.Duration(i) * gap), data: f}
	}
	return out
}

// Capture file flavours written by writeCapture with gopacket's own writers
// (and by hand for big-endian), independently of the code under test.
const (
	flavPcapMicro  = "pcap-usec"
	flavPcapNano   = "pcap-nsec"
	flavPcapBE     = "pcap-big-endian"
	flavPcapGzip   = "pcap-gzip"
	flavPcapNG     = "pcapng"
	flavPcapNGGzip = "pcapng-gzip"
)

var allFlavours = []string{flavPcapMicro, flavPcapNano, flavPcapBE, flavPcapGzip, flavPcapNG, flavPcapNGGzip}

func captureBytes(t testing.TB, flavour string, linkType layers.LinkType, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var gz *gzip.Writer
	if flavour == flavPcapGzip || flavour == flavPcapNGGzip {
		gz = gzip.NewWriter(&buf)
		w = gz
	}
	switch flavour {
	case flavPcapMicro, flavPcapNano, flavPcapGzip:
		pw := pcapgo.NewWriterNanos(w)
		if flavour == flavPcapMicro {
			pw = pcapgo.NewWriter(w)
		}
		require.NoError(t, pw.WriteFileHeader(MaxSnapLen, linkType))
		for _, r := range recs {
			require.NoError(t, pw.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: len(r.data)}, r.data))
		}
	case flavPcapBE:
		be := binary.BigEndian
		hdr := make([]byte, 24)
		be.PutUint32(hdr[0:], magicPcapNano)
		be.PutUint16(hdr[4:], 2)
		be.PutUint16(hdr[6:], 4)
		be.PutUint32(hdr[16:], MaxSnapLen)
		be.PutUint32(hdr[20:], uint32(linkType))
		buf.Write(hdr)
		for _, r := range recs {
			rh := make([]byte, 16)
			be.PutUint32(rh[0:], uint32(r.ts.Unix()))
			be.PutUint32(rh[4:], uint32(r.ts.Nanosecond()))
			be.PutUint32(rh[8:], uint32(len(r.data)))
			be.PutUint32(rh[12:], uint32(len(r.data)))
			buf.Write(rh)
			buf.Write(r.data)
		}
	case flavPcapNG, flavPcapNGGzip:
		nw, err := pcapgo.NewNgWriter(w, linkType)
		require.NoError(t, err)
		for _, r := range recs {
			var opts pcapgo.NgPacketOptions
			if r.dir != 0 {
				opts.Flags = &pcapgo.NgEpbFlags{Direction: r.dir}
			}
			require.NoError(t, nw.WritePacketWithOptions(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: len(r.data)}, r.data, opts))
		}
		require.NoError(t, nw.Flush())
	default:
		t.Fatalf("unknown flavour %q", flavour)
	}
	if gz != nil {
		require.NoError(t, gz.Close())
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

// readAll replays o to the end and returns the frames and the final error.
func readAll(t testing.TB, o backend.PacketIO) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	buf := make([]byte, MaxSnapLen)
	for i := 0; i < 1_000_000; i++ {
		n, err := o.ReadFrame(buf)
		if err != nil {
			return out, err
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	t.Fatal("replay did not end")
	return nil, nil
}

// fileRecord is a record read back from a capture file.
type fileRecord struct {
	ci   gopacket.CaptureInfo
	data []byte
	dir  pcapgo.NgEpbFlag // pcapng only
}

// readCapture reads a pcap or pcapng file with gopacket's readers.
func readCapture(t testing.TB, data []byte, format Format) []fileRecord {
	t.Helper()
	var out []fileRecord
	switch format {
	case FormatPcap:
		r, err := pcapgo.NewReader(bytes.NewReader(data))
		require.NoError(t, err)
		require.Equal(t, layers.LinkTypeEthernet, r.LinkType())
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, fileRecord{ci: ci, data: d})
		}
	case FormatPcapNG:
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		require.Equal(t, layers.LinkTypeEthernet, r.LinkType())
		for {
			d, ci, opts, err := r.ReadPacketDataWithOptions()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			fr := fileRecord{ci: ci, data: d}
			if opts.Flags != nil {
				fr.dir = opts.Flags.Direction
			}
			out = append(out, fr)
		}
	}
	t.Fatalf("unknown format %v", format)
	return nil
}

// requireCloseUnblocks runs read on a goroutine, checks that it is still
// blocked after d, calls closeFn and checks that the read then returns an
// error satisfying errors.Is(err, net.ErrClosed) within 5 seconds.
func requireCloseUnblocks(t *testing.T, d time.Duration, read, closeFn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- read() }()
	select {
	case err := <-errc:
		t.Fatalf("read returned before Close: %v", err)
	case <-time.After(d):
	}
	require.NoError(t, closeFn())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the read")
	}
}

// stepClock returns a clock that advances by step on every call.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(step)
		return t
	}
}

// failWriter fails every write after the first limit bytes.
type failWriter struct {
	limit int
	n     int
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, fmt.Errorf("disk full (test)")
	}
	w.n += len(p)
	return len(p), nil
}
