package host_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"

	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/host"
)

// echoWith returns an echo request frame from the station to dst whose
// IP header has TOS (traffic class) tos and, in IPv4, the options opts
// (padded by gopacket).
func (w *wire) echoWith(src, dst netip.Addr, tos uint8, opts []layers.IPv4Option, data []byte) []byte {
	if src.Is4() {
		msg := icmpMsg(w.t, src, dst, 8, 0, &icmp.Echo{ID: 9, Seq: 1, Data: data})
		return w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv4, &layers.IPv4{Version: 4, TTL: 64, TOS: tos,
			Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Options: opts}, gopacket.Payload(msg))
	}
	msg := icmpMsg(w.t, src, dst, 128, 0, &icmp.Echo{ID: 9, Seq: 1, Data: data})
	return w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv6, &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: tos,
		NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}, gopacket.Payload(msg))
}

// optionOf returns p's IPv4 option of type typ, or nil.
func optionOf(p gopacket.Packet, typ uint8) *layers.IPv4Option {
	for i, o := range ip4Of(p).Options {
		if o.OptionType == typ {
			return &ip4Of(p).Options[i]
		}
	}
	return nil
}

// addrsIn returns the addresses in record route data d (after the
// pointer) up to the pointer ptr.
func addrsIn(d []byte, ptr int) []netip.Addr {
	var out []netip.Addr
	for i := 1; i+4 <= len(d) && i+4 <= ptr-3; i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(d[i:i+4])))
	}
	return out
}

