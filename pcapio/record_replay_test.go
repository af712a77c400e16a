package pcapio_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/pcapio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// gatedIO holds the reads of a PacketIO back until start, so that a relay
// (which starts reading at once) can be given its endpoints before the first
// frame of a finite source is dispatched. It keeps the batch interface of
// the inner PacketIO, so the relay reads an Offline in batches as usual.
type gatedIO struct {
	backend.PacketIO
	open chan struct{}
	once sync.Once
}

func gate(p backend.PacketIO) *gatedIO {
	return &gatedIO{PacketIO: p, open: make(chan struct{})}
}

func (g *gatedIO) start() { g.once.Do(func() { close(g.open) }) }

func (g *gatedIO) ReadFrame(b []byte) (int, error) {
	<-g.open
	return g.PacketIO.ReadFrame(b)
}

func (g *gatedIO) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	<-g.open
	if br, ok := g.PacketIO.(backend.BatchReader); ok {
		return br.ReadFrames(bufs, lens)
	}
	n, err := g.PacketIO.ReadFrame(bufs[0])
	if err != nil {
		return 0, err
	}
	lens[0] = n
	return 1, nil
}

// Close releases a read waiting at the gate, so that relay.Close never
// waits for a gate nobody opens.
func (g *gatedIO) Close() error {
	g.start()
	return g.PacketIO.Close()
}

const etherTypeTest = 0x88b5 // IEEE local experimental

// session is the traffic of the record/replay test: hosts on the recorded
// side (behind the Recorder) and one peer per host on the other side of the
// pipe. Peers send unicast UDP over IPv4 and IPv6, broadcast UDP and raw
// Ethernet payloads to their host; hosts echo every datagram.
type sessionHost struct {
	vlans    string
	mac      net.HardwareAddr // the host's; the peer's is mac with byte 1 = 0xaa
	v4, v6   netip.AddrPort   // the host's sockets
	pv4, pv6 netip.AddrPort   // the peer's sockets
}

func (h sessionHost) peerMAC() net.HardwareAddr {
	m := append(net.HardwareAddr(nil), h.mac...)
	m[1] = 0xaa
	return m
}

func sessionHosts() []sessionHost {
	stacks := []string{"", "100", "0x88a8:100.200", "0x88a8:100.201", "300/p5", "100"}
	hosts := make([]sessionHost, len(stacks))
	for i, s := range stacks {
		hosts[i] = sessionHost{
			vlans: s,
			mac:   net.HardwareAddr{0x02, 0x0b, 0, 0, 0, byte(i + 1)},
			v4:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 10, byte(i + 1)}), 6000),
			v6:    netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:10::%x]:6000", i+1)),
			pv4:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 10, byte(i + 1)}), 5000),
			pv6:   netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:20::%x]:5000", i+1)),
		}
	}
	return hosts
}

// Per host: unicast datagrams per IP family, broadcast datagrams, raw
// frames.
const (
	sessUnicast   = 120
	sessBroadcast = 5
	sessRaw       = 40
	bcastPort     = 999 // the peer's broadcasting socket
)

// hostConns are a host's endpoints on one relay; received collects, per
// endpoint, what each read returned.
type hostConns struct {
	ec     *etherconn.Conn
	c4, c6 *rudp.Conn
}

// openHost registers host h on r. resolve may be nil (replay: no answers).
func openHost(t *testing.T, r *relay.Relay, h sessionHost, resolve rudp.Resolver) hostConns {
	t.Helper()
	vlans, err := frame.ParseVLANs(h.vlans)
	require.NoError(t, err)
	ec, err := etherconn.New(r, etherconn.Config{
		MAC: h.mac, VLANs: vlans, Broadcast: true, QueueLen: 1024,
		EtherTypes: []uint16{frame.EtherTypeIPv4, frame.EtherTypeIPv6, etherTypeTest},
	})
	require.NoError(t, err)
	hc := hostConns{ec: ec}
	hc.c4, err = rudp.New(ec, rudp.Config{LocalAddr: h.v4, Resolve: resolve, QueueLen: 1024})
	require.NoError(t, err)
	hc.c6, err = rudp.New(ec, rudp.Config{LocalAddr: h.v6, Resolve: resolve, QueueLen: 1024})
	require.NoError(t, err)
	return hc
}

