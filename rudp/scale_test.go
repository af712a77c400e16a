package rudp_test

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// BenchmarkRegister100k measures what one emulated subscriber costs: an
// etherconn.Conn (MAC + VLAN 100, default EtherTypes) and a rudp.Conn on it,
// 100,000 times on one relay.
func BenchmarkRegister100k(b *testing.B) {
	const n = 100_000
	vlans := frame.VLANs{{ID: 100}}
	for i := 0; i < b.N; i++ {
		pa, _ := memio.Pipe(memio.Config{})
		r := relay.New(pa, relay.Config{})
		ecs := make([]*etherconn.Conn, n)
		ucs := make([]*rudp.Conn, n)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		for j := 0; j < n; j++ {
			mac := net.HardwareAddr{0x02, 0x01, 0, byte(j >> 16), byte(j >> 8), byte(j)}
			ec, err := etherconn.New(r, etherconn.Config{MAC: mac, VLANs: vlans})
			if err != nil {
				b.Fatal(err)
			}
			ip := netip.AddrFrom4([4]byte{198, 18, byte(j >> 8), byte(j)})
			uc, err := rudp.New(ec, rudp.Config{LocalAddr: netip.AddrPortFrom(ip, 68)})
			if err != nil {
				b.Fatal(err)
			}
			ecs[j], ucs[j] = ec, uc
		}
		elapsed := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(elapsed.Seconds(), "s/100k")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/endpoint")
		runtime.KeepAlive(ecs)
		runtime.KeepAlive(ucs)
		r.Close()
	}
}

func BenchmarkWriteToReadFrom(b *testing.B) {
	ha, hb := newHosts(b)
	ca, cb := mustConn(b, ha.ec, "198.18.0.1:1000"), mustConn(b, hb.ec, "198.18.0.2:2000")
	payload := make([]byte, 64)
	buf := make([]byte, 1500)
	dst := cb.LocalAddr()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ca.WriteTo(payload, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := cb.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkThroughput streams 64-byte datagrams from one goroutine to a
// reader on the other relay, as fast as the reader keeps up.
func BenchmarkThroughput(b *testing.B) {
	ha, hb := newHosts(b)
	ca, cb := mustConn(b, ha.ec, "198.18.0.1:1000"), mustConn(b, hb.ec, "198.18.0.2:2000")
	payload := make([]byte, 64)
	dst := cb.LocalAddrPort()
	done := make(chan int)
	go func() {
		buf := make([]byte, 1500)
		got := 0
		for {
			cb.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := cb.ReadFromUDPAddrPort(buf); err != nil {
				done <- got
				return
			}
			got++
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ca.WriteToUDPAddrPort(payload, dst); err != nil {
			b.Fatal(err)
		}
	}
	got := <-done
	b.StopTimer()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "delivered-pkts/s")
	b.ReportMetric(100*float64(got)/float64(b.N), "%delivered")
}
