// Command etherconn shows the library at work.
//
//	etherconn demo [--backend memio|afpacket|afpacket-ring] [--interface IF [--peer IF]] [--count N]
//	etherconn replay [--endpoint MAC[/VLANS][#ETHERTYPE,...]]... [flags] FILE
//
// demo starts two emulated hosts with made-up MACs on VLAN 100 and exchanges
// UDP both ways over IPv4 and IPv6 with rudp.Conn, then prints the relay
// counters. On the memio backend (the default) it needs no privileges.
//
// replay reads a pcap or pcapng file into a relay and prints what each
// endpoint receives.
package main

import (
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
  demo     two emulated hosts on VLAN 100 exchange UDP over IPv4 and IPv6
  replay   replay a capture file into a relay and print what endpoints receive

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
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "etherconn: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "etherconn %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
