package afpacket

// Ethernet TPIDs the kernel strips on receive.
const (
	tpid8021Q  = 0x8100
	tpid8021AD = 0x88a8
)

// insertTag puts the 4-byte VLAN tag tpid/tci right after the two MAC
// addresses of the n-byte frame at the start of b, moving the rest of the
// frame back by four bytes. Bytes that no longer fit in b are lost. It returns
// the new length, at most len(b), and whether bytes were lost. A frame
// shorter than two MAC addresses is left alone.
func insertTag(b []byte, n int, tpid, tci uint16) (int, bool) {
	if n < 12 || n > len(b) {
		return n, false
	}
	m := n + 4
	lost := false
	if m > len(b) {
		m, lost = len(b), true
	}
	if m > 16 {
		copy(b[16:m], b[12:n])
	}
	tag := [4]byte{byte(tpid >> 8), byte(tpid), byte(tci >> 8), byte(tci)}
	for i := 0; i < 4 && 12+i < m; i++ {
		b[12+i] = tag[i]
	}
	return m, lost
}
