package frame

import (
	"encoding"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	_ encoding.TextMarshaler   = VLANs(nil)
	_ encoding.TextUnmarshaler = (*VLANs)(nil)
)

func TestParseVLANs(t *testing.T) {
	cases := []struct {
		text  string
		want  VLANs
		canon string // String(); "" means text
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"0", VLANs{{ID: 0}}, ""},
		{"100", VLANs{{ID: 100}}, ""},
		{"4095", VLANs{{ID: 4095}}, ""},
		{"007", VLANs{{ID: 7}}, "7"},
		{" 100.200 ", VLANs{{ID: 100}, {ID: 200}}, "100.200"},
		{"100.200", VLANs{{ID: 100}, {ID: 200}}, ""},
		{"100|200", VLANs{{ID: 100}, {ID: 200}}, "100.200"},
		{"1.2|3.4", VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}, "1.2.3.4"},
		{"0x88a8:100.200", VLANs{{TPID: TPIDDot1AD, ID: 100}, {ID: 200}}, ""},
		{"0x88A8:100.0x8100:200", VLANs{{TPID: TPIDDot1AD, ID: 100}, {TPID: TPIDDot1Q, ID: 200}}, "0x88a8:100.200"},
		{"0x9100:5|0x88a8:6", VLANs{{TPID: TPID9100, ID: 5}, {TPID: TPIDDot1AD, ID: 6}}, "0x9100:5.0x88a8:6"},
		{"34984:1", VLANs{{TPID: TPIDDot1AD, ID: 1}}, "0x88a8:1"},
		{"100/p5/dei", VLANs{{ID: 100, PCP: 5, DEI: true}}, ""},
		{"100/dei/p5", VLANs{{ID: 100, PCP: 5, DEI: true}}, "100/p5/dei"},
		{"100/p0", VLANs{{ID: 100}}, "100"},
		{"100/p7", VLANs{{ID: 100, PCP: 7}}, ""},
		{"100/dei", VLANs{{ID: 100, DEI: true}}, ""},
		{"0/p3", VLANs{{ID: 0, PCP: 3}}, ""},
		{"0x88a8:10/p1/dei.20/p2.0x9100:30.4095/p7/dei",
			VLANs{{TPID: TPIDDot1AD, ID: 10, PCP: 1, DEI: true}, {ID: 20, PCP: 2}, {TPID: TPID9100, ID: 30}, {ID: 4095, PCP: 7, DEI: true}}, ""},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			got, err := ParseVLANs(c.text)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			require.NoError(t, got.Validate())
			canon := c.canon
			if canon == "" && c.want != nil {
				canon = c.text
			}
			assert.Equal(t, canon, got.String())

			// String, MarshalText and UnmarshalText round trip.
			again, err := ParseVLANs(got.String())
			require.NoError(t, err)
			assert.True(t, got.Equal(again), "%v != %v", got, again)
			text, err := got.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, canon, string(text))
			var u VLANs
			require.NoError(t, u.UnmarshalText([]byte(c.text)))
			assert.True(t, got.Equal(u))
			assert.Equal(t, got.Key(), u.Key())

			// And through a text-based encoding.
			js, err := json.Marshal(map[string]VLANs{"v": got})
			require.NoError(t, err)
			var back map[string]VLANs
			require.NoError(t, json.Unmarshal(js, &back))
			assert.True(t, got.Equal(back["v"]), "%s", js)
		})
	}
}

func TestParseVLANsRejects(t *testing.T) {
	for _, text := range []string{
		"4096", "-1", "abc", "100..200", ".100", "100.", "0x1234:100", "100/p8", "100/x",
		"1.2.3.4.5", "1|2|3|4|5", "0x88a8:1.2.3.4.5",
		".", "|", "100|", "|100", "100.|200", "100 200", "100. 200", "+100", "1e2", "0x64",
		"65536", "99999999999999999999", ":100", "0x88a8:", "0x88a8", "0x88a8:0x8100:1",
		"0x10000:1", "0x8100:4096", "1:1", "100/", "100//p1", "100/p", "100/p55", "100/P5",
		"100/DEI", "100/de", "100/p-1", "100/p5/x", "/p5", "x.100", "100.x", "100:200",
	} {
		t.Run(text, func(t *testing.T) {
			got, err := ParseVLANs(text)
			assert.ErrorIs(t, err, ErrBadVLAN)
			assert.Nil(t, got)

			u := VLANs{{ID: 42}}
			assert.ErrorIs(t, u.UnmarshalText([]byte(text)), ErrBadVLAN)
			assert.Equal(t, VLANs{{ID: 42}}, u, "failed UnmarshalText changed the value")
		})
	}
}

