package rudp

import (
	"net/netip"
	"sync"

	"github.com/etherconn/etherconn/etherconn"
	"github.com/etherconn/etherconn/frame"
	"github.com/etherconn/etherconn/relay"
)

// Message is one datagram of ReadBatch or WriteBatch, in the spirit of
// golang.org/x/net/ipv4.Message.
type Message struct {
	// Buf holds the payload: filled by ReadBatch, sent by WriteBatch.
	Buf []byte
	// N is the payload length ReadBatch copied into Buf (truncated to
	// len(Buf), as ReadFrom does).
	N int
	// Addr is the source (ReadBatch) or destination (WriteBatch).
	Addr netip.AddrPort
	// Local is the destination the datagram was sent to (ReadBatch: the
	// local address asked, as ReadMsgUDPAddrPort gives) or, when valid, the
	// source address to send from (WriteBatch, as WriteToFrom; the port
	// stays the bound one).
	Local netip.AddrPort
}

// MaxBatch is the most datagrams one ReadBatch or WriteBatch call moves;
// larger slices are served in part.
const MaxBatch = 64

// batch holds the scratch space of one batch call; pooled, so steady batch
// I/O allocates nothing.
type batch struct {
	pkts   [MaxBatch]*relay.Packet
	out    [MaxBatch]*etherconn.Frame
	frames [MaxBatch][]byte
	dst    [MaxBatch]netip.Addr
	frag   frame.Fragmenter
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// ReadBatch blocks until a datagram arrives, then fills ms with as many
// queued datagrams as fit (at most MaxBatch) and returns how many. Deadlines
// and errors are those of ReadFrom.
func (c *Conn) ReadBatch(ms []Message) (int, error) {
	if len(ms) > MaxBatch {
		ms = ms[:MaxBatch]
	}
	if len(ms) == 0 {
		return 0, nil
	}
	b := batchPool.Get().(*batch)
	defer batchPool.Put(b)
	n, err := c.q.PopBatch(b.pkts[:len(ms)])
	if err != nil {
		return 0, c.opErr("read", nil, err)
	}
	for i := range n {
		p := b.pkts[i]
		ms[i].N = copy(ms[i].Buf, p.UDPPayload())
		ms[i].Addr, ms[i].Local = srcAddrPort(p), dstAddrPort(p)
		p.Release()
		b.pkts[i] = nil
	}
	return n, nil
}

// WriteBatch sends the datagrams of ms, at most MaxBatch of them, in one
// backend call where the backend can, and returns how many leading ones
// were sent. Fewer than min(len(ms), MaxBatch) comes with the error that
// stopped it. A datagram longer than the MTU goes out as fragments, in
// calls of its own.
func (c *Conn) WriteBatch(ms []Message) (int, error) {
	if len(ms) > MaxBatch {
		ms = ms[:MaxBatch]
	}
	if err := c.checkWrite(); err != nil {
		return 0, err
	}
	b := batchPool.Get().(*batch)
	defer batchPool.Put(b)
	sent, k := 0, 0 // messages sent; frames built, for ms[sent:sent+k]
	flush := func() error {
		n, err := c.sendFrames(b, k)
		c.count(ms[sent : sent+n])
		sent, k = sent+n, 0
		return err
	}
	for i := range ms {
		from := c.local.Addr()
		if ms[i].Local.IsValid() {
			from = ms[i].Local.Addr()
		}
		hs, err := c.header(ms[i].Addr, from)
		var f *etherconn.Frame
		var n int
		if err == nil {
			f, n, err = c.build(ms[i].Buf, &hs)
		}
		if err == errFragment {
			if err = flush(); err == nil {
				err = c.writeFragments(ms[i].Buf, &hs)
			}
			if err == nil {
				c.count(ms[i : i+1])
				sent++
				continue
			}
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return sent, c.opErr("write", nil, ferr)
			}
			return sent, c.opErr("write", nil, err)
		}
		b.out[k], b.frames[k], b.dst[k] = f, f.Bytes(n), hs.udp.Dst.Addr()
		k++
	}
	if err := flush(); err != nil {
		return sent, c.opErr("write", nil, err)
	}
	return sent, nil
}

// count counts ms as sent.
func (c *Conn) count(ms []Message) {
	var bytes uint64
	for _, m := range ms {
		bytes += uint64(len(m.Buf))
	}
	c.st.out.Add(uint64(len(ms)))
	c.st.outBytes.Add(bytes)
}
