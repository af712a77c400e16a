package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
	"github.com/etherconn/etherconn/rudp"
)

// TestRecorderBothDirections drives reads and writes in a fixed order
// through a Recorder and checks the file record by record: data, original
// length, timestamp from the clock, and (pcapng) direction.
func TestRecorderBothDirections(t *testing.T) {
	frames := testFrames(t)
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/batch=%v", format, batch), func(t *testing.T) {
				fake := testkit.NewFakeIO()
				var inner backend.PacketIO = fake
				if batch {
					inner = fake.Batch()
				}
				var file bytes.Buffer
				clock := stepClock(epoch, time.Microsecond)
				r, err := NewRecorder(inner, &file, RecorderConfig{Format: format, Now: clock})
				require.NoError(t, err)

				type want struct {
					data []byte
					dir  pcapgo.NgEpbFlag
				}
				var wants []want
				buf := make([]byte, backend.MaxFrameLen)
				for i, f := range frames {
					if i%2 == 0 {
						require.NoError(t, r.WriteFrame(f))
						wants = append(wants, want{f, pcapgo.NgEpbFlagDirectionOutbound})
						continue
					}
					fake.Give(f)
					var n int
					if batch {
						lens := []int{0}
						k, err := r.ReadFrames([][]byte{buf}, lens)
						require.NoError(t, err)
						require.Equal(t, 1, k)
						n = lens[0]
					} else {
						n, err = r.ReadFrame(buf)
						require.NoError(t, err)
					}
					require.Equal(t, f, buf[:n])
					wants = append(wants, want{f, pcapgo.NgEpbFlagDirectionInbound})
				}
				if batch {
					k, err := r.WriteFrames(frames[:2])
					require.NoError(t, err)
					require.Equal(t, 2, k)
					wants = append(wants, want{frames[0], pcapgo.NgEpbFlagDirectionOutbound}, want{frames[1], pcapgo.NgEpbFlagDirectionOutbound})
					assert.Equal(t, 1, inner.(*testkit.FakeBatchIO).BatchWrites(), "WriteFrames passed through")
					assert.Equal(t, 3, inner.(*testkit.FakeBatchIO).BatchReads(), "ReadFrames passed through")
				}
				require.NoError(t, r.Close())
				assert.Equal(t, 1, fake.Closes(), "Close closes the inner PacketIO")

				recs := readCapture(t, file.Bytes(), format)
				require.Len(t, recs, len(wants))
				for i, w := range wants {
					assert.Equal(t, w.data, recs[i].data, "record %d", i)
					assert.Equal(t, len(w.data), recs[i].ci.Length, "record %d", i)
					assert.True(t, epoch.Add(time.Duration(i)*time.Microsecond).Equal(recs[i].ci.Timestamp), "record %d timestamp %v", i, recs[i].ci.Timestamp)
					if format == FormatPcapNG {
						assert.Equal(t, w.dir, recs[i].dir, "record %d direction", i)
					}
				}
			})
		}
	}
}

func TestRecorderDirectionAndSnapLen(t *testing.T) {
	frames := testFrames(t)
	jumbo := frames[len(frames)-1]
	tests := []struct {
		name    string
		cfg     RecorderConfig
		wantIn  bool
		wantOut bool
		caplen  int
	}{
		{"both", RecorderConfig{}, true, true, len(jumbo)},
		{"in-only", RecorderConfig{Direction: RecordIn}, true, false, len(jumbo)},
		{"out-only", RecorderConfig{Direction: RecordOut, Format: FormatPcapNG}, false, true, len(jumbo)},
		{"snaplen-64", RecorderConfig{SnapLen: 64, Format: FormatPcapNG}, true, true, 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := testkit.NewFakeIO()
			var file bytes.Buffer
			r, err := NewRecorder(fake, &file, tc.cfg)
			require.NoError(t, err)
			fake.Give(jumbo)
			buf := make([]byte, backend.MaxFrameLen)
			_, err = r.ReadFrame(buf)
			require.NoError(t, err)
			require.NoError(t, r.WriteFrame(jumbo))
			require.NoError(t, r.Close())
			recs := readCapture(t, file.Bytes(), tc.cfg.Format)
			want := 0
			if tc.wantIn {
				want++
			}
			if tc.wantOut {
				want++
			}
			require.Len(t, recs, want)
			for _, rc := range recs {
				assert.Equal(t, tc.caplen, rc.ci.CaptureLength)
				assert.Equal(t, len(jumbo), rc.ci.Length)
				assert.Equal(t, jumbo[:tc.caplen], rc.data)
			}
		})
	}
}

