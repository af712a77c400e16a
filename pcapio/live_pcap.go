//go:build cgo

package pcapio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"

	"github.com/etherconn/etherconn/backend"
	"github.com/etherconn/etherconn/frame"
)

// liveState is the part of a Live that holds the libpcap handle.
type liveState struct {
	h *pcap.Handle

	readMu  sync.Mutex // one reader at a time; Close waits for it to leave
	readErr error      // a final read error, under readMu
	closed  atomic.Bool

	mu        sync.RWMutex // read-held by writers and stats, held by Close
	statsMu   sync.Mutex   // serializes pcap_stats and guards last, raw
	last      CaptureStats // 64-bit totals, kept after Close
	raw       pcap.Stats   // the last pcap_stats result (32-bit counters)
	closeOnce sync.Once
}

// openMu serializes handle activation: gopacket keeps the text of an
// activation error in a package variable.
var openMu sync.Mutex

func openLive(ifname string, cfg LiveConfig) (*Live, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		if strings.Contains(err.Error(), "no such network interface") {
			return nil, fmt.Errorf("pcapio: open %q: no such network interface in this network namespace: %w", ifname, os.ErrNotExist)
		}
		return nil, fmt.Errorf("pcapio: open %q: %w", ifname, err)
	}
	h, err := activate(ifname, cfg)
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*Live, error) {
		h.Close()
		return nil, fmt.Errorf("pcapio: open %q: %s: %w", ifname, what, err)
	}
	if lt := h.LinkType(); lt != layers.LinkTypeEthernet {
		return fail("link type "+lt.String(), ErrNotEthernet)
	}
	// Never read what this host transmits, the handle's own frames included.
	if err := h.SetDirection(pcap.DirectionIn); err != nil {
		return fail("set capture direction", err)
	}
	if cfg.Filter != "" {
		if err := h.SetBPFFilter(cfg.Filter); err != nil {
			return fail(fmt.Sprintf("BPF filter %q", cfg.Filter), err)
		}
	}
	l := &Live{
		name:      ifname,
		errClosed: fmt.Errorf("pcapio: %s: %w", ifname, net.ErrClosed),
		liveState: liveState{h: h},
	}
	if ifi.MTU > 0 {
		l.maxFrame = ifi.MTU + frame.HeaderLen(frame.MaxTags)
	}
	return l, nil
}

func activate(ifname string, cfg LiveConfig) (*pcap.Handle, error) {
	openMu.Lock()
	defer openMu.Unlock()
	ih, err := pcap.NewInactiveHandle(ifname)
	if err != nil {
		return nil, fmt.Errorf("pcapio: open %q: %w", ifname, err)
	}
	defer ih.CleanUp() // does nothing once activated
	steps := []struct {
		what string
		err  error
	}{
		{"snap length", ih.SetSnapLen(cfg.SnapLen)},
		{"promiscuous mode", ih.SetPromisc(!cfg.NoPromiscuous)},
		// Immediate mode: every frame is delivered at once (and libpcap
		// picks TPACKET_V2, which has no block timeout).
		{"immediate mode", ih.SetImmediateMode(true)},
		// The timeout makes gopacket put the handle in non-blocking mode
		// and poll(2) for at most this long, so a read notices Close.
		{"timeout", ih.SetTimeout(cfg.PollInterval)},
	}
	if cfg.BufferSize > 0 {
		steps = append(steps, struct {
			what string
			err  error
		}{"buffer size", ih.SetBufferSize(cfg.BufferSize)})
	}
	for _, s := range steps {
		if s.err != nil {
			return nil, fmt.Errorf("pcapio: open %q: set %s: %w", ifname, s.what, s.err)
		}
	}
	h, err := ih.Activate()
	if err != nil {
		return nil, activateError(ifname, err)
	}
	return h, nil
}

// activateError turns a pcap_activate failure into an error callers can
// test. gopacket's activation error type is unexported; its texts are not.
func activateError(ifname string, err error) error {
	switch msg := err.Error(); {
	case msg == "Permission Denied" || strings.Contains(msg, "Operation not permitted"):
		return fmt.Errorf("pcapio: open %q: %w: live capture needs CAP_NET_RAW (run as root or grant the capability, e.g. setcap cap_net_raw+ep) (%v)", ifname, os.ErrPermission, err)
	case msg == "No Such Device":
		return fmt.Errorf("pcapio: open %q: %w: no such device (%v)", ifname, os.ErrNotExist, err)
	case msg == "Interface Not Up":
		return fmt.Errorf("pcapio: open %q: interface is down: %w", ifname, err)
	}
	return fmt.Errorf("pcapio: open %q: %w", ifname, err)
}

func (l *Live) readFrame(b []byte) (int, error) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	for {
		if l.closed.Load() {
			return 0, l.errClosed
		}
		if l.readErr != nil {
			return 0, l.readErr
		}
		// The data is in libpcap's ring and valid until the next read or
		// Close; Close waits for readMu, so the copy below is safe.
		data, ci, err := l.h.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, pcap.NextErrorTimeoutExpired) {
				continue
			}
			if l.closed.Load() || err == io.EOF {
				return 0, l.errClosed
			}
			// For example the interface went down or away.
			l.readErr = fmt.Errorf("pcapio: read %s: %w", l.name, err)
			return 0, l.readErr
		}
		// Longer than the snap length, or than any frame the link takes:
		// libpcap has no vnet header to split a super-frame by.
		if ci.CaptureLength < ci.Length || (l.maxFrame > 0 && ci.Length > l.maxFrame) {
			l.snapped.Add(1)
			continue
		}
		n := copy(b, data)
		l.c.In(n)
		if n < len(data) {
			return n, backend.ErrTruncated
		}
		return n, nil
	}
}

func (l *Live) writeFrame(frame []byte) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return l.errClosed
	}
	if len(frame) < backend.MinFrameLen {
		return backend.ErrFrameTooShort
	}
	if err := l.h.WritePacketData(frame); err != nil {
		if strings.Contains(err.Error(), "Message too long") {
			return fmt.Errorf("pcapio: write %s: %w (%v)", l.name, backend.ErrFrameTooLong, err)
		}
		return fmt.Errorf("pcapio: write %s: %w", l.name, err)
	}
	l.c.Out(len(frame))
	return nil
}

func (l *Live) captureStats() (CaptureStats, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.closed.Load() {
		return l.last, nil
	}
	return l.readStatsLocked()
}

// readStatsLocked calls pcap_stats; statsMu and mu are held.
func (l *Live) readStatsLocked() (CaptureStats, error) {
	s, err := l.h.Stats()
	if err != nil {
		return l.last, fmt.Errorf("pcapio: stats %s: %w", l.name, err)
	}
	// libpcap's counters are 32 bits wide and wrap; add up the differences.
	delta := func(now, before int) uint64 { return uint64(uint32(now) - uint32(before)) }
	l.last.Received += delta(s.PacketsReceived, l.raw.PacketsReceived)
	l.last.Dropped += delta(s.PacketsDropped, l.raw.PacketsDropped)
	l.last.IfDropped += delta(s.PacketsIfDropped, l.raw.PacketsIfDropped)
	l.raw = *s
	return l.last, nil
}

func (l *Live) close() {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.readMu.Lock()
		l.mu.Lock()
		l.statsMu.Lock()
		l.readStatsLocked()
		l.statsMu.Unlock()
		l.h.Close()
		l.mu.Unlock()
		l.readMu.Unlock()
	})
}
