package rudp_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// Two emulated hosts on VLAN 100, one on each end of an in-memory cable,
// exchange a UDP datagram. With afpacket.Open instead of memio.Pipe the same
// code runs on a real interface.
func Example() {
	a, b := memio.Pipe(memio.Config{})
	ra, rb := relay.New(a, relay.Config{}), relay.New(b, relay.Config{})
	defer ra.Close()
	defer rb.Close()

	vlans, _ := frame.ParseVLANs("100")
	macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ecA, _ := etherconn.New(ra, etherconn.Config{MAC: macA, VLANs: vlans})
	ecB, _ := etherconn.New(rb, etherconn.Config{MAC: macB, VLANs: vlans})

	// The resolver stands in for ARP: every destination is host B.
	toB := func(netip.Addr) (net.HardwareAddr, error) { return macB, nil }
	client, err := rudp.New(ecA, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:68"), Resolve: toB})
	if err != nil {
		panic(err)
	}
	server, err := rudp.New(ecB, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.2:67")})
	if err != nil {
		panic(err)
	}

	var pc net.PacketConn = client // a net.PacketConn like any other
	pc.WriteTo([]byte("hello"), server.LocalAddr())

	buf := make([]byte, 1500)
	server.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := server.ReadFrom(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s from %v\n", buf[:n], from)
	// Output: hello from 198.18.0.1:68
}

// Several UDP sockets share one emulated endpoint; a DHCP server would bind
// 0.0.0.0:67 to hear requests to any address.
func ExampleNew_shared() {
	a, b := memio.Pipe(memio.Config{})
	ra, rb := relay.New(a, relay.Config{}), relay.New(b, relay.Config{})
	defer ra.Close()
	defer rb.Close()
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ecA, _ := etherconn.New(ra, etherconn.Config{MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}})
	ecB, _ := etherconn.New(rb, etherconn.Config{MAC: macB})

	dhcp, _ := rudp.New(ecB, rudp.Config{LocalAddr: netip.MustParseAddrPort("0.0.0.0:67")})
	dns, _ := rudp.New(ecB, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.2:53")})
	_, err := rudp.New(ecB, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.2:53")})
	fmt.Println(err)

	toB := func(netip.Addr) (net.HardwareAddr, error) { return macB, nil }
	client, _ := rudp.New(ecA, rudp.Config{LocalAddr: netip.MustParseAddrPort("198.18.0.1:5000"), Resolve: toB})
	client.WriteToUDPAddrPort([]byte("query"), netip.MustParseAddrPort("198.18.0.2:53"))
	client.WriteToUDPAddrPort([]byte("discover"), netip.MustParseAddrPort("198.18.0.255:67"))

	buf := make([]byte, 100)
	for _, c := range []*rudp.Conn{dns, dhcp} {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, _ := c.ReadFrom(buf)
		fmt.Printf("%v got %s\n", c.LocalAddr(), buf[:n])
	}
	// Output:
	// rudp: new 198.18.0.2:53: rudp: local address already bound on this etherconn.Conn
	// 198.18.0.2:53 got query
	// 0.0.0.0:67 got discover
}
