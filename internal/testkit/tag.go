package testkit

import (
	"cmp"
	"encoding/binary"
)

// TPIDs of the VLAN tags tests put on the wire.
const (
	TPIDDot1Q  uint16 = 0x8100 // IEEE 802.1Q customer tag
	TPIDDot1AD uint16 = 0x88a8 // IEEE 802.1ad service tag (QinQ outer)
	TPID9100   uint16 = 0x9100 // pre-standard QinQ tag
)

// TagLen is the length of one VLAN tag on the wire.
const TagLen = 4

// Tag is one VLAN tag of a test frame. It has the fields of frame.VLAN, in
// the same order, so frame.VLAN(tag) and testkit.Tag(vlan) convert between
// the two.
type Tag struct {
	TPID uint16 // 0 means 0x8100
	PCP  uint8  // priority code point, 0..7 (higher bits are dropped)
	DEI  bool   // drop eligible indicator
	ID   uint16 // VLAN ID, 0..4095 (higher bits are dropped)
}

// TagFromTCI returns the tag with TPID tpid and tag control information
// tci (PCP<<13 | DEI<<12 | VID), as a tag is written on the wire.
func TagFromTCI(tpid, tci uint16) Tag {
	return Tag{TPID: tpid, PCP: uint8(tci >> 13), DEI: tci&0x1000 != 0, ID: tci & 0x0fff}
}

// WireTPID returns the TPID put on the wire: TPID, or 0x8100 when unset.
func (t Tag) WireTPID() uint16 { return cmp.Or(t.TPID, TPIDDot1Q) }

// TCI returns the tag control information field: PCP<<13 | DEI<<12 | VID.
func (t Tag) TCI() uint16 {
	tci := uint16(t.PCP&7)<<13 | t.ID&0x0fff
	if t.DEI {
		tci |= 0x1000
	}
	return tci
}

// AppendTo appends the tag's four wire bytes (TPID, TCI) to b.
func (t Tag) AppendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, t.WireTPID())
	return binary.BigEndian.AppendUint16(b, t.TCI())
}

// Dot1Q returns 802.1Q tags (TPID 0x8100, PCP 0, DEI clear) with the given
// VLAN IDs, outermost first: Dot1Q(100, 200) is a QinQ stack of two 0x8100
// tags.
func Dot1Q(ids ...uint16) []Tag {
	tags := make([]Tag, len(ids))
	for i, id := range ids {
		tags[i] = Tag{ID: id}
	}
	return tags
}

// tagFields is the struct of Tag's fields: frame.VLAN's underlying type.
type tagFields interface {
	~struct {
		TPID uint16
		PCP  uint8
		DEI  bool
		ID   uint16
	}
}

// AsTags returns a VLAN stack of another type with Tag's fields (a
// frame.VLANs) as Tags, so that a test can build a frame for the stack it
// configured without converting tag by tag. It returns nil for an empty
// stack.
func AsTags[S ~[]V, V tagFields](vlans S) []Tag {
	if len(vlans) == 0 {
		return nil
	}
	tags := make([]Tag, len(vlans))
	for i, v := range vlans {
		tags[i] = Tag(v)
	}
	return tags
}

// IsTPID reports whether t is one of the TPIDs that start a VLAN tag.
func IsTPID(t uint16) bool { return t == TPIDDot1Q || t == TPIDDot1AD || t == TPID9100 }
