package conformance_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/memio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemioPipe(t *testing.T) {
	conformance.Run(t, conformance.Config{
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			a, b := memio.Pipe(memio.Config{QueueLen: 1024})
			return a, b
		},
	})
}

func TestMemioSwitch(t *testing.T) {
	conformance.Run(t, conformance.Config{
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			sw := memio.NewSwitch(memio.Config{QueueLen: 1024})
			t.Cleanup(func() { sw.Close() })
			a, err := sw.AddPort()
			require.NoError(t, err)
			b, err := sw.AddPort()
			require.NoError(t, err)
			return a, b
		},
	})
}
