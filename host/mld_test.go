package host_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// report is one MLD report or done message as gopacket decodes it.
type report struct {
	from    frame.MAC
	src     netip.Addr
	v1      bool
	typ     int                 // ICMPv6 type
	records map[netip.Addr]byte // group: record type (MLDv2); MLDv1: the message type
}

// mldOf decodes p as an MLD report and checks what RFC 3810 asks of every
// one: hop limit 1, the router alert, a link-local or unspecified source,
// and its destination (ff02::16; MLDv1: the group, or ff02::2 for done).
func mldOf(t *testing.T, p gopacket.Packet) report {
	t.Helper()
	ip := ip6Of(p)
	require.NotNil(t, ip)
	assert.Equal(t, uint8(1), ip.HopLimit)
	hbh, ok := p.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
	require.True(t, ok, "a hop-by-hop header: %v", p)
	require.NotEmpty(t, hbh.Options)
	assert.Equal(t, uint8(5), hbh.Options[0].OptionType, "router alert")
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	dst, _ := netip.AddrFromSlice(ip.DstIP)
	assert.True(t, src.IsLinkLocalUnicast() || src.IsUnspecified(), "source %v", src)
	r := report{from: frame.SrcMAC(p.Data()), src: src, typ: icmpType(p), records: map[netip.Addr]byte{}}
	switch l := p.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(type) {
	case *layers.MLDv2MulticastListenerReportMessage:
		assert.Equal(t, frame.AllMLDv2Routers, dst)
		for _, rec := range l.MulticastAddressRecords {
			g, _ := netip.AddrFromSlice(rec.MulticastAddress)
			assert.Zero(t, rec.N)
			r.records[g] = byte(rec.RecordType)
		}
		return r
	}
	r.v1 = true
	m := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6).Payload
	require.Len(t, m, 20, "an MLDv1 message")
	g := netip.AddrFrom16([16]byte(m[4:20]))
	r.records[g] = byte(r.typ)
	if r.typ == int(frame.MLDv1Done) {
		assert.Equal(t, frame.AllRouters, dst)
	} else {
		assert.Equal(t, g, dst)
	}
	return r
}

// reports collects the MLD messages the hosts send within d.
func (w *wire) reports(t *testing.T, d time.Duration) []report {
	t.Helper()
	var out []report
	for _, p := range w.collect(d, isMLD) {
		out = append(out, mldOf(t, p))
	}
	return out
}

// query sends an MLD query from src to dst (all-nodes for a general one)
// for group: MLDv2 unless v1, with the maximum response delay in ms.
func (w *wire) query(src, dst, group netip.Addr, v1 bool, delay uint16) {
	w.send(w.queryFrame(src, dst, group, v1, delay))
}

// queryFrame is the frame query sends: hop limit 1, with the router alert.
func (w *wire) queryFrame(src, dst, group netip.Addr, v1 bool, delay uint16) []byte {
	return w.queryWith(src, dst, group, v1, delay, 1, true)
}

// queryWith is queryFrame with the hop limit and router alert to test.
func (w *wire) queryWith(src, dst, group netip.Addr, v1 bool, delay uint16, hop uint8, ra bool) []byte {
	body := make([]byte, 24, 28)
	body[0] = frame.MLDQuery
	binary.BigEndian.PutUint16(body[4:], delay)
	copy(body[8:], group.AsSlice())
	if !v1 {
		body = append(body, 2, 125, 0, 0) // QRV 2, QQIC 125, no sources
	}
	m, _ := frame.MulticastMAC(dst)
	msg := checksummed6(w.t, src, dst, body)
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	if ra {
		// Hop-by-hop: next header ICMPv6, router alert (MLD), PadN.
		ip.NextHeader = layers.IPProtocolIPv6HopByHop
		msg = append([]byte{58, 0, 5, 2, 0, 0, 1, 0}, msg...)
	}
	return w.frameOf(m, peerMAC, layers.EthernetTypeIPv6, ip, gopacket.Payload(msg))
}

// checksummed6 fills in the ICMPv6 checksum of msg from src to dst.
func checksummed6(t testing.TB, src, dst netip.Addr, msg []byte) []byte {
	msg[2], msg[3] = 0, 0
	c := frame.ICMPChecksum(msg, src, dst)
	msg[2], msg[3] = byte(c>>8), byte(c)
	require.True(t, frame.ICMPChecksumOK(msg, src, dst))
	return msg
}

