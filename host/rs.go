package host

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etherconn/etherconn/frame"
)

// Router solicitation (RFC 4861 §6.3.7): a host that learns its router
// from advertisements (Config.AcceptRA) asks for one once it has a
// link-local address, as Linux does, instead of waiting up to the
// router's interval (600 s by default) for an unsolicited one. The
// router a segment learns serves all its hosts (segment.router6), so the
// segment solicits once for all of them, from the first such host.

// Linux's defaults (rtr_solicit_delay, rtr_solicit_interval, and the 3
// solicitations RFC 4861 §10 gives as MAX_RTR_SOLICITATIONS).
const (
	rsDelay = time.Second
	rsCount = 3
)

// rsInterval is the time between solicitations, 4 s: a variable for the
// tests (export_test.go), atomic since other tests' timers read it.
var rsInterval atomic.Int64

func init() { rsInterval.Store(int64(4 * time.Second)) }

var allRoutersMAC, _ = frame.MulticastMAC(frame.AllRouters)

// soliciter sends a segment's router solicitations.
type soliciter struct {
	mu    sync.Mutex
	from  *Host // the host they come from; nil while none is running
	sent  int
	timer *time.Timer
	fire  func()
	seg   *segment
}

func (r *soliciter) init(s *segment) {
	r.seg, r.fire = s, r.send
}

// start begins soliciting from h, which has just got its link-local
// address, unless the segment knows a router or solicits already.
func (r *soliciter) start(h *Host) {
	if !h.cfg.AcceptRA || h.cfg.Gateway6.IsValid() || r.seg.router6.Load() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from != nil && !r.from.done.Load() {
		return
	}
	r.from, r.sent = h, 0
	d := rand.N(rsDelay)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.fire)
	} else {
		r.timer.Reset(d)
	}
}

// send is the timer: one solicitation, and the next in rsInterval, until
// rsCount are sent or a router is known.
func (r *soliciter) send() {
	r.mu.Lock()
	h := r.from
	if h == nil || h.done.Load() || r.seg.router6.Load() != nil || r.sent >= rsCount {
		r.from = nil
		r.mu.Unlock()
		return
	}
	r.sent++
	if r.sent < rsCount {
		r.timer.Reset(time.Duration(rsInterval.Load()))
	}
	r.mu.Unlock()
	h.sendRS()
}

func (r *soliciter) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from = nil
	if r.timer != nil {
		r.timer.Stop()
	}
}

// sendRS sends a router solicitation to all routers from h's link-local
// address, with its MAC as the source link-layer address option.
func (h *Host) sendRS() {
	src := h.linkLocal()
	if src.IsUnspecified() {
		return
	}
	f := h.ec.NewFrame(allRoutersMAC, frame.EtherTypeIPv6)
	m := frame.PutRS(f.Payload()[frame.IPv6Len:], h.mac, true)
	h.seg.st.routerSolicits.Add(1)
	h.sendICMPv6(f, m, src, frame.AllRouters)
}
