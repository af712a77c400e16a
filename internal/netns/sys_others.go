//go:build !linux

package netns

// available reports that the harness needs Linux.
func available() error { return errUnsupported }

// runIn is never reached: Require skips first.
func runIn(fd int, f func() error) error { return errUnsupported }

func reapStale() {}
