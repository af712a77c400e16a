package pcapio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/etherconn/etherconn/backend"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	ngSectionHeader   = 0x0a0d0d0a
	ngInterface       = 1
	ngObsoletePacket  = 2
	ngSimplePacket    = 3
	ngEnhancedPacket  = 6
	ngByteOrderMagic  = 0x1a2b3c4d
	ngOptEnd          = 0
	ngOptFlags        = 2 // epb_flags, and pack_flags of the obsolete packet block
	ngOptTSResolution = 9
	ngOptTSOffset     = 14
	ngFlagsOutbound   = 2 // direction bits of epb_flags: sent
)

// ngIface is what the reader keeps of an interface description.
type ngIface struct {
	linkType uint16
	snaplen  uint32 // 0 and values above MaxSnapLen taken as MaxSnapLen
	units    uint64 // timestamp units per second (if_tsresol)
	offset   int64  // seconds added to timestamps (if_tsoffset)
}

// time converts a timestamp in units of the interface.
func (i *ngIface) time(ts uint64) time.Time {
	hi, lo := bits.Mul64(ts%i.units, 1e9)
	ns, _ := bits.Div64(hi, lo, i.units) // hi < units: cannot overflow
	return time.Unix(int64(ts/i.units)+i.offset, int64(ns)).UTC()
}

// ngSource reads pcapng blocks. It keeps nothing of a block but the fields
// it needs (a packet's data in the frame buffer, an interface's link type,
// snap length and timestamp scale), so no block can make it allocate.
type ngSource struct {
	capReader
	order      binary.ByteOrder
	ifaces     []ngIface // of the current section
	includeOut bool
	blockLen   uint32 // of the current block, to check its trailer
	body       int    // bytes of the current block's body not yet read
}

// newNgSource reads the section header and the blocks up to the first
// interface description, whose link type must be Ethernet. A file that ends
// before any interface is a valid, empty capture.
func newNgSource(r *bufio.Reader, c *backend.Counters, includeOut bool) (recordSource, error) {
	s := &ngSource{capReader: capReader{r: r, c: c}, order: binary.LittleEndian, includeOut: includeOut}
	typ, err := s.block()
	if err == nil && typ != ngSectionHeader {
		err = fmt.Errorf("first block of type %#x, not a section header", typ)
	}
	for err == nil {
		switch typ {
		case ngSectionHeader:
			err = s.section()
		case ngInterface:
			if err = s.iface(); err != nil {
				break
			}
			if lt := s.ifaces[0].linkType; lt != uint16(layers.LinkTypeEthernet) {
				return nil, fmt.Errorf("%w: link type %d (%v)", ErrNotEthernet, lt, layers.LinkType(lt))
			}
			return s, nil
		case ngObsoletePacket, ngSimplePacket, ngEnhancedPacket:
			return nil, fmt.Errorf("%w: packet block before any interface description", ErrBadFile)
		default:
			err = s.end()
		}
		if err == nil {
			typ, err = s.block()
		}
	}
	if err == io.EOF {
		return emptySource{}, nil
	}
	return nil, fmt.Errorf("%w: bad pcapng header: %w", ErrBadFile, err)
}

// block reads the header of the next block and checks its length, as
// libpcap does: a multiple of 4, room for the header and trailer, at most
// maxBlockLen. io.EOF means the file ended between blocks.
func (s *ngSource) block() (uint32, error) {
	h := s.scratch[:8]
	if _, err := io.ReadFull(s.r, h); err != nil {
		return 0, err
	}
	typ, minLen := binary.LittleEndian.Uint32(h[0:4]), uint32(12)
	if typ != ngSectionHeader { // which reads the same in both orders
		typ = s.order.Uint32(h[0:4])
	} else {
		// The byte-order magic after the length sets the order of the
		// section, this block's length included.
		var bom [4]byte
		if _, err := io.ReadFull(s.r, bom[:]); err != nil {
			return 0, unexpected(err)
		}
		switch {
		case binary.LittleEndian.Uint32(bom[:]) == ngByteOrderMagic:
			s.order = binary.LittleEndian
		case binary.BigEndian.Uint32(bom[:]) == ngByteOrderMagic:
			s.order = binary.BigEndian
		default:
			return 0, fmt.Errorf("section header with byte-order magic %#x", bom)
		}
		minLen = 28
	}
	n := s.order.Uint32(h[4:8])
	if n%4 != 0 || n < minLen || n > maxBlockLen {
		return 0, fmt.Errorf("block of type %#x with length %d (a multiple of 4 from %d to %d)", typ, n, minLen, maxBlockLen)
	}
	s.blockLen, s.body = n, int(n)-12
	if typ == ngSectionHeader {
		s.body -= 4
	}
	return typ, nil
}

