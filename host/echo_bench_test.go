package host_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/host"
)

// BenchmarkEchoAnswer: echo requests to one host, written on the wire end
// of a memio pipe in bursts of 64 and their replies read back there; one
// op is one request answered. The cases: a plain IPv4 ping, one with
// ping -R's record route (the reply's options built), and IPv6.
func BenchmarkEchoAnswer(b *testing.B) {
	rr := []layers.IPv4Option{{OptionType: 7, OptionLength: 39, OptionData: make([]byte, 37)}}
	rr[0].OptionData[0] = 4
	for _, c := range []struct {
		name string
		req  func(w *wire) []byte
	}{
		{"ipv4", func(w *wire) []byte { return w.echo(hostMAC, peer4, host4, 1, 2, make([]byte, 56)) }},
		{"ipv4-record-route", func(w *wire) []byte { return w.echoWith(peer4, host4, 0, rr, make([]byte, 56)) }},
		{"ipv6", func(w *wire) []byte { return w.echo(hostMAC, peer6, host6, 1, 2, make([]byte, 56)) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWire(b, nil)
			w.defaultHost(host.Config{EchoRate: 1 << 30, NoMLD: true})
			const burst = 64
			reqs := make([][]byte, burst)
			for i := range reqs {
				reqs[i] = c.req(w)
			}
			buf := make([]byte, 2048)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(burst, b.N-done)
				if _, err := w.end.WriteFrames(reqs[:k]); err != nil {
					b.Fatal(err)
				}
				if err := w.end.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
					b.Fatal(err)
				}
				for range k {
					if _, err := w.end.ReadFrame(buf); err != nil {
						b.Fatal(err)
					}
				}
				done += k
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