func (hc hostConns) close() {
	hc.c4.Close()
	hc.c6.Close()
	hc.ec.Close()
}

// received is what one endpoint read, one line per read: payload and source.
type received []string

// endpointConn is what readN needs of an endpoint besides its read.
type endpointConn interface {
	SetReadDeadline(time.Time) error
	LocalAddr() net.Addr
}

// readN reads c with read, which returns a line for each message, until it
// has want messages (want > 0, live: each read with a deadline) or its
// input ends (want < 0, replay). what names the messages in errors.
func readN(c endpointConn, want int, what string, read func(buf []byte) (string, error)) (received, error) {
	var got received
	buf := make([]byte, backend.MaxFrameLen)
	for want < 0 || len(got) < want {
		if want > 0 {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
		}
		line, err := read(buf)
		if err != nil {
			if want < 0 && errors.Is(err, relay.ErrInputEnded) {
				return got, nil
			}
			return got, fmt.Errorf("%v: after %d %s: %w", c.LocalAddr(), len(got), what, err)
		}
		got = append(got, line)
	}
	return got, nil
}

// readUDP reads c until it has want datagrams (want > 0, live) or its input
// ends (want < 0, replay), answering each one if echo is set.
func readUDP(c *rudp.Conn, want int, echo bool) (received, error) {
	return readN(c, want, "datagrams", func(buf []byte) (string, error) {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return "", err
		}
		if echo {
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return "", fmt.Errorf("echo: %w", err)
			}
		}
		return fmt.Sprintf("%q from %v", buf[:n], from), nil
	})
}

// readRaw reads the Ethernet payloads that no rudp.Conn took.
func readRaw(c *etherconn.Conn, want int) (received, error) {
	return readN(c, want, "frames", func(buf []byte) (string, error) {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("% x from %v", buf[:n], from), nil
	})
}

// hostResult is what a host's three endpoints received.
type hostResult struct{ v4, v6, raw received }

// collectHost reads a host's endpoints concurrently. want gives the counts
// (live) or is nil (replay: read to the end of the input).
func collectHost(hc hostConns, want *hostResult, echo bool) (res hostResult, err error) {
	var wg sync.WaitGroup
	var errs [3]error
	n := func(r received) int {
		if want == nil {
			return -1
		}
		return len(r)
	}
	wantV4, wantV6, wantRaw := received{}, received{}, received{}
	if want != nil {
		wantV4, wantV6, wantRaw = want.v4, want.v6, want.raw
	}
	wg.Add(3)
	go func() { defer wg.Done(); res.v4, errs[0] = readUDP(hc.c4, n(wantV4), echo) }()
	go func() { defer wg.Done(); res.v6, errs[1] = readUDP(hc.c6, n(wantV6), echo) }()
	go func() { defer wg.Done(); res.raw, errs[2] = readRaw(hc.ec, n(wantRaw)) }()
	wg.Wait()
	return res, errors.Join(errs[:]...)
}

