package host_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// Errors about datagrams whose next hop did not resolve, as Linux reports
// them: only to a socket with IP_RECVERR / IPV6_RECVERR (rudp.Conn's
// SetRecvErr), connected or not, once, from its next read or write. The
// rows are run on a host over memio here and, in
// recverr_kernel_linux_test.go, on a kernel socket and a host side by
// side, so that the expectations are the kernel's.

// errSock is what the rows use of a socket: *net.UDPConn and *rudp.Conn
// both are one.
type errSock interface {
	net.PacketConn
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
}

// errEnv is a socket under test with what its steps need: dst, the
// address nobody answers for; failed waits until resolving dst failed
// (false if it did not within waitFor); inject sends the socket a
// datagram from dst, and arrived reports whether it is queued there. Rows run on goroutines of their own, all at once (a
// row mostly waits), so nothing of an errEnv may fail the test: problems
// show in the results.
type errEnv struct {
	who       string // kernel or host
	s         errSock
	dst       netip.AddrPort
	connected bool
	failed    func() bool
	inject    func(payload string) error
	arrived   func() bool
	off       func() error // turns IP_RECVERR off
}

// poll reports whether cond, checked every interval, holds within waitFor.
func poll(interval time.Duration, cond func() bool) bool {
	for end := time.Now().Add(waitFor); time.Now().Before(end); time.Sleep(interval) {
		if cond() {
			return true
		}
	}
	return false
}

// errRow is a sequence of steps and, by whether the socket asked for
// errors, the results Linux gives (verified by TestKernelRecvErr).
type errRow struct {
	name  string
	steps string // send, wait, read, blockread, write, inject, off; space-separated
	off   string // results without IP_RECVERR
	on    string // and with it
}

var errRows = []errRow{
	{"a blocked read returns it when resolution fails", "send blockread write",
		"ok timeout ok", "ok EHOSTUNREACH ok"},
	{"the next read takes it, once", "send wait read read write",
		"ok timeout timeout ok", "ok EHOSTUNREACH timeout ok"},
	{"the next write takes it, once, and sends nothing", "send wait write write read",
		"ok ok ok timeout", "ok EHOSTUNREACH ok timeout"},
	{"before a datagram already queued", "send wait inject read read",
		"ok ok data timeout", "ok ok EHOSTUNREACH data"},
	{"turned off, a pending one stays and no new one comes", "send wait off write send wait write",
		"ok ok ok ok", "ok EHOSTUNREACH ok ok"},
}

// Read waits: short for a read that should find its answer at once, long
// for one that blocks until resolution fails.
const (
	errShortRead = 100 * time.Millisecond
	errBlockRead = 3 * time.Second
)

// run runs the row's steps on e and returns their results.
func (r errRow) run(e errEnv) string {
	var out []string
	buf := make([]byte, 100)
	read := func(d time.Duration) string {
		if err := e.s.SetReadDeadline(time.Now().Add(d)); err != nil {
			return err.Error()
		}
		var (
			n   int
			err error
		)
		if e.connected {
			n, err = e.s.Read(buf)
		} else {
			n, _, err = e.s.ReadFrom(buf)
		}
		if err == nil && string(buf[:n]) != "data" {
			return "read " + string(buf[:n])
		}
		return errResult(err, "read", "data")
	}
	write := func() string {
		var err error
		if e.connected {
			_, err = e.s.Write([]byte("x"))
		} else {
			_, err = e.s.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(e.dst))
		}
		return errResult(err, "write", "ok")
	}
	for _, step := range strings.Fields(r.steps) {
		switch step {
		case "send", "write":
			out = append(out, write())
		case "wait":
			if !e.failed() {
				out = append(out, "(resolution did not fail)")
			}
		case "off":
			if err := e.off(); err != nil {
				out = append(out, err.Error())
			}
		case "read":
			out = append(out, read(errShortRead))
		case "blockread":
			start := time.Now()
			res := read(errBlockRead)
			if res != "timeout" && time.Since(start) >= errBlockRead {
				res += "(late)"
			}
			out = append(out, res)
		case "inject":
			res := "ok"
			if err := e.inject("data"); err != nil {
				res = err.Error()
			} else if !poll(5*time.Millisecond, e.arrived) {
				res = "(not delivered)"
			}
			out = append(out, res)
		default:
			out = append(out, "(unknown step "+step+")")
		}
	}
	return strings.Join(out, " ")
}

