package frametest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Payload is the UDP payload the tests give row i of IPOptions, so that a
// receiver can tell the rows apart.
func Payload(i int) []byte { return []byte(fmt.Sprintf("row %d", i)) }

// Last is the payload of a datagram sent after all the rows: once it has
// arrived, the rows sent before it have had their chance.
const Last = "last"

// Plain returns the table's row without IPv4 options (v6 false) or without
// IPv6 extension headers (v6 true), for the Last datagram.
func Plain(v6 bool) Case {
	for _, c := range IPOptions() {
		if c.IPv6 == v6 && len(c.opts) == 0 && len(c.chain) == 0 {
			return c
		}
	}
	panic("frametest: no plain row")
}

// ReceiveAll reads datagrams from pc until Last has arrived and then none
// for quiet (on links that may reorder frames; 0 on ordered ones), and
// returns the payloads read. It fails if Last has not come within wait.
func ReceiveAll(pc net.PacketConn, wait, quiet time.Duration) (map[string]bool, error) {
	got := map[string]bool{}
	buf := make([]byte, 2048)
	end := time.Now().Add(wait)
	for {
		deadline := end
		if got[Last] {
			if quiet == 0 {
				return got, nil
			}
			deadline = time.Now().Add(quiet)
		}
		if err := pc.SetReadDeadline(deadline); err != nil {
			return got, err
		}
		n, _, err := pc.ReadFrom(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && got[Last]:
			return got, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return got, fmt.Errorf("frametest: the last datagram did not arrive within %v", wait)
		case err != nil:
			return got, err
		}
		got[string(buf[:n])] = true
	}
}
