package memio_test

import (
	"fmt"

	"github.com/etherconn/etherconn/memio"
)

func ExamplePipe() {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	defer b.Close()

	frame := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
		0x88, 0xb5, // EtherType: local experimental
		'h', 'i',
	}
	if err := a.WriteFrame(frame); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 1514)
	n, err := b.ReadFrame(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes, payload %q\n", n, buf[14:n])
	// Output: 16 bytes, payload "hi"
}

func ExampleSwitch() {
	sw := memio.NewSwitch(memio.Config{})
	defer sw.Close()
	var ports [3]*memio.Port
	for i := range ports {
		p, err := sw.AddPort()
		if err != nil {
			fmt.Println(err)
			return
		}
		ports[i] = p
	}
	mac := func(last byte) []byte { return []byte{0x02, 0, 0, 0, 0, last} }
	send := func(from int, dst, src []byte) {
		f := append(append(append([]byte{}, dst...), src...), 0x88, 0xb5)
		if err := ports[from].WriteFrame(f); err != nil {
			fmt.Println(err)
		}
		fmt.Printf("port %d → queued %d %d %d\n", from, ports[0].Queued(), ports[1].Queued(), ports[2].Queued())
	}

	send(0, mac(2), mac(1)) // 02:..:02 is unknown: flooded
	send(1, mac(1), mac(2)) // 02:..:01 was learned on port 0
	send(0, mac(2), mac(1)) // now 02:..:02 is known too
	// Output:
	// port 0 → queued 0 1 1
	// port 1 → queued 1 1 1
	// port 0 → queued 1 2 1
}

func ExampleFaults() {
	a, b := memio.Pipe(memio.Config{Faults: memio.Faults{Seed: 1, Reorder: 1}})
	defer a.Close()
	defer b.Close()
	for seq := range byte(4) {
		_ = a.WriteFrame([]byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x88, 0xb5, seq})
	}
	buf := make([]byte, 64)
	for b.Queued() > 0 {
		n, _ := b.ReadFrame(buf)
		fmt.Print(buf[n-1], " ")
	}
	fmt.Println()
	// Output: 1 0 3 2
}
