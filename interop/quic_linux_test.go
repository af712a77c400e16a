package interop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// The QUIC echo: quic-go as a client on a host's rudp.Conn, quic-go as a
// server on a kernel UDP socket in the peer namespace of a veth pair.
const (
	quicEchoSize    = 1 << 20
	quicEchoTimeout = 60 * time.Second // per echo, and for the handshake
	quicALPN        = "etherconn-echo"
	quicServerName  = "quic.example.test"
)

var (
	quicHostMAC  = net.HardwareAddr{0x02, 0x91, 0xc0, 0, 0, 0x01}
	quicHostAddr = netip.MustParsePrefix("198.18.0.2/16")
	quicKernel   = netip.MustParsePrefix("198.18.0.1/16")
)

// quic-go sizes the buffers of whatever PacketConn it is given through
// these methods, and logs "connection doesn't allow setting of receive
// buffer size" for one that lacks them.
var _ interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
} = (*rudp.Conn)(nil)

// TestQUICEchoKernel: an unmodified quic-go client on a host's rudp.Conn
// sends 1 MiB on a stream to an unmodified quic-go server on a kernel UDP
// socket in the other namespace, which echoes it; the client gets the
// same bytes back. The kernel side sends the echo with UDP GSO
// (gso=on: quic-go's default on Linux, one sendmsg carrying several
// datagrams that the kernel segments late) or without (gso=off). With GSO
// the veth hands its peer's packet socket the unsegmented super-frame, which
// the backend must split (DESIGN.md, backend.PacketIO); that no frame longer
// than the link's MTU reached the relay is checked, and the layers'
// counters are logged.
//
// quic-go reads QUIC_GO_DISABLE_GSO with os.Getenv each time a Transport
// first wraps its PacketConn (newConn -> isGSOEnabled in v0.65.0), so a
// t.Setenv before the kernel side's Transport starts switches it per run.
func TestQUICEchoKernel(t *testing.T) {
	netns.Require(t)
	quicLog := captureLog(t)
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprintf("gso=%s", onOff(gso)), func(t *testing.T) {
			logged := len(quicLog.String())
			p := newQUICEcho(t, gso)
			data := make([]byte, quicEchoSize)
			_, _ = rand.Read(data)
			start := time.Now()
			err := p.echo(data)
			elapsed := time.Since(start)
			t.Logf("1 MiB echo, kernel GSO %s: %v (%.2f MB/s each way), error %v", onOff(gso), elapsed,
				float64(quicEchoSize)/elapsed.Seconds()/1e6, err)
			p.logStats(t)
			// quic-go warns about buffer sizes once per process, when
			// its first Transport starts: that is in gso=off.
			if s := quicLog.String()[logged:]; s != "" {
				t.Logf("quic-go logged:\n%s", s)
			} else {
				t.Logf("quic-go logged nothing")
			}
			p.checkFrames(t)
			require.NoError(t, err, "1 MiB echo (kernel GSO %s) after %v", onOff(gso), elapsed)
		})
	}
}

