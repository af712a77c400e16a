//go:build linux

package netns_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/etherconn/etherconn/internal/netns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
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

// ipv4UDP returns an IPv4/UDP packet from src:srcPort to dst:dstPort, with
// the UDP checksum left out (0), which IPv4 allows.
func ipv4UDP(src, dst netip.Addr, srcPort, dstPort uint16, payload string) []byte {
	p := make([]byte, 28, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(p[2:], uint16(28+len(payload)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], srcPort)
	binary.BigEndian.PutUint16(p[22:], dstPort)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	return append(p, payload...)
}

// ethernet returns a frame with the tags (TPID, TCI pairs, outermost
// first) and IPv4 packet p.
func ethernet(dst, src net.HardwareAddr, tags [][2]uint16, p []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, tag := range tags {
		f = binary.BigEndian.AppendUint16(f, tag[0])
		f = binary.BigEndian.AppendUint16(f, tag[1])
	}
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_IP)
	return append(f, p...)
}

// TestTagVLANs checks TagVLANs against the kernel alone: a raw socket on the
// peer sees the kernel's datagrams with the QinQ stack, the outer tag as
// metadata in PACKET_AUXDATA and the inner one in the data, as a VLAN
// sub-interface on a veth sends them; and the kernel's socket receives a
// datagram only if it came with exactly that stack.
func TestTagVLANs(t *testing.T) {
	t.Parallel()
	v := netns.NewVeth(t, nil)
	emuMAC := netns.RandomMAC()
	emuIP, kernIP := netns.IPv4(1), netns.IPv4(2)
	v.B.AddAddr(t, netip.PrefixFrom(kernIP, 24))
	v.B.AddNeighbor(t, emuIP, emuMAC)
	v.B.TagVLANs(t, netns.VLANTag{TPID: 0x88a8, ID: 10}, netns.VLANTag{TPID: 0x8100, ID: 20})
	raw := openRaw(t, v.A)
	srv, err := v.B.NS.ListenUDP("udp4", netip.AddrPortFrom(kernIP, 9000))
	require.NoError(t, err)
	defer srv.Close()

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
		good := [][2]uint16{{0x88a8, 10}, {0x8100, 20}}
		for _, bad := range []struct {
			name string
			tags [][2]uint16
		}{
			{"untagged", nil},
			{"outer only", good[:1]},
			{"inner only", good[1:]},
			{"wrong outer VID", [][2]uint16{{0x88a8, 11}, {0x8100, 20}}},
			{"wrong inner VID", [][2]uint16{{0x88a8, 10}, {0x8100, 21}}},
			{"wrong outer TPID", [][2]uint16{{0x8100, 10}, {0x8100, 20}}},
			{"one tag too many", [][2]uint16{{0x88a8, 10}, {0x8100, 20}, {0x8100, 30}}},
		} {
			raw.write(t, ethernet(v.B.MAC, emuMAC, bad.tags, ipv4UDP(emuIP, kernIP, 7, 9000, bad.name)))
		}
		// Priority bits are not part of the match.
		good[1][1] |= 5 << 13
		raw.write(t, ethernet(v.B.MAC, emuMAC, good, ipv4UDP(emuIP, kernIP, 7, 9000, "good")))

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
