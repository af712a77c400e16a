package pcapio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// RecordDirection selects the frames a Recorder records.
type RecordDirection int

const (
	// RecordBoth records frames read from and written to the inner PacketIO.
	RecordBoth RecordDirection = iota
	// RecordIn records only frames read from the inner PacketIO.
	RecordIn
	// RecordOut records only frames written to the inner PacketIO.
	RecordOut
)

// RecorderConfig configures NewRecorder and RecordToFile. The zero value
// records both directions as pcap with nanosecond timestamps from the
// system clock.
type RecorderConfig struct {
	// Format is the file format. Only FormatPcapNG marks the direction of
	// each frame; in a FormatPcap file received and sent frames cannot be
	// told apart.
	Format Format
	// SnapLen cuts recorded frames to this many bytes (the original length
	// is kept in the record). 0 means MaxSnapLen.
	SnapLen int
	// Direction selects which frames are recorded.
	Direction RecordDirection
	// Now gives the timestamp of each record; nil means time.Now. A fixed
	// clock makes the file reproducible byte for byte.
	Now func() time.Time
	// InterfaceName is the interface name written to a pcapng file's
	// interface description block; empty means "etherconn".
	InterfaceName string
}

var (
	_ backend.PacketIO      = (*Recorder)(nil)
	_ backend.BatchReader   = (*Recorder)(nil)
	_ backend.BatchWriter   = (*Recorder)(nil)
	_ backend.StatsReporter = (*Recorder)(nil)
	_ backend.ReadDeadliner = (*Recorder)(nil)
)

// Recorder is a backend.PacketIO that passes every call through to an inner
// PacketIO and records the frames it reads and writes into a capture file,
// with timestamps. It is safe for one reader and any number of concurrent
// writers: records are serialized by a mutex.
//
// Recorder forwards every ability of the inner PacketIO, as a wrapper must
// (only the recording is its own): it always implements
// backend.BatchReader, backend.BatchWriter, backend.StatsReporter and
// backend.ReadDeadliner. It passes them through when the inner PacketIO has
// them and otherwise emulates the first three: ReadFrames reads one frame
// per call, WriteFrames writes frame by frame, and Stats returns the
// Recorder's own counts of the frames that passed through it. A read
// deadline cannot be emulated: without one on the inner PacketIO,
// SetReadDeadline returns an error wrapping errors.ErrUnsupported, and
// backend.ReadDeadlinerOf reports that the Recorder has none. With one, a
// relay on the Recorder keeps its reader-led receive.
//
// Written frames are recorded when they are handed to the inner PacketIO,
// before it sends them, so a reply never appears in the file before the
// frame that caused it; a write the inner PacketIO then fails is still in
// the file. A frame read with backend.ErrTruncated is recorded as the bytes
// read: the PacketIO does not tell its original length.
//
// A failure to write the file does not disturb the data path: recording
// stops, the error is kept, and Err and Close return it.
type Recorder struct {
	inner     backend.PacketIO
	br        backend.BatchReader
	bw        backend.BatchWriter
	sr        backend.StatsReporter
	rd        backend.ReadDeadliner
	cw        *capWriter
	file      io.Closer
	recIn     bool
	recOut    bool
	c         backend.Counters
	closed    atomic.Bool
	closeOnce sync.Once
}

// NewRecorder returns a Recorder that passes through to inner and writes a
// capture file to w. The file header is written at once. Close flushes the
// file but does not close w. On error, inner is left open.
func NewRecorder(inner backend.PacketIO, w io.Writer, cfg RecorderConfig) (*Recorder, error) {
	if inner == nil {
		return nil, errors.New("pcapio: NewRecorder: nil inner PacketIO")
	}
	if w == nil {
		return nil, errors.New("pcapio: NewRecorder: nil writer")
	}
	if cfg.Direction < RecordBoth || cfg.Direction > RecordOut {
		return nil, fmt.Errorf("pcapio: NewRecorder: unknown direction %d", cfg.Direction)
	}
	cw, err := newCapWriter(w, cfg.Format, cfg.SnapLen, cfg.InterfaceName, cfg.Now)
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		inner:  inner,
		cw:     cw,
		recIn:  cfg.Direction != RecordOut,
		recOut: cfg.Direction != RecordIn,
	}
	r.br, _ = inner.(backend.BatchReader)
	r.bw, _ = inner.(backend.BatchWriter)
	r.sr, _ = inner.(backend.StatsReporter)
	r.rd, _ = inner.(backend.ReadDeadliner)
	return r, nil
}

