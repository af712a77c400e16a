package etherconn_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
	"github.com/etherconn/etherconn/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a relay on one end (port) of a memio pipe; wire is the other end.
type rig struct {
	r          *relay.Relay
	port, wire *memio.Port
}

func newRig(t *testing.T) rig {
	port, wire := memio.Pipe(memio.Config{})
	r := relay.New(port, relay.Config{})
	t.Cleanup(func() { r.Close(); wire.Close() })
	return rig{r, port, wire}
}

func newRelay(t *testing.T) *relay.Relay { return newRig(t).r }

// conn returns a Conn at mac1 on the rig's relay.
func (g rig) conn(t *testing.T) *etherconn.Conn {
	t.Helper()
	c, err := etherconn.New(g.r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	return c
}

var mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}

func TestNewErrors(t *testing.T) {
	r := newRelay(t)
	_, err := etherconn.New(r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		cfg  etherconn.Config
		want error
	}{
		{"short MAC", etherconn.Config{MAC: net.HardwareAddr{1, 2, 3}}, nil},
		{"group MAC", etherconn.Config{MAC: net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}}, relay.ErrBadConfig},
		{"taken", etherconn.Config{MAC: mac1}, relay.ErrKeyInUse},
		{"one EtherType taken", etherconn.Config{MAC: mac1, EtherTypes: []uint16{0x88b5, frame.EtherTypeIPv4}}, relay.ErrKeyInUse},
		{"VID 4096", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 4096}}}, relay.ErrBadConfig},
		{"PCP 8", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 1, PCP: 8}}}, relay.ErrBadConfig},
		{"bad TPID", etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 1, TPID: 0x1234}}}, relay.ErrBadConfig},
		{"five tags", etherconn.Config{MAC: mac1, VLANs: make(frame.VLANs, 5)}, relay.ErrBadConfig},
		{"TPID as EtherType", etherconn.Config{MAC: mac1, EtherTypes: []uint16{0x8100}}, relay.ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := etherconn.New(r, tc.cfg)
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
	// Same MAC, other VLAN stack or other TPID: a different key.
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 100}}})
	require.NoError(t, err)
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1, VLANs: frame.VLANs{{ID: 100, TPID: 0x88a8}}})
	require.NoError(t, err)
}

func TestWriteErrors(t *testing.T) {
	c, err := etherconn.New(newRelay(t), etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	_, err = c.WriteToMAC([]byte("x"), net.HardwareAddr{1}, 0x88b5)
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	_, err = c.WriteToFrom([]byte("x"), mac1, 0x88b5, nil, nil)
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	_, err = c.WriteToFrom([]byte("x"), mac1, 0x88b5, mac1, frame.VLANs{{ID: 5000}})
	assert.ErrorIs(t, err, etherconn.ErrBadAddr)
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe)

	require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = c.WriteToMAC([]byte("x"), mac1, 0x88b5)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	_, err = c.WriteToMAC([]byte("x"), mac1, 0x88b5)
	assert.NoError(t, err)
}

func TestReadDeadlineAndClose(t *testing.T) {
	r := newRelay(t)
	c, err := etherconn.New(r, etherconn.Config{MAC: mac1})
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, _, err = c.ReadFrom(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	done := testkit.Go(func() error { _, _, err := c.ReadFrom(make([]byte, 10)); return err })
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, testkit.Await(t, done, 5*time.Second, "Close did not unblock ReadFrom"), net.ErrClosed)
	// Closing frees the key.
	_, err = etherconn.New(r, etherconn.Config{MAC: mac1})
	assert.NoError(t, err)
}

func TestAddrString(t *testing.T) {
	a := &etherconn.Addr{MAC: mac1, VLANs: frame.VLANs{{ID: 100}, {ID: 200, PCP: 3}}, EtherType: 0x0800}
	assert.Equal(t, "02:00:00:00:00:01%100.200/p3#0x0800", a.String())
	assert.Equal(t, "ether", a.Network())
	assert.Equal(t, "02:00:00:00:00:01", (&etherconn.Addr{MAC: mac1}).String())
}
