//go:build linux

package afpacket_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/frametest"
	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/rudp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIPOptionsKernelInterop sends every row of the IP options and
// extension headers table (frametest.IPOptions) both to kernel UDP sockets
// and to rudp.Conns over afpacket, on the two ends of a veth pair, and
// checks that the kernel delivers or drops each datagram as the table says
// Linux does, and that etherconn does as the table says it does: the same,
// except where the row says why not. Then it checks that every datagram
// the parser refused is counted (relay Stats().Malformed).
//
// The kernel's side is given the sysctls the table assumes (Linux's
// defaults). On the rows where Linux's answer depends on its version or
// build (Case.Varies) a kernel that answers otherwise is logged, and only
// rudp's answer is checked.
func TestIPOptionsKernelInterop(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	v := netns.NewVeth(t, &netns.VethOptions{Options: netns.Options{IPv6: true}})
	kern := v.B
	for _, kv := range [][2]string{
		{"net/ipv4/conf/all/accept_source_route", "0"},
		{"net/ipv6/conf/all/accept_source_route", "0"},
		{"net/ipv6/conf/all/seg6_enabled", "0"},
		{"net/ipv6/conf/all/rpl_seg_enabled", "0"},
		{"net/ipv6/conf/" + kern.Name + "/ioam6_enabled", "0"},
		{"net/ipv6/max_dst_opts_number", "8"},
		{"net/ipv6/max_hbh_opts_number", "8"},
	} {
		// A kernel without the setting lacks the feature it switches.
		if err := kern.NS.Sysctl(kv[0], kv[1]); err != nil {
			t.Logf("kernel side: %v", err)
		}
	}
	emuMAC := netns.RandomMAC()
	emu4, kern4 := netns.IPv4(1), netns.IPv4(2)
	emu6, kern6 := netns.IPv6(1), netns.IPv6(2)
	kern.AddAddr(t, netip.PrefixFrom(kern4, 24))
	kern.AddAddr(t, netip.PrefixFrom(kern6, 64))
	kern.AddNeighbor(t, emu4, emuMAC)
	kern.AddNeighbor(t, emu6, emuMAC)
	const port = 9000

	// Receivers: kernel sockets on B, rudp.Conns on an emulated host on A.
	k4, err := kern.NS.ListenUDP("udp4", netip.AddrPortFrom(kern4, port))
	require.NoError(t, err)
	defer k4.Close()
	k6, err := kern.NS.ListenUDP("udp6", netip.AddrPortFrom(kern6, port))
	require.NoError(t, err)
	defer k6.Close()
	emu := newEmulatedHost(t, v.A, emuMAC, nil, netip.AddrPortFrom(emu4, port), kern.MAC)
	u6, err := rudp.New(emu.ec, rudp.Config{LocalAddr: netip.AddrPortFrom(emu6, port),
		Resolve: func(netip.Addr) (net.HardwareAddr, error) { return kern.MAC, nil }})
	require.NoError(t, err)
	defer u6.Close()

	// Senders: raw sockets, one on each end, for the frames as they are.
	toKern, toEmu := open(t, v.A, afpacket.Config{}), open(t, v.B, afpacket.Config{})
	toKernAddrs := frametest.Addrs{SrcMAC: frame.MAC(emuMAC), DstMAC: frame.MAC(kern.MAC),
		Src4: emu4, Dst4: kern4, Src6: emu6, Dst6: kern6, SrcPort: 40000, DstPort: port}
	toEmuAddrs := frametest.Addrs{SrcMAC: frame.MAC(kern.MAC), DstMAC: frame.MAC(emuMAC),
		Src4: kern4, Dst4: emu4, Src6: kern6, Dst6: emu6, SrcPort: 40000, DstPort: port}

	cases := frametest.IPOptions()
	var refused uint64
	for i, c := range cases {
		require.NoError(t, toKern.WriteFrame(c.Frame(toKernAddrs, frametest.Payload(i))), c.Name)
		require.NoError(t, toEmu.WriteFrame(c.Frame(toEmuAddrs, frametest.Payload(i))), c.Name)
		if c.Err != nil {
			refused++
		}
	}
	for _, v6 := range []bool{false, true} {
		c := frametest.Plain(v6)
		require.NoError(t, toKern.WriteFrame(c.Frame(toKernAddrs, []byte(frametest.Last))))
		require.NoError(t, toEmu.WriteFrame(c.Frame(toEmuAddrs, []byte(frametest.Last))))
	}
	// The veth may hand frames over out of order: wait a moment after the
	// last datagram.
	var kernel, ours [2]map[string]bool
	for fam, pcs := range [2][2]net.PacketConn{{k4, emu.udp}, {k6, u6}} {
		kernel[fam], err = frametest.ReceiveAll(pcs[0], 5*time.Second, 200*time.Millisecond)
		require.NoError(t, err, "kernel, family %d", fam)
		ours[fam], err = frametest.ReceiveAll(pcs[1], 5*time.Second, 200*time.Millisecond)
		require.NoError(t, err, "rudp, family %d", fam)
	}

	for i, c := range cases {
		payload, fam := string(frametest.Payload(i)), 0
		if c.IPv6 {
			fam = 1
		}
		k, o := kernel[fam][payload], ours[fam][payload]
		assert.Equal(t, c.Deliver, o, "%s: rudp's delivery differs from the table", c.Name)
		if k != c.Linux && c.Varies != "" {
			t.Logf("%s: this kernel delivers=%v, unlike the table's Linux column (%s)", c.Name, k, c.Varies)
			continue
		}
		assert.Equal(t, c.Linux, k, "%s: the kernel's delivery differs from the table's Linux column", c.Name)
		if c.Why == "" {
			assert.Equal(t, k, o, "%s: rudp and the kernel differ", c.Name)
		} else {
			assert.NotEqual(t, k, o, "%s: rudp and the kernel agree, but the table says they differ: %s", c.Name, c.Why)
		}
	}
	// Each frame the parser refused was counted.
	assert.Equal(t, refused, emu.r.Stats().Malformed)
}
