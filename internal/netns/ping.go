package netns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// PingSweep sends one ICMP echo request from src (an address of the
// namespace) to each of dsts through a raw socket of the namespace's
// kernel, which resolves each by ARP itself, and returns the ones that
// did not answer within timeout. It paces itself: the kernel queues little
// per neighbour it is resolving.
func (ns *NS) PingSweep(t testing.TB, src netip.Addr, dsts []netip.Addr, timeout time.Duration) (missing []netip.Addr) {
	t.Helper()
	pc, err := ns.ListenPacket("ip4:icmp", src.String())
	if err != nil {
		t.Fatalf("netns: ping sweep from %v: %v", src, err)
	}
	defer pc.Close()
	want := make(map[netip.Addr]bool, len(dsts))
	for _, a := range dsts {
		want[a] = true
	}
	got := make(map[netip.Addr]bool, len(dsts))
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		_ = pc.SetReadDeadline(time.Now().Add(timeout))
		for len(got) < len(want) {
			m, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := icmp.ParseMessage(1, buf[:m])
			if err != nil || msg.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if a, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP.To4()); ok && want[a] {
				got[a] = true
			}
		}
	}()
	for i, a := range dsts {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 7, Seq: i, Data: []byte("sweep")}}
		b, err := msg.Marshal(nil)
		if err == nil {
			_, err = pc.WriteTo(b, &net.IPAddr{IP: a.AsSlice()})
		}
		if err != nil {
			t.Errorf("netns: ping %v: %v", a, err)
		}
		if i%100 == 99 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	<-done
	for _, a := range dsts {
		if !got[a] {
			missing = append(missing, a)
		}
	}
	return missing
}
