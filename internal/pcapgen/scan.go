package pcapgen

import (
	"net/netip"
	"time"
)

// Scan writes a port scan: a scanner (10.0.0.1, source port 40000) sends n
// SYNs, one every 20 us, to ports 1-65535 of one target after another
// (10.1.0.1, 10.1.0.2, ...; 3 hops away), and each target's kernel answers
// each with RST/ACK after 100 us, as Refused's server does: n refused
// connections in 2n packets, every one a finding. It is `make bench`'s
// finding-heavy capture (rstgen -scan): what a run costs a finding
// (judging, writing, the event snapshots) rather than a packet. Flush the
// Generator after.
func Scan(g *Generator, n int, start time.Time) {
	scanner := Host{TTL: 64, DF: true}
	target := Host{TTL: 61, DF: true} // 3 hops from the capture, at the scanner
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), 40000)
	for i := range n {
		h := i/65535 + 1 // the target: 10.1.0.1, 10.1.0.2, ...
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(h >> 8), byte(h)}), uint16(1+i%65535))
		c := g.Conn(src, dst, scanner, target)
		t := start.Add(time.Duration(i) * 20 * time.Microsecond)
		c.SYN(t)
		c.RST(FromServer, t.Add(100*time.Microsecond), Seq(0), IPID(0), NoTS())
	}
}