func TestVLANValidate(t *testing.T) {
	for _, v := range []VLAN{
		{}, {ID: 4095}, {PCP: 7, DEI: true}, {TPID: TPIDDot1Q}, {TPID: TPIDDot1AD, ID: 1}, {TPID: TPID9100, ID: 2},
	} {
		assert.NoError(t, v.Validate(), "%+v", v)
	}
	for _, v := range []VLAN{
		{PCP: 8}, {PCP: 255}, {ID: 4096}, {ID: 0xffff}, {TPID: 0x0800}, {TPID: 0x8101}, {TPID: 0xffff},
	} {
		assert.ErrorIs(t, v.Validate(), ErrBadVLAN, "%+v", v)
		s := VLANs{{ID: 1}, v}
		assert.ErrorIs(t, s.Validate(), ErrBadVLAN, "%+v", v)
		_, err := s.MarshalText()
		assert.ErrorIs(t, err, ErrBadVLAN, "%+v", v)
	}
	assert.NoError(t, VLANs(nil).Validate())
	assert.NoError(t, VLANs{{}, {}, {}, {}}.Validate())
	five := VLANs{{}, {}, {}, {}, {}}
	assert.ErrorIs(t, five.Validate(), ErrBadVLAN)
	_, err := five.MarshalText()
	assert.ErrorIs(t, err, ErrBadVLAN)
}

func TestVLANString(t *testing.T) {
	for v, want := range map[VLAN]string{
		{}:                                    "0",
		{ID: 100}:                             "100",
		{TPID: TPIDDot1Q, ID: 100}:            "100",
		{TPID: TPIDDot1AD, ID: 100}:           "0x88a8:100",
		{TPID: TPID9100, ID: 4095, PCP: 1}:    "0x9100:4095/p1",
		{ID: 1, DEI: true}:                    "1/dei",
		{ID: 1, PCP: 7, DEI: true}:            "1/p7/dei",
		{TPID: TPIDDot1AD, PCP: 3, DEI: true}: "0x88a8:0/p3/dei",
	} {
		assert.Equal(t, want, v.String())
	}
	assert.Equal(t, "", VLANs(nil).String())
	assert.Equal(t, "", VLANs{}.String())
	assert.Equal(t, "1.0x88a8:2/dei", VLANs{{ID: 1}, {TPID: TPIDDot1AD, ID: 2, DEI: true}}.String())
}

func TestVLANsKey(t *testing.T) {
	a := VLANs{{ID: 100, PCP: 5, DEI: true}, {TPID: TPIDDot1AD, ID: 200}}
	b := VLANs{{TPID: TPIDDot1Q, ID: 100}, {TPID: TPIDDot1AD, ID: 200, PCP: 7}}
	assert.Equal(t, a.Key(), b.Key(), "PCP, DEI and an explicit 0x8100 are not part of the key")
	assert.False(t, a.Equal(b))

	k := a.Key()
	assert.EqualValues(t, 2, k.N)
	assert.Equal(t, uint32(0x8100_0064), k.Tags[0])
	assert.Equal(t, uint32(0x88a8_00c8), k.Tags[1])
	assert.Zero(t, k.Tags[2])

	// TPID distinguishes.
	assert.NotEqual(t, VLANs{{ID: 100}}.Key(), VLANs{{TPID: TPIDDot1AD, ID: 100}}.Key())
	assert.NotEqual(t, VLANs{{TPID: TPID9100, ID: 100}}.Key(), VLANs{{TPID: TPIDDot1AD, ID: 100}}.Key())
	// VID, order and depth distinguish.
	assert.NotEqual(t, VLANs{{ID: 100}}.Key(), VLANs{{ID: 101}}.Key())
	assert.NotEqual(t, VLANs{{ID: 1}, {ID: 2}}.Key(), VLANs{{ID: 2}, {ID: 1}}.Key())
	assert.NotEqual(t, VLANs{{ID: 1}}.Key(), VLANs{{ID: 1}, {ID: 0}}.Key())
	assert.NotEqual(t, VLANs(nil).Key(), VLANs{{ID: 0}}.Key())
	assert.Equal(t, StackKey{}, VLANs(nil).Key())
	// An invalid, too deep stack keys on its first MaxTags tags.
	assert.Equal(t, VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}.Key(), VLANs{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}}.Key())

	// The key is what Parse puts in Info.Key.Stack.
	for _, s := range testStacks {
		b := udp4Frame(t, s, testPayload(8))
		var in Info
		require.NoError(t, Parse(b, &in))
		assert.Equal(t, s.Key(), in.Key.Stack, "%v", s)
	}
}

