package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ARPLen is the length of an ARP packet for IPv4 over Ethernet (RFC 826):
// 8 bytes of header and two (MAC, IPv4) pairs.
const ARPLen = 28

// ARP operation codes (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ErrBadARP is what ParseARP returns, possibly wrapped, for a packet that
// is not a well-formed IPv4-over-Ethernet ARP request or reply (RFC 826):
// shorter than ARPLen, a hardware type other than Ethernet (1), a protocol
// type other than IPv4 (0x0800), address lengths other than 6 and 4, or an
// operation other than request (1) or reply (2). Linux's arp_rcv and
// arp_process drop the same packets.
var ErrBadARP = errors.New("malformed ARP packet")

// The reasons ParseARP gives, made once so that a drop does not allocate.
var (
	errARPShort = fmt.Errorf("%w: shorter than %d bytes", ErrBadARP, ARPLen)
	errARPType  = fmt.Errorf("%w: not IPv4 over Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4)", ErrBadARP)
	errARPOp    = fmt.Errorf("%w: operation is neither request (1) nor reply (2)", ErrBadARP)
)

// arpPrefix is the fixed start of every IPv4-over-Ethernet ARP packet:
// htype 1 (Ethernet), ptype 0x0800 (IPv4), hlen 6, plen 4.
var arpPrefix = [6]byte{0, 1, 0x08, 0x00, 6, 4}

// ARP is an ARP request or reply for IPv4 over Ethernet (RFC 826).
type ARP struct {
	Op        uint16 // ARPRequest or ARPReply
	SenderMAC MAC
	SenderIP  netip.Addr // IPv4
	TargetMAC MAC
	TargetIP  netip.Addr // IPv4
}

// ParseARP decodes the ARP packet b, the Ethernet payload of a frame of
// EtherType 0x0806, into a. Bytes after the first ARPLen are Ethernet
// padding and are ignored. On error a is left zero and the error wraps
// ErrBadARP.
func ParseARP(b []byte, a *ARP) error {
	*a = ARP{}
	if len(b) < ARPLen {
		return errARPShort
	}
	if [6]byte(b[0:6]) != arpPrefix {
		return errARPType
	}
	op := binary.BigEndian.Uint16(b[6:])
	if op != ARPRequest && op != ARPReply {
		return errARPOp
	}
	a.Op = op
	a.SenderMAC = MAC(b[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	a.TargetMAC = MAC(b[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

// PutARP writes a as an IPv4-over-Ethernet ARP packet into b[:ARPLen] and
// returns ARPLen, or 0 without writing anything when b is shorter than that.
// A sender or target address that is not IPv4 (IPv4-mapped IPv6 counts as
// IPv4, as in PutUDP) is written as 0.0.0.0, which is what an ARP probe
// (RFC 5227) carries as its sender address. a.Op is written as given.
func PutARP(b []byte, a *ARP) int {
	if len(b) < ARPLen {
		return 0
	}
	copy(b[0:6], arpPrefix[:])
	binary.BigEndian.PutUint16(b[6:], a.Op)
	copy(b[8:14], a.SenderMAC[:])
	putIPv4OrZero(b[14:18], a.SenderIP)
	copy(b[18:24], a.TargetMAC[:])
	putIPv4OrZero(b[24:28], a.TargetIP)
	return ARPLen
}

// putIPv4OrZero writes ip into b[:4] if it is IPv4 (or IPv4-mapped), zeros
// otherwise.
func putIPv4OrZero(b []byte, ip netip.Addr) {
	var a4 [4]byte
	if ip = ip.Unmap(); ip.Is4() {
		a4 = ip.As4()
	}
	copy(b, a4[:])
}
