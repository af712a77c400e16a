package rudp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/rudp"
)

func TestBatch(t *testing.T) {
	ha, hb := newHosts(t)
	ca, cb := mustConn(t, ha.ec, "198.18.0.1:1000"), mustConn(t, hb.ec, "198.18.0.2:2000")
	out := make([]rudp.Message, 10)
	for i := range out {
		out[i] = rudp.Message{Buf: []byte(fmt.Sprintf("datagram %d", i)), Addr: cb.LocalAddrPort()}
	}
	n, err := ca.WriteBatch(out)
	require.NoError(t, err)
	require.Equal(t, len(out), n)

	in := make([]rudp.Message, 16)
	for i := range in {
		in[i].Buf = make([]byte, 100)
	}
	got := 0
	require.NoError(t, cb.SetReadDeadline(time.Now().Add(5*time.Second)))
	for got < len(out) {
		n, err := cb.ReadBatch(in[got:])
		require.NoError(t, err)
		for _, m := range in[got : got+n] {
			assert.Equal(t, ca.LocalAddrPort(), m.Addr)
		}
		got += n
	}
	for i := range out {
		assert.Equal(t, string(out[i].Buf), string(in[i].Buf[:in[i].N]), "order kept")
	}

	// A bad message stops the batch after the good ones before it.
	bad := []rudp.Message{
		{Buf: []byte("ok"), Addr: cb.LocalAddrPort()},
		{Buf: []byte("v6 from a v4 socket"), Addr: netip.MustParseAddrPort("[2001:db8::2]:1")},
		{Buf: []byte("never"), Addr: cb.LocalAddrPort()},
	}
	n, err = ca.WriteBatch(bad)
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, err, rudp.ErrBadAddr)
	n, err = cb.ReadBatch(in)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, "ok", string(in[0].Buf[:in[0].N]))

	// Past deadline and Close behave as ReadFrom does.
	require.NoError(t, cb.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = cb.ReadBatch(in)
	assert.ErrorIs(t, err, errDeadline)
}

func BenchmarkBatchThroughput(b *testing.B) {
	ha, hb := newHosts(b)
	ca, cb := mustConn(b, ha.ec, "198.18.0.1:1000"), mustConn(b, hb.ec, "198.18.0.2:2000")
	const batch = 32
	out := make([]rudp.Message, batch)
	in := make([]rudp.Message, batch)
	for i := range out {
		out[i] = rudp.Message{Buf: make([]byte, 64), Addr: cb.LocalAddrPort()}
		in[i].Buf = make([]byte, 1500)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ca.WriteBatch(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			n, err := cb.ReadBatch(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "pkts/s")
}