// BenchmarkQUICEchoKernel is TestQUICEchoKernel's echo in a loop, one
// stream of 1 MiB each way per iteration on one connection; the MB/s are
// of the payload one way. superframes/op counts the frames longer than the
// MTU that reached the relay (0 once the backend splits GSO super-frames),
// gsosends/op the kernel side's sends of several datagrams in one.
func BenchmarkQUICEchoKernel(b *testing.B) {
	netns.Require(b)
	for _, gso := range []bool{false, true} {
		b.Run(fmt.Sprintf("gso=%s", onOff(gso)), func(b *testing.B) {
			p := newQUICEcho(b, gso)
			data := make([]byte, quicEchoSize)
			_, _ = rand.Read(data)
			b.SetBytes(quicEchoSize)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.echo(data); err != nil {
					p.logStats(b)
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// Not asserted here (TestQUICEchoKernel does): a benchmark
			// that fails prints no result.
			b.ReportMetric(float64(p.frames.over.Load())/float64(b.N), "superframes/op")
			b.ReportMetric(float64(p.kernel.gsoMulti.Load())/float64(b.N), "gsosends/op")
		})
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// quicEcho is one veth pair with a quic-go connection across it, client on
// the emulated host, echo server on the kernel side.
type quicEcho struct {
	gso     bool
	frames  *frameSizes
	relay   *relay.Relay
	host    *host.Host
	client  *rudp.Conn
	kernel  *gsoCounter
	conn    *quic.Conn
	served  atomic.Uint64 // streams the server echoed to the end
	maxSize int           // longest frame the link carries: MTU + Ethernet header
}

// newQUICEcho builds the pair, starts the server and dials it; everything
// is closed when tb ends, the quic-go transports first (so that their
// goroutines are gone before goleak looks).
func newQUICEcho(tb testing.TB, gso bool) *quicEcho {
	tb.Helper()
	netns.Require(tb)
	tb.Setenv("QUIC_GO_DISABLE_GSO", fmt.Sprint(!gso))
	v := netns.NewVeth(tb, nil)
	v.B.AddAddr(tb, quicKernel)
	p := &quicEcho{gso: gso}
	var mtu int
	require.NoError(tb, v.A.NS.Do(func() error {
		ifi, err := net.InterfaceByName(v.A.Name)
		if err == nil {
			mtu = ifi.MTU
		}
		return err
	}))
	p.maxSize = mtu + 14
	pio, err := v.A.Open(func(ifname string) (backend.PacketIO, error) {
		c, err := afpacket.Open(ifname, afpacket.Config{})
		if err != nil {
			return nil, err
		}
		return &frameSizes{PacketIO: c, limit: p.maxSize}, nil
	})
	require.NoError(tb, err)
	p.frames = pio.(*frameSizes)
	p.relay = relay.New(pio, relay.Config{})
	tb.Cleanup(func() { p.relay.Close() })
	p.host, err = host.New(p.relay, host.Config{MAC: quicHostMAC, Addrs: []netip.Prefix{quicHostAddr}})
	require.NoError(tb, err)
	tb.Cleanup(func() { p.host.Close() })
	p.client, err = p.host.ListenUDP(netip.AddrPortFrom(quicHostAddr.Addr(), 0))
	require.NoError(tb, err)
	tb.Cleanup(func() { p.client.Close() })

	udp, err := v.B.NS.ListenUDP("udp4", netip.AddrPortFrom(quicKernel.Addr(), 0))
	require.NoError(tb, err)
	tb.Cleanup(func() { udp.Close() })
	if gso {
		if err := udpSegmentSupported(udp); err != nil {
			tb.Skipf("skipping: the kernel has no UDP GSO (getsockopt UDP_SEGMENT: %v)", err)
		}
	}
	p.kernel = &gsoCounter{UDPConn: udp}

	serverTLS, clientTLS := quicTLS(tb)
	qconf := &quic.Config{HandshakeIdleTimeout: quicEchoTimeout, MaxIdleTimeout: quicEchoTimeout}
	serverTr := &quic.Transport{Conn: p.kernel}
	clientTr := &quic.Transport{Conn: p.client}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		cancel()
		if p.conn != nil {
			_ = p.conn.CloseWithError(0, "done")
		}
		// Closing a Transport closes its connections and listener and
		// waits for its read loop.
		assert.NoError(tb, clientTr.Close())
		assert.NoError(tb, serverTr.Close())
		wg.Wait()
	})
	ln, err := serverTr.Listen(serverTLS, qconf)
	require.NoError(tb, err)
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.serve(ctx, ln)
	}()

	dctx, dcancel := context.WithTimeout(ctx, quicEchoTimeout)
	defer dcancel()
	start := time.Now()
	p.conn, err = clientTr.Dial(dctx, udp.LocalAddr(), clientTLS, qconf)
	require.NoError(tb, err, "QUIC handshake")
	require.Equal(tb, quicALPN, p.conn.ConnectionState().TLS.NegotiatedProtocol)
	tb.Logf("QUIC handshake over rudp in %v", time.Since(start))
	return p
}

