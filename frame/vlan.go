package frame

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TPIDs the project accepts in a VLAN tag.
const (
	TPIDDot1Q  uint16 = 0x8100 // IEEE 802.1Q customer tag
	TPIDDot1AD uint16 = 0x88a8 // IEEE 802.1ad service tag (QinQ outer)
	TPID9100   uint16 = 0x9100 // pre-standard QinQ tag still found in the field
)

// MaxTags is the deepest VLAN stack the project parses and builds.
const MaxTags = 4

// MaxVID is the largest VLAN ID; 4095 is reserved by 802.1Q but still
// appears on the wire, so it is accepted.
const MaxVID = 4095

// IsTPID reports whether t is one of the TPIDs that start a VLAN tag.
func IsTPID(t uint16) bool { return t == TPIDDot1Q || t == TPIDDot1AD || t == TPID9100 }

// ErrBadVLAN reports a VLAN tag or stack that cannot be put on the wire.
var ErrBadVLAN = errors.New("invalid VLAN")

// VLAN is one 802.1Q/802.1ad tag.
type VLAN struct {
	TPID uint16 // 0 means 0x8100
	PCP  uint8  // priority code point, 0..7
	DEI  bool   // drop eligible indicator
	ID   uint16 // VLAN ID, 0..4095 (0: priority tag)
}

// EffectiveTPID returns the TPID put on the wire: TPID, or 0x8100 when unset.
func (v VLAN) EffectiveTPID() uint16 {
	if v.TPID == 0 {
		return TPIDDot1Q
	}
	return v.TPID
}

// TCI returns the tag control information field.
func (v VLAN) TCI() uint16 {
	tci := uint16(v.PCP&7)<<13 | v.ID&0x0fff
	if v.DEI {
		tci |= 1 << 12
	}
	return tci
}

// VLANFromTCI builds a VLAN from a TPID and a TCI field.
func VLANFromTCI(tpid, tci uint16) VLAN {
	return VLAN{TPID: tpid, PCP: uint8(tci >> 13), DEI: tci&(1<<12) != 0, ID: tci & 0x0fff}
}

// Validate reports whether v can be put on the wire.
func (v VLAN) Validate() error {
	switch {
	case v.TPID != 0 && !IsTPID(v.TPID):
		return fmt.Errorf("%w: TPID %#04x is not 0x8100, 0x88a8 or 0x9100", ErrBadVLAN, v.TPID)
	case v.PCP > 7:
		return fmt.Errorf("%w: PCP %d is above 7", ErrBadVLAN, v.PCP)
	case v.ID > MaxVID:
		return fmt.Errorf("%w: VID %d is above %d", ErrBadVLAN, v.ID, MaxVID)
	}
	return nil
}

// String prints the tag as its text form: "[TPID:]VID[/pPCP][/dei]".
func (v VLAN) String() string {
	var sb strings.Builder
	if t := v.EffectiveTPID(); t != TPIDDot1Q {
		fmt.Fprintf(&sb, "%#04x:", t)
	}
	sb.WriteString(strconv.Itoa(int(v.ID)))
	if v.PCP != 0 {
		fmt.Fprintf(&sb, "/p%d", v.PCP)
	}
	if v.DEI {
		sb.WriteString("/dei")
	}
	return sb.String()
}

// VLANs is a VLAN stack, outermost tag first.
type VLANs []VLAN

// Validate reports whether the whole stack can be put on the wire.
func (s VLANs) Validate() error {
	if len(s) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d", ErrBadVLAN, len(s), MaxTags)
	}
	for i, v := range s {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("tag %d: %w", i, err)
		}
	}
	return nil
}

// Key returns the stack's comparable form used for demultiplexing: TPID and
// VID of each tag. PCP and DEI are not part of it.
func (s VLANs) Key() StackKey {
	var k StackKey
	for i, v := range s {
		if i == MaxTags {
			break
		}
		k.Tags[i] = uint32(v.EffectiveTPID())<<16 | uint32(v.ID&0x0fff)
		k.N++
	}
	return k
}

// Equal reports whether two stacks have the same tags, field by field.
func (s VLANs) Equal(o VLANs) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i].EffectiveTPID() != o[i].EffectiveTPID() || s[i].PCP != o[i].PCP ||
			s[i].DEI != o[i].DEI || s[i].ID != o[i].ID {
			return false
		}
	}
	return true
}

// String prints the stack in the text form ParseVLANs reads, tags joined by
// '.'; the empty stack prints as "".
func (s VLANs) String() string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = v.String()
	}
	return strings.Join(parts, ".")
}

// MarshalText implements encoding.TextMarshaler.
func (s VLANs) MarshalText() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseVLANs.
func (s *VLANs) UnmarshalText(text []byte) error {
	v, err := ParseVLANs(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseVLANs reads a VLAN stack, outermost first, with tags separated by '.'
// or '|': "100", "100.200", "0x88a8:100.200", "100/p5/dei". Each tag is
// [TPID ':'] VID ['/p' PCP] ['/dei']. The empty string is the empty stack.
func ParseVLANs(text string) (VLANs, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == '.' || r == '|' })
	if len(fields) != strings.Count(text, ".")+strings.Count(text, "|")+1 {
		return nil, fmt.Errorf("%w: %q has an empty tag", ErrBadVLAN, text)
	}
	if len(fields) > MaxTags {
		return nil, fmt.Errorf("%w: %q has %d tags, at most %d", ErrBadVLAN, text, len(fields), MaxTags)
	}
	s := make(VLANs, 0, len(fields))
	for _, f := range fields {
		v, err := parseVLAN(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrBadVLAN, text, err)
		}
		s = append(s, v)
	}
	return s, nil
}

func parseVLAN(f string) (VLAN, error) {
	var v VLAN
	if tp, rest, ok := strings.Cut(f, ":"); ok {
		t, err := strconv.ParseUint(tp, 0, 16)
		if err != nil || !IsTPID(uint16(t)) {
			return v, fmt.Errorf("TPID %q is not 0x8100, 0x88a8 or 0x9100", tp)
		}
		v.TPID, f = uint16(t), rest
	}
	opts := strings.Split(f, "/")
	id, err := strconv.ParseUint(opts[0], 10, 16)
	if err != nil || id > MaxVID {
		return v, fmt.Errorf("VID %q is not a number from 0 to %d", opts[0], MaxVID)
	}
	v.ID = uint16(id)
	for _, o := range opts[1:] {
		switch {
		case o == "dei":
			v.DEI = true
		case len(o) == 2 && o[0] == 'p' && o[1] >= '0' && o[1] <= '7':
			v.PCP = o[1] - '0'
		default:
			return v, fmt.Errorf("tag option %q is not p0..p7 or dei", o)
		}
	}
	return v, nil
}
