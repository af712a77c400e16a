// Package interop holds tests of etherconn against unmodified third-party
// peers: a DHCP client library (insomniacslk/dhcp's nclient4) over a host,
// renewing its lease from a real dnsmasq; a DNS server library (miekg/dns)
// on a host answering the kernel's dig; and quic-go on a host's rudp.Conn
// echoing 1 MiB through quic-go on a kernel UDP socket that sends with UDP
// GSO or without (TestQUICEchoKernel, BenchmarkQUICEchoKernel). It is a
// module of its own so that these test-only dependencies stay out of the
// library's go.mod; the Makefile's test target runs it too.
//
// The tests need Linux, root (network namespaces, AF_PACKET) and the
// programs dnsmasq (Debian package dnsmasq-base) and dig (dnsutils), which
// .ci/run installs. Without the privileges they skip; without the programs
// they fail, saying what to install.
package interop
