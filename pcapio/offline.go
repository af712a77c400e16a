package pcapio

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/backend"
)

// OfflineConfig configures OpenOffline. The zero value replays every frame
// as fast as possible and discards frames written during replay.
type OfflineConfig struct {
	// Speed paces the replay by the capture timestamps: frame i is returned
	// (t_i - t_0) / Speed after the first frame, so 1 replays in real time
	// and 2.0 twice as fast. The schedule is absolute: a reader that falls
	// behind gets the late frames at once, without the gaps. Timestamps that
	// go backwards are replayed at once. 0 replays as fast as possible.
	Speed float64
	// WritesTo, if not nil, receives the frames written to the Offline
	// during replay, as a capture file in WritesFormat. Close flushes it but
	// does not close it. If nil, written frames are discarded and counted in
	// Stats().Discarded.
	WritesTo io.Writer
	// WritesFormat is the file format written to WritesTo.
	WritesFormat Format
	// IncludeOutbound replays pcapng records whose epb_flags mark them as
	// outbound. By default they are skipped: they are frames the captured
	// side sent, as a Recorder writes them, and a PacketIO never reads its
	// own transmissions. Classic pcap cannot mark direction, so every pcap
	// record is replayed.
	IncludeOutbound bool
}

func (c *OfflineConfig) validate() error {
	if c.Speed < 0 || math.IsNaN(c.Speed) || math.IsInf(c.Speed, 0) {
		return fmt.Errorf("pcapio: replay speed %v: must be a finite number >= 0", c.Speed)
	}
	return nil
}

var (
	_ backend.PacketIO      = (*Offline)(nil)
	_ backend.BatchReader   = (*Offline)(nil)
	_ backend.StatsReporter = (*Offline)(nil)
)

// maxWait bounds a single paced wait so that float arithmetic on absurd
// timestamps cannot overflow a time.Duration.
const maxWait = 100 * 365 * 24 * time.Hour

// Offline is a finite backend.PacketIO that replays the frames of a pcap or
// pcapng file as received frames and then returns io.EOF. It implements
// backend.BatchReader and backend.StatsReporter.
//
// Frames written to an Offline are counted and discarded, or recorded (see
// OfflineConfig.WritesTo). Like every PacketIO it is safe for one reader
// and any number of concurrent writers.
type Offline struct {
	name      string
	closer    io.Closer
	src       recordSource
	speed     float64
	sink      *capWriter
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	errClosed error
	c         backend.Counters

	readMu     sync.Mutex // guards the fields below
	readErr    error      // final read error (io.EOF at the end)
	hasPending bool       // pdata/pts hold a record not yet delivered
	pdata      []byte
	pts        time.Time
	started    bool
	wallStart  time.Time
	tsStart    time.Time
	timer      *time.Timer
}

// OpenOffline opens the pcap or pcapng file at path, optionally
// gzip-compressed, for replay. The file must have the Ethernet link type.
// Errors name the file; a malformed file gives an error that satisfies
// errors.Is(err, ErrBadFile), a non-Ethernet one errors.Is(err,
// ErrNotEthernet). Nothing in the file makes the replay allocate more than
// one frame buffer (see the package documentation, File formats).
func OpenOffline(path string, cfg OfflineConfig) (*Offline, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcapio: open capture: %w", err)
	}
	o, err := newOffline(f, path, f, cfg)
	if err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

// Capture file magic numbers, read little-endian.
const (
	magicPcapMicro     = 0xa1b2c3d4
	magicPcapNano      = 0xa1b23c4d
	magicPcapMicroSwap = 0xd4c3b2a1
	magicPcapNanoSwap  = 0x4d3cb2a1
	magicPcapNG        = 0x0a0d0d0a // section header block type, a palindrome
)

