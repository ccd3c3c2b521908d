package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

// TestRouterHosts checks the reader's host profiles against hostIndex, the
// table's (the reference): the same packet updates and flow counts in the
// same order give every host the same profile, IPv4, IPv6 and
// IPv4-mapped IPv6 addresses alike (the last two go to its hostIndex),
// through several doublings of the lines, up to the cap shared by both
// kinds; MAC first-seen counts match too.
func TestRouterHosts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const max = 3000
	var got routerHosts
	var want hostIndex
	gotMACs, wantMACs := map[[6]byte]uint32{}, map[[6]byte]uint32{}
	addr := func() netip.Addr {
		switch r.IntN(4) {
		case 0, 1:
			return netip.AddrFrom4([4]byte{10, byte(r.IntN(2)), byte(r.IntN(256)), byte(r.IntN(256))})
		case 2:
			return netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(8)), byte(r.IntN(256))}).As16())
		}
		var b [16]byte
		b[0], b[1], b[14], b[15] = 0x20, 0x01, byte(r.IntN(8)), byte(r.IntN(256))
		return netip.AddrFrom16(b)
	}
	seen := map[netip.Addr]bool{}
	for range 60000 {
		a := addr()
		seen[a] = true
		switch r.IntN(8) {
		case 0: // a flow started, or a flow's first non-RST packet from a
			ttlFlow := r.IntN(2) == 0
			got.countFlow(a, max, ttlFlow)
			if h := want.getOrAdd(a, max); h != nil {
				if ttlFlow {
					h.TTLFlows++
				} else {
					h.Flows++
				}
			}
		default: // a packet
			ttl, id := uint8(60+r.IntN(5)), uint16(r.IntN(1000))
			mac := [6]byte{2, 0, 0, 0, 0, byte(r.IntN(3))}
			hasMAC := r.IntN(2) == 0
			got.packet(a, ttl, id, hasMAC, mac, max, gotMACs)
			if h := want.getOrAdd(a, max); h != nil {
				h.TTL.Add(ttl)
				if a.Is4() {
					h.IPID.Add(id)
				}
				if !h.HasMAC && hasMAC {
					h.MAC, h.HasMAC = mac, true
					wantMACs[mac]++
				}
			}
		}
	}
	if got.len() != want.len() || got.len() != max {
		t.Fatalf("%d hosts, hostIndex %d, want the cap %d", got.len(), want.len(), max)
	}
	if got.n4 == 0 || got.v6.len() == 0 || len(got.lines) < 4096 {
		t.Fatalf("%d IPv4 hosts in %d lines, %d others: the test should cover both kinds and growth", got.n4, len(got.lines), got.v6.len())
	}
	for a := range seen {
		g, w := got.profile(a), HostProfile{}
		if h := want.get(a); h != nil {
			w = *h
		}
		if g != w {
			t.Fatalf("profile(%v) = %+v, want %+v", a, g, w)
		}
	}
	for mac, n := range wantMACs {
		if gotMACs[mac] != n {
			t.Errorf("MAC %x first seen on %d hosts, want %d", mac, gotMACs[mac], n)
		}
	}
}

// TestRouterHosts_line: an IPv4 host's address and per-packet statistics
// fill one cache line, and the lines are allocated cache-line aligned.
func TestRouterHosts_line(t *testing.T) {
	if hostLineSize != 64 {
		t.Fatalf("hostLine is %d bytes, want 64 (one cache line)", hostLineSize)
	}
	var r routerHosts
	r.packet(netip.MustParseAddr("192.0.2.1"), 64, 1, false, [6]byte{}, 10, map[[6]byte]uint32{})
	if p := uintptr(unsafe.Pointer(&r.lines[0])); p%64 != 0 {
		t.Fatalf("lines start at %#x, not 64-byte aligned", p)
	}
}
