package relay

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/internal/testkit"
	"github.com/etherconn/etherconn/memio"
)

func TestHairpin(t *testing.T) {
	r, f := newDirect(t, Config{Hairpin: true})
	a := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(5)}, EtherTypes: ets(etExp1), Broadcast: true})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: frame.VLANs{v(5)}, EtherTypes: ets(etExp1), Broadcast: true, Multicast: true})
	c := mustRegister(t, r, EndpointConfig{MAC: macC, VLANs: frame.VLANs{v(5)}, EtherTypes: ets(etExp1)})
	other := mustRegister(t, r, EndpointConfig{MAC: macD, VLANs: frame.VLANs{v(6)}, EtherTypes: ets(etExp1), Broadcast: true})

	t.Run("unicast stays local", func(t *testing.T) {
		fr := seqFrame(macB, macA, frame.VLANs{{ID: 5, PCP: 2}}, etExp1, 1)
		want := bytes.Clone(fr)
		require.NoError(t, a.Send(fr))
		fr[20] ^= 0xff // the caller reuses its buffer: the delivered copy is unaffected
		got := popAll(b)
		require.Len(t, got, 1)
		assert.Equal(t, want, got[0])
		assert.Empty(t, f.TakeWritten(), "not written to the PacketIO")
		assert.Empty(t, popAll(a))
		st := r.Stats()
		assert.Equal(t, uint64(1), st.Hairpinned)
		assert.Zero(t, st.FramesOut)
		assert.Zero(t, st.FramesIn, "hairpinned frames are not input")
		assert.Equal(t, uint64(1), st.Delivered)
		assert.Equal(t, uint64(1), a.Stats().FramesOut)
		assert.Equal(t, uint64(1), b.Stats().FramesIn)
	})
	// Frames that go to the wire, to the endpoints in gets as well (once
	// each) and to none of those in not (the messages say why not).
	for _, tc := range []struct {
		name string
		from *Endpoint
		fr   []byte
		gets []*Endpoint
		not  map[string]*Endpoint
	}{
		{"unicast to nobody goes to the wire", a, seqFrame(macX, macA, frame.VLANs{v(5)}, etExp1, 2), nil, nil},
		{"unicast to another VLAN goes to the wire", a, seqFrame(macB, macA, frame.VLANs{v(6)}, etExp1, 3),
			nil, map[string]*Endpoint{"b is on another VLAN": b}},
		{"broadcast goes local and to the wire", a, seqFrame(bcast, macA, frame.VLANs{v(5)}, etExp1, 4),
			[]*Endpoint{b}, map[string]*Endpoint{"not back to the sender": a, "c did not opt in": c, "other VLAN": other}},
		{"multicast goes local and to the wire", c, seqFrame(mcast, macC, frame.VLANs{v(5)}, etExp1, 5),
			[]*Endpoint{b}, map[string]*Endpoint{"a is broadcast only": a}},
		{"malformed goes to the wire", a, []byte{0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x81, 0x00}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.from.Send(tc.fr))
			assert.Equal(t, [][]byte{tc.fr}, f.TakeWritten())
			for _, ep := range tc.gets {
				assert.Len(t, popAll(ep), 1)
			}
			for why, ep := range tc.not {
				assert.Empty(t, popAll(ep), why)
			}
		})
	}
	t.Run("batch", func(t *testing.T) {
		frs := [][]byte{
			seqFrame(macB, macA, frame.VLANs{v(5)}, etExp1, 6),
			seqFrame(macX, macA, frame.VLANs{v(5)}, etExp1, 7),
		}
		n, err := a.SendBatch(frs)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, frs[1:], f.TakeWritten())
		assert.Equal(t, frs[:1], popAll(b))
	})
}

func TestNoHairpin(t *testing.T) {
	r, wire := newWire(t, Config{}, memioBig)
	a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1), Broadcast: true})
	b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1), Broadcast: true})
	sent := [][]byte{
		seqFrame(macB, macA, nil, etExp1, 1),
		seqFrame(bcast, macA, nil, etExp1, 2),
	}
	for _, fr := range sent {
		require.NoError(t, a.Send(fr))
	}
	buf := make([]byte, backend.MaxFrameLen)
	for _, want := range sent {
		n, err := wire.ReadFrame(buf)
		require.NoError(t, err)
		assert.Equal(t, want, buf[:n])
	}
	// A frame from the wire to b proves the read loop is past anything the
	// PacketIO could have looped back; b holds only that one.
	require.NoError(t, wire.WriteFrame(seqFrame(macB, macR, nil, etExp1, 3)))
	p := readWithin(t, b)
	assert.Equal(t, uint32(3), seqOf(p))
	p.Release()
	assert.Zero(t, b.Queued())
	assert.Zero(t, a.Queued())
	assert.Zero(t, r.Stats().Hairpinned)
}

