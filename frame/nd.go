package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrBadND is what ParseND returns, possibly wrapped, for a Neighbor
// Discovery message that RFC 4861 says to drop silently (§6.1.1 RS, §6.1.2
// RA, §7.1.1 NS, §7.1.2 NA), apart from the IP-level checks the caller makes
// with the IP header (hop limit 255, source and destination rules, the
// ICMPv6 checksum with ICMPChecksumOK): a type that is not RS, RA, NS or
// NA, a code other than 0, a message shorter than its type's fixed part (RS
// 8 bytes, RA 16, NS and NA 24), an NS or NA target that is multicast, or
// an option whose length is zero or runs past the end of the message.
var ErrBadND = errors.New("malformed neighbor discovery message")

// The reasons ParseND gives, made once so that a drop does not allocate.
var (
	errNDType   = fmt.Errorf("%w: not a router/neighbor solicitation or advertisement", ErrBadND)
	errNDCode   = fmt.Errorf("%w: code is not 0", ErrBadND)
	errNDShort  = fmt.Errorf("%w: shorter than its fixed part", ErrBadND)
	errNDTarget = fmt.Errorf("%w: target address is multicast", ErrBadND)
	errNDOptLen = fmt.Errorf("%w: option of length 0", ErrBadND)
	errNDOptEnd = fmt.Errorf("%w: option runs past the end of the message", ErrBadND)
)

// Flags of a neighbor advertisement (RFC 4861 §4.4), in ND.Flags and
// PutNA's flags.
const (
	NAFlagRouter    uint8 = 0x80
	NAFlagSolicited uint8 = 0x40
	NAFlagOverride  uint8 = 0x20
)

// Neighbor Discovery option types (RFC 4861 §4.6) that ParseND reads.
const (
	ndOptSrcLLA = 1
	ndOptTgtLLA = 2
	ndOptPrefix = 3
	ndOptMTU    = 5
)

// Fixed lengths of the ND messages, before their options.
const (
	rsLen = 8
	raLen = 16
	nsLen = 24 // also NA's
)

// ND is a parsed Neighbor Discovery message (RFC 4861): a router
// solicitation or advertisement, or a neighbor solicitation or
// advertisement. Options are read only from the messages RFC 4861 allows
// them in (source LLA: RS, RA, NS; target LLA: NA; prefix and MTU: RA);
// others, and unknown options, are skipped as §4.1-§4.4 require. When an
// option is repeated the first one counts, as in Linux's ndisc_parse_options.
type ND struct {
	Type uint8 // NDRouterSolicit .. NDNeighborAdvert
	// Flags is, for an NA, the R/S/O bits (NAFlag*; the reserved bits are
	// cleared, RFC 4861 §4.4 says to ignore them); for an RA, the whole of
	// byte 5 of the message: M (0x80), O (0x40) and the bits later RFCs
	// define (RFC 4191 preference, RFC 4389 proxy). Zero for RS and NS.
	Flags  uint8
	Target netip.Addr // NS, NA
	// Link-layer address options (type 1 source, type 2 target), when
	// present with length 1 (8 bytes, an Ethernet address).
	SrcLLA, TgtLLA       MAC
	HasSrcLLA, HasTgtLLA bool
	// RA only:
	CurHopLimit    uint8
	RouterLifetime uint16 // seconds
	ReachableTime  uint32 // ms
	RetransTimer   uint32 // ms
	MTU            uint32 // from an MTU option (type 5), 0 if none
	// Prefix information options (type 3): up to 4 kept, in message order,
	// in Prefixes[:NPrefixes]. PrefixesDropped counts the ones not kept: the
	// fifth and later, and malformed ones (length not 4, prefix length over
	// 128). Keeping four bounds what one hostile advertisement can make the
	// caller process.
	Prefixes        [4]NDPrefix
	NPrefixes       int
	PrefixesDropped int
}

// NDPrefix is a prefix information option (RFC 4861 §4.6.2). What RFC 4862
// §5.5.3 and RFC 4861 §6.3.4 say to ignore (the link-local prefix, a
// preferred lifetime over the valid one) is the caller's to check.
type NDPrefix struct {
	Prefix                           netip.Prefix // masked: bits past the length are ignored, §4.6.2
	OnLink, Autonomous               bool         // the L and A flags
	ValidLifetime, PreferredLifetime uint32       // seconds; 0xffffffff is infinity
}

// ParseND decodes msg, an ICMPv6 message (type first), as a Neighbor
// Discovery message into n. On error, which wraps ErrBadND, n is zero. It
// does not check the checksum or anything in the IP header.
func ParseND(msg []byte, n *ND) error {
	*n = ND{}
	if len(msg) < rsLen {
		return errNDShort
	}
	t := msg[0]
	var fixed int
	switch t {
	case NDRouterSolicit:
		fixed = rsLen
	case NDRouterAdvert:
		fixed = raLen
	case NDNeighborSolicit, NDNeighborAdvert:
		fixed = nsLen
	default:
		return errNDType
	}
	if msg[1] != 0 {
		return errNDCode
	}
	if len(msg) < fixed {
		return errNDShort
	}
	if fixed == nsLen {
		target := netip.AddrFrom16([16]byte(msg[8:24]))
		if target.IsMulticast() {
			return errNDTarget
		}
		n.Target = target
	}
	if err := n.parseOptions(t, msg[fixed:]); err != nil {
		*n = ND{}
		return err
	}
	n.Type = t
	switch t {
	case NDRouterAdvert:
		n.CurHopLimit, n.Flags = msg[4], msg[5]
		n.RouterLifetime = binary.BigEndian.Uint16(msg[6:])
		n.ReachableTime = binary.BigEndian.Uint32(msg[8:])
		n.RetransTimer = binary.BigEndian.Uint32(msg[12:])
	case NDNeighborAdvert:
		n.Flags = msg[4] & (NAFlagRouter | NAFlagSolicited | NAFlagOverride)
	}
	return nil
}

