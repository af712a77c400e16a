package testkit

// OnesSum is the folded one's-complement sum of b (RFC 1071), written the
// obvious way: an oracle for checksums built by package frame, kept apart
// from frame's own summing so that a test does not check frame by frame.
// A packet with a right checksum sums to 0xffff; the checksum to store is
// ^OnesSum of the data with a zero checksum field.
func OnesSum(b []byte) uint16 { return onesSum(0, b) }
