//go:build linux

package afpacket_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/rudp"
)

// BenchmarkVethDefaults is (a) as applications are written: the receiving
// side has default relay, etherconn, rudp and afpacket settings, and each
// of its endpoints is read by its own goroutine that sets a read deadline
// before every read (ReadFromUDPAddrPort, or ReadBatch), with 1 and 1,000
// flows. The sender is tuned as in (a), so that the receiver is what is
// measured. kdrop% and qdrop% are as in BenchmarkVethRUDP.
func BenchmarkVethDefaults(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"default", afpacket.Config{}},
		{"kernel", afpacket.Config{ReadBufferSize: -1}}, // rmem_default, the default before DefaultReadBufferSize
		{"ring", afpacket.Config{Ring: &afpacket.RingConfig{}}},
	} {
		for _, batch := range []bool{false, true} {
			read := "readfrom"
			if batch {
				read = "batch"
			}
			for _, flows := range []int{1, 1000} {
				b.Run(fmt.Sprintf("%s/%s/flows=%d", mode.name, read, flows), func(b *testing.B) {
					benchDefaults(b, flows, batch, mode.cfg)
				})
			}
		}
	}
}

func benchDefaults(b *testing.B, flows int, batch bool, rcv afpacket.Config) {
	benchFlows(b, flows, true, sideOptions{conn: rcv}, func(c *rudp.Conn) func() (int, error) {
		return deadlineReader(c, batch)
	})
}

// deadlineReader reads c one datagram a ReadFromUDPAddrPort, or a batch a
// ReadBatch, setting a read deadline a second ahead before each read; a
// read that times out is no error.
func deadlineReader(c *rudp.Conn, batch bool) func() (int, error) {
	buf := make([]byte, 2048)
	ms := make([]rudp.Message, rudp.MaxBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, 128)
	}
	return func() (int, error) {
		if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return 0, err
		}
		var n int
		var err error
		if batch {
			n, err = c.ReadBatch(ms)
		} else {
			_, _, err = c.ReadFromUDPAddrPort(buf)
			n = 1
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil
		}
		return n, err
	}
}
