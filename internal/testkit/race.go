//go:build race

package testkit

// RaceEnabled reports whether the race detector is on. It makes sync.Pool
// drop items at random and slows everything down, so allocation counts and
// timings are meaningless under it.
const RaceEnabled = true