// newOffline sets up replay from r; name is used in errors, closer (may be
// nil) is closed by Close.
func newOffline(r io.Reader, name string, closer io.Closer, cfg OfflineConfig) (o *Offline, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			o, err = nil, fmt.Errorf("pcapio: %s: %w: reader failed: %v", name, ErrBadFile, p)
		}
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var gz *gzip.Reader
		if gz, err = gzip.NewReader(br); err != nil {
			return nil, fmt.Errorf("pcapio: %s: %w: bad gzip header: %w", name, ErrBadFile, err)
		}
		br = bufio.NewReaderSize(gz, 64<<10)
		magic, err = br.Peek(4)
	}
	if err != nil {
		switch {
		case len(magic) == 0 && err == io.EOF:
			return nil, fmt.Errorf("pcapio: %s: %w: empty file", name, ErrBadFile)
		case err == io.EOF:
			return nil, fmt.Errorf("pcapio: %s: %w: too short for a file header", name, ErrBadFile)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, new(flate.CorruptInputError)):
			return nil, fmt.Errorf("pcapio: %s: %w: corrupt gzip: %w", name, ErrBadFile, err)
		default:
			return nil, fmt.Errorf("pcapio: %s: %w", name, err)
		}
	}

	o = &Offline{
		name:      name,
		closer:    closer,
		speed:     cfg.Speed,
		done:      make(chan struct{}),
		errClosed: fmt.Errorf("pcapio: %s: %w", name, net.ErrClosed),
	}
	switch m := binary.LittleEndian.Uint32(magic); m {
	case magicPcapMicro, magicPcapNano, magicPcapMicroSwap, magicPcapNanoSwap:
		o.src, err = newPcapSource(br, &o.c)
	case magicPcapNG:
		o.src, err = newNgSource(br, &o.c, cfg.IncludeOutbound)
	default:
		err = fmt.Errorf("%w: unknown magic number %#08x", ErrBadFile, m)
	}
	if err != nil {
		return nil, fmt.Errorf("pcapio: %s: %w", name, err)
	}
	if cfg.WritesTo != nil {
		o.sink, err = newCapWriter(cfg.WritesTo, cfg.WritesFormat, 0, "replay", nil)
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// nextRecord reads the next record, turning reader errors (and panics, which
// a reader of untrusted input must never let through) into final errors.
func (o *Offline) nextRecord() (data []byte, ts time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("pcapio: %s: record %d: %w: reader failed: %v", o.name, o.src.record(), ErrBadFile, p)
		}
	}()
	data, ts, err = o.src.next()
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("pcapio: %s: record %d: %w: truncated: %w", o.name, o.src.record(), ErrBadFile, err)
	case errors.Is(err, ErrNotEthernet):
		err = fmt.Errorf("pcapio: %s: record %d: %w", o.name, o.src.record(), err)
	default:
		err = fmt.Errorf("pcapio: %s: record %d: %w: %w", o.name, o.src.record(), ErrBadFile, err)
	}
	return data, ts, err
}

// fetch makes the pending record the next one to deliver. readMu is held.
func (o *Offline) fetch() error {
	if o.closed.Load() {
		return o.errClosed
	}
	if o.hasPending {
		return nil
	}
	if o.readErr != nil {
		return o.readErr
	}
	data, ts, err := o.nextRecord()
	if err != nil {
		if o.closed.Load() {
			return o.errClosed // the file was closed under the read
		}
		o.readErr = err
		return err
	}
	o.pdata, o.pts, o.hasPending = data, ts, true
	return nil
}

// due returns how long the pending record must wait. readMu is held.
func (o *Offline) due() time.Duration {
	if o.speed == 0 {
		return 0
	}
	if !o.started {
		o.started = true
		o.wallStart = time.Now()
		o.tsStart = o.pts
		return 0
	}
	off := float64(o.pts.Sub(o.tsStart)) / o.speed
	if off <= 0 {
		return 0
	}
	if off > float64(maxWait) {
		off = float64(maxWait)
	}
	return time.Until(o.wallStart.Add(time.Duration(off)))
}