// TestMLDJoin: a host reports the solicited-node group of each IPv6
// address it adds, from its link-local address, once at once and once
// more within a second (the repeat of both joins in one report); a host
// with NoMLD sends nothing.
func TestMLDJoin(t *testing.T) {
	w := newWire(t, nil)
	w.mld = true
	w.defaultHost(host.Config{})
	w.host(host.Config{MAC: mac(2), NoMLD: true, Addrs: []netip.Prefix{pfx("2001:db8::2/64")}})
	ll := frame.LinkLocal(hostMAC)
	gLL, g6 := frame.SolicitedNode(ll), frame.SolicitedNode(host6)
	rs := w.reports(t, 1500*time.Millisecond)
	require.Len(t, rs, 3, "%+v", rs)
	for _, r := range rs {
		assert.Equal(t, hostMAC, r.from)
		assert.Equal(t, ll, r.src)
	}
	assert.Equal(t, map[netip.Addr]byte{gLL: frame.MLDChangeToExclude}, rs[0].records)
	assert.Equal(t, map[netip.Addr]byte{g6: frame.MLDChangeToExclude}, rs[1].records)
	assert.Equal(t, map[netip.Addr]byte{gLL: frame.MLDChangeToExclude, g6: frame.MLDChangeToExclude}, rs[2].records, "the repeat")
}

// TestMLDQueries: a general query is answered with each host's groups
// within its maximum response delay, a group-specific one by the host in
// the group only; an MLDv1 query is answered in MLDv1, and so are later
// joins and leaves while the MLDv1 querier counts. A query from a source
// that is not link-local, or whose length is neither version's, is
// ignored; a flood of queries makes at most one report a host.
func TestMLDQueries(t *testing.T) {
	w := newWire(t, nil)
	h1 := w.defaultHost(host.Config{})
	w.host(host.Config{MAC: mac(2), Addrs: []netip.Prefix{pfx("2001:db8::2/64")}})
	w.host(host.Config{MAC: mac(3), NoMLD: true, Addrs: []netip.Prefix{pfx("2001:db8::3/64")}})
	w.collect(1200*time.Millisecond, isMLD) // the joins
	w.mld = true
	gLL1, g6 := frame.SolicitedNode(frame.LinkLocal(hostMAC)), frame.SolicitedNode(host6)
	gLL2, g2 := frame.SolicitedNode(frame.LinkLocal(frame.MAC(mac(2)))), frame.SolicitedNode(netip.MustParseAddr("2001:db8::2"))

	t.Run("general", func(t *testing.T) {
		start := time.Now()
		w.query(peerLL, allNode, netip.IPv6Unspecified(), false, 500)
		got := map[frame.MAC]map[netip.Addr]byte{}
		for len(got) < 2 {
			p := w.expect("a report", isMLD)
			assert.Less(t, time.Since(start), 700*time.Millisecond, "within the query's 500 ms, and some slack")
			r := mldOf(t, p)
			got[r.from] = r.records
		}
		assert.Equal(t, map[netip.Addr]byte{gLL1: frame.MLDIsExclude, g6: frame.MLDIsExclude}, got[hostMAC])
		assert.Equal(t, map[netip.Addr]byte{gLL2: frame.MLDIsExclude, g2: frame.MLDIsExclude}, got[frame.MAC(mac(2))])
		assert.Empty(t, w.reports(t, 300*time.Millisecond), "one report a host")
	})
	t.Run("group-specific", func(t *testing.T) {
		w.query(peerLL, g6, g6, false, 200)
		rs := w.reports(t, 600*time.Millisecond)
		require.Len(t, rs, 1, "%+v", rs)
		assert.Equal(t, hostMAC, rs[0].from)
		assert.Equal(t, map[netip.Addr]byte{g6: frame.MLDIsExclude}, rs[0].records)
	})
	t.Run("ignored", func(t *testing.T) {
		before := h1.Stats().Segment.Malformed
		any6 := netip.IPv6Unspecified()
		w.query(peer6, allNode, any6, false, 100) // not link-local
		w.send(w.queryWith(peerLL, allNode, any6, false, 100, 255, true))
		w.send(w.queryWith(peerLL, allNode, any6, false, 100, 1, false))
		// A general query sent to a group only its members see.
		w.query(peerLL, frame.SolicitedNode(netip.MustParseAddr("2001:db8::3")), any6, false, 100)
		assert.Empty(t, w.reports(t, 300*time.Millisecond))
		assert.Equal(t, before+3, h1.Stats().Segment.Malformed)
	})
	t.Run("flood", func(t *testing.T) {
		time.Sleep(time.Second) // the general query budget refills
		before := h1.Stats().Segment.NotForUs
		for range 100 {
			w.query(peerLL, allNode, netip.IPv6Unspecified(), false, 300)
		}
		rs := w.reports(t, 800*time.Millisecond)
		assert.Len(t, rs, 2, "one report a host however many queries")
		assert.GreaterOrEqual(t, h1.Stats().Segment.NotForUs-before, uint64(97), "the queries past the budget")
	})
	t.Run("v1", func(t *testing.T) {
		w.query(peerLL, allNode, netip.IPv6Unspecified(), true, 200)
		rs := w.reports(t, 600*time.Millisecond)
		require.Len(t, rs, 4, "a report a group: %+v", rs)
		for _, r := range rs {
			assert.True(t, r.v1)
			assert.Equal(t, int(frame.MLDv1Report), r.typ)
		}
		// Joins and leaves are MLDv1 too while the MLDv1 querier counts.
		a := pfx("2001:db8::77/64")
		require.NoError(t, h1.AddAddr(a))
		rs = w.reports(t, 1200*time.Millisecond)
		require.NotEmpty(t, rs)
		for _, r := range rs {
			assert.True(t, r.v1)
			assert.Equal(t, byte(frame.MLDv1Report), r.records[frame.SolicitedNode(a.Addr())])
		}
		require.NoError(t, h1.RemoveAddr(a.Addr()))
		rs = w.reports(t, 300*time.Millisecond)
		require.Len(t, rs, 1)
		assert.Equal(t, byte(frame.MLDv1Done), rs[0].records[frame.SolicitedNode(a.Addr())])
	})
}