// read returns the next n (at most len(scratch)) bytes of the block's body.
func (s *ngSource) read(n int) ([]byte, error) {
	if n > s.body {
		return nil, fmt.Errorf("block of %d bytes too short for its fields", s.blockLen)
	}
	s.body -= n
	b := s.scratch[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, unexpected(err)
	}
	return b, nil
}

// end skips the rest of the block's body and checks its trailer.
func (s *ngSource) end() error {
	if err := s.skip(s.body); err != nil {
		return err
	}
	s.body = 0
	t := s.scratch[:4]
	if _, err := io.ReadFull(s.r, t); err != nil {
		return unexpected(err)
	}
	if n := s.order.Uint32(t); n != s.blockLen {
		return fmt.Errorf("block length %d, trailer says %d", s.blockLen, n)
	}
	return nil
}

// option reads the header of the next option of the block and returns its
// code and the padded length of its value; ok is false at the end of the
// options or when the option does not fit in the block.
func (s *ngSource) option() (code uint16, length, padded int, ok bool, err error) {
	if s.body < 4 {
		return 0, 0, 0, false, nil
	}
	h, err := s.read(4)
	if err != nil {
		return 0, 0, 0, false, err
	}
	code, length = s.order.Uint16(h[0:2]), int(s.order.Uint16(h[2:4]))
	padded = (length + 3) &^ 3
	return code, length, padded, code != ngOptEnd && padded <= s.body, nil
}

// value reads up to want bytes of an option value of length bytes (padded
// to padded) and skips the rest; it returns nil if the value is shorter.
func (s *ngSource) value(want, length, padded int) ([]byte, error) {
	var v []byte
	if length >= want {
		var err error
		if v, err = s.read(want); err != nil {
			return nil, err
		}
		padded -= want
	}
	s.body -= padded
	return v, s.skip(padded)
}

// section starts a new section: interfaces are numbered from 0 again.
func (s *ngSource) section() error {
	v, err := s.read(4) // then a 64-bit section length nobody relies on
	if err != nil {
		return err
	}
	// libpcap also takes 1.2, written by some early implementations.
	if major, minor := s.order.Uint16(v[0:2]), s.order.Uint16(v[2:4]); major != 1 || (minor != 0 && minor != 2) {
		return fmt.Errorf("section version %d.%d, want 1.0", major, minor)
	}
	s.ifaces = s.ifaces[:0]
	return s.end()
}

// iface reads an interface description block.
func (s *ngSource) iface() error {
	if len(s.ifaces) == maxInterfaces {
		return fmt.Errorf("more than %d interfaces in a section", maxInterfaces)
	}
	v, err := s.read(8)
	if err != nil {
		return err
	}
	i := ngIface{linkType: s.order.Uint16(v[0:2]), snaplen: s.order.Uint32(v[4:8]), units: 1e6}
	if i.snaplen == 0 || i.snaplen > MaxSnapLen {
		i.snaplen = MaxSnapLen // as libpcap's pcap_adjust_snapshot
	}
	for {
		code, length, padded, ok, err := s.option()
		if err != nil {
			return err
		}
		if !ok {
			if code != ngOptEnd {
				return fmt.Errorf("interface option %d of %d bytes overruns its block", code, length)
			}
			break
		}
		want := 0
		switch code {
		case ngOptTSResolution:
			want = 1
		case ngOptTSOffset:
			want = 8
		}
		v, err := s.value(want, length, padded)
		if err != nil {
			return err
		}
		switch {
		case v == nil || want == 0:
		case code == ngOptTSOffset:
			i.offset = int64(s.order.Uint64(v))
		case v[0]&0x80 != 0: // a negative power of 2
			if v[0]&0x7f > 63 {
				return fmt.Errorf("timestamp resolution 2^-%d", v[0]&0x7f)
			}
			i.units = 1 << (v[0] & 0x7f)
		default: // a negative power of 10
			if v[0] > 19 {
				return fmt.Errorf("timestamp resolution 10^-%d", v[0])
			}
			i.units = 1
			for range v[0] {
				i.units *= 10
			}
		}
	}
	s.ifaces = append(s.ifaces, i)
	return s.end()
}

