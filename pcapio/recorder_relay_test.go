package pcapio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

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
