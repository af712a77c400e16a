//go:build linux

package host_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/frame"
)

// TestKernelFragments: over a link of MTU 1500, kernel UDP sockets and a
// host's sockets exchange 3,000-, 9,000- and the largest datagrams (65,507
// bytes over IPv4, 65,527 over IPv6) both ways, whole and byte-exact: the
// kernel reassembles the host's fragments and the host the kernel's, with
// each receive mode (socket, frame ring, block ring), untagged and on VLAN 100; and
// the kernel's ping of 3,000 and 65,000 bytes is answered.
func TestKernelFragments(t *testing.T) {
	for _, mode := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"socket", afpacket.Config{Receive: afpacket.ReceiveSocket}},
		{"frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"adaptive", afpacket.Config{}},
		{"ring", afpacket.Config{Ring: &afpacket.RingConfig{}}},
	} {
		for _, vlan := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/vlan=%v", mode.name, vlan), func(t *testing.T) {
				r, v, vl := kernelLinkWith(t, vlan, mode.cfg)
				h := kernelHost(t, r, vl)
				for _, fam := range []struct {
					kern    string
					largest int
				}{
					{"198.18.0.2", frame.MaxUDPPayload4},
					{"2001:db8::2", frame.MaxUDPPayload6},
				} {
					kern, err := v.B.NS.ListenUDP("udp", netip.AddrPortFrom(addr(fam.kern), 9000))
					require.NoError(t, err)
					defer kern.Close()
					require.NoError(t, kern.SetReadBuffer(1<<20))
					cl, err := h.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr(fam.kern), 9000))
					require.NoError(t, err)
					defer cl.Close()
					require.NoError(t, cl.SetReadBuffer(1<<20))
					buf := make([]byte, 70000)
					for i, n := range []int{3000, 9000, fam.largest} {
						want := make([]byte, n)
						rng := rand.New(rand.NewPCG(uint64(i), uint64(n)))
						for j := range want {
							want[j] = byte(rng.Uint32())
						}
						_, err := cl.Write(want)
						require.NoError(t, err)
						require.NoError(t, kern.SetReadDeadline(time.Now().Add(5*time.Second)))
						got, from, err := kern.ReadFromUDPAddrPort(buf)
						require.NoError(t, err, "%s: the kernel did not get the host's %d bytes", fam.kern, n)
						assert.True(t, bytes.Equal(want, buf[:got]), "%s: kernel got %d bytes of %d, or other bytes", fam.kern, got, n)

						_, err = kern.WriteToUDPAddrPort(want, from)
						require.NoError(t, err)
						require.NoError(t, cl.SetReadDeadline(time.Now().Add(5*time.Second)))
						got, err = cl.Read(buf)
						require.NoError(t, err, "%s: the host did not get the kernel's %d bytes (%+v)", fam.kern, n, r.Stats().Reassembly)
						assert.True(t, bytes.Equal(want, buf[:got]), "%s: host got %d bytes of %d, or other bytes", fam.kern, got, n)
					}
				}
				// Large pings: the host reassembles each request and answers
				// with fragments, which the kernel reassembles.
				requirePing(t)
				for _, dst := range []string{"198.18.0.1", "2001:db8::1"} {
					for _, size := range []string{"3000", "65000"} {
						run(t, v.B.NS, "ping", "-c", "2", "-i", "0.2", "-W", "3", "-s", size, dst)
					}
				}
				st := r.Stats().Reassembly
				assert.Equal(t, uint64(6+8), st.Reassembled, "%+v", st)
				assert.Zero(t, st.Invalid+st.Overlaps+st.Evicted+st.Timeouts, "%+v", st)
			})
		}
	}
}
