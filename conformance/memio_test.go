package conformance_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/conformance"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMemioPipe runs both suites over a memio pipe, as the package
// documentation shows a backend doing.
func TestMemioPipe(t *testing.T) {
	cfg := conformance.Config{
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			a, b := memio.Pipe(memio.Config{QueueLen: 1024})
			return a, b
		},
	}
	conformance.Run(t, cfg)
	conformance.RunStack(t, cfg)
}

// TestMemioSwitch runs both suites over two ports of a memio switch.
func TestMemioSwitch(t *testing.T) {
	cfg := conformance.Config{
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			sw := memio.NewSwitch(memio.Config{QueueLen: 1024})
			t.Cleanup(func() { sw.Close() })
			a, err := sw.AddPort()
			if err != nil {
				t.Fatalf("AddPort: %v", err)
			}
			b, err := sw.AddPort()
			if err != nil {
				t.Fatalf("AddPort: %v", err)
			}
			return a, b
		},
	}
	conformance.Run(t, cfg)
	conformance.RunStack(t, cfg)
}

// TestPlainPacketIO runs the contract suite over a memio pipe seen through
// the PacketIO interface alone, so that the subtests for optional abilities
// skip and the rest hold without them.
func TestPlainPacketIO(t *testing.T) {
	conformance.Run(t, conformance.Config{
		NewPair: func(t *testing.T) (backend.PacketIO, backend.PacketIO) {
			a, b := memio.Pipe(memio.Config{QueueLen: 1024})
			return testkit.Plain(a), testkit.Plain(b)
		},
	})
}
