package relay_test

import (
	"fmt"
	"net"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

// A relay demultiplexes one backend to its endpoints; a mirroring default
// endpoint sees every frame too, as a sniffer would, and the counters tell
// what happened.
func Example() {
	wire, port := memio.Pipe(memio.Config{})
	defer wire.Close()
	r := relay.New(port, relay.Config{})
	defer r.Close()

	sniffer, _ := r.RegisterDefault(relay.DefaultEndpointConfig{Mirror: true})
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	ec, _ := etherconn.New(r, etherconn.Config{MAC: mac, EtherTypes: []uint16{0x88b5}})

	// Two frames arrive from the wire: one for the endpoint, one for nobody.
	for _, dst := range []net.HardwareAddr{mac, {0x02, 0, 0, 0, 0, 9}} {
		f := make([]byte, 60)
		copy(f, dst)
		copy(f[6:], []byte{0x02, 0, 0, 0, 0, 2})
		f[12], f[13] = 0x88, 0xb5
		wire.WriteFrame(f)
	}

	ec.SetReadDeadline(time.Now().Add(time.Second))
	n, from, _ := ec.ReadFrom(make([]byte, 100))
	fmt.Printf("endpoint got %d bytes from %v\n", n, from)
	sniffer.SetReadDeadline(time.Now().Add(time.Second))
	for range 2 {
		p, _ := sniffer.Read()
		fmt.Printf("sniffer saw a frame to %v\n", net.HardwareAddr(p.Frame()[:6]))
		p.Release()
	}
	st := r.Stats()
	fmt.Printf("in %d, delivered %d, misses %d\n", st.FramesIn, st.Delivered, st.Misses)
	// Output:
	// endpoint got 46 bytes from 02:00:00:00:00:02#0x88b5
	// sniffer saw a frame to 02:00:00:00:00:01
	// sniffer saw a frame to 02:00:00:00:00:09
	// in 2, delivered 3, misses 0
}
