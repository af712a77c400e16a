package etherconn_test

import (
	"fmt"
	"net"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

// An endpoint with a QinQ stack sends a raw Ethernet payload with its own
// EtherType to another; the receiver learns the sender's MAC and tags.
func Example() {
	a, b := memio.Pipe(memio.Config{})
	ra, rb := relay.New(a, relay.Config{}), relay.New(b, relay.Config{})
	defer ra.Close()
	defer rb.Close()

	const etherType = 0x88b5 // local experimental
	vlans, _ := frame.ParseVLANs("0x88a8:100.200")
	macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ca, _ := etherconn.New(ra, etherconn.Config{MAC: macA, VLANs: vlans, EtherTypes: []uint16{etherType}})
	cb, _ := etherconn.New(rb, etherconn.Config{MAC: macB, VLANs: vlans, EtherTypes: []uint16{etherType}})

	ca.WriteToMAC([]byte("raw payload"), macB, etherType)

	buf := make([]byte, 1500)
	cb.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := cb.ReadFrom(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s from %v\n", buf[:n], from)
	// Output: raw payload from 02:00:00:00:00:0a%0x88a8:100.200#0x88b5
}

// echoLayer is a protocol layer of its own on the public seam: it takes the
// frames of EtherType 0x88b6 on the goroutine that reads the backend and
// answers each with its payload reversed, built in place with NewFrame.
type echoLayer struct{ c *etherconn.Conn }

func (e echoLayer) Handle(p *relay.Packet) bool {
	in := p.Payload()
	f := e.c.NewFrame(frame.SrcMAC(p.Frame()), 0x88b6)
	out := f.Payload()
	for i, b := range in {
		out[len(in)-1-i] = b
	}
	_ = e.c.WriteFrame(f.Bytes(len(in))) // a handler must not block: no retry
	f.Release()
	return true // taken: it does not reach the Conn's own queue
}

// A layer attaches to a Conn for a Protocol; what it does not take still
// reaches ReadFrom.
func ExampleConn_Attach() {
	a, b := memio.Pipe(memio.Config{})
	ra, rb := relay.New(a, relay.Config{}), relay.New(b, relay.Config{})
	defer ra.Close()
	defer rb.Close()
	macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ets := []uint16{0x88b6}
	server, _ := etherconn.New(ra, etherconn.Config{MAC: macA, EtherTypes: ets})
	client, _ := etherconn.New(rb, etherconn.Config{MAC: macB, EtherTypes: ets})
	if err := server.Attach(etherconn.Protocol{EtherType: 0x88b6}, echoLayer{server}); err != nil {
		panic(err)
	}

	client.WriteToMAC([]byte("stressed"), macA, 0x88b6)
	buf := make([]byte, 1500)
	client.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := client.ReadFrom(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", buf[:n])
	// Output: desserts
}
