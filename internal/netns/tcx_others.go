//go:build !linux

package netns

import (
	"fmt"
	"io"
)

// attachVLANTagger is never reached on other systems: Require skips first.
func attachVLANTagger(ifname string, stack []VLANTag, keep func(io.Closer)) error {
	return fmt.Errorf("%w: %w", errNoTCX, errUnsupported)
}
