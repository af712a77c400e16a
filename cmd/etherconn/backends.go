package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/etherconn/etherconn/backend"
)

// opener opens a backend on a named interface.
type opener func(ifname string) (backend.PacketIO, error)

// backends are the real-interface backends built into this binary; memio is
// handled by each command. The file for afpacket adds itself (Linux only).
var backends = map[string]opener{}

func openBackend(name, ifname string) (backend.PacketIO, error) {
	open, ok := backends[name]
	if !ok {
		return nil, fmt.Errorf("unknown backend %q (have memio, %s)", name, backendNames())
	}
	if ifname == "" {
		return nil, fmt.Errorf("backend %s needs --interface", name)
	}
	return open(ifname)
}

func backendNames() string {
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
