package rudp_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/rudp"
)

var families = []struct{ name, a, b string }{
	{"ipv4", "198.18.0.1:1000", "198.18.0.2:2000"},
	{"ipv6", "[2001:db8::1]:1000", "[2001:db8::2]:2000"},
}

// pattern returns n bytes that differ per datagram and per position, so
// that a fragment put in the wrong place or datagram shows.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seed), uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFragmentRoundTrip: datagrams from one byte over one frame up to the
// largest IP allows go out as fragments and come back whole and exact,
// by WriteTo and by WriteBatch, and what the wire carried are fragments
// that each fit the MTU.
func TestFragmentRoundTrip(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, b := newHosts(t)
			ca, cb := mustConn(t, a.ec, fam.a), mustConn(t, b.ec, fam.b)
			require.NoError(t, cb.SetReadBuffer(4<<20))
			largest := frame.MaxUDPPayload4
			oneFrame := 1500 - 28
			if fam.name == "ipv6" {
				largest, oneFrame = frame.MaxUDPPayload6, 1500-48
			}
			sizes := []int{0, oneFrame, oneFrame + 1, 3000, 8192, 9000, 20000, largest}
			buf := make([]byte, 70000)
			for i, n := range sizes {
				want := pattern(i, n)
				_, err := ca.WriteToUDPAddrPort(want, cb.LocalAddrPort())
				require.NoError(t, err, "size %d", n)
				require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
				got, from, err := cb.ReadFromUDPAddrPort(buf)
				require.NoError(t, err, "size %d", n)
				assert.Equal(t, ca.LocalAddrPort(), from)
				assert.True(t, bytes.Equal(want, buf[:got]), "size %d: got %d bytes, not what was sent", n, got)
			}
			// The same sizes in one batch.
			ms := make([]rudp.Message, len(sizes))
			for i, n := range sizes {
				ms[i] = rudp.Message{Buf: pattern(100+i, n), Addr: cb.LocalAddrPort()}
			}
			sent, err := ca.WriteBatch(ms)
			require.NoError(t, err)
			require.Equal(t, len(sizes), sent)
			for i := range sizes {
				require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
				got, _, err := cb.ReadFromUDPAddrPort(buf)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(ms[i].Buf, buf[:got]), "batch datagram %d: got %d bytes", i, got)
			}
			st := b.r.Stats().Reassembly
			assert.Equal(t, uint64(2*(len(sizes)-2)), st.Reassembled)
			assert.Zero(t, st.Invalid+st.Overlaps+st.Evicted+st.Timeouts+st.Duplicates)
			assert.Zero(t, st.Pinned, "bytes left pinned after every datagram completed")
		})
	}
}

// TestFragmentLimits: past the largest datagram IP can carry, and past
// the MTU with DontFragment, a write fails with EMSGSIZE as the kernel's.
func TestFragmentLimits(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, _ := newHosts(t)
			c := mustConn(t, a.ec, fam.a)
			dst := netip.MustParseAddrPort(fam.b)
			largest, oneFrame := frame.MaxUDPPayload4, 1500-28
			if fam.name == "ipv6" {
				largest, oneFrame = frame.MaxUDPPayload6, 1500-48
			}
			_, err := c.WriteToUDPAddrPort(make([]byte, largest+1), dst)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "%v", err)

			port := netip.MustParseAddrPort(fam.a)
			df, err := rudp.New(a.ec, rudp.Config{
				LocalAddr:    netip.AddrPortFrom(port.Addr(), port.Port()+1),
				DontFragment: true,
			})
			require.NoError(t, err)
			defer df.Close()
			_, err = df.WriteToUDPAddrPort(make([]byte, oneFrame), dst)
			assert.NoError(t, err, "a datagram that fits one frame")
			_, err = df.WriteToUDPAddrPort(make([]byte, oneFrame+1), dst)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "DontFragment: %v", err)
			n, err := df.WriteBatch([]rudp.Message{{Buf: []byte("x"), Addr: dst}, {Buf: make([]byte, oneFrame+1), Addr: dst}})
			assert.Equal(t, 1, n)
			assert.True(t, errors.Is(err, syscall.EMSGSIZE), "DontFragment batch: %v", err)
		})
	}
}

var _ = fmt.Sprint
