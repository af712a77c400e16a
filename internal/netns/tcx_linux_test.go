//go:build linux

package netns_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/etherconn/etherconn/internal/netns"
	"github.com/etherconn/etherconn/internal/testkit"
)

// rawSocket is an AF_PACKET socket with PACKET_AUXDATA on one interface,
// kept apart from the afpacket package so that the harness is checked
// against the kernel alone.
type rawSocket struct {
	fd      int
	ifindex int
}

// openRaw opens a rawSocket on l.
func openRaw(t *testing.T, l *netns.Link) *rawSocket {
	t.Helper()
	idx, err := l.Index()
	require.NoError(t, err)
	s := &rawSocket{fd: -1, ifindex: idx}
	proto := int(binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, unix.ETH_P_ALL)))
	require.NoError(t, l.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		s.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: idx})
	}))
	t.Cleanup(func() { _ = unix.Close(s.fd) })
	require.NoError(t, unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1))
	require.NoError(t, unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1))
	return s
}

// write sends frame as it is.
func (s *rawSocket) write(t *testing.T, frame []byte) {
	t.Helper()
	require.NoError(t, unix.Sendto(s.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6}))
}

// read returns the next frame as the socket gives it (the outer tag, if the
// skb had it as metadata, is not in the data) and the tag from its
// auxiliary data, ok false if there was none.
func (s *rawSocket) read(t *testing.T, d time.Duration) (frame []byte, tpid, tci uint16, ok bool) {
	t.Helper()
	tv := unix.NsecToTimeval(d.Nanoseconds())
	require.NoError(t, unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	buf := make([]byte, 2048)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
	require.NoError(t, err)
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	require.NoError(t, err)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				return buf[:n], aux.Vlan_tpid, aux.Vlan_tci, true
			}
		}
	}
	return buf[:n], 0, 0, false
}

// TestTagVLANs checks TagVLANs against the kernel alone: a raw socket on the
// peer sees the kernel's datagrams with the QinQ stack, the outer tag as
// metadata in PACKET_AUXDATA and the inner one in the data, as a VLAN
// sub-interface on a veth sends them; and the kernel's socket receives a
// datagram only if it came with exactly that stack.
func TestTagVLANs(t *testing.T) {
	t.Parallel()
	k := netns.NewKernelPeer(t, 9000)
	v, emuMAC, emuIP, kernIP, srv := k.Veth, k.EmuMAC, k.EmuIP, k.KernelIP, k.Server
	v.B.TagVLANs(t, netns.VLANTag{TPID: 0x88a8, ID: 10}, netns.VLANTag{TPID: 0x8100, ID: 20})
	raw := openRaw(t, v.A)

	t.Run("egress", func(t *testing.T) {
		_, err := srv.WriteToUDPAddrPort([]byte("tagged"), netip.AddrPortFrom(emuIP, 7))
		require.NoError(t, err)
		f, tpid, tci, ok := raw.read(t, 2*time.Second)
		require.True(t, ok, "no outer tag in the auxiliary data of % x", f)
		assert.Equal(t, uint16(0x88a8), tpid)
		assert.Equal(t, uint16(10), tci)
		require.Greater(t, len(f), 18+28)
		assert.Equal(t, []byte(emuMAC), f[:6])
		assert.Equal(t, []byte(v.B.MAC), f[6:12])
		assert.Equal(t, []byte{0x81, 0x00, 0x00, 20, 0x08, 0x00}, f[12:18], "inner tag and EtherType")
		assert.Equal(t, "tagged", string(f[18+28:]))
	})

	t.Run("ingress", func(t *testing.T) {
		// The frames are the kit's, built apart from the afpacket package.
		udp := func(tags []testkit.Tag, payload string) []byte {
			return testkit.UDPFrame([6]byte(v.B.MAC), [6]byte(emuMAC), tags,
				netip.AddrPortFrom(emuIP, 7), netip.AddrPortFrom(kernIP, 9000), []byte(payload))
		}
		good := []testkit.Tag{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}}
		for _, bad := range []struct {
			name string
			tags []testkit.Tag
		}{
			{"untagged", nil},
			{"outer only", good[:1]},
			{"inner only", good[1:]},
			{"wrong outer VID", []testkit.Tag{{TPID: 0x88a8, ID: 11}, {TPID: 0x8100, ID: 20}}},
			{"wrong inner VID", []testkit.Tag{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 21}}},
			{"wrong outer TPID", []testkit.Tag{{TPID: 0x8100, ID: 10}, {TPID: 0x8100, ID: 20}}},
			{"one tag too many", []testkit.Tag{{TPID: 0x88a8, ID: 10}, {TPID: 0x8100, ID: 20}, {TPID: 0x8100, ID: 30}}},
		} {
			raw.write(t, udp(bad.tags, bad.name))
		}
		// Priority bits are not part of the match.
		good[1].PCP = 5
		raw.write(t, udp(good, "good"))

		buf := make([]byte, 100)
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(2*time.Second)))
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		require.NoError(t, err)
		assert.Equal(t, "good", string(buf[:n]), "the kernel must get only the frame with the stack")
		assert.Equal(t, netip.AddrPortFrom(emuIP, 7), from)
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		n, _, err = srv.ReadFromUDPAddrPort(buf)
		require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "the kernel got %q", buf[:n])
	})
}