// TestRecorderConcurrent records from one reader and many writers at once;
// under -race it checks the locking, and the file must hold every frame
// intact.
func TestRecorderConcurrent(t *testing.T) {
	const writers, perWriter, reads = 8, 250, 500
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		t.Run(format.String(), func(t *testing.T) {
			fake := testkit.NewFakeIO()
			path := filepath.Join(t.TempDir(), "rec."+format.String())
			r, err := RecordToFile(fake, path, RecorderConfig{Format: format})
			require.NoError(t, err)

			mk := func(kind, id, seq int) []byte {
				s := frameSpec{payload: 20 + (id*7+seq)%200, marker: byte(kind)}
				f := s.build(t)
				binary.BigEndian.PutUint32(f[len(f)-8:], uint32(id))
				binary.BigEndian.PutUint32(f[len(f)-4:], uint32(seq))
				return f
			}
			want := map[string]int{}
			var wantMu sync.Mutex
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // feeder
				defer wg.Done()
				for i := 0; i < reads; i++ {
					f := mk(1, 0, i)
					wantMu.Lock()
					want[string(f)]++
					wantMu.Unlock()
					fake.Give(f)
				}
			}()
			readDone := make(chan int)
			go func() { // the one reader
				buf := make([]byte, backend.MaxFrameLen)
				n := 0
				for n < reads {
					if _, err := r.ReadFrame(buf); err != nil {
						break
					}
					n++
				}
				readDone <- n
			}()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perWriter; i++ {
						f := mk(2, w+1, i)
						wantMu.Lock()
						want[string(f)]++
						wantMu.Unlock()
						assert.NoError(t, r.WriteFrame(f))
						if i%50 == 0 {
							assert.NoError(t, r.Flush())
							_ = r.Stats()
						}
					}
				}()
			}
			wg.Wait()
			require.Equal(t, reads, <-readDone)
			require.NoError(t, r.Close())
			require.NoError(t, r.Err())

			data, err := os.ReadFile(path)
			require.NoError(t, err)
			recs := readCapture(t, data, format)
			require.Len(t, recs, reads+writers*perWriter)
			got := map[string]int{}
			var last time.Time
			for i, rc := range recs {
				got[string(rc.data)]++
				assert.False(t, rc.ci.Timestamp.Before(last), "record %d goes back in time", i)
				last = rc.ci.Timestamp
			}
			assert.Equal(t, want, got)
			st := r.Stats()
			assert.Equal(t, uint64(reads), st.FramesIn)
			assert.Equal(t, uint64(writers*perWriter), st.FramesOut)
		})
	}
}

func TestRecorderRoundTripThroughOffline(t *testing.T) {
	frames := testFrames(t)
	fake := testkit.NewFakeIO()
	path := filepath.Join(t.TempDir(), "rec.pcapng")
	r, err := RecordToFile(fake, path, RecorderConfig{Format: FormatPcapNG, Now: stepClock(epoch, 10*time.Millisecond)})
	require.NoError(t, err)
	buf := make([]byte, backend.MaxFrameLen)
	var in [][]byte
	for i, f := range frames {
		if i%3 == 0 {
			require.NoError(t, r.WriteFrame(f))
			continue
		}
		fake.Give(f)
		n, err := r.ReadFrame(buf)
		require.NoError(t, err)
		in = append(in, append([]byte(nil), buf[:n]...))
	}
	require.NoError(t, r.Close())

	// Replay gives back what was received, not what was sent.
	o, err := OpenOffline(path, OfflineConfig{})
	require.NoError(t, err)
	defer o.Close()
	got, err := readAll(t, o)
	require.Equal(t, io.EOF, err)
	assert.Equal(t, in, got)

	all, err := OpenOffline(path, OfflineConfig{IncludeOutbound: true})
	require.NoError(t, err)
	defer all.Close()
	got, err = readAll(t, all)
	require.Equal(t, io.EOF, err)
	assert.Equal(t, frames, got)
}

