package frame_test

import (
	"fmt"

	"github.com/etherconn/etherconn/frame"
)

func ExampleParseVLANs() {
	for _, text := range []string{"100", "100|200", "0x88a8:100.200", "100/p5/dei", "4096"} {
		v, err := frame.ParseVLANs(text)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%d tags: %v\n", len(v), v)
	}
	// Output:
	// 1 tags: 100
	// 2 tags: 100.200
	// 2 tags: 0x88a8:100.200
	// 1 tags: 100/p5/dei
	// error: invalid VLAN: "4096": VID "4096" is not a number from 0 to 4095
}
