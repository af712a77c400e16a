package frame

import (
	"encoding/binary"
	"iter"
	"net/netip"
	"time"
)

// The IPv4 options of an echo reply. RFC 1122 §3.2.2.6 says a host
// SHOULD return the record route and timestamp options of an echo request
// in its reply, updated to include itself, so that they cover the whole
// round trip; Linux does (ip_options_compile records the host as the
// request arrives, __ip_options_echo copies the options, ip_options_build
// records it again as the reply leaves), and `ping -R` and `ping -T` show
// what comes back.

// Locals is what the reply's options need to know of the host: whether an
// IPv4 address is local to it, one of its own addresses or a broadcast
// address of one of its prefixes, which Linux's inet_addr_type calls not
// unicast. A prespecified timestamp slot for such an address gets the
// host's time; so does one for 0.0.0.0/8, 127.0.0.0/8, a multicast
// address or 255.255.255.255, which EchoReplyOptions checks itself.
type Locals interface {
	HasAddr(a netip.Addr) bool
}

// MaxIPv4Options is the most option bytes an IPv4 header holds.
const MaxIPv4Options = 40

// EchoReplyOptions writes into out (MaxIPv4Options bytes or more) the
// options of the reply to an IPv4 echo request whose header options are
// req (the bytes after the first 20, as Parse accepted them) and returns
// their length, padded with end-of-options to a multiple of 4: 0 when the
// request has no record route or timestamp option. self is the request's
// destination, the address that is recorded; ours answers for prespecified
// timestamps; now is the time recorded, as milliseconds since midnight UT
// (RFC 791). Every other option stays behind, as in Linux. Linux returns
// the same options in an ICMP error about the packet (__icmp_send), so the
// same call gives an error's options.
//
// ok is false where Linux sends no reply at all: a record route or
// timestamp option whose free space, once the request has been recorded,
// is too short for the reply's entry (an option length that is not a whole
// number of slots).
func EchoReplyOptions(out, req []byte, self netip.Addr, ours Locals, now time.Time) (n int, ok bool) {
	a4 := self.Unmap().As4()
	ms := MillisSinceMidnight(now)
	rr, ts := findOption(req, ip4OptRR), findOption(req, ip4OptTS)
	if rr != nil {
		o := out[n : n+len(rr)]
		copy(o, rr)
		if !echoRecordRoute(o, a4) {
			return 0, false
		}
		n += len(o)
	}
	if ts != nil {
		o := out[n : n+len(ts)]
		copy(o, ts)
		if !echoTimestamp(o, a4, ours, ms) {
			return 0, false
		}
		n += len(o)
	}
	for ; n%4 != 0; n++ {
		out[n] = ip4OptEnd
	}
	return n, true
}

// findOption returns option typ of the options o (checked by Parse), or nil.
func findOption(o []byte, typ byte) []byte {
	for x := range ipv4Options(o) {
		if x[0] == typ {
			return x
		}
	}
	return nil
}

// ipv4Options yields each option of o but the no-operations, up to the end
// of the list or a length that does not fit. The next option is found
// before the yield, so that the caller may overwrite the one it is given.
func ipv4Options(o []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(o) > 1 && o[0] != ip4OptEnd {
			if o[0] == ip4OptNOP {
				o = o[1:]
				continue
			}
			n := int(o[1])
			if n < 2 || n > len(o) {
				return
			}
			x := o[:n]
			o = o[n:]
			if !yield(x) {
				return
			}
		}
	}
}

// echoRecordRoute records a in the record route option o twice, where o
// has room: once as Linux does on receive, once as it does on sending the
// reply.
func echoRecordRoute(o []byte, a [4]byte) bool {
	for range 2 {
		ptr := int(o[2])
		if ptr > len(o) {
			return true // full: it comes back as it is
		}
		if ptr+3 > len(o) {
			return false
		}
		copy(o[ptr-1:], a[:])
		o[2] += 4
	}
	return true
}

// echoTimestamp fills the timestamp option o as Linux does on receive and
// again on sending the reply: a timestamp (with a, for the address-and-time
// form) in the next free slot; for prespecified slots, only in a slot that
// names one of ours. A full option counts one more overflow on receive.
func echoTimestamp(o []byte, a [4]byte, ours Locals, ms uint32) bool {
	flag := o[3] & 0x0f
	slot := func(ptr int, addr bool) {
		if addr {
			copy(o[ptr-1:], a[:])
			ptr += 4
		}
		binary.BigEndian.PutUint32(o[ptr-1:], ms)
	}
	prespecOurs := func(ptr int) bool {
		x := [4]byte(o[ptr-1 : ptr+3])
		return x[0] == 0 || x[0] == 127 || x[0] >= 224 && x[0] < 240 || x == [4]byte{255, 255, 255, 255} ||
			ours.HasAddr(netip.AddrFrom4(x))
	}
	// Receive. Parse checked that a free slot is whole and that a full
	// option's overflow can still count.
	ptr := int(o[2])
	if ptr > len(o) {
		if flag != tsPrespec {
			o[3] += 0x10
		}
		return true
	}
	switch flag {
	case 0: // timestamps only
		slot(ptr, false)
		o[2] += 4
	case tsAndAddr:
		slot(ptr, true)
		o[2] += 8
	case tsPrespec:
		if !prespecOurs(ptr) {
			return true // not ours: nothing recorded, now or in the reply
		}
		slot(ptr+4, false)
		o[2] += 8
	default:
		return true // an unknown form: Linux records nothing
	}
	// Send.
	ptr = int(o[2])
	if ptr > len(o) {
		return true
	}
	switch flag {
	case 0:
		if ptr+3 > len(o) {
			return false
		}
		slot(ptr, false)
		o[2] += 4
	case tsAndAddr:
		if ptr+7 > len(o) {
			return false
		}
		slot(ptr, true)
		o[2] += 8
	case tsPrespec:
		if ptr+3 > len(o) {
			return false
		}
		if ptr+7 <= len(o) && prespecOurs(ptr) {
			slot(ptr+4, false)
			o[2] += 8
		}
	}
	return true
}

// MillisSinceMidnight is the timestamp RFC 791 (timestamp option) and RFC
// 792 (timestamp message) give t: milliseconds since midnight UT.
func MillisSinceMidnight(t time.Time) uint32 {
	t = t.UTC()
	y, m, d := t.Date()
	return uint32(t.Sub(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) / time.Millisecond)
}
