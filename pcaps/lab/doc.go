// Package lab is rstscope's network-namespace lab: real Linux kernels and real
// programs make the TCP resets, and rstscope's own live capture (libpcap)
// records and explains them.
//
// The topology (topo.sh) is client — router1 — router2 — router3 — server in
// five network namespaces joined by veth pairs, IPv4 10.77.0.0/16 and IPv6
// fd00:77::/32, nothing attached to the root namespace, so that a router's
// forged RST is 1, 2 or 3 hops nearer than the real sender at either end.
// labpeer/ is the test client and server. lab_test.go runs every scenario
// (one topology each, in parallel) when root and skips otherwise, naming
// `sudo make lab`. With RSTSCOPE_LAB_SAVE=1 it rewrites the fixtures
// <scenario>.client.pcap and <scenario>.server.pcap and README.md in this
// directory (`make lab-pcaps`).
//
// Where the kernel can give its account (Linux 6.12+), each capture's
// rstscope also runs with --kernel-reasons in its host's namespace: the
// lab asserts the reason the kernel gave for every RST that host's stack
// sent (kernel_test.go, kernelReasons), and saves the events beside the
// capture as <scenario>.<side>.kernel.ndjson, which TestKernelTable joins
// again without root (-r --kernel-events).
//
// scenarios.go is the package's only non-test code: the scenario table
// with the correct verdict of every RST (issue 13), which Truths exports
// for the calibration of confidence levels (calibration_test.go at the
// module root).
package lab
