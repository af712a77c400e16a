//go:build linux

package netns

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// SendUDPGSO sends payload from src to dst in one send from a kernel UDP
// socket in the namespace with UDP_SEGMENT set to size (UDP generic
// segmentation offload, what quic-go uses): len(payload)/size datagrams,
// rounded up, that a virtual link such as a veth carries as one merged
// super-frame, and a packet socket on its other end receives as one.
// network is "udp4" or "udp6"; a zero port in src picks one.
func (ns *NS) SendUDPGSO(network string, src, dst netip.AddrPort, payload []byte, size int) error {
	c, err := ns.ListenUDP(network, src)
	if err != nil {
		return err
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, size)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netns: setsockopt UDP_SEGMENT %d: %w", size, serr)
	}
	n, err := c.WriteToUDPAddrPort(payload, dst)
	if err == nil && n != len(payload) {
		err = fmt.Errorf("netns: sent %d of %d bytes", n, len(payload))
	}
	return err
}
