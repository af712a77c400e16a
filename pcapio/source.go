package pcapio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/backend"
)

// recordSource yields the records of a capture file.
type recordSource interface {
	// next returns the next record to replay; data is valid until the next
	// call.
	next() (data []byte, ts time.Time, err error)
	// record returns the number of the record being read (the last one
	// returned, or the one whose reading failed), counting skipped ones.
	record() int
}

// Bounds on what a capture file can make the reader hold. The files are
// read record by record through one frame buffer, never a whole record or
// block at a time, so that what a (tiny, gzip-compressed) file announces
// costs no memory.
const (
	// maxRecordFrame is the longest record replayed: the largest frame a
	// relay's buffers hold. Longer records (within MaxSnapLen) are skipped
	// without being read into memory and counted in Stats().Dropped, as a
	// NIC drops a frame longer than it can receive; they can only be merged
	// super-frames (GRO) or damage.
	maxRecordFrame = backend.MaxFrameLen
	// maxBlockLen is the largest pcapng block accepted, libpcap's
	// INITIAL_MAX_BLOCKSIZE; a longer block makes the file bad. Blocks are
	// skipped or read field by field, so this bounds the time a block can
	// take, not memory.
	maxBlockLen = 16 << 20
	// maxInterfaces bounds the interface descriptions a pcapng section may
	// hold (about 32 bytes each).
	maxInterfaces = 4096
)

// errOversized is the cause of an error for a record longer than MaxSnapLen.
var errOversized = fmt.Errorf("captured length above the maximum snap length %d", MaxSnapLen)

// capReader is what both sources share: the buffered file, the frame
// buffer and the counters of the Offline, where skipped records are counted.
type capReader struct {
	r       *bufio.Reader
	c       *backend.Counters
	buf     []byte // the frame buffer, allocated at the first record
	n       int    // number of the record being read
	scratch [24]byte
}

// skip discards n bytes of the file without reading them into memory.
func (c *capReader) skip(n int) error {
	if _, err := c.r.Discard(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// frame reads a record of caplen bytes into the frame buffer. A record
// longer than maxRecordFrame is skipped instead and returned as nil; the
// caller counts it once it knows the record would have been replayed.
func (c *capReader) frame(caplen int) ([]byte, error) {
	if caplen > maxRecordFrame {
		return nil, c.skip(caplen)
	}
	if c.buf == nil {
		c.buf = make([]byte, maxRecordFrame)
	}
	data := c.buf[:caplen]
	if _, err := io.ReadFull(c.r, data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return data, nil
}

func (c *capReader) record() int { return c.n }

// pcapSource reads classic pcap records.
type pcapSource struct {
	capReader
	order  binary.ByteOrder
	fracNS int64 // nanoseconds per unit of a record's fraction of a second
}

// newPcapSource reads the pcap file header from r. The header's snap length
// is not used: records are accepted up to MaxSnapLen whatever it says, as
// libpcap takes a snap length of 0 or above its maximum as that maximum, and
// as tcpdump and Wireshark read records longer than a misdeclared one.
func newPcapSource(r *bufio.Reader, c *backend.Counters) (*pcapSource, error) {
	s := &pcapSource{capReader: capReader{r: r, c: c}, order: binary.LittleEndian, fracNS: 1000}
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: bad pcap file header: %w", ErrBadFile, err)
	}
	switch binary.LittleEndian.Uint32(h[0:4]) {
	case magicPcapMicroSwap:
		s.order = binary.BigEndian
	case magicPcapNano:
		s.fracNS = 1
	case magicPcapNanoSwap:
		s.order, s.fracNS = binary.BigEndian, 1
	}
	if major, minor := s.order.Uint16(h[4:6]), s.order.Uint16(h[6:8]); major != 2 || minor != 4 {
		return nil, fmt.Errorf("%w: bad pcap file header: version %d.%d, want 2.4", ErrBadFile, major, minor)
	}
	// The link type field is 32 bits; the upper ones can announce an FCS at
	// the end of every frame, which layers.LinkType (16 bits) would hide.
	if lt := s.order.Uint32(h[20:24]); lt != uint32(layers.LinkTypeEthernet) {
		return nil, fmt.Errorf("%w: link type %#x (%v)", ErrNotEthernet, lt, layers.LinkType(lt))
	}
	return s, nil
}

func (s *pcapSource) next() ([]byte, time.Time, error) {
	for {
		s.n++
		h := s.scratch[:16]
		if _, err := io.ReadFull(s.r, h); err != nil {
			return nil, time.Time{}, err // io.EOF between records: the end
		}
		caplen, length := s.order.Uint32(h[8:12]), s.order.Uint32(h[12:16])
		if caplen > MaxSnapLen {
			return nil, time.Time{}, fmt.Errorf("%d bytes: %w", caplen, errOversized)
		}
		if caplen > length {
			return nil, time.Time{}, fmt.Errorf("captured length %d above the frame length %d", caplen, length)
		}
		data, err := s.frame(int(caplen))
		if err != nil {
			return nil, time.Time{}, err
		}
		if data == nil {
			s.c.Drop(1)
			continue
		}
		sec, frac := int64(s.order.Uint32(h[0:4])), int64(s.order.Uint32(h[4:8]))
		return data, time.Unix(sec, frac*s.fracNS).UTC(), nil
	}
}

type emptySource struct{}

func (emptySource) next() ([]byte, time.Time, error) { return nil, time.Time{}, io.EOF }
func (emptySource) record() int                      { return 0 }