// errResult names an outcome: ok (as given), timeout, EHOSTUNREACH, or the
// error itself; an error that is not a *net.OpError of op says so.
func errResult(err error, op, ok string) string {
	if err == nil {
		return ok
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op {
		return fmt.Sprintf("(not an OpError of %s: %#v)", op, err)
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "EHOSTUNREACH"
	}
	return err.Error()
}

// runErrCases runs every case at once, each with the env setup makes (on
// the test's goroutine), and checks each in a subtest.
func runErrCases(t *testing.T, setup func(t *testing.T, c errCase) []errEnv) {
	cases := errCases()
	results := make([][]<-chan string, len(cases))
	envs := make([][]string, len(cases))
	for i, c := range cases {
		for _, e := range setup(t, c) {
			envs[i] = append(envs[i], e.who)
			results[i] = append(results[i], testkit.Go(func() string { return c.row.run(e) }))
		}
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for j, ch := range results[i] {
				got := testkit.Await(t, ch, 4*waitFor, "the row did not end")
				assert.Equal(t, c.want(), got, "%s", envs[i][j])
			}
		})
	}
}

// hostErrEnv is the env of a socket of h toward dst: connected (DialUDP)
// or not, with SetRecvErr(on). inject writes frames on the wire with send.
func hostErrEnv(t *testing.T, h *host.Host, dst netip.AddrPort, connected, on bool, send func([]byte) error) errEnv {
	t.Helper()
	var (
		c   *rudp.Conn
		err error
	)
	if connected {
		c, err = h.DialUDP(netip.AddrPort{}, dst)
	} else {
		any := netip.IPv4Unspecified()
		if dst.Addr().Is6() {
			any = netip.IPv6Unspecified()
		}
		c, err = h.ListenUDP(netip.AddrPortFrom(any, 0))
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetRecvErr(on))
	last := h.Stats().Unresolved
	return errEnv{
		who: "host", s: c, dst: dst, connected: connected,
		failed: func() bool { // since the previous wait
			ok := poll(5*time.Millisecond, func() bool { return h.Stats().Unresolved > last })
			last = h.Stats().Unresolved
			return ok
		},
		arrived: func() bool { return c.Stats().DatagramsIn > 0 },
		off:     func() error { return c.SetRecvErr(false) },
		inject: func(payload string) error {
			to := netip.AddrPortFrom(h.Source(dst.Addr()), c.LocalAddrPort().Port())
			return send(testkit.UDPFrame(frame.MAC(h.MAC()), peerMAC, testkit.AsTags(h.EtherConn().VLANs()), dst, to, []byte(payload)))
		},
	}
}

// errRetrans is the probe interval in the rows (3 probes: resolution
// fails after 3 of them), long beside errShortRead so that a datagram a
// row sends after the failure does not fail within its next read.
const errRetrans = 200 * time.Millisecond

// errCase is a row for one family, connectedness and option.
type errCase struct {
	name          string
	row           errRow
	v6, connected bool
	on            bool
	i             int // the case's number, for its addresses
}

func (c errCase) want() string {
	if c.on {
		return c.row.on
	}
	return c.row.off
}

// errCases are the rows in every combination.
func errCases() []errCase {
	var out []errCase
	for _, v6 := range []bool{false, true} {
		for _, connected := range []bool{true, false} {
			for _, on := range []bool{false, true} {
				for _, row := range errRows {
					name := map[bool]string{false: "v4", true: "v6"}[v6] + "/" +
						map[bool]string{true: "connected", false: "unconnected"}[connected] + "/" +
						map[bool]string{true: "recverr", false: "plain"}[on] + "/" + row.name
					out = append(out, errCase{name, row, v6, connected, on, len(out)})
				}
			}
		}
	}
	return out
}

// addrIn returns address i+100 of 198.18.<sub>.0/24 or 2001:db8::<sub>:0/112.
func addrIn(v6 bool, sub, i int) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(sub), 15: byte(100 + i)})
	}
	return netip.AddrFrom4([4]byte{198, 18, byte(sub), byte(100 + i)})
}

// errHost is the host of case c on r: its own, so that its counters are
// the case's; addresses in 198.18.1.0/24 and 2001:db8::1:0/112 of /16 and
// /64 prefixes.
func errHost(t *testing.T, r *relay.Relay, vl frame.VLANs, c errCase) *host.Host {
	return mustHost(t, r, host.Config{MAC: mac(byte(100 + c.i)), VLANs: vl,
		Addrs:    []netip.Prefix{netip.PrefixFrom(addrIn(false, 1, c.i), 16), netip.PrefixFrom(addrIn(true, 1, c.i), 64)},
		Neighbor: host.NeighborConfig{RetransTime: errRetrans, Probes: 3}})
}

// TestRecvErr: the rows on hosts over memio, IPv4 and IPv6, connected and
// not, with and without SetRecvErr.
func TestRecvErr(t *testing.T) {
	w := newWire(t, nil)
	runErrCases(t, func(t *testing.T, c errCase) []errEnv {
		h := errHost(t, w.r, nil, c)
		dst := netip.AddrPortFrom(addrIn(c.v6, 2, c.i), 9) // nobody's
		return []errEnv{hostErrEnv(t, h, dst, c.connected, c.on, w.end.WriteFrame)}
	})
}