// serve accepts one connection and echoes each of its streams in turn
// until the connection or ctx ends.
func (p *quicEcho) serve(ctx context.Context, ln *quic.Listener) {
	conn, err := ln.Accept(ctx)
	if err != nil {
		return
	}
	defer conn.CloseWithError(0, "server done")
	buf := make([]byte, 64<<10)
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		_ = str.SetDeadline(time.Now().Add(quicEchoTimeout))
		if _, err := io.CopyBuffer(str, str, buf); err != nil {
			str.CancelRead(1)
			str.CancelWrite(1)
			continue
		}
		if str.Close() == nil {
			p.served.Add(1)
		}
	}
}

// echo sends data on a new stream, closes its sending side and reads the
// echo to the end, within quicEchoTimeout. It returns an error unless the
// echo is data, byte for byte.
func (p *quicEcho) echo(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), quicEchoTimeout)
	defer cancel()
	str, err := p.conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	_ = str.SetDeadline(time.Now().Add(quicEchoTimeout))
	wrote := make(chan error, 1)
	go func() {
		_, err := str.Write(data)
		if err == nil {
			err = str.Close()
		}
		wrote <- err
	}()
	got := make([]byte, len(data))
	n, rerr := io.ReadFull(str, got) // bounded by the stream's deadline
	if rerr == nil {
		// The echo must end here.
		var one [1]byte
		if k, err := str.Read(one[:]); k > 0 {
			rerr = fmt.Errorf("echo longer than the %d bytes sent", len(data))
		} else if !errors.Is(err, io.EOF) {
			rerr = fmt.Errorf("no end of stream after the echo: %w", err)
		}
	}
	if rerr != nil {
		str.CancelRead(1)
		str.CancelWrite(1)
		<-wrote
		return fmt.Errorf("read the echo: %d of %d bytes: %w", n, len(data), rerr)
	}
	if err := <-wrote; err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if !bytes.Equal(got, data) {
		at := 0
		for at < len(got) && at < len(data) && got[at] == data[at] {
			at++
		}
		return fmt.Errorf("echo differs: %d bytes back for %d sent, first difference at %d", len(got), len(data), at)
	}
	return nil
}

// logStats logs the counters of every layer on the emulated side, and the
// kernel side's GSO sends.
func (p *quicEcho) logStats(tb testing.TB) {
	tb.Helper()
	rs := p.relay.Stats()
	tb.Logf("relay: %+v", rs)
	tb.Logf("afpacket (relay.Stats().Backend): %+v", rs.Backend)
	tb.Logf("frames read longer than %d bytes (MTU + Ethernet header): %d, longest %d",
		p.maxSize, p.frames.over.Load(), p.frames.longest.Load())
	tb.Logf("host: %+v", p.host.Stats())
	tb.Logf("rudp: %+v", p.client.Stats())
	qs := p.conn.ConnectionStats()
	tb.Logf("quic-go client: RTT min %v smoothed %v; packets sent %d lost %d received %d", qs.MinRTT, qs.SmoothedRTT,
		qs.PacketsSent, qs.PacketsLost, qs.PacketsReceived)
	tb.Logf("kernel side: %d GSO sends (%d of them of several datagrams, %d datagrams in all), %d plain sends, %d streams echoed",
		p.kernel.gsoSends.Load(), p.kernel.gsoMulti.Load(), p.kernel.gsoSegments.Load(), p.kernel.plainSends.Load(), p.served.Load())
}

// checkFrames asserts what the counters must show after a clean run: the
// kernel used GSO exactly when asked to, and no merged super-frame (nor a
// malformed or dropped frame) reached the relay.
func (p *quicEcho) checkFrames(tb testing.TB) {
	tb.Helper()
	if p.gso {
		assert.NotZero(tb, p.kernel.gsoMulti.Load(), "the kernel side sent several datagrams in one GSO send")
	} else {
		assert.Zero(tb, p.kernel.gsoSends.Load(), "the kernel side sent with GSO though QUIC_GO_DISABLE_GSO=true")
	}
	assert.Zero(tb, p.frames.over.Load(), "frames longer than the MTU (merged GSO super-frames) reached the relay; longest %d",
		p.frames.longest.Load())
	rs := p.relay.Stats()
	assert.Zero(tb, rs.Malformed, "relay: malformed frames")
	assert.Zero(tb, p.client.Stats().BadChecksum, "rudp: bad checksums")
}

