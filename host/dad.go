package host

import (
	"net/netip"
	"time"

	"github.com/etherconn/etherconn/frame"
)

// tentative is an address under duplicate detection.
type tentative struct {
	h        *Host
	conflict chan struct{}
	seen     bool
}

// dadWait is how long an address is probed: RFC 4862's RetransTimer for
// one DupAddrDetectTransmits, and about what RFC 5227's probes take.
const dadWait = time.Second

// probeDuplicate runs DAD for a (RFC 4862 §5.4: one NS from :: to the
// solicited-node group) or an RFC 5227 probe (ARP requests from 0.0.0.0),
// and reports ErrDuplicate when another station answers or probes too.
func (h *Host) probeDuplicate(a netip.Addr) error {
	s := h.seg
	t := &tentative{h: h, conflict: make(chan struct{})}
	s.mu.Lock()
	if o := s.addrs.get(a); o.h != nil && o.h != h {
		s.mu.Unlock()
		return ErrAddrInUse
	}
	if s.tentative == nil {
		s.tentative = make(map[netip.Addr]*tentative)
	}
	s.tentative[a] = t
	s.ntentative.Store(int32(len(s.tentative)))
	s.addrs.set(a, h) // so that answers and probes for a reach us
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tentative, a)
		s.ntentative.Store(int32(len(s.tentative)))
		if s.addrs.get(a).h == h {
			s.addrs.del(a)
		}
		s.mu.Unlock()
	}()
	if a.Is4() {
		h.sendARP(frame.ARPRequest, frame.BroadcastMAC, ipv4Zero, frame.MAC{}, a)
	} else {
		mac, _ := frame.MulticastMAC(frame.SolicitedNode(a))
		f := h.ec.NewFrame(mac, frame.EtherTypeIPv6)
		m := frame.PutNS(f.Payload()[frame.IPv6Len:], a, frame.MAC{}, false)
		h.sendICMPv6(f, m, netip.IPv6Unspecified(), frame.SolicitedNode(a))
	}
	select {
	case <-t.conflict:
		h.st.duplicates.Add(1)
		return ErrDuplicate
	case <-time.After(dadWait):
		return nil
	}
}

// tentativeSeen looks at a message about addresses under duplicate
// detection: used is an address its sender uses (an ARP sender address, an
// NA's target), asked one it asks about (an ARP or NS target), and probing
// tells whether the sender probes asked for itself (an RFC 5227 probe from
// 0.0.0.0, a DAD NS from ::). Another station that uses a tentative
// address, or probes it too, is a conflict (RFC 5227 §2.1.1, RFC 4862
// §5.4.3 and §5.4.4); one that only resolves it is not, as in Linux. It
// reports whether the message concerns a tentative address: it is then not
// answered (counted in NotForUs unless a conflict).
func (s *segment) tentativeSeen(used, asked netip.Addr, probing bool, from frame.MAC) bool {
	if s.ntentative.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *tentative
	conflict := false
	if used.IsValid() {
		t = s.tentative[used]
		conflict = t != nil
	}
	if t == nil && asked.IsValid() {
		t, conflict = s.tentative[asked], probing
	}
	if t == nil {
		return false
	}
	if conflict && from != t.h.mac { // not our own frame, hairpinned
		t.mark()
	} else {
		s.st.ignored.Add(1)
	}
	return true
}

// mark records a conflict once; s.mu is held.
func (t *tentative) mark() {
	if !t.seen {
		t.seen = true
		close(t.conflict)
	}
}