func TestCounters(t *testing.T) {
	r, wire := newWire(t, Config{}, memioBig)
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	in := [][]byte{
		seqFrame(macA, macR, nil, etExp1, 1),
		testkit.Frame(macA, macR, nil, etExp1, make([]byte, 100)),
		seqFrame(macX, macR, nil, etExp1, 3), // miss
		testkit.Frame(macA, macR, nil, etExp1, make([]byte, 1500)),
	}
	var bytesIn, epBytes uint64
	for i, fr := range in {
		require.NoError(t, wire.WriteFrame(fr))
		bytesIn += uint64(len(fr))
		if i != 2 {
			epBytes += uint64(len(fr))
		}
	}
	for range 3 {
		readWithin(t, ep).Release()
	}
	out := [][]byte{
		seqFrame(macR, macA, nil, etExp1, 10),
		testkit.Frame(macR, macA, nil, etExp1, make([]byte, 200)),
	}
	var bytesOut uint64
	for _, fr := range out {
		require.NoError(t, ep.Send(fr))
		bytesOut += uint64(len(fr))
	}
	n, err := ep.SendBatch(out)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	bytesOut *= 2
	// Write errors.
	assert.ErrorIs(t, ep.Send(make([]byte, 10)), backend.ErrFrameTooShort)
	n, err = ep.SendBatch([][]byte{out[0], make([]byte, 3), out[0]})
	assert.ErrorIs(t, err, backend.ErrFrameTooShort)
	assert.Equal(t, 1, n)
	bytesOut += uint64(len(out[0]))

	st := r.Stats()
	// Who read a frame, the loop or a blocked reader, depends on timing.
	assert.LessOrEqual(t, st.ReaderFrames, st.FramesIn)
	st.ReaderFrames = 0
	assert.Equal(t, Stats{
		FramesIn: 4, BytesIn: bytesIn,
		FramesOut: 5, BytesOut: bytesOut,
		Delivered: 3, Misses: 1, WriteErrors: 2,
		Backend: backend.Stats{FramesIn: 4, BytesIn: bytesIn, FramesOut: 5, BytesOut: bytesOut},
	}, st)
	assert.Equal(t, EndpointStats{
		FramesIn: 3, BytesIn: epBytes, FramesOut: 5, BytesOut: bytesOut, WriteErrors: 2,
	}, ep.Stats())
	assert.Equal(t, 5, wire.Queued())
}