// TestEchoReplyIPHeader: the IP header of an echo reply is what Linux
// sends (icmp_reply, icmpv6_echo_reply): the request's TOS or traffic
// class; in IPv4 an identification of its own for each reply (DF is
// clear), and the request's record route and timestamp options with the
// host recorded as the request came and as the reply left (RFC 1122
// §3.2.2.6), in every fragment's header length but only in the first.
func TestEchoReplyIPHeader(t *testing.T) {
	rr := func(ptr int, addrs ...netip.Addr) layers.IPv4Option {
		d := []byte{byte(ptr)}
		for _, a := range addrs {
			d = append(d, a.AsSlice()...)
		}
		d = append(d, make([]byte, 37-len(d))...)
		return layers.IPv4Option{OptionType: 7, OptionLength: 39, OptionData: d}
	}
	t.Run("TOS and traffic class", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		var ids []uint16
		for range 2 {
			w.send(w.echoWith(peer4, host4, 0xb8, nil, []byte("tos")))
			p := w.expect("echo reply", isICMP(0))
			checkedICMP(t, p)
			ip := ip4Of(p)
			assert.Equal(t, uint8(0xb8), ip.TOS)
			assert.Equal(t, uint8(5), ip.IHL)
			assert.Zero(t, ip.Flags&layers.IPv4DontFragment)
			ids = append(ids, ip.Id)
		}
		assert.NotEqual(t, ids[0], ids[1], "each reply its own identification (RFC 6864)")
		w.send(w.echoWith(peer6, host6, 0xb8, nil, []byte("tclass")))
		p := w.expect("echo reply", isICMP(129))
		checkedICMP(t, p)
		assert.Equal(t, uint8(0xb8), ip6Of(p).TrafficClass)
	})
	t.Run("record route", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		// As ping -R sends it: its kernel recorded itself on the way out.
		w.send(w.echoWith(peer4, host4, 0, []layers.IPv4Option{rr(8, peer4)}, []byte("rr")))
		p := w.expect("echo reply", isICMP(0))
		checkedICMP(t, p)
		o := optionOf(p, 7)
		require.NotNil(t, o, "the reply carries the record route")
		assert.Equal(t, uint8(39), o.OptionLength)
		assert.Equal(t, byte(16), o.OptionData[0], "pointer past the host's two entries")
		assert.Equal(t, []netip.Addr{peer4, host4, host4}, addrsIn(o.OptionData, 16))
	})
	t.Run("timestamps with addresses", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		ts := layers.IPv4Option{OptionType: 68, OptionLength: 36, OptionData: append([]byte{5, 1}, make([]byte, 32)...)}
		before := msToday(time.Now())
		w.send(w.echoWith(peer4, host4, 0, []layers.IPv4Option{ts}, []byte("ts")))
		p := w.expect("echo reply", isICMP(0))
		after := msToday(time.Now())
		o := optionOf(p, 68)
		require.NotNil(t, o, "the reply carries the timestamps")
		d := o.OptionData
		assert.Equal(t, byte(21), d[0], "two pairs recorded")
		for _, at := range []int{2, 10} {
			assert.Equal(t, host4, netip.AddrFrom4([4]byte(d[at:at+4])))
			ms := binary.BigEndian.Uint32(d[at+4:])
			assert.True(t, ms >= before && ms <= after || after < before, "timestamp %d not in [%d, %d]", ms, before, after)
		}
		assert.Equal(t, make([]byte, 16), d[18:], "the rest untouched")
	})
	t.Run("prespecified timestamps", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		// host4 is in 198.18.0.0/24: its broadcast address is local to
		// it, as in Linux's local table; peer4 is not.
		var d []byte
		for _, a := range []string{"198.18.0.255", "198.18.0.1", "198.18.0.99"} {
			d = append(d, netip.MustParseAddr(a).AsSlice()...)
			d = append(d, 0, 0, 0, 0)
		}
		ts := layers.IPv4Option{OptionType: 68, OptionLength: 28, OptionData: append([]byte{5, 3}, d...)}
		w.send(w.echoWith(peer4, host4, 0, []layers.IPv4Option{ts}, []byte("ts")))
		o := optionOf(w.expect("echo reply", isICMP(0)), 68)
		require.NotNil(t, o)
		assert.Equal(t, byte(21), o.OptionData[0], "two slots filled, the third not ours")
		assert.NotEqual(t, make([]byte, 4), o.OptionData[6:10])
		assert.NotEqual(t, make([]byte, 4), o.OptionData[14:18])
		assert.Equal(t, make([]byte, 4), o.OptionData[22:26])
	})
	t.Run("no whole slot left: no reply", func(t *testing.T) {
		w := newWire(t, nil)
		h := w.defaultHost(host.Config{})
		// Room for one address and two bytes: the request's entry fits,
		// the reply's does not, and Linux does not answer.
		bad := layers.IPv4Option{OptionType: 7, OptionLength: 9, OptionData: []byte{4, 0, 0, 0, 0, 0, 0}}
		w.send(w.echoWith(peer4, host4, 0, []layers.IPv4Option{bad}, []byte("x")))
		w.none("echo reply", isICMP(0))
		assert.Equal(t, uint64(1), h.Stats().Malformed)
		assert.Zero(t, h.Stats().EchoAnswered)
	})
	t.Run("fragmented reply", func(t *testing.T) {
		w := newWire(t, nil)
		w.defaultHost(host.Config{})
		data := bytes.Repeat([]byte("large ping "), 400)
		msg := icmpMsg(t, peer4, host4, 8, 0, &icmp.Echo{ID: 9, Seq: 2, Data: data})
		opts := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		var fr frame.Fragmenter
		require.NoError(t, fr.InitIP(&frame.IPHeader{Src: peer4, Dst: host4, Proto: 1, TOS: 0x28, ID: 5, Options: opts}, msg[:8], msg[8:], 1500, 0))
		for !fr.Done() {
			b := make([]byte, 1500)
			w.send(w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv4, gopacket.Payload(b[:fr.Next(b)])))
		}
		d := ip4defrag.NewIPv4Defragmenter()
		var whole *layers.IPv4
		for i := 0; whole == nil; i++ {
			p := w.expect("a fragment of the reply", func(p gopacket.Packet) bool { return ip4Of(p) != nil })
			ip := ip4Of(p)
			assert.Equal(t, uint8(0x28), ip.TOS)
			assert.Equal(t, uint8(8), ip.IHL, "every fragment has the options' length")
			if i == 0 {
				o := optionOf(p, 7)
				require.NotNil(t, o, "the first fragment carries the record route")
				assert.Equal(t, []netip.Addr{host4, host4}, addrsIn(o.OptionData, int(o.OptionData[0])))
			} else {
				assert.Nil(t, optionOf(p, 7), "later fragments do not")
			}
			out, err := d.DefragIPv4(ip)
			require.NoError(t, err)
			whole = out
		}
		m, err := icmp.ParseMessage(1, whole.Payload)
		require.NoError(t, err)
		e, ok := m.Body.(*icmp.Echo)
		require.True(t, ok, "%T", m.Body)
		assert.Equal(t, data, e.Data)
	})
}

// msToday is t as milliseconds since midnight UT.
func msToday(t time.Time) uint32 {
	t = t.UTC()
	return uint32((t.Hour()*3600+t.Minute()*60+t.Second())*1000 + t.Nanosecond()/1e6)
}

