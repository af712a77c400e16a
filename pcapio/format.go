package pcapio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/etherconn/etherconn/backend"
)

// Format is a capture file format that Recorder and Offline can write.
type Format int

const (
	// FormatPcap is the classic libpcap format, written little-endian with
	// nanosecond timestamps. It cannot mark whether a frame was received or
	// sent.
	FormatPcap Format = iota
	// FormatPcapNG is pcapng. Each frame is an Enhanced Packet Block whose
	// epb_flags option marks it inbound (read) or outbound (written).
	FormatPcapNG
)

// String returns "pcap", "pcapng" or "Format(n)".
func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapNG:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// MaxSnapLen is the largest snap length this package writes or accepts, and
// the default one: libpcap's MAXIMUM_SNAPLEN. A capture file announcing a
// larger one (or 0) is read as if it said MaxSnapLen, as libpcap does; a
// record captured longer than MaxSnapLen makes the file bad (ErrBadFile).
const MaxSnapLen = 262144

var (
	// ErrNotEthernet reports a capture file or interface whose link type is
	// not Ethernet (LINKTYPE_ETHERNET).
	ErrNotEthernet = errors.New("pcapio: link type is not Ethernet")
	// ErrBadFile reports a file that is not a pcap or pcapng capture, or one
	// that is corrupt or truncated.
	ErrBadFile = errors.New("pcapio: not a valid pcap or pcapng capture")
)

// direction is the direction a frame took through a PacketIO.
type direction uint8

const (
	dirIn  direction = iota // read from the PacketIO
	dirOut                  // written to the PacketIO
)

// capWriter writes frames to a pcap or pcapng stream. It is safe for
// concurrent use; records are written in the order the calls take its lock,
// with timestamps taken under that lock, so they never go backwards in the
// file as long as the clock does not.
type capWriter struct {
	mu      sync.Mutex
	bw      *bufio.Writer    // pcap: buffer in front of the caller's writer
	pw      *pcapgo.Writer   // pcap
	nw      *pcapgo.NgWriter // pcapng, buffers by itself
	snaplen int
	now     func() time.Time
	err     error // first write error; recording stops after it
	closed  bool
	flags   [2]pcapgo.NgEpbFlags // indexed by direction, pointed to per record
	opts    [2]pcapgo.NgPacketOptions
}

// newCapWriter writes the file header to w and returns a writer for records.
func newCapWriter(w io.Writer, format Format, snaplen int, ifname string, now func() time.Time) (*capWriter, error) {
	if snaplen == 0 {
		snaplen = MaxSnapLen
	}
	if snaplen < backend.MinFrameLen || snaplen > MaxSnapLen {
		return nil, fmt.Errorf("pcapio: snap length %d out of range [%d, %d]", snaplen, backend.MinFrameLen, MaxSnapLen)
	}
	if now == nil {
		now = time.Now
	}
	c := &capWriter{snaplen: snaplen, now: now}
	switch format {
	case FormatPcap:
		c.bw = bufio.NewWriterSize(w, 64<<10)
		c.pw = pcapgo.NewWriterNanos(c.bw)
		if err := c.pw.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("pcapio: write pcap header: %w", err)
		}
	case FormatPcapNG:
		if ifname == "" {
			ifname = "etherconn"
		}
		intf := pcapgo.NgInterface{
			Name:                ifname,
			OS:                  runtime.GOOS,
			LinkType:            layers.LinkTypeEthernet,
			SnapLength:          uint32(snaplen),
			TimestampResolution: 9,
		}
		nw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{
				Hardware:    runtime.GOARCH,
				OS:          runtime.GOOS,
				Application: "etherconn pcapio",
			},
		})
		if err != nil {
			return nil, fmt.Errorf("pcapio: write pcapng header: %w", err)
		}
		c.nw = nw
		c.flags[dirIn].Direction = pcapgo.NgEpbFlagDirectionInbound
		c.flags[dirOut].Direction = pcapgo.NgEpbFlagDirectionOutbound
		c.opts[dirIn].Flags = &c.flags[dirIn]
		c.opts[dirOut].Flags = &c.flags[dirOut]
	default:
		return nil, fmt.Errorf("pcapio: unknown capture format %v", format)
	}
	// Flush the header so that the file is a valid, empty capture at once
	// and a writer that cannot take it fails here.
	if err := c.flush(); err != nil {
		return nil, err
	}
	return c, nil
}

// write records frame, cut to the snap length. After a write error or close
// it records nothing and returns the first error (or nil after close).
func (c *capWriter) write(dir direction, frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.err != nil {
		return c.err
	}
	data := frame
	if len(data) > c.snaplen {
		data = data[:c.snaplen]
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     c.now(),
		CaptureLength: len(data),
		Length:        len(frame),
	}
	if c.pw != nil {
		return c.keep("record frame", c.pw.WritePacket(ci, data))
	}
	return c.keep("record frame", c.nw.WritePacketWithOptions(ci, data, c.opts[dir]))
}

// keep makes err, if not nil, the writer's first error, after which it
// records nothing, and returns the writer's error. c.mu is held.
func (c *capWriter) keep(what string, err error) error {
	if err != nil {
		c.err = fmt.Errorf("pcapio: %s: %w", what, err)
	}
	return c.err
}

// flush writes buffered records through to the underlying writer.
func (c *capWriter) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *capWriter) flushLocked() error {
	if c.closed || c.err != nil {
		return c.err
	}
	if c.bw != nil {
		return c.keep("flush capture", c.bw.Flush())
	}
	return c.keep("flush capture", c.nw.Flush())
}

// close flushes and stops recording. It returns the first error the writer
// met, if any.
func (c *capWriter) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.closed = true
	return err
}

// failed returns the first error the writer met.
func (c *capWriter) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