// TestRecordReplayRelay records a session of many endpoints on several VLAN
// stacks over memio with a Recorder, then replays the file into a fresh
// relay with the same endpoints: each endpoint must receive the same
// payloads, from the same sources, in the same order.
func TestRecordReplayRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format pcapio.Format
		dir    pcapio.RecordDirection
	}{
		// Outbound records (the hosts' echoes) are in the file and must be
		// skipped by the replay.
		{"pcapng-both", pcapio.FormatPcapNG, pcapio.RecordBoth},
		// Classic pcap cannot mark direction: record what was received only.
		{"pcap-in", pcapio.FormatPcap, pcapio.RecordIn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "session."+tc.format.String())
			live, liveStats := recordSession(t, path, pcapio.RecorderConfig{Format: tc.format, Direction: tc.dir})
			replayed, replayStats := replaySession(t, path)
			hosts := sessionHosts()
			for i := range hosts {
				name := hosts[i].mac.String() + "/" + hosts[i].vlans
				assert.Equal(t, live[i].v4, replayed[i].v4, "%s IPv4 datagrams", name)
				assert.Equal(t, live[i].v6, replayed[i].v6, "%s IPv6 datagrams", name)
				assert.Equal(t, live[i].raw, replayed[i].raw, "%s raw payloads", name)
			}
			// Every frame the recorded side read was replayed, and nothing
			// else: the echoes in the pcapng file are outbound.
			assert.Equal(t, liveStats.FramesIn, replayStats.FramesIn, "frames replayed")
			assert.Equal(t, liveStats.BytesIn, replayStats.BytesIn, "bytes replayed")
			assert.Equal(t, liveStats.Delivered, replayStats.Delivered)
			assert.Zero(t, replayStats.Misses)
			assert.Zero(t, replayStats.Malformed)
			assert.Zero(t, replayStats.QueueDrops)

			// The file does hold the hosts' echoes (pcapng) or not (pcap-in).
			wantAll := liveStats.FramesIn
			if tc.dir == pcapio.RecordBoth {
				wantAll += liveStats.FramesOut
				assert.NotZero(t, liveStats.FramesOut)
			}
			assert.Equal(t, wantAll, countFrames(t, path, pcapio.OfflineConfig{IncludeOutbound: true}))
		})
	}
}

// expected returns what host i receives in the session: its peer's unicast
// datagrams and broadcasts for its own addresses, raw frames, and on its
// raw endpoint the broadcasts that other peers on its VLAN stack sent to
// their own hosts' addresses (no rudp.Conn of host i is bound to those).
func expected(hosts []sessionHost, i int) hostResult {
	sameStack := 0
	for j, o := range hosts {
		if j != i && o.vlans == hosts[i].vlans {
			sameStack++
		}
	}
	return hostResult{
		v4:  make(received, sessUnicast+sessBroadcast),
		v6:  make(received, sessUnicast),
		raw: make(received, sessRaw+sessBroadcast*sameStack),
	}
}

// payload is the k-th message of a kind to a host, of a length that varies
// with k (at least its text).
func payload(host, kind string, k int) []byte {
	b := []byte(fmt.Sprintf("host %s %s #%d:", host, kind, k))
	n := k * 37 % 1200
	if kind == "raw" {
		n = k * 7 % 300
	}
	for len(b) < n {
		b = append(b, byte(len(b)))
	}
	return b
}

