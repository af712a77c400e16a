package host

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/etherconn/etherconn/frame"
)

// pinger matches echo replies to the Ping calls waiting for them.
type pinger struct {
	mu      sync.Mutex
	id      uint16
	seq     uint16
	waiting map[uint16]chan struct{} // by sequence number
	from    map[uint16]netip.Addr
	closed  bool
}

func (pg *pinger) reply(msg []byte, src netip.Addr) {
	var e frame.Echo
	if frame.ParseEcho(msg, &e) != nil || e.ID != pg.id {
		return
	}
	pg.mu.Lock()
	if ch := pg.waiting[e.Seq]; ch != nil && pg.from[e.Seq] == src {
		delete(pg.waiting, e.Seq)
		close(ch)
	}
	pg.mu.Unlock()
}

func (pg *pinger) closeAll() {
	pg.mu.Lock()
	pg.closed = true
	for s, ch := range pg.waiting {
		close(ch)
		delete(pg.waiting, s)
	}
	pg.mu.Unlock()
}

// Ping sends one ICMP or ICMPv6 echo request to dst, through the host's
// routes and neighbour resolution, and returns the round-trip time of its
// reply. It fails when ctx ends first (an error wrapping ctx.Err()).
func (h *Host) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	dst = dst.Unmap()
	src := h.Source(dst)
	if !src.IsValid() {
		return 0, fmt.Errorf("host: ping %v: no source address", dst)
	}
	pg := &h.ping
	ch := make(chan struct{})
	pg.mu.Lock()
	if pg.closed {
		pg.mu.Unlock()
		return 0, fmt.Errorf("host: ping %v: %w", dst, net.ErrClosed)
	}
	pg.seq++
	seq := pg.seq
	if pg.waiting == nil {
		pg.waiting, pg.from = make(map[uint16]chan struct{}), make(map[uint16]netip.Addr)
	}
	pg.waiting[seq], pg.from[seq] = ch, dst
	pg.mu.Unlock()
	defer func() {
		pg.mu.Lock()
		if pg.waiting[seq] == ch {
			delete(pg.waiting, seq)
		}
		delete(pg.from, seq)
		pg.mu.Unlock()
	}()

	e := frame.Echo{Type: frame.ICMPEchoRequest, ID: pg.id, Seq: seq, Data: []byte("etherconn ping")}
	et := frame.EtherTypeIPv4
	if dst.Is6() {
		e.Type, et = frame.ICMPv6EchoRequest, frame.EtherTypeIPv6
	}
	f := h.ec.NewFrame(frame.MAC{}, et)
	b := f.Payload()
	il := frame.IPLen(dst)
	m := frame.PutEcho(b[il:], &e)
	c := frame.ICMPChecksum(b[il:il+m], src, dst)
	b[il+2], b[il+3] = byte(c>>8), byte(c)
	n, err := frame.PutIP(b, &frame.IPHeader{Src: src, Dst: dst, Proto: icmpProto(dst), TTL: 64, ID: h.nextID()}, m)
	if err != nil {
		f.Release()
		return 0, fmt.Errorf("host: ping %v: %w", dst, err)
	}
	start := time.Now()
	if err := h.Send(h.ec, f, n+m, dst); err != nil {
		return 0, fmt.Errorf("host: ping %v: %w", dst, err)
	}
	select {
	case <-ch:
		if pg.isClosed() {
			return 0, fmt.Errorf("host: ping %v: %w", dst, net.ErrClosed)
		}
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("host: ping %v: %w", dst, ctx.Err())
	}
}

func (pg *pinger) isClosed() bool {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.closed
}
