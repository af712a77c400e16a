package testkit

// OnesSum is the folded one's-complement sum of b (RFC 1071), written the
// obvious way: an oracle for checksums built by package frame, kept apart
// from frame's own summing so that a test does not check frame by frame.
// A packet with a right checksum sums to 0xffff; the checksum to store is
// ^OnesSum of the data with a zero checksum field.
func OnesSum(b []byte) uint16 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