// recordSession runs the live session over memio with a Recorder on the
// hosts' side writing path, and returns what every host received and the
// hosts' relay counters.
func recordSession(t *testing.T, path string, cfg pcapio.RecorderConfig) ([]hostResult, relay.Stats) {
	a, b := memio.Pipe(memio.Config{QueueLen: 16384})
	rec, err := pcapio.RecordToFile(b, path, cfg)
	require.NoError(t, err)
	rHosts := relay.New(rec, relay.Config{QueueLen: 4096})
	rPeers := relay.New(a, relay.Config{QueueLen: 4096})
	hosts := sessionHosts()

	neigh := map[netip.Addr]net.HardwareAddr{}
	for _, h := range hosts {
		neigh[h.v4.Addr()], neigh[h.v6.Addr()] = h.mac, h.mac
		neigh[h.pv4.Addr()], neigh[h.pv6.Addr()] = h.peerMAC(), h.peerMAC()
	}
	resolve := func(ip netip.Addr) (net.HardwareAddr, error) {
		if m, ok := neigh[ip]; ok {
			return m, nil
		}
		return nil, fmt.Errorf("no neighbour %v", ip)
	}

	results := make([]hostResult, len(hosts))
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(hosts))
	for i, h := range hosts {
		hc := openHost(t, rHosts, h, resolve)
		defer hc.close()
		vlans, err := frame.ParseVLANs(h.vlans)
		require.NoError(t, err)
		pec, err := etherconn.New(rPeers, etherconn.Config{MAC: h.peerMAC(), VLANs: vlans, QueueLen: 1024})
		require.NoError(t, err)
		defer pec.Close()
		p4, err := rudp.New(pec, rudp.Config{LocalAddr: h.pv4, Resolve: resolve, QueueLen: 1024})
		require.NoError(t, err)
		defer p4.Close()
		p6, err := rudp.New(pec, rudp.Config{LocalAddr: h.pv6, Resolve: resolve, QueueLen: 1024})
		require.NoError(t, err)
		defer p6.Close()
		// No resolver: to the broadcast MAC.
		pb, err := rudp.New(pec, rudp.Config{LocalAddr: netip.AddrPortFrom(h.pv4.Addr(), bcastPort), QueueLen: 64})
		require.NoError(t, err)
		defer pb.Close()

		want := expected(hosts, i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = collectHost(hc, &want, true)
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- runPeer(h, pec, p4, p6, pb)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := rHosts.Stats()
	assert.Zero(t, st.QueueDrops, "no drops live, or the replay could not match")
	assert.Zero(t, st.Malformed)
	require.NoError(t, rPeers.Close())
	require.NoError(t, rHosts.Close()) // closes the Recorder: flushes and closes the file
	require.NoError(t, rec.Err())
	return results, st
}

// runPeer sends a host's traffic and reads the host's echoes.
func runPeer(h sessionHost, pec *etherconn.Conn, p4, p6, pb *rudp.Conn) error {
	var wg sync.WaitGroup
	var echoErrs [3]error
	wg.Add(3)
	go func() { defer wg.Done(); _, echoErrs[0] = readUDP(p4, sessUnicast, false) }()
	go func() { defer wg.Done(); _, echoErrs[1] = readUDP(p6, sessUnicast, false) }()
	go func() { defer wg.Done(); _, echoErrs[2] = readUDP(pb, sessBroadcast, false) }()
	name := h.mac.String()
	var sendErr error
	for k := range sessUnicast {
		if _, err := p4.WriteToUDPAddrPort(payload(name, "v4", k), h.v4); err != nil {
			sendErr = err
			break
		}
		if _, err := p6.WriteToUDPAddrPort(payload(name, "v6", k), h.v6); err != nil {
			sendErr = err
			break
		}
		if k < sessRaw {
			if _, err := pec.WriteToMAC(payload(name, "raw", k), h.mac, etherTypeTest); err != nil {
				sendErr = err
				break
			}
		}
		if k < sessBroadcast {
			if _, err := pb.WriteToUDPAddrPort(payload(name, "bcast", k), h.v4); err != nil {
				sendErr = err
				break
			}
		}
	}
	if sendErr != nil {
		// Unblock the echo readers rather than wait for their deadlines.
		p4.Close()
		p6.Close()
		pb.Close()
	}
	wg.Wait()
	return errors.Join(append([]error{sendErr}, echoErrs[:]...)...)
}

// replaySession replays path into a fresh relay with the hosts' endpoints
// registered before the first frame, and returns what each received.
func replaySession(t *testing.T, path string) ([]hostResult, relay.Stats) {
	off, err := pcapio.OpenOffline(path, pcapio.OfflineConfig{})
	require.NoError(t, err)
	g := gate(off)
	r := relay.New(g, relay.Config{QueueLen: 4096})
	defer r.Close()
	hosts := sessionHosts()
	results := make([]hostResult, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		hc := openHost(t, r, h, nil)
		defer hc.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = collectHost(hc, nil, false)
		}()
	}
	g.start()
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.ErrorIs(t, r.Err(), relay.ErrInputEnded)
	return results, r.Stats()
}

// countFrames replays path into nothing and counts the frames.
func countFrames(t *testing.T, path string, cfg pcapio.OfflineConfig) uint64 {
	off, err := pcapio.OpenOffline(path, cfg)
	require.NoError(t, err)
	defer off.Close()
	buf := make([]byte, backend.MaxFrameLen)
	var n uint64
	for {
		_, err := off.ReadFrame(buf)
		if errors.Is(err, io.EOF) {
			return n
		}
		require.NoError(t, err)
		n++
	}
}