// parseOptions walks the options of a message of type t. Every option is
// checked, even those not read, since §6.1/§7.1 drop the whole message for
// one bad length.
func (n *ND) parseOptions(t uint8, opts []byte) error {
	for len(opts) > 0 {
		if len(opts) < 2 {
			return errNDOptEnd
		}
		l := int(opts[1]) * 8
		if l == 0 {
			return errNDOptLen
		}
		if l > len(opts) {
			return errNDOptEnd
		}
		o := opts[:l]
		opts = opts[l:]
		switch o[0] {
		case ndOptSrcLLA:
			if l == 8 && t != NDNeighborAdvert && !n.HasSrcLLA {
				n.SrcLLA, n.HasSrcLLA = MAC(o[2:8]), true
			}
		case ndOptTgtLLA:
			if l == 8 && t == NDNeighborAdvert && !n.HasTgtLLA {
				n.TgtLLA, n.HasTgtLLA = MAC(o[2:8]), true
			}
		case ndOptMTU:
			if l == 8 && t == NDRouterAdvert && n.MTU == 0 {
				n.MTU = binary.BigEndian.Uint32(o[4:])
			}
		case ndOptPrefix:
			if t == NDRouterAdvert {
				n.addPrefix(o)
			}
		}
	}
	return nil
}

// addPrefix keeps prefix information option o if it is well formed and
// there is room, and counts it in PrefixesDropped otherwise.
func (n *ND) addPrefix(o []byte) {
	if len(o) != 32 || o[2] > 128 || n.NPrefixes == len(n.Prefixes) {
		n.PrefixesDropped++
		return
	}
	p := &n.Prefixes[n.NPrefixes]
	n.NPrefixes++
	p.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(o[16:32])), int(o[2])).Masked()
	p.OnLink, p.Autonomous = o[3]&0x80 != 0, o[3]&0x40 != 0
	p.ValidLifetime = binary.BigEndian.Uint32(o[4:])
	p.PreferredLifetime = binary.BigEndian.Uint32(o[8:])
}

// putNDHeader writes the first 8 bytes of an ND message of type t (code 0,
// a zero checksum, the rest zero) if b holds n bytes, and reports whether it
// does.
func putNDHeader(b []byte, t uint8, n int) bool {
	if len(b) < n {
		return false
	}
	clear(b[:8])
	b[0] = t
	return true
}

// putLLA writes a link-layer address option of type t with m into b[:8].
func putLLA(b []byte, t uint8, m MAC) {
	b[0], b[1] = t, 1
	copy(b[2:8], m[:])
}

// putTarget writes target, as 16 bytes, into b[8:24].
func putTarget(b []byte, target netip.Addr) {
	t16 := target.As16()
	copy(b[8:24], t16[:])
}

// PutNS writes a neighbor solicitation (RFC 4861 §4.3) for target into b,
// with a source link-layer address option carrying srcLLA if withSrcLLA (it
// must be left out when the IP source is the unspecified address, as in
// duplicate address detection, §7.2.2). It returns the message length, 24 or
// 32, or 0 without writing when b is too short. The checksum is left zero:
// the caller stores ICMPChecksum over the message.
func PutNS(b []byte, target netip.Addr, srcLLA MAC, withSrcLLA bool) int {
	n := nsLen
	if withSrcLLA {
		n += 8
	}
	if !putNDHeader(b, NDNeighborSolicit, n) {
		return 0
	}
	putTarget(b, target)
	if withSrcLLA {
		putLLA(b[nsLen:], ndOptSrcLLA, srcLLA)
	}
	return n
}

// PutNA writes a neighbor advertisement (RFC 4861 §4.4) for target with the
// R/S/O bits of flags (others are reserved and written as zero) and a target
// link-layer address option carrying tgtLLA into b. It returns the message
// length, 32, or 0 without writing when b is too short. The checksum is
// left zero: the caller stores ICMPChecksum over the message.
func PutNA(b []byte, target netip.Addr, flags uint8, tgtLLA MAC) int {
	const n = nsLen + 8
	if !putNDHeader(b, NDNeighborAdvert, n) {
		return 0
	}
	b[4] = flags & (NAFlagRouter | NAFlagSolicited | NAFlagOverride)
	putTarget(b, target)
	putLLA(b[nsLen:], ndOptTgtLLA, tgtLLA)
	return n
}

// PutRS writes a router solicitation (RFC 4861 §4.1) into b, with a source
// link-layer address option carrying srcLLA if withSrcLLA (left out when
// the IP source is unspecified, §4.1). It returns the message length, 8 or
// 16, or 0 without writing when b is too short. The checksum is left zero:
// the caller stores ICMPChecksum over the message.
func PutRS(b []byte, srcLLA MAC, withSrcLLA bool) int {
	n := rsLen
	if withSrcLLA {
		n += 8
	}
	if !putNDHeader(b, NDRouterSolicit, n) {
		return 0
	}
	if withSrcLLA {
		putLLA(b[rsLen:], ndOptSrcLLA, srcLLA)
	}
	return n
}