// wait sleeps for d unless the Offline is closed first. readMu is held.
func (o *Offline) wait(d time.Duration) error {
	if o.timer == nil {
		o.timer = time.NewTimer(d)
	} else {
		o.timer.Reset(d)
	}
	select {
	case <-o.timer.C:
		return nil
	case <-o.done:
		o.timer.Stop()
		return o.errClosed
	}
}

// awaitNext fetches the next record and waits for its time: the start of
// ReadFrame and ReadFrames. readMu is held.
func (o *Offline) awaitNext() error {
	if err := o.fetch(); err != nil {
		return err
	}
	if d := o.due(); d > 0 {
		return o.wait(d)
	}
	return nil
}

// take copies the pending record into b. readMu is held.
func (o *Offline) take(b []byte) (int, bool) {
	n := copy(b, o.pdata)
	o.hasPending = false
	o.c.In(n)
	return n, n < len(o.pdata)
}

// ReadFrame copies the next frame of the capture into b, waiting for its
// time if the replay is paced. At the end of the capture it returns io.EOF,
// and then keeps returning it. A frame longer than b is truncated with
// backend.ErrTruncated; a malformed file gives an error satisfying
// errors.Is(err, ErrBadFile) that is final.
func (o *Offline) ReadFrame(b []byte) (int, error) {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	if err := o.awaitNext(); err != nil {
		return 0, err
	}
	n, truncated := o.take(b)
	if truncated {
		return n, backend.ErrTruncated
	}
	return n, nil
}

// ReadFrames implements backend.BatchReader: it waits for the next frame as
// ReadFrame does, then adds the frames that follow as long as they are due
// (all of them when the replay is not paced), up to min(len(bufs),
// len(lens)). An error or the end of the capture after the first frame is
// returned by the next call.
func (o *Offline) ReadFrames(bufs [][]byte, lens []int) (int, error) {
	limit := min(len(bufs), len(lens))
	if limit == 0 {
		return 0, nil
	}
	o.readMu.Lock()
	defer o.readMu.Unlock()
	if err := o.awaitNext(); err != nil {
		return 0, err
	}
	lens[0], _ = o.take(bufs[0])
	i := 1
	for ; i < limit; i++ {
		if o.fetch() != nil || o.due() > 0 {
			break
		}
		lens[i], _ = o.take(bufs[i])
	}
	return i, nil
}

// WriteFrame accepts frame and records it to OfflineConfig.WritesTo, or
// discards it and counts it in Stats().Discarded. Frames shorter than an
// Ethernet header are rejected with backend.ErrFrameTooShort.
func (o *Offline) WriteFrame(frame []byte) error {
	if o.closed.Load() {
		return o.errClosed
	}
	if len(frame) < backend.MinFrameLen {
		return backend.ErrFrameTooShort
	}
	o.c.Out(len(frame))
	if o.sink == nil {
		o.c.Discard()
		return nil
	}
	return o.sink.write(dirOut, frame)
}

// Stats returns the Offline's counters: frames replayed (In), records skipped
// because they are longer than backend.MaxFrameLen (Dropped), frames written
// (Out) and, without a write sink, frames discarded.
func (o *Offline) Stats() backend.Stats {
	return o.c.Snapshot()
}

// Close ends the replay: it unblocks a paced wait, closes the file and
// flushes the write sink. Later calls return errors satisfying
// errors.Is(err, net.ErrClosed). Close is idempotent; only the first call
// can return an error.
func (o *Offline) Close() error {
	err := error(nil)
	o.closeOnce.Do(func() {
		o.closed.Store(true)
		close(o.done)
		var errs []error
		// Close the file before taking the read lock: a reader blocked in
		// the file (a FIFO, stdin) holds the lock and is unblocked by this.
		if o.closer != nil {
			if cerr := o.closer.Close(); cerr != nil {
				errs = append(errs, fmt.Errorf("pcapio: %s: close: %w", o.name, cerr))
			}
		}
		o.readMu.Lock() // wait for a read in progress to finish
		o.readMu.Unlock()
		if o.sink != nil {
			errs = append(errs, o.sink.close())
		}
		err = errors.Join(errs...)
	})
	return err
}