func TestVLANsEqual(t *testing.T) {
	assert.True(t, VLANs(nil).Equal(VLANs{}))
	assert.True(t, VLANs{{ID: 1}}.Equal(VLANs{{TPID: TPIDDot1Q, ID: 1}}))
	assert.False(t, VLANs{{ID: 1}}.Equal(VLANs{{ID: 1}, {ID: 1}}))
	assert.False(t, VLANs{{ID: 1}}.Equal(VLANs{{ID: 2}}))
	assert.False(t, VLANs{{ID: 1}}.Equal(VLANs{{ID: 1, PCP: 1}}))
	assert.False(t, VLANs{{ID: 1}}.Equal(VLANs{{ID: 1, DEI: true}}))
	assert.False(t, VLANs{{ID: 1}}.Equal(VLANs{{ID: 1, TPID: TPIDDot1AD}}))
	assert.False(t, VLANs{{ID: 1, TPID: TPID9100}}.Equal(VLANs{{ID: 1, TPID: TPIDDot1AD}}))
}

func TestVLANTCI(t *testing.T) {
	assert.Equal(t, uint16(0xb064), VLAN{ID: 100, PCP: 5, DEI: true}.TCI())
	assert.Equal(t, uint16(0x0fff), VLAN{ID: 4095}.TCI())
	assert.Equal(t, uint16(0xe000), VLAN{PCP: 7}.TCI())
	assert.Equal(t, uint16(0x1000), VLAN{DEI: true}.TCI())

	// Every TCI round trips, with each TPID.
	for _, tpid := range []uint16{TPIDDot1Q, TPIDDot1AD, TPID9100} {
		for tci := 0; tci <= 0xffff; tci++ {
			v := VLANFromTCI(tpid, uint16(tci))
			require.NoError(t, v.Validate())
			require.Equal(t, tpid, v.TPID)
			require.Equal(t, tpid, v.EffectiveTPID())
			require.Equal(t, uint16(tci), v.TCI())
		}
	}
	assert.Equal(t, VLAN{TPID: TPIDDot1AD, PCP: 5, DEI: true, ID: 100}, VLANFromTCI(TPIDDot1AD, 0xb064))
	assert.Equal(t, TPIDDot1Q, VLAN{}.EffectiveTPID())
}

func TestIsTPID(t *testing.T) {
	for tp := 0; tp <= 0xffff; tp++ {
		want := tp == 0x8100 || tp == 0x88a8 || tp == 0x9100
		require.Equal(t, want, IsTPID(uint16(tp)), "%#x", tp)
	}
}

func TestInfoVLANs(t *testing.T) {
	var in Info
	require.NoError(t, Parse(udp4Frame(t, nil, nil), &in))
	assert.Nil(t, in.VLANs())

	for _, s := range testStacks[1:] {
		require.NoError(t, Parse(udp6Frame(t, s, testPayload(3)), &in))
		got := in.VLANs()
		assert.True(t, s.Equal(got), "%v != %v", got, s)
		for i := range got {
			assert.NotZero(t, got[i].TPID, "TPID is explicit")
		}
		assert.Equal(t, s.String(), got.String())
	}
}