// gsoCounter is the kernel side's *net.UDPConn with every method, so that
// quic-go uses all its optimisations on it as on the bare socket (it
// checks for OOBCapablePacketConn, not the type), and counts quic-go's
// sends with and without a UDP_SEGMENT control message (GSO).
type gsoCounter struct {
	*net.UDPConn
	gsoSends, gsoMulti, gsoSegments, plainSends atomic.Uint64
}

func (c *gsoCounter) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	n, oobn, err := c.UDPConn.WriteMsgUDP(b, oob, addr)
	if err != nil {
		return n, oobn, err
	}
	seg := udpSegmentSize(oob)
	if seg == 0 {
		c.plainSends.Add(1)
		return n, oobn, err
	}
	c.gsoSends.Add(1)
	k := (n + seg - 1) / seg
	c.gsoSegments.Add(uint64(k))
	if k > 1 {
		c.gsoMulti.Add(1)
	}
	return n, oobn, err
}

// udpSegmentSize returns the segment size of oob's UDP_SEGMENT control
// message, or 0 without one.
func udpSegmentSize(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_SEGMENT && len(m.Data) >= 2 {
			return int(binary.NativeEndian.Uint16(m.Data))
		}
	}
	return 0
}

// udpSegmentSupported reports, as quic-go checks it, whether the socket can
// send with UDP_SEGMENT.
func udpSegmentSupported(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return err
	}
	return serr
}

// frameSizes is the afpacket backend with every ability it has, counting
// the frames read that are longer than limit: merged super-frames, which
// a backend must never return as one frame.
type frameSizes struct {
	backend.PacketIO
	limit         int
	over, longest atomic.Int64
}

func (f *frameSizes) see(n int) {
	if n > f.limit {
		f.over.Add(1)
	}
	// Reads are serialised (a PacketIO has one reader at a time); the
	// atomics are for the test goroutine that looks.
	if int64(n) > f.longest.Load() {
		f.longest.Store(int64(n))
	}
}

func (f *frameSizes) ReadFrame(b []byte) (int, error) {
	n, err := f.PacketIO.ReadFrame(b)
	if n > 0 {
		f.see(n)
	}
	return n, err
}

func (f *frameSizes) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	br, ok := f.PacketIO.(backend.BatchReader)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	n, err := br.ReadFrames(bufs, lens)
	for _, l := range lens[:n] {
		f.see(l)
	}
	return n, err
}

func (f *frameSizes) WriteFrames(frames [][]byte) (int, error) {
	bw, ok := f.PacketIO.(backend.BatchWriter)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	return bw.WriteFrames(frames)
}

func (f *frameSizes) SetReadDeadline(t time.Time) error {
	rd, ok := f.PacketIO.(backend.ReadDeadliner)
	if !ok {
		return errors.ErrUnsupported
	}
	return rd.SetReadDeadline(t)
}

func (f *frameSizes) Stats() backend.Stats {
	if sr, ok := f.PacketIO.(backend.StatsReporter); ok {
		return sr.Stats()
	}
	return backend.Stats{}
}

// quicTLS returns a server configuration with a fresh self-signed
// certificate for quicServerName and a client configuration that trusts
// only it; both offer quicALPN alone.
func quicTLS(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(tb, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: quicServerName},
		DNSNames:              []string{quicServerName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(tb, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(tb, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		NextProtos:   []string{quicALPN},
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{RootCAs: pool, ServerName: quicServerName, NextProtos: []string{quicALPN}, MinVersion: tls.VersionTLS13}
	return server, client
}

// captureLog collects what the standard logger prints (quic-go's warnings
// go there) until t ends.
func captureLog(t *testing.T) *logBuffer {
	t.Helper()
	buf := &logBuffer{}
	prev := log.Writer()
	log.SetOutput(io.MultiWriter(prev, buf))
	t.Cleanup(func() { log.SetOutput(prev) })
	return buf
}
