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
	if o := s.addrs[a]; o != nil && o != h {
		s.mu.Unlock()
		return ErrAddrInUse
	}
	if s.tentative == nil {
		s.tentative = make(map[netip.Addr]*tentative)
	}
	s.tentative[a] = t
	s.addrs[a] = h // so that answers and probes for a reach us
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tentative, a)
		if s.addrs[a] == h {
			delete(s.addrs, a)
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

// tentativeConflict reports whether a message concerns an address h is
// probing, and then marks the conflict: someone else uses it (sender is
// it) or probes it too (target is it, sender unspecified), from a MAC that
// is not h's. A message about a tentative address is not answered.
func (h *Host) tentativeConflict(sender, target netip.Addr, from frame.MAC) bool {
	s := h.seg
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tentative) == 0 {
		return false
	}
	for _, a := range [2]netip.Addr{sender, target} {
		t := s.tentative[a]
		if t == nil || t.h != h {
			continue
		}
		if from != h.mac && !t.seen {
			t.seen = true
			close(t.conflict)
		}
		return true
	}
	return false
}