func TestRecorderStats(t *testing.T) {
	frames := testFrames(t)[:2]
	fake := testkit.NewFakeIO()
	r, err := NewRecorder(fake, io.Discard, RecorderConfig{})
	require.NoError(t, err)
	fake.Give(frames[0])
	_, err = r.ReadFrame(make([]byte, backend.MaxFrameLen))
	require.NoError(t, err)
	require.NoError(t, r.WriteFrame(frames[1]))
	assert.ErrorIs(t, r.WriteFrame(make([]byte, 5)), backend.ErrFrameTooShort)
	assert.Equal(t, backend.Stats{FramesIn: 1, BytesIn: uint64(len(frames[0])), FramesOut: 1, BytesOut: uint64(len(frames[1]))}, r.Stats(),
		"own counts when the inner PacketIO has no Stats")
	require.NoError(t, r.Close())

	marked := testkit.NewFakeIO()
	marked.Drop(4242) // marks the inner Stats, so that a pass-through shows
	rb, err := NewRecorder(marked.Batch(), io.Discard, RecorderConfig{})
	require.NoError(t, err)
	assert.Equal(t, backend.Stats{Dropped: 4242}, rb.Stats(), "inner Stats are passed through")
	require.NoError(t, rb.Close())
}

func TestRecorderTruncatedRead(t *testing.T) {
	frame := testFrames(t)[1]
	fake := testkit.NewFakeIO()
	var file bytes.Buffer
	r, err := NewRecorder(fake, &file, RecorderConfig{})
	require.NoError(t, err)
	fake.Give(frame)
	fake.Give(frame)
	small := make([]byte, 30)
	n, err := r.ReadFrame(small)
	assert.ErrorIs(t, err, backend.ErrTruncated)
	assert.Equal(t, 30, n)
	lens := []int{0}
	k, err := r.ReadFrames([][]byte{small}, lens)
	require.NoError(t, err, "truncation in a batch is not an error")
	assert.Equal(t, 1, k)
	assert.Equal(t, 30, lens[0])
	require.NoError(t, r.Close())
	recs := readCapture(t, file.Bytes(), FormatPcap)
	require.Len(t, recs, 2)
	assert.Equal(t, frame[:30], recs[0].data)
}

func TestRecorderFileWriteError(t *testing.T) {
	frames := testFrames(t)
	fake := testkit.NewFakeIO()
	// Room for the header; pcapng's header is bigger than 24 bytes.
	r, err := NewRecorder(fake, &failWriter{limit: 24}, RecorderConfig{})
	require.NoError(t, err)
	for range 100 {
		for _, f := range frames {
			require.NoError(t, r.WriteFrame(f), "a full disk must not break the data path")
		}
	}
	assert.Len(t, fake.Written(), 100*len(frames))
	require.Error(t, r.Err())
	assert.ErrorContains(t, r.Err(), "disk full")
	assert.ErrorContains(t, r.Close(), "disk full")
	assert.NoError(t, r.Close(), "only the first Close reports")

	_, err = NewRecorder(testkit.NewFakeIO(), &failWriter{limit: 0}, RecorderConfig{Format: FormatPcapNG})
	assert.Error(t, err, "header write fails at once")
}

func TestRecorderClosed(t *testing.T) {
	fake := testkit.NewFakeIO()
	r, err := NewRecorder(fake, io.Discard, RecorderConfig{})
	require.NoError(t, err)
	requireCloseUnblocks(t, 20*time.Millisecond, func() error {
		_, err := r.ReadFrame(make([]byte, 100))
		return err
	}, r.Close)
	_, err = r.ReadFrame(make([]byte, 100))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = r.ReadFrames([][]byte{make([]byte, 100)}, []int{0})
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, r.WriteFrame(make([]byte, 60)), net.ErrClosed)
	_, err = r.WriteFrames([][]byte{make([]byte, 60)})
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.NoError(t, r.Close())
	assert.Equal(t, 1, fake.Closes())
}

