// Command etherconn shows the library at work.
//
//	etherconn demo [--backend memio|afpacket|afpacket-frames|afpacket-socket|afpacket-ring] [--interface IF [--peer IF]] [--count N]
//	etherconn replay [--endpoint MAC[/VLANS][#ETHERTYPE,...]]... [flags] FILE
//	etherconn hosts --interface IF (--range FIRST-LAST[/LEN] | --prefix P --count N) [--vlan V] [--v6 P] [--gateway IP] [--duration D]
//
// demo starts two emulated hosts (package host) with made-up MACs on VLAN
// 100; they resolve each other by ARP and ND, ping each other, and exchange
// UDP both ways over IPv4 and IPv6 with rudp.Conn; then it prints the relay
// counters. On the memio backend (the default) it needs no privileges.
//
// replay reads a pcap or pcapng file into a relay and prints what each
// endpoint receives.
//
// hosts emulates many hosts on an interface: they answer ARP, IPv6 Neighbor
// Solicitations and ping for their addresses until interrupted, with a live
// status line on stderr and a summary on stdout at the end.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: etherconn <command> [flags]

commands:
  demo     two emulated hosts on VLAN 100 resolve and ping each other and exchange UDP
  replay   replay a capture file into a relay and print what endpoints receive
  hosts    emulate N hosts on an interface that answer ARP, ND and ping

run 'etherconn <command> -h' for the flags of a command`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demo(args[1:], stdout, stderr)
	case "replay":
		err = replay(args[1:], stdout, stderr)
	case "hosts":
		err = hosts(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "etherconn: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h: the flag set printed the usage
	}
	if err != nil {
		fmt.Fprintf(stderr, "etherconn %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
