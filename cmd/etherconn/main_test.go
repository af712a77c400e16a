package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoMemio(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"demo", "--count", "2"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	s := out.String()
	for _, want := range []string{
		`B received "hello 1 from A to B over IPv4"`,
		`A received "hello 1 from B to A over IPv4"`,
		`B received "hello 1 from A to B over IPv6"`,
		`A received "hello 1 from B to A over IPv6"`,
		"relay of host A: in 4 frames",
	} {
		assert.Contains(t, s, want)
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(nil, &out, &errOut))
	assert.Equal(t, 2, run([]string{"nope"}, &out, &errOut))
	assert.Equal(t, 1, run([]string{"demo", "--backend", "nope", "--interface", "x"}, &out, &errOut))
	assert.True(t, strings.Contains(errOut.String(), "unknown backend"), errOut.String())
	assert.Equal(t, 1, run([]string{"demo", "--vlan", "4096"}, &out, &errOut))
}