// RecordToFile is NewRecorder writing to a file it creates (or truncates) at
// path; Close closes the file. On error, inner is left open.
func RecordToFile(inner backend.PacketIO, path string, cfg RecorderConfig) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcapio: create capture: %w", err)
	}
	r, err := NewRecorder(inner, f, cfg)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	r.file = f
	return r, nil
}

// ReadFrame reads a frame from the inner PacketIO and records it.
func (r *Recorder) ReadFrame(b []byte) (int, error) {
	if r.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := r.inner.ReadFrame(b)
	if err == nil || errors.Is(err, backend.ErrTruncated) {
		r.c.In(n)
		if r.recIn {
			r.cw.write(dirIn, b[:n])
		}
	}
	return n, err
}

// ReadFrames implements backend.BatchReader over the inner PacketIO and
// records the frames read.
func (r *Recorder) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	if r.closed.Load() {
		return 0, net.ErrClosed
	}
	if min(len(bufs), len(lens)) == 0 {
		return 0, nil
	}
	if r.br == nil {
		n, err := r.ReadFrame(bufs[0])
		if err != nil && !errors.Is(err, backend.ErrTruncated) {
			return 0, err
		}
		lens[0] = n
		return 1, nil
	}
	n, err := r.br.ReadFrames(bufs, lens)
	r.c.InBatch(lens[:n])
	for i := 0; i < n; i++ {
		if r.recIn {
			r.cw.write(dirIn, bufs[i][:lens[i]])
		}
	}
	return n, err
}

// WriteFrame records frame and writes it to the inner PacketIO.
func (r *Recorder) WriteFrame(frame []byte) error {
	if r.closed.Load() {
		return net.ErrClosed
	}
	if r.recOut {
		r.cw.write(dirOut, frame)
	}
	if err := r.inner.WriteFrame(frame); err != nil {
		return err
	}
	r.c.Out(len(frame))
	return nil
}

// WriteFrames implements backend.BatchWriter over the inner PacketIO and
// records the frames.
func (r *Recorder) WriteFrames(frames [][]byte) (int, error) {
	if r.bw == nil {
		for i, f := range frames {
			if err := r.WriteFrame(f); err != nil {
				return i, err
			}
		}
		return len(frames), nil
	}
	if r.closed.Load() {
		return 0, net.ErrClosed
	}
	if r.recOut {
		for _, f := range frames {
			r.cw.write(dirOut, f)
		}
	}
	n, err := r.bw.WriteFrames(frames)
	r.c.OutBatch(frames[:n])
	return n, err
}

// errNoReadDeadline is SetReadDeadline's error over an inner PacketIO
// without read deadlines.
var errNoReadDeadline = fmt.Errorf("pcapio: Recorder: the wrapped PacketIO has no read deadline: %w", errors.ErrUnsupported)

// SetReadDeadline implements backend.ReadDeadliner: it sets the inner
// PacketIO's read deadline, which then applies to ReadFrame and ReadFrames
// (a timed-out read records nothing). If the inner PacketIO has no
// SetReadDeadline method it returns an error wrapping
// errors.ErrUnsupported.
func (r *Recorder) SetReadDeadline(t time.Time) error {
	if r.rd == nil {
		return errNoReadDeadline
	}
	return r.rd.SetReadDeadline(t)
}

// Stats returns the inner PacketIO's Stats if it has them, otherwise the
// Recorder's own counts of frames read and written through it.
func (r *Recorder) Stats() backend.Stats {
	if r.sr != nil {
		return r.sr.Stats()
	}
	return r.c.Snapshot()
}

// Flush writes the records buffered so far through to the file.
func (r *Recorder) Flush() error {
	return r.cw.flush()
}

// Err returns the first error met while writing the file, or nil.
func (r *Recorder) Err() error {
	return r.cw.failed()
}

// Close closes the inner PacketIO (which unblocks a blocked read), flushes
// the file and, for RecordToFile, closes it. It returns the first error of
// those steps or of recording. Close is idempotent; only the first call can
// return an error.
func (r *Recorder) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		errs := []error{r.inner.Close(), r.cw.close()}
		if r.file != nil {
			errs = append(errs, r.file.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}