// lossyConn returns a socket of the default host on a new wire, connected
// to port 7 of to, which nobody answers for (3 probes 20 ms apart), with
// SetRecvErr on, and lose, which writes a datagram on it and waits until
// its next hop failed.
func lossyConn(t *testing.T, to netip.Addr) (w *wire, h *host.Host, c *rudp.Conn, lose func()) {
	w = newWire(t, nil)
	h = w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: 20 * time.Millisecond, Probes: 3}})
	c = dial(t, h, to)
	require.NoError(t, c.SetRecvErr(true))
	return w, h, c, func() {
		t.Helper()
		before := h.Stats().Unresolved
		_, err := c.Write([]byte("lost"))
		require.NoError(t, err)
		testkit.Eventually(t, waitFor, func() bool { return h.Stats().Unresolved > before }, "%+v", h.Stats())
	}
}

// TestRecvErrNothingSent: the write that returns the error sends nothing
// (no new resolution starts); the next one resolves again.
func TestRecvErrNothingSent(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			w, h, c, lose := lossyConn(t, f.peer)
			lose()
			w.collect(quiet, isSolicit(f.peer)) // the probes of the failed resolution
			_, err := c.Write([]byte("refused"))
			require.ErrorIs(t, err, syscall.EHOSTUNREACH)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, udpNet(f.peer), oe.Net)
			assert.Equal(t, net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.peer, 7)).String(), oe.Addr.String())
			w.none("a solicitation", isSolicit(f.peer))
			assert.Empty(t, h.Neighbors())
			assert.Equal(t, uint64(1), c.Stats().DatagramsOut, "only the first write counts")
			_, err = c.Write([]byte("again"))
			require.NoError(t, err)
			w.expect("a new solicitation", isSolicit(f.peer))
		})
	}
}

func udpNet(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp6"
}

// TestRecvErrOnlyQueued: only the datagrams still queued when resolution
// fails are reported; one dropped earlier from the full queue (the host's
// 212,992 bytes per neighbour) is reported to nobody, as Linux's
// unres_qlen_bytes drops.
func TestRecvErrOnlyQueued(t *testing.T) {
	w := newWire(t, nil)
	h := w.defaultHost(host.Config{Neighbor: host.NeighborConfig{RetransTime: 50 * time.Millisecond, Probes: 3}})
	first, err := h.ListenUDP(netip.MustParseAddrPort("198.18.0.1:0"))
	require.NoError(t, err)
	defer first.Close()
	rest := dial(t, h, peer4)
	for _, c := range []*rudp.Conn{first, rest} {
		require.NoError(t, c.SetRecvErr(true))
	}
	_, err = first.WriteToUDPAddrPort([]byte("oldest"), netip.AddrPortFrom(peer4, 7))
	require.NoError(t, err)
	// 208 packets of 1,028 bytes: the oldest go, the first's among them,
	// until 207 fit.
	const newer = 208
	for range newer {
		_, err := rest.Write(make([]byte, 1000))
		require.NoError(t, err)
	}
	testkit.Eventually(t, waitFor, func() bool { return h.Stats().Unresolved == 1+newer }, "%+v", h.Stats())
	require.NoError(t, first.SetReadDeadline(time.Now().Add(quiet)))
	_, _, err = first.ReadFrom(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "its datagram went from the full queue: nothing reported")
	_, err = rest.Read(make([]byte, 10))
	assert.ErrorIs(t, err, syscall.EHOSTUNREACH, "207 reports, one error")
	require.NoError(t, rest.SetReadDeadline(time.Now().Add(quiet)))
	_, err = rest.Read(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

// TestRecvErrBatch: ReadBatch returns the pending error as Read does; a
// closed Conn refuses the option.
func TestRecvErrBatch(t *testing.T) {
	_, _, c, lose := lossyConn(t, peer4)
	lose()
	ms := make([]rudp.Message, 4)
	for i := range ms {
		ms[i].Buf = make([]byte, 10)
	}
	n, err := c.ReadBatch(ms)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, syscall.EHOSTUNREACH)

	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.SetRecvErr(true), net.ErrClosed)
}

// TestRecvErrFragmented: a datagram sent as fragments toward a next hop
// that does not resolve is reported once, found by its first fragment, as
// Linux reports it; each fragment counts in Unresolved.
func TestRecvErrFragmented(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			_, h, c, _ := lossyConn(t, f.peer)
			_, err := c.Write(make([]byte, 4000)) // three fragments over MTU 1500
			require.NoError(t, err)
			testkit.Eventually(t, waitFor, func() bool { return h.Stats().Unresolved == 3 }, "%+v", h.Stats())
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			_, err = c.Read(make([]byte, 10))
			assert.ErrorIs(t, err, syscall.EHOSTUNREACH)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(quiet)))
			_, err = c.Read(make([]byte, 10))
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "one report for the datagram")
		})
	}
}
