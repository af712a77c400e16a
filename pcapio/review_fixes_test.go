package pcapio_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/pcapio"
)

// Gzip files that decompress to too little, or to garbage, are bad files,
// reported as such rather than through a recovered panic.
func TestOpenOfflineShortGzip(t *testing.T) {
	dir := t.TempDir()
	var empty, short bytes.Buffer
	gzip.NewWriter(&empty).Close()
	w := gzip.NewWriter(&short)
	w.Write([]byte{0xd4})
	w.Close()
	trunc := short.Bytes()[:12]
	for name, data := range map[string][]byte{"empty.gz": empty.Bytes(), "short.gz": short.Bytes(), "trunc.gz": trunc} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		_, err := pcapio.OpenOffline(p, pcapio.OfflineConfig{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, pcapio.ErrBadFile, name)
		assert.NotContains(t, err.Error(), "runtime error", name)
	}
}

// Close unblocks a replay blocked reading a FIFO.
func TestOfflineCloseUnblocksFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	writer := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			writer <- nil
			return
		}
		// A valid pcap header, then nothing: the reader blocks on the first record.
		hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
		f.Write(hdr)
		writer <- f
	}()
	o, err := pcapio.OpenOffline(p, pcapio.OfflineConfig{})
	require.NoError(t, err)
	f := <-writer
	require.NotNil(t, f)
	defer f.Close()
	done := testkit.Go(func() error {
		_, err := o.ReadFrame(make([]byte, 2048))
		return err
	})
	time.Sleep(50 * time.Millisecond)
	testkit.Await(t, testkit.Go(o.Close), 5*time.Second, "Close blocked behind a read of a FIFO")
	err = testkit.Await(t, done, 5*time.Second, "read not unblocked")
	assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
}
