package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// TestHostIndex checks the host index against a map: IPv4 and IPv6
// addresses (an IPv4 address and its IPv4-mapped IPv6 form are two hosts,
// as netip.Addr keys are), growth past several doublings, the cap, and
// that a profile never moves once handed out (flows keep pointers) and
// is 64-byte aligned.
func TestHostIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const max = 5000
	var x hostIndex
	want := map[netip.Addr]*HostProfile{}
	addr := func() netip.Addr {
		switch r.IntN(3) {
		case 0:
			return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		case 1:
			return netip.AddrFrom16(netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))}).As16())
		}
		var b [16]byte
		b[0], b[1], b[15] = 0x20, 0x01, byte(r.IntN(256))
		b[14] = byte(r.IntN(16))
		return netip.AddrFrom16(b)
	}
	for range 40000 {
		a := addr()
		if x.get(a) != want[a] {
			t.Fatalf("get(%v) = %p before adding, want %p", a, x.get(a), want[a])
		}
		h := x.getOrAdd(a, max)
		switch w, ok := want[a]; {
		case ok && h != w:
			t.Fatalf("getOrAdd(%v) = %p, want the profile handed out before, %p", a, h, w)
		case !ok && len(want) >= max && h != nil:
			t.Fatalf("getOrAdd(%v) with %d hosts held (max %d) = %p, want nil", a, len(want), max, h)
		case !ok && len(want) < max:
			if h == nil || !h.Known || h.TTL.Count != 0 {
				t.Fatalf("getOrAdd(%v) = %+v, want a new Known profile", a, h)
			}
			if uintptr(unsafe.Pointer(h))%64 != 0 {
				t.Fatalf("profile at %p: not 64-byte aligned (its per-packet fields would span two cache lines)", h)
			}
			h.TTL.Add(uint8(len(want))) // marks it: a moved or shared profile shows
			want[a] = h
		}
	}
	if x.len() != len(want) || len(want) != max {
		t.Fatalf("len %d, map %d, want %d (the cap)", x.len(), len(want), max)
	}
	for a, h := range want {
		if got := x.get(a); got != h || got.TTL.Count != 1 {
			t.Fatalf("get(%v) = %p (%+v), want %p", a, got, got, h)
		}
	}
}

// TestHostProfile_hotLine: the fields a packet updates in its sender's
// profile (HasMAC, TTL, IPID) lie within its first 64 bytes; a cell is
// 128 bytes (cells stay on 128-byte pairs of lines, the address in the
// pair the profile starts) and a slot 8 (see hostIndex).
func TestHostProfile_hotLine(t *testing.T) {
	if c, s := unsafe.Sizeof(hostCell{}), unsafe.Sizeof(hostSlot{}); c != 128 || s != 8 {
		t.Errorf("hostCell is %d bytes, hostSlot %d: want 128 and 8", c, s)
	}
	var h HostProfile
	for name, end := range map[string]uintptr{
		"HasMAC": unsafe.Offsetof(h.HasMAC) + unsafe.Sizeof(h.HasMAC),
		"TTL":    unsafe.Offsetof(h.TTL) + unsafe.Sizeof(h.TTL),
		"IPID":   unsafe.Offsetof(h.IPID) + unsafe.Sizeof(h.IPID),
	} {
		if end > 64 {
			t.Errorf("HostProfile.%s ends at byte %d, past the first cache line", name, end)
		}
	}
}

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
			got.packet(&capture.Packet{Src: netip.AddrPortFrom(a, 1), TTL: ttl, IPID: id, HasMAC: hasMAC, SrcMAC: mac}, max, gotMACs)
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
			w = h.settled() // as profile gives it
		}
		if g != w {
			t.Fatalf("profile(%v) = %+v, want %+v", a, g, w)
		}
	}
	if len(gotMACs) != len(wantMACs) {
		t.Errorf("%d MACs counted, want %d", len(gotMACs), len(wantMACs))
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
	r.packet(&capture.Packet{Src: netip.MustParseAddrPort("192.0.2.1:1"), TTL: 64, IPID: 1}, 10, map[[6]byte]uint32{})
	if p := uintptr(unsafe.Pointer(&r.lines[0])); p%64 != 0 {
		t.Fatalf("lines start at %#x, not 64-byte aligned", p)
	}
}
