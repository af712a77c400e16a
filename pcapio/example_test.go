package pcapio_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/pcapio"
)

// exampleFrame returns an Ethernet frame from 02:00:00:00:00:01 to
// 02:00:00:00:00:02 with the local experimental EtherType 0x88b5.
func exampleFrame(payload string) []byte {
	return append([]byte{
		0x02, 0, 0, 0, 0, 0x02, // destination
		0x02, 0, 0, 0, 0, 0x01, // source
		0x88, 0xb5, // EtherType
	}, payload...)
}

// tempCapture writes frames, one second apart, to a pcap file in a new
// temporary directory with gopacket's writer and returns its path and a
// function that removes the directory.
func tempCapture(frames ...[]byte) (path string, remove func()) {
	dir, err := os.MkdirTemp("", "pcapio-example")
	if err != nil {
		log.Fatal(err)
	}
	path = filepath.Join(dir, "in.pcap")
	if err := writeCapture(path, frames...); err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	return path, func() { os.RemoveAll(dir) }
}

// writeCapture writes frames to a pcap file at path.
func writeCapture(path string, frames ...[]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Second), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			return err
		}
	}
	return nil
}

func ExampleOpenOffline() {
	path, remove := tempCapture(exampleFrame("hello"), exampleFrame("world!"))
	defer remove()

	// Speed: 0 replays as fast as possible; 1 would take the one second
	// between the two captured frames.
	o, err := pcapio.OpenOffline(path, pcapio.OfflineConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, backend.MaxFrameLen)
	for {
		n, err := o.ReadFrame(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d bytes, EtherType %#04x, payload %q\n", n, binary.BigEndian.Uint16(buf[12:14]), buf[14:n])
	}
	fmt.Printf("%+v\n", o.Stats())
	// Output:
	// 19 bytes, EtherType 0x88b5, payload "hello"
	// 20 bytes, EtherType 0x88b5, payload "world!"
	// {FramesIn:2 BytesIn:39 FramesOut:0 BytesOut:0 Dropped:0 Discarded:0}
}

func ExampleNewRecorder() {
	path, remove := tempCapture(exampleFrame("ping"))
	defer remove()
	replay, err := pcapio.OpenOffline(path, pcapio.OfflineConfig{})
	if err != nil {
		log.Fatal(err)
	}

	// Record everything that goes through the replay, in pcapng so that
	// each record says whether it was received or sent. A fixed clock makes
	// the recording reproducible.
	var file bytes.Buffer
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rec, err := pcapio.NewRecorder(replay, &file, pcapio.RecorderConfig{
		Format: pcapio.FormatPcapNG,
		Now:    func() time.Time { clock = clock.Add(time.Millisecond); return clock },
	})
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, backend.MaxFrameLen)
	if _, err := rec.ReadFrame(buf); err != nil {
		log.Fatal(err)
	}
	if err := rec.WriteFrame(exampleFrame("pong")); err != nil { // discarded by the replay
		log.Fatal(err)
	}
	if err := rec.Close(); err != nil { // closes the replay too
		log.Fatal(err)
	}

	r, err := pcapgo.NewNgReader(&file, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		log.Fatal(err)
	}
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		dir := "in"
		if opts.Flags.Direction == pcapgo.NgEpbFlagDirectionOutbound {
			dir = "out"
		}
		fmt.Printf("%s %-3s %q\n", ci.Timestamp.Format("15:04:05.000"), dir, data[14:])
	}
	// Output:
	// 00:00:00.001 in  "ping"
	// 00:00:00.002 out "pong"
}