func TestRecorderInvalidArguments(t *testing.T) {
	tests := []struct {
		name  string
		inner backend.PacketIO
		w     io.Writer
		cfg   RecorderConfig
	}{
		{"nil-inner", nil, io.Discard, RecorderConfig{}},
		{"nil-writer", testkit.NewFakeIO(), nil, RecorderConfig{}},
		{"bad-format", testkit.NewFakeIO(), io.Discard, RecorderConfig{Format: 9}},
		{"bad-direction", testkit.NewFakeIO(), io.Discard, RecorderConfig{Direction: 5}},
		{"snaplen-too-small", testkit.NewFakeIO(), io.Discard, RecorderConfig{SnapLen: 10}},
		{"snaplen-too-big", testkit.NewFakeIO(), io.Discard, RecorderConfig{SnapLen: MaxSnapLen + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRecorder(tc.inner, tc.w, tc.cfg)
			assert.Error(t, err)
			assert.Nil(t, r)
		})
	}
	dir := t.TempDir()
	_, err := RecordToFile(testkit.NewFakeIO(), filepath.Join(dir, "no-such-dir", "x.pcap"), RecorderConfig{})
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = RecordToFile(testkit.NewFakeIO(), filepath.Join(dir, "x.pcap"), RecorderConfig{Format: 9})
	assert.Error(t, err)
	_, statErr := os.Stat(filepath.Join(dir, "x.pcap"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "a failed RecordToFile leaves no file")
}

func TestFormatString(t *testing.T) {
	assert.Equal(t, "pcap", FormatPcap.String())
	assert.Equal(t, "pcapng", FormatPcapNG.String())
	assert.Equal(t, "Format(3)", Format(3).String())
}

// readerMAC is the endpoint the reader-led tests read on.
var readerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}

const (
	etherTypeExp = testkit.EtherTypeExp1 // IEEE local experimental
	leadFrames   = 5                     // frames per reader in requireReaderLed
)

// requireReaderLed runs a relay on pio, the recorded side, and sends frames
// to it on wire, the other end of the link, each while a reader is blocked
// waiting for it: first an etherconn.Conn reading raw frames, then a
// rudp.Conn on it reading UDP datagrams. Every frame must arrive, and each
// reader must have read some of them from pio itself (relay.Stats:
// ReaderFrames grows), which the relay allows only on a PacketIO whose reads
// a deadline interrupts.
func requireReaderLed(t *testing.T, pio, wire backend.PacketIO) {
	t.Helper()
	r := relay.New(pio, relay.Config{})
	defer r.Close()
	ec, err := etherconn.New(r, etherconn.Config{MAC: readerMAC, EtherTypes: []uint16{frame.EtherTypeIPv4, etherTypeExp}})
	require.NoError(t, err)
	defer ec.Close()
	uc, err := rudp.New(ec, rudp.Config{LocalAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4B)), 9)})
	require.NoError(t, err)
	defer uc.Close()

	readers := []struct {
		name  string
		conn  interface{ SetReadDeadline(time.Time) error }
		read  func(b []byte) (int, net.Addr, error)
		frame func(payload []byte) (frame, want []byte)
	}{
		{"etherconn", ec, ec.ReadFrom, func(p []byte) ([]byte, []byte) {
			return testkit.Frame([6]byte(readerMAC), [6]byte(macA), nil, etherTypeExp, p), p
		}},
		{"rudp", uc, uc.ReadFrom, func(p []byte) ([]byte, []byte) {
			// frameSpec's UDP payload, after 42 bytes of untagged
			// Ethernet, IPv4 and UDP headers: the marker, then
			// counting bytes (gopacket may pad the frame to 60).
			f := frameSpec{dst: readerMAC, payload: len(p), marker: p[len(p)-1]}.build(t)
			return f, f[42 : 42+len(p)]
		}},
	}
	for _, rd := range readers {
		before := r.Stats().ReaderFrames
		for i := range leadFrames {
			f, want := rd.frame(fmt.Appendf(nil, "%s reader-led %d", rd.name, i))
			got := make(chan []byte, 1)
			errc := make(chan error, 1)
			go func() {
				buf := make([]byte, backend.MaxFrameLen)
				if err := rd.conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					errc <- err
					return
				}
				n, _, err := rd.read(buf)
				if err != nil {
					errc <- err
					return
				}
				got <- buf[:n]
			}()
			// Let the reader block (and take the read token) first.
			time.Sleep(10 * time.Millisecond)
			require.NoError(t, wire.WriteFrame(f))
			select {
			case b := <-got:
				require.Equal(t, want, b, "%s frame %d", rd.name, i)
			case err := <-errc:
				t.Fatalf("%s frame %d: %v", rd.name, i, err)
			}
		}
		st := r.Stats()
		assert.Greater(t, st.ReaderFrames, before,
			"%s: a blocked reader must read the recorded PacketIO itself (reader-led receive); relay stats %+v", rd.name, st)
	}
}

