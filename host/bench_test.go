package host_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// benchAddr4 is host i's IPv4 address: 198.18.0.0/15 from 198.18.0.1 on.
func benchAddr4(i int) netip.Addr {
	v := (uint32(198)<<24 | uint32(18)<<16) + uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// benchAddr6 is host i's IPv6 address: 2001:db8::/64 from ::1 on.
func benchAddr6(i int) netip.Addr {
	v := uint32(i) + 1
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(v >> 24), 13: byte(v >> 16), 14: byte(v >> 8), 15: byte(v)})
}

// benchAsker is the station that asks: on the hosts' prefix, beyond their
// addresses (asking from a host's address would be a conflict).
var benchAsker = netip.MustParseAddr("198.19.255.254")

func benchMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x01, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// benchHost is host i of a benchmark: one IPv4 and one IPv6 address, and
// the link-local one.
func benchHost(tb testing.TB, w *wire, i int) *host.Host {
	h, err := host.New(w.r, host.Config{MAC: benchMAC(i), VLANs: w.vl,
		Addrs: []netip.Prefix{netip.PrefixFrom(benchAddr4(i), 15), netip.PrefixFrom(benchAddr6(i), 64)}})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// BenchmarkARPAnswer: broadcast ARP requests for random hosts among 1,
// 1,000 and 50,000 on one VLAN, written on the wire end of a memio pipe in
// bursts of 64 and their replies read back there. One op is one request
// answered; the segment finds its host in one map lookup, so the rate
// should not depend on the number of hosts.
func BenchmarkARPAnswer(b *testing.B) {
	// Each population is made once and closed with the parent: a
	// sub-benchmark's function runs more than once (b.N = 1 first).
	parent := b
	wires := map[int]*wire{}
	for _, n := range []int{1, 1000, 50000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			w := wires[n]
			if w == nil {
				w = newWire(parent, frame.VLANs{{ID: 100}})
				hosts := make([]*host.Host, n)
				for i := range hosts {
					hosts[i] = benchHost(b, w, i)
				}
				parent.Cleanup(func() {
					for _, h := range hosts {
						h.Close()
					}
				})
				wires[n] = w
			}
			const burst = 64
			reqs := make([][]byte, burst)
			for i := range reqs {
				reqs[i] = w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, benchAsker, frame.MAC{}, benchAddr4(0))
			}
			// The target address sits at the end of the request (the ARP
			// packet is padded to 46 bytes after the 4-byte VLAN tag).
			tpa := 14 + 4 + 24
			targets := make([]netip.Addr, burst)
			buf := make([]byte, 2048)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(burst, b.N-done)
				for j := range k {
					targets[j] = benchAddr4(rand.IntN(n))
					a := targets[j].As4()
					copy(reqs[j][tpa:], a[:])
				}
				if _, err := w.end.WriteFrames(reqs[:k]); err != nil {
					b.Fatal(err)
				}
				if err := w.end.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
					b.Fatal(err)
				}
				for j := range k {
					m, err := w.end.ReadFrame(buf)
					if err != nil {
						b.Fatal(err)
					}
					// The reply's sender address: ARP offset 18, +14.
					if m < 18+18 || netip.AddrFrom4([4]byte(buf[18+14:18+18])) != targets[j] {
						b.Fatalf("reply %d of the burst is not for %v: % x", j, targets[j], buf[:m])
					}
				}
				done += k
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkCreateHosts: making b.N hosts on one relay and VLAN stack, each
// with an IPv4 and an IPv6 address (and its link-local one) and a UDP
// socket (ListenUDP). One op is one host; bytes/host is the live heap they
// add (HeapAlloc after GC, over b.N), bytes/host-settled the same 1.2 s
// later, once the repeats of their MLD joins have gone. Run with
// -benchtime 50000x for the population of 50,000.
func BenchmarkCreateHosts(b *testing.B) {
	w := newWire(b, frame.VLANs{{ID: 100}})
	// The wire takes what the hosts send (their MLD joins), as a link
	// would, instead of holding it in the pipe's queue.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 2048)
		for {
			if _, err := w.end.ReadFrame(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	b.Cleanup(func() { w.end.Close(); <-drained })
	hosts := make([]*host.Host, 0, b.N)
	b.Cleanup(func() {
		for _, h := range hosts {
			h.Close()
		}
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := benchHost(b, w, i)
		if _, err := h.ListenUDP(netip.AddrPortFrom(benchAddr4(i), 68)); err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "bytes/host")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hosts/s")
	time.Sleep(1200 * time.Millisecond)
	runtime.GC()
	runtime.GC() // and what sync.Pools kept of the frames sent, in their victim caches
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "bytes/host-settled")
	runtime.KeepAlive(hosts)
}