// TestMLDWithDAD: with Config.DAD a host reports a group before it probes
// the address (from :: while it has no link-local address yet), and twice
// more once the address is its own, from its link-local address.
func TestMLDWithDAD(t *testing.T) {
	w := newWire(t, nil)
	w.mld = true
	done := make(chan *host.Host, 1)
	go func() { done <- w.defaultHost(host.Config{DAD: true}) }()
	ll := frame.LinkLocal(hostMAC)
	gLL, g6 := frame.SolicitedNode(ll), frame.SolicitedNode(host6)
	count := map[netip.Addr]int{}
	var first report
	for _, p := range w.collect(3500*time.Millisecond, func(p gopacket.Packet) bool { return isMLD(p) || isND(135, ll)(p) }) {
		if !isMLD(p) {
			continue
		}
		r := mldOf(t, p)
		if first.records == nil {
			first = r
		}
		for g := range r.records {
			if r.src == ll {
				count[g]++
			}
		}
	}
	<-done
	assert.True(t, first.src.IsUnspecified(), "the first report, before any address: %+v", first)
	assert.Equal(t, map[netip.Addr]byte{gLL: frame.MLDChangeToExclude}, first.records)
	assert.GreaterOrEqual(t, count[gLL], 2, "%v", count)
	assert.GreaterOrEqual(t, count[g6], 2, "%v", count)
}

// TestMLDLeave: removing a host's last address in a group reports leaving
// it (MLDv2: change to include, no sources); one that shares its group
// with another address does not; Close leaves every group.
func TestMLDLeave(t *testing.T) {
	w := newWire(t, nil)
	h := w.defaultHost(host.Config{})
	// 2001:db8:1::1 shares host6's solicited-node group (the low 24 bits).
	other := pfx("2001:db8:1::1/64")
	require.NoError(t, h.AddAddr(other))
	w.collect(1200*time.Millisecond, isMLD)
	w.mld = true
	require.NoError(t, h.RemoveAddr(other.Addr()))
	assert.Empty(t, w.reports(t, 200*time.Millisecond), "the group is still host6's")
	require.NoError(t, h.RemoveAddr(host6))
	rs := w.reports(t, 200*time.Millisecond)
	require.Len(t, rs, 1)
	assert.Equal(t, map[netip.Addr]byte{frame.SolicitedNode(host6): frame.MLDChangeToInclude}, rs[0].records)
	require.NoError(t, h.Close())
	rs = w.reports(t, 200*time.Millisecond)
	require.Len(t, rs, 1)
	assert.Equal(t, map[netip.Addr]byte{frame.SolicitedNode(frame.LinkLocal(hostMAC)): frame.MLDChangeToInclude}, rs[0].records)
}
