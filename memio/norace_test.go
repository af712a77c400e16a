//go:build !race

package memio_test

const raceEnabled = false
