package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
)

// RandomMAC returns a random locally administered unicast MAC address
// (first octet 02).
func RandomMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	_, _ = rand.Read(m[1:])
	m[0] = 0x02
	return m
}

// IPv4 returns host i (1 to 131070) of the benchmarking range 198.18.0.0/15.
// Other values are brought into range.
func IPv4(i int) netip.Addr {
	const hosts = 1<<17 - 2
	i = ((i-1)%hosts+hosts)%hosts + 1
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
}

// IPv6 returns 2001:db8::i from the documentation range 2001:db8::/32.
func IPv6(i int) netip.Addr {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	u := uint64(i)
	for k := 0; k < 8; k++ {
		a[15-k] = byte(u >> (8 * k))
	}
	return netip.AddrFrom16(a)
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errUnsupported says the harness needs Linux.
var errUnsupported = errors.New("network namespaces need Linux")

// errNoTCX marks the errors of attachVLANTagger that mean this kernel or
// process cannot load or attach the programs, as opposed to a bug in them.
var errNoTCX = errors.New("eBPF TCX programs unavailable")