// TestPortUnreachableHeader: an ICMP error goes as Linux's __icmp_send
// sends it: with precedence internetwork control and the offending
// packet's TOS bits, not its precedence or ECN, and its record route
// returned as in an echo reply, the quote shortened to fit; none when the
// option leaves no room for the host's second entry. An ICMPv6 error goes
// with traffic class 0.
func TestPortUnreachableHeader(t *testing.T) {
	w := newWire(t, nil)
	h := w.defaultHost(host.Config{PortUnreachable: true})
	rr := func(room int) []layers.IPv4Option {
		return []layers.IPv4Option{{OptionType: 7, OptionLength: byte(3 + room), OptionData: append([]byte{4}, make([]byte, room)...)}}
	}
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
		opts     []layers.IPv4Option
		typ      int
		tos      uint8 // the error's
		route    []netip.Addr
		none     bool
	}{
		{"v4", peer4, host4, nil, 3, 0xda, nil, false},
		{"v4 record route", peer4, host4, rr(8), 3, 0xda, []netip.Addr{host4, host4}, false},
		{"v4 record route, room for one and a half", peer4, host4, rr(6), 3, 0, nil, true},
		{"v6", peer6, host6, nil, 1, 0, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := &layers.UDP{SrcPort: 4000, DstPort: 9}
			payload := gopacket.Payload(bytes.Repeat([]byte{1}, 1000))
			var in []byte
			if c.src.Is4() {
				ip := &layers.IPv4{Version: 4, TTL: 64, TOS: 0xbb, Protocol: layers.IPProtocolUDP, SrcIP: c.src.AsSlice(), DstIP: c.dst.AsSlice(), Options: c.opts}
				require.NoError(t, u.SetNetworkLayerForChecksum(ip))
				in = w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv4, ip, u, payload)
			} else {
				ip := &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: 0xbb, NextHeader: layers.IPProtocolUDP, SrcIP: c.src.AsSlice(), DstIP: c.dst.AsSlice()}
				require.NoError(t, u.SetNetworkLayerForChecksum(ip))
				in = w.frameOf(hostMAC, peerMAC, layers.EthernetTypeIPv6, ip, u, payload)
			}
			sent := h.Stats().UnreachSent
			w.send(in)
			if c.none {
				w.none("port unreachable", isICMP(c.typ))
				assert.Equal(t, sent, h.Stats().UnreachSent)
				return
			}
			p := w.expect("port unreachable", isICMP(c.typ))
			m, _, _ := checkedICMP(t, p)
			if c.src.Is6() {
				assert.Equal(t, c.tos, ip6Of(p).TrafficClass)
				return
			}
			ip := ip4Of(p)
			assert.Equal(t, c.tos, ip.TOS)
			assert.LessOrEqual(t, len(ip.Contents)+len(ip.Payload), 576, "within the minimum MTU, options included")
			du, ok := m.Body.(*icmp.DstUnreach)
			require.True(t, ok, "%T", m.Body)
			assert.Equal(t, 576-len(ip.Contents)-8, len(du.Data), "the quote fills what the options leave")
			if c.route == nil {
				assert.Nil(t, optionOf(p, 7))
				return
			}
			o := optionOf(p, 7)
			require.NotNil(t, o, "the error returns the record route")
			assert.Equal(t, c.route, addrsIn(o.OptionData, int(o.OptionData[0])))
		})
	}
}

