package host_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// TestDAD: with Config.DAD, AddAddr fails with ErrDuplicate when the
// station at the other end of the wire answers the probe, uses the
// address, or probes it too (RFC 5227 §2.1.1, RFC 4862 §5.4.3-5.4.4); a
// station that merely resolves the tentative address is not a conflict,
// and is not answered while the address is tentative. Hosts of one segment
// cannot hold the same address, so the conflicting station is played by
// the test.
func TestDAD(t *testing.T) {
	a4 := netip.MustParseAddr("198.18.0.7")
	a6 := netip.MustParseAddr("2001:db8::7")
	zero4 := netip.IPv4Unspecified()
	allMAC, _ := frame.MulticastMAC(allNode)
	for _, c := range []struct {
		name     string
		addr     netip.Addr
		reaction func(w *wire) []byte // sent on seeing the probe
		dup      bool
	}{
		{"v4 reply to the probe, unicast", a4, func(w *wire) []byte {
			return w.arp(hostMAC, layers.ARPReply, peerMAC, a4, hostMAC, zero4)
		}, true},
		{"v4 reply to the probe, broadcast", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPReply, peerMAC, a4, hostMAC, zero4)
		}, true},
		{"v4 announcement", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, a4, frame.MAC{}, a4)
		}, true},
		{"v4 request from the address", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, a4, frame.MAC{}, peer4)
		}, true},
		{"v4 probe of the address", a4, func(w *wire) []byte {
			return w.arp(frame.BroadcastMAC, layers.ARPRequest, peerMAC, zero4, frame.MAC{}, a4)
		}, true},
		{"v4 request for the address", a4, func(w *wire) []byte { return w.arpRequest(a4) }, false},
		{"v6 NA to all nodes", a6, func(w *wire) []byte { return w.na(allMAC, peer6, allNode, 0x20, a6) }, true},
		{"v6 NA unicast", a6, func(w *wire) []byte { return w.na(hostMAC, peer6, a6, 0x20, a6) }, true},
		{"v6 DAD of the address", a6, func(w *wire) []byte {
			sn := frame.SolicitedNode(a6)
			m, _ := frame.MulticastMAC(sn)
			return w.icmp6(m, netip.IPv6Unspecified(), sn, 255, 135, 0, nsBody(a6))
		}, true},
		{"v6 NS for the address", a6, func(w *wire) []byte { return w.ns(a6) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWire(t, nil)
			h := w.host(host.Config{MAC: mac(1), DAD: true, NoLinkLocal: true})
			done := make(chan error, 1)
			go func() { done <- h.AddAddr(prefixOf(c.addr)) }()
			if c.addr.Is4() {
				w.expect("ARP probe", isARP(layers.ARPRequest, c.addr))
			} else {
				w.expect("DAD NS", isND(135, c.addr))
			}
			w.send(c.reaction(w))
			err := <-done
			// Nothing answered for the tentative address.
			w.none("an answer", anyFrame)
			if !c.dup {
				require.NoError(t, err)
				assert.True(t, h.HasAddr(c.addr))
				assert.Zero(t, h.Stats().Duplicates)
				assert.Zero(t, h.Stats().ARPAnswered+h.Stats().NDAnswered)
				return
			}
			require.ErrorIs(t, err, host.ErrDuplicate)
			assert.False(t, h.HasAddr(c.addr))
			assert.Equal(t, uint64(1), h.Stats().Duplicates)
			// Not answered afterwards either.
			if c.addr.Is4() {
				w.send(w.arpRequest(c.addr))
			} else {
				w.send(w.ns(c.addr))
			}
			w.none("an answer for the duplicate", anyFrame)
		})
	}
	t.Run("held by another host", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		h := w.host(host.Config{MAC: mac(2), DAD: true, NoLinkLocal: true})
		assert.ErrorIs(t, h.AddAddr(netip.PrefixFrom(host4, 24)), host.ErrAddrInUse)
	})
}
