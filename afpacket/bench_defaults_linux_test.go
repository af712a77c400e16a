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
// flows, for each receive mode: "default" (adaptive), "frames" (the frame
// ring, the default before it), "socket" (recvmmsg), "kernel" (recvmmsg
// with the kernel's default buffer, the default before
// DefaultReadBufferSize) and "ring" (the block ring). The
// sender is tuned as in (a), so that the receiver is what is measured.
// kdrop% and qdrop% are as in BenchmarkVethRUDP; ups counts the adaptive
// receive's switches up. The last sub-benchmark,
// "targets", reports the default's rate as a share of the best mode's
// (<read>-<flows>-default/best) and 1,000 flows' as a share of one flow's
// (<read>-default-1000/1).
func BenchmarkVethDefaults(b *testing.B) {
	rates := map[string]float64{}
	for _, mode := range []struct {
		name string
		cfg  afpacket.Config
	}{
		{"default", afpacket.Config{}},
		{"frames", afpacket.Config{Receive: afpacket.ReceiveFrameRing}},
		{"socket", afpacket.Config{Receive: afpacket.ReceiveSocket}},
		{"kernel", afpacket.Config{Receive: afpacket.ReceiveSocket, ReadBufferSize: -1}},
		{"ring", afpacket.Config{Ring: &afpacket.RingConfig{}}},
	} {
		for _, read := range []string{"readfrom", "batch"} {
			for _, flows := range []int{1, 1000} {
				lastRate = 0 // stays 0 if -bench leaves the sub-benchmark out
				b.Run(fmt.Sprintf("%s/%s/flows=%d", mode.name, read, flows), func(b *testing.B) {
					benchDefaults(b, flows, read == "batch", mode.cfg)
				})
				rates[fmt.Sprintf("%s/%s-%d", mode.name, read, flows)] = lastRate
			}
		}
	}
	b.Run("targets", func(b *testing.B) {
		for range b.N {
		}
		for _, read := range []string{"readfrom", "batch"} {
			for _, flows := range []int{1, 1000} {
				key := fmt.Sprintf("%s-%d", read, flows)
				best := 0.0
				for _, m := range []string{"default", "frames", "socket", "kernel", "ring"} {
					best = max(best, rates[m+"/"+key])
				}
				ratio(b, rates["default/"+key], best, key+"-default/best")
			}
			ratio(b, rates["default/"+read+"-1000"], rates["default/"+read+"-1"], read+"-default-1000/1")
		}
	})
}

// ratio reports a/b as unit, if both were measured.
func ratio(b *testing.B, x, y float64, unit string) {
	if x > 0 && y > 0 {
		b.ReportMetric(x/y, unit)
	}
}

func benchDefaults(b *testing.B, flows int, batch bool, rcv afpacket.Config) {
	r := benchFlows(b, flows, true, sideOptions{conn: rcv}, func(c *rudp.Conn) func() (int, error) {
		return deadlineReader(c, batch)
	})
	if r.pio.Receive() == afpacket.ReceiveAdaptive {
		up, _ := afpacket.Switches(r.pio)
		b.ReportMetric(float64(up), "ups")
	}
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