// TestEchoCodeAndTimestamp: as Linux (icmp_echo, icmpv6_echo_reply,
// icmp_timestamp), an echo reply carries the request's code, whatever it
// is, and an ICMP timestamp request with an originate timestamp is
// answered with it and the host's receive and transmit times; one without
// is dropped as malformed.
func TestEchoCodeAndTimestamp(t *testing.T) {
	w := newWire(t, nil)
	h := w.defaultHost(host.Config{})
	for _, c := range []struct{ src, dst netip.Addr }{{peer4, host4}, {peer6, host6}} {
		typ, rep := uint8(8), 0
		if c.src.Is6() {
			typ, rep = 128, 129
		}
		w.send(w.ip(hostMAC, c.src, c.dst, 64, protoOf(c.src), icmpMsg(t, c.src, c.dst, typ, 9, &icmp.Echo{ID: 1, Seq: 2, Data: []byte("code")})))
		p := w.expect("echo reply", isICMP(rep))
		m, _, _ := checkedICMP(t, p)
		assert.Equal(t, 9, m.Code, "the request's code")
	}

	for _, c := range []struct {
		name string
		data []byte
		code uint8
		ok   bool
	}{
		{"originate, receive, transmit", []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xee, 0xee, 0xee, 0xee}, 0, true},
		{"originate only, code 3", []byte{0, 0, 0, 2}, 3, true},
		{"no originate", []byte{0, 3}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.Stats()
			msg := icmpMsg(t, peer4, host4, 13, c.code, &icmp.RawBody{Data: append([]byte{0, 7, 0, 8}, c.data...)})
			sent := msToday(time.Now())
			w.send(w.ip(hostMAC, peer4, host4, 64, layers.IPProtocolICMPv4, msg))
			if !c.ok {
				w.none("timestamp reply", isICMP(14))
				assert.Equal(t, before.Malformed+1, h.Stats().Malformed)
				return
			}
			p := w.expect("timestamp reply", isICMP(14))
			got := msToday(time.Now())
			m, src, dst := checkedICMP(t, p)
			assert.Equal(t, host4, src)
			assert.Equal(t, peer4, dst)
			assert.Zero(t, m.Code)
			b, ok := m.Body.(*icmp.RawBody)
			require.True(t, ok, "%T", m.Body)
			require.Len(t, b.Data, 16, "identifier, sequence number and three timestamps")
			assert.Equal(t, []byte{0, 7, 0, 8}, b.Data[:4])
			assert.Equal(t, c.data[:4], b.Data[4:8], "originate timestamp")
			rx, tx := binary.BigEndian.Uint32(b.Data[8:]), binary.BigEndian.Uint32(b.Data[12:])
			assert.Equal(t, rx, tx)
			assert.True(t, rx >= sent && rx <= got || got < sent, "receive time %d not in [%d, %d]", rx, sent, got)
			assert.Equal(t, before.EchoAnswered+1, h.Stats().EchoAnswered)
		})
	}
}

func protoOf(a netip.Addr) layers.IPProtocol {
	if a.Is4() {
		return layers.IPProtocolICMPv4
	}
	return layers.IPProtocolICMPv6
}

// TestMulticastEcho: with Config.EchoMulticast, a host answers echo to
// all-nodes and to its solicited-node groups, once, from the address that
// fits the asker, as a Linux host does; hosts without it stay silent, and
// a segment with none ignores such requests.
func TestMulticastEcho(t *testing.T) {
	w := newWire(t, nil)
	g2 := netip.MustParseAddr("2001:db8::2")
	h1 := w.defaultHost(host.Config{EchoMulticast: true})
	h2 := w.host(host.Config{MAC: mac(2), EchoMulticast: true, Addrs: []netip.Prefix{netip.PrefixFrom(g2, 64)}})
	h3 := w.host(host.Config{MAC: mac(3), Addrs: []netip.Prefix{pfx("2001:db8::3/64")}})
	ll1, ll2 := frame.LinkLocal(hostMAC), frame.LinkLocal(frame.MAC(mac(2)))
	replies := func(src, group netip.Addr) []netip.Addr {
		t.Helper()
		m, ok := frame.MulticastMAC(group)
		require.True(t, ok)
		w.send(w.echo(m, src, group, 5, 6, []byte("who is there")))
		var from []netip.Addr
		for _, p := range w.collect(300*time.Millisecond, isICMP(129)) {
			msg, s, d := checkedICMP(t, p)
			assert.Equal(t, src, d)
			assert.Equal(t, 6, msg.Body.(*icmp.Echo).Seq)
			from = append(from, s)
		}
		return from
	}
	assert.ElementsMatch(t, []netip.Addr{ll1, ll2}, replies(peerLL, allNode), "link-local asker: link-local answers")
	assert.ElementsMatch(t, []netip.Addr{host6, g2}, replies(peer6, allNode), "global asker: global answers")
	assert.ElementsMatch(t, []netip.Addr{g2}, replies(peer6, frame.SolicitedNode(g2)), "a solicited-node group: its host")
	assert.Empty(t, replies(peer6, frame.SolicitedNode(netip.MustParseAddr("2001:db8::3"))), "a host without the option")
	assert.Equal(t, uint64(2), h1.Stats().EchoAnswered)
	assert.Equal(t, uint64(3), h2.Stats().EchoAnswered)
	assert.Zero(t, h3.Stats().EchoAnswered)

	// Once the hosts that answer are gone, the segment ignores them.
	before := h3.Stats().Segment.NotForUs
	h1.Close()
	h2.Close()
	assert.Empty(t, replies(peer6, allNode))
	assert.Greater(t, h3.Stats().Segment.NotForUs, before)
}
