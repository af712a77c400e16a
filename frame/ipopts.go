package frame

// IPv4 options and IPv6 extension headers, checked as Linux checks them on
// receive (net/ipv4/ip_options.c, net/ipv6/exthdrs.c) with its default
// sysctls. The package documentation has the table of cases; the tests
// (internal/frametest) hold one frame for each row.

// IPv4 option types with their own checks.
const (
	ip4OptEnd   = 0
	ip4OptNOP   = 1
	ip4OptRR    = 7   // record route
	ip4OptTS    = 68  // timestamp
	ip4OptLSRR  = 131 // loose source route
	ip4OptCIPSO = 134 // commercial IP security option (labelled networking)
	ip4OptSSRR  = 137 // strict source route
	ip4OptRA    = 148 // router alert
)

// Timestamp option flags (low nibble of its fourth byte).
const (
	tsAndAddr = 1 // address and timestamp pairs
	tsPrespec = 3 // prespecified addresses
)

// ipv4OptionsOK reports whether Linux accepts the IPv4 options o (the
// header bytes after the first 20) for a packet to a local address, as
// ip_options_compile and ip_rcv_options decide. The walk costs at most one
// step per byte of o (40 at most).
func ipv4OptionsOK(o []byte) bool {
	var rr, ts bool // each may appear once
	for len(o) > 0 {
		switch o[0] {
		case ip4OptEnd:
			return true // the rest is padding, whatever it holds
		case ip4OptNOP:
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return false
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return false
		}
		switch o[0] {
		case ip4OptLSRR, ip4OptSSRR:
			// accept_source_route is off on hosts: Linux drops every
			// source-routed packet, well-formed or not.
			return false
		case ip4OptCIPSO:
			// With labelled networking (CONFIG_NETLABEL, as distributions
			// build) and no DOI configured, Linux rejects every CIPSO
			// option; a host without labels has no use for one.
			return false
		case ip4OptRR:
			if rr || n < 3 {
				return false
			}
			// The pointer is at 4 or more and, while it points into the
			// option, at a whole 4-byte slot.
			if ptr := int(o[2]); ptr < 4 || (ptr <= n && ptr+3 > n) {
				return false
			}
			rr = true
		case ip4OptTS:
			if ts || n < 4 || !timestampOK(o[:n]) {
				return false
			}
			ts = true
		case ip4OptRA:
			if n < 4 {
				return false
			}
		}
		// Every other option (security, stream ID, unknown types of any
		// class) is skipped by its length, as Linux does on receive.
		o = o[n:]
	}
	return true
}

// timestampOK checks a timestamp option t of at least 4 bytes as Linux does:
// the pointer at 5 or more; a free slot, if the pointer says there is one,
// whole; and, once the option is full, an overflow counter that can still
// count.
func timestampOK(t []byte) bool {
	n, ptr, flag := len(t), int(t[2]), t[3]&0x0f
	switch {
	case ptr < 5:
		return false
	case ptr <= n:
		if flag == tsAndAddr || flag == tsPrespec {
			return ptr+7 <= n // an address and a timestamp
		}
		return ptr+3 <= n
	case flag != tsPrespec:
		return t[3]>>4 != 15
	}
	return true
}

// IPv6 routing header types Linux handles apart.
const (
	rtRPL = 3 // RPL source route (RFC 6554): rpl_seg_enabled is off
	rtSRH = 4 // segment routing (RFC 8754): seg6_enabled is off
)

// routingOK reports whether Linux accepts IPv6 routing header h at a host
// whose address is the packet's destination dst: only with no segments
// left (the host is the final destination), a unicast destination, and
// not a segment routing type, which Linux drops unless segment routing is
// enabled. With segments left Linux would forward the packet or, for types
// it does not process (0 since RFC 5095, 253 and 254, any unknown), drop it
// with an ICMP error; a host delivers neither way. Types 0 and 2 (Mobile
// IPv6, on kernels without CONFIG_IPV6_MIP6) with no segments left are
// accepted, as RFC 8200 §4.4 says.
func routingOK(h []byte, dst byte) bool {
	return h[3] == 0 && h[2] != rtRPL && h[2] != rtSRH && dst != 0xff
}

// IPv6 options with their own checks.
const (
	opt6Pad1     = 0x00
	opt6PadN     = 0x01
	opt6RA       = 0x05 // router alert (RFC 2711)
	opt6CALIPSO  = 0x07 // labelled networking (RFC 5570)
	opt6IOAM     = 0x31 // in-situ OAM (RFC 9486)
	opt6Jumbo    = 0xc2 // jumbo payload (RFC 2675)
	maxOptions   = 8    // Linux's max_hbh_opts_number and max_dst_opts_number
	maxPadLength = 7    // Linux: more padding in a row than 8-byte alignment needs is malformed
)

// optionsOK reports whether Linux accepts the hop-by-hop (hbh) or
// destination options header h (whole, its length a multiple of 8) that
// starts off bytes after the IPv6 header's start, as ip6_parse_tlv decides:
// padding zeros of at most 7 bytes in a row, at most 8 other options, each
// within the header, known ones well-formed, and an unknown one only if its
// action bits (the top two of its type, RFC 8200 §4.2) say skip. The other
// three actions drop the packet; two of them also send an ICMP error, which
// we do not. The walk costs one step per option, at most one per byte.
func optionsOK(h []byte, off int, hbh bool) bool {
	pad, count := 0, 0
	for o, at := h[2:], off+2; len(o) > 0; {
		if o[0] == opt6Pad1 {
			if pad++; pad > maxPadLength {
				return false
			}
			o, at = o[1:], at+1
			continue
		}
		if len(o) < 2 {
			return false
		}
		n := int(o[1]) + 2
		if n > len(o) {
			return false
		}
		if o[0] == opt6PadN {
			if pad += n; pad > maxPadLength {
				return false
			}
			for _, c := range o[2:n] {
				if c != 0 {
					return false
				}
			}
		} else {
			if count++; count > maxOptions || !optionOK(o[:n], at, hbh) {
				return false
			}
			pad = 0
		}
		o, at = o[n:], at+n
	}
	return true
}

// optionOK checks one option o (type, length, data) found at offset off
// from the IPv6 header's start.
func optionOK(o []byte, off int, hbh bool) bool {
	if hbh {
		switch o[0] {
		case opt6RA:
			return len(o) == 4
		case opt6IOAM:
			// Linux checks the alignment, then ignores the option while
			// IOAM is off on the interface (the default).
			return off%4 == 0
		case opt6Jumbo:
			// A jumbogram is longer than 65,535 bytes, which no frame we
			// read holds: Linux drops a jumbo option that claims less
			// (ICMP), one beside a non-zero payload length (ICMP) and
			// one longer than the packet.
			return false
		case opt6CALIPSO:
			// As CIPSO in IPv4: Linux with labelled networking and no
			// DOI configured drops it.
			return false
		}
	}
	// Unknown (in destination options, Linux knows only Mobile IPv6's home
	// address, which it drops on a host without a binding).
	return o[0]>>6 == 0
}