func (s *ngSource) next() ([]byte, time.Time, error) {
	s.n++
	for {
		typ, err := s.block()
		if err != nil {
			return nil, time.Time{}, err
		}
		switch typ {
		case ngSectionHeader:
			err = s.section()
		case ngInterface:
			err = s.iface()
		case ngEnhancedPacket, ngObsoletePacket, ngSimplePacket:
			data, ts, keep, err := s.packet(typ)
			if err != nil || keep {
				return data, ts, err
			}
			s.n++ // skipped: look for the next record
		default:
			err = s.end() // statistics, name resolution, secrets, custom
		}
		if err != nil {
			return nil, time.Time{}, err
		}
	}
}

// packet reads a packet block; keep is false for a record skipped by
// direction or length.
func (s *ngSource) packet(typ uint32) (data []byte, ts time.Time, keep bool, err error) {
	var ifid, caplen uint32
	var stamp uint64
	if typ == ngSimplePacket {
		v, err := s.read(4)
		if err != nil {
			return nil, ts, false, err
		}
		caplen = s.order.Uint32(v) // the original length, cut to the snap length below
	} else {
		v, err := s.read(20)
		if err != nil {
			return nil, ts, false, err
		}
		ifid = s.order.Uint32(v[0:4])
		if typ == ngObsoletePacket { // 16-bit interface and drops count
			ifid = uint32(s.order.Uint16(v[0:2]))
		}
		stamp = uint64(s.order.Uint32(v[4:8]))<<32 | uint64(s.order.Uint32(v[8:12]))
		caplen = s.order.Uint32(v[12:16])
	}
	if int(ifid) >= len(s.ifaces) {
		return nil, ts, false, fmt.Errorf("packet on interface %d, the section describes %d", ifid, len(s.ifaces))
	}
	iface := &s.ifaces[ifid]
	if iface.linkType != uint16(layers.LinkTypeEthernet) {
		return nil, ts, false, fmt.Errorf("%w: packet on interface %d of link type %d (%v)", ErrNotEthernet, ifid, iface.linkType, layers.LinkType(iface.linkType))
	}
	if typ == ngSimplePacket {
		caplen = min(caplen, iface.snaplen)
	} else {
		ts = iface.time(stamp)
		if caplen > MaxSnapLen {
			return nil, ts, false, fmt.Errorf("%d bytes: %w", caplen, errOversized)
		}
	}
	padded := (int(caplen) + 3) &^ 3
	if padded > s.body {
		return nil, ts, false, fmt.Errorf("block of %d bytes too short for a packet of %d", s.blockLen, caplen)
	}
	s.body -= padded
	if data, err = s.frame(int(caplen)); err != nil {
		return nil, ts, false, err
	}
	if err = s.skip(padded - int(caplen)); err != nil {
		return nil, ts, false, err
	}
	out := false
	if typ != ngSimplePacket {
		if out, err = s.outbound(); err != nil {
			return nil, ts, false, err
		}
	}
	if err = s.end(); err != nil {
		return nil, ts, false, err
	}
	switch {
	case out && !s.includeOut:
		return nil, ts, false, nil
	case data == nil:
		s.c.Drop(1) // longer than any frame a relay takes
		return nil, ts, false, nil
	}
	return data, ts, true, nil
}

// outbound reads a packet's options and reports whether its flags mark it
// sent. Malformed options end the search rather than fail the file, as
// libpcap, which does not read packet options, replays such packets.
func (s *ngSource) outbound() (bool, error) {
	out := false
	for {
		code, length, padded, ok, err := s.option()
		if err != nil || !ok {
			return out, err
		}
		want := 0
		if code == ngOptFlags {
			want = 4
		}
		v, err := s.value(want, length, padded)
		if err != nil {
			return out, err
		}
		if v != nil && want > 0 {
			out = s.order.Uint32(v)&3 == ngFlagsOutbound
		}
	}
}

// unexpected turns the end of the file inside a block into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