// TestRecorderKeepsReaderLedReceive: a Recorder over a memio port forwards
// the port's read deadline, so a relay on the Recorder keeps reader-led
// receive.
func TestRecorderKeepsReaderLedReceive(t *testing.T) {
	a, b := memio.Pipe(memio.Config{})
	defer a.Close()
	rec, err := NewRecorder(b, io.Discard, RecorderConfig{})
	require.NoError(t, err)
	requireReaderLed(t, rec, a)
}

// TestRecorderReadDeadline: SetReadDeadline is the inner PacketIO's, or an
// error wrapping errors.ErrUnsupported when the inner PacketIO has none, so
// that backend.ReadDeadlinerOf sees the ability through the Recorder only
// where it is.
func TestRecorderReadDeadline(t *testing.T) {
	t.Run("inner-without-deadline", func(t *testing.T) {
		rec, err := NewRecorder(testkit.NewFakeIO(), io.Discard, RecorderConfig{})
		require.NoError(t, err)
		defer rec.Close()
		_, ok := backend.ReadDeadlinerOf(rec)
		assert.False(t, ok, "ReadDeadlinerOf over an inner PacketIO without SetReadDeadline")
		assert.ErrorIs(t, rec.SetReadDeadline(time.Now()), errors.ErrUnsupported)
	})
	t.Run("inner-with-deadline", func(t *testing.T) {
		a, b := memio.Pipe(memio.Config{})
		defer a.Close()
		var file bytesCounter
		rec, err := NewRecorder(b, &file, RecorderConfig{})
		require.NoError(t, err)
		defer rec.Close()
		rd, ok := backend.ReadDeadlinerOf(rec)
		require.True(t, ok, "ReadDeadlinerOf over a memio port")
		require.NoError(t, a.WriteFrame(frameSpec{dst: readerMAC, payload: 10}.build(t)))
		require.NoError(t, rd.SetReadDeadline(time.Now().Add(-time.Second)))
		header := file.n
		_, err = rec.ReadFrame(make([]byte, backend.MaxFrameLen))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the inner port's deadline applies")
		_, err = rec.ReadFrames([][]byte{make([]byte, backend.MaxFrameLen)}, []int{0})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, rd.SetReadDeadline(time.Time{}))
		n, err := rec.ReadFrame(make([]byte, backend.MaxFrameLen))
		require.NoError(t, err, "the port stays usable after a deadline")
		require.NoError(t, rec.Flush())
		assert.Equal(t, header+16+n, file.n, "only the frame read is recorded, not the timed-out reads")
		assert.Equal(t, uint64(1), rec.Stats().FramesIn)
	})
}

// bytesCounter is an io.Writer that counts the bytes written to it.
type bytesCounter struct{ n int }

func (w *bytesCounter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
