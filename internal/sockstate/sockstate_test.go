package sockstate

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestState(t *testing.T) {
	var s State
	if err := s.CheckWrite(); err != nil {
		t.Fatalf("open: CheckWrite = %v", err)
	}
	if err := s.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWrite(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: CheckWrite = %v", err)
	}
	if !s.Close() || s.Close() {
		t.Fatal("only the first Close reports true")
	}
	for name, err := range map[string]error{"CheckWrite": s.CheckWrite(), "CheckOpen": s.CheckOpen(),
		"SetWriteDeadline": s.SetWriteDeadline(time.Time{})} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("closed: %s = %v", name, err)
		}
	}
}

func TestOpError(t *testing.T) {
	local := &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 53}
	wrapped := fmt.Errorf("relay: register: %w", net.ErrClosed)
	ended := fmt.Errorf("%w: %w", relay.ErrInputEnded, io.EOF)
	for _, tc := range []struct {
		name string
		in   error
		want func(error) bool
	}{
		{"closed is plain", wrapped, func(e error) bool { return e == net.ErrClosed }},
		{"input end keeps its cause", ended, func(e error) bool { return errors.Is(e, io.EOF) && errors.Is(e, relay.ErrInputEnded) }},
		{"other", os.ErrDeadlineExceeded, func(e error) bool { return e == os.ErrDeadlineExceeded }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := OpError("read", "udp4", local, nil, tc.in)
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "udp4" || oe.Source != local {
				t.Fatalf("OpError = %#v", err)
			}
			if !tc.want(oe.Err) {
				t.Fatalf("Err = %v", oe.Err)
			}
		})
	}
}