func TestSendAfterClose(t *testing.T) {
	r, _ := newWire(t, Config{}, memio.Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	fr := seqFrame(macR, macA, nil, etExp1, 1)
	require.NoError(t, ep.Close())
	assert.ErrorIs(t, ep.Send(fr), errClosed)
	_, err := ep.SendBatch([][]byte{fr})
	assert.ErrorIs(t, err, errClosed)
	ep2 := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
	require.NoError(t, r.Close())
	assert.ErrorIs(t, ep2.Send(fr), errClosed)
	assert.ErrorIs(t, r.Send(fr), errClosed)
}

// TestBatchAndSinglePath runs one scenario over the relay's two read paths
// and checks that they agree.
func TestBatchAndSinglePath(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		wrap  func(*memio.Port) backend.PacketIO
		batch bool
	}{
		{"memio batch", Config{}, func(p *memio.Port) backend.PacketIO { return p }, true},
		{"memio batch of 2", Config{BatchSize: 2}, func(p *memio.Port) backend.PacketIO { return p }, true},
		{"memio BatchSize 1", Config{BatchSize: 1}, func(p *memio.Port) backend.PacketIO { return p }, false},
		{"single-frame wrapper", Config{}, func(p *memio.Port) backend.PacketIO { return testkit.Plain(p) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, port := memio.Pipe(memioBig)
			defer wire.Close()
			pio := tt.wrap(port)
			_, isBatch := pio.(backend.BatchReader)
			require.Equal(t, tt.batch, isBatch && tt.cfg.BatchSize != 1)
			r := New(pio, tt.cfg)
			defer r.Close()
			a := mustRegister(t, r, EndpointConfig{MAC: macA, VLANs: frame.VLANs{v(7)}, EtherTypes: ets(etExp1), Broadcast: true})
			b := mustRegister(t, r, EndpointConfig{MAC: macB, VLANs: frame.VLANs{vt(0x88a8, 7)}, EtherTypes: ets(etExp1), QueueLen: 3})
			const rounds = 50
			var seqA []uint32
			for i := range rounds {
				s := uint32(i)
				// Several frames per round so that batches fill; a's come
				// last, so that once a has read them all, all were
				// dispatched.
				frs := [][]byte{
					seqFrame(macB, macR, frame.VLANs{vt(0x88a8, 7)}, etExp1, s),
					seqFrame(macX, macR, frame.VLANs{v(7)}, etExp1, s),
					testkit.Frame(macA, macR, testkit.Dot1Q(7), 0x8100, []byte{0}), // truncated tag
					seqFrame(macA, macR, frame.VLANs{v(7)}, etExp1, s),
					seqFrame(bcast, macR, frame.VLANs{v(7)}, etExp1, 1000+s),
				}
				for _, fr := range frs {
					require.NoError(t, wire.WriteFrame(fr))
				}
				seqA = append(seqA, s, 1000+s)
			}
			for _, want := range seqA {
				p := readWithin(t, a)
				assert.Equal(t, want, seqOf(p))
				p.Release()
			}
			st := r.Stats()
			assert.Equal(t, uint64(5*rounds), st.FramesIn)
			assert.Equal(t, uint64(rounds), st.Misses)
			assert.Equal(t, uint64(rounds), st.Malformed)
			assert.Equal(t, uint64(2*rounds+3), st.Delivered)
			assert.Equal(t, uint64(rounds-3), st.QueueDrops)
			for i := range 3 {
				p := b.q.tryPop()
				require.NotNil(t, p)
				assert.Equal(t, uint32(i), seqOf(p))
				p.Release()
			}
		})
	}
}

func TestWriteErrorCounted(t *testing.T) {
	r, f := newDirect(t, Config{})
	ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
	boom := errors.New("boom")
	f.SetWriteError(boom)
	assert.ErrorIs(t, ep.Send(seqFrame(macR, macA, nil, etExp1, 1)), boom)
	assert.Equal(t, uint64(1), r.Stats().WriteErrors)
	assert.Equal(t, uint64(1), ep.Stats().WriteErrors)
	assert.Zero(t, ep.Stats().FramesOut)
}

// TestOversizedFrame feeds a frame longer than the relay's buffers through
// both read paths: each counts it as malformed (truncated) and goes on.
func TestOversizedFrame(t *testing.T) {
	for _, single := range []bool{false, true} {
		name := "batch"
		if single {
			name = "single"
		}
		t.Run(name, func(t *testing.T) {
			wire, port := memio.Pipe(memio.Config{MaxFrameLen: 3 * backend.MaxFrameLen})
			defer wire.Close()
			var pio backend.PacketIO = port
			if single {
				pio = testkit.Plain(port)
			}
			r := New(pio, Config{})
			defer r.Close()
			ep := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
			for _, size := range []int{backend.MaxFrameLen + 1, 2 * backend.MaxFrameLen, backend.MaxFrameLen} {
				require.NoError(t, wire.WriteFrame(testkit.Frame(macA, macR, nil, etExp1, make([]byte, size-14))))
			}
			p := readWithin(t, ep)
			assert.Len(t, p.Frame(), backend.MaxFrameLen, "the longest frame that fits is delivered whole")
			p.Release()
			st := r.Stats()
			assert.Equal(t, uint64(3), st.FramesIn)
			assert.Equal(t, uint64(2), st.Malformed)
			assert.Equal(t, uint64(1), st.Delivered)
		})
	}
	t.Run("hairpin", func(t *testing.T) {
		r, f := newDirect(t, Config{Hairpin: true})
		a := mustRegister(t, r, EndpointConfig{MAC: macA, EtherTypes: ets(etExp1)})
		b := mustRegister(t, r, EndpointConfig{MAC: macB, EtherTypes: ets(etExp1)})
		fr := testkit.Frame(macB, macA, nil, etExp1, make([]byte, backend.MaxFrameLen))
		require.NoError(t, a.Send(fr))
		assert.Zero(t, b.Queued(), "not delivered cut short")
		assert.Len(t, f.TakeWritten(), 1, "left to the backend to refuse")
	})
}
