//go:build linux

package pcapio

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/afpacket"
	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/internal/netns"
)

// TestRecorderKeepsReaderLedReceiveAfpacket: a Recorder over an
// afpacket.Conn on a veth pair forwards the socket's read deadline, so a
// relay on the Recorder keeps reader-led receive.
func TestRecorderKeepsReaderLedReceiveAfpacket(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skipf("skipping: a veth pair in a throwaway network namespace needs CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW: %v", err)
	}
	wire, pio, _ := netns.OpenPair(t, func(ifname string) (backend.PacketIO, error) {
		return afpacket.Open(ifname, afpacket.Config{})
	}, nil)
	rec, err := NewRecorder(pio, io.Discard, RecorderConfig{Format: FormatPcapNG})
	require.NoError(t, err)
	requireReaderLed(t, rec, wire)
}
