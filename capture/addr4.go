package capture

import (
	"net/netip"
	"unsafe"
)

// addr4 gives the IPv4 address a (big-endian value) as a netip.Addr: the
// fast path's two addresses a packet.
//
// It writes netip.Addr's words directly when addr4Words has checked that
// the layout is the one netipWords describes: AddrFrom4 takes the address
// as four bytes, which the fast path had to split from the 32-bit value
// it read, and which AddrFrom4 then shifts back together (about 12
// instructions an address, 2-3% of the reading goroutine's; cachegrind on
// the bench mix). Another Go release with another layout takes AddrFrom4
// (slower, never wrong): TestAddr4 says so.
func addr4(a uint32) netip.Addr {
	if !addr4Words {
		return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
	}
	var x netip.Addr
	*(*netipWords)(unsafe.Pointer(&x)) = netipWords{lo: 0xffff00000000 | uint64(a), z: z4}
	return x
}

// AddrV4 gives the IPv4 address a as its big-endian value, and whether a
// is IPv4 (not IPv6, IPv4-mapped IPv6 or the zero Addr): addr4's inverse,
// for keys of IPv4 hosts (flows' router, a lookup a packet).
//
// It reads the low word of netip.Addr's value when addr4Words: As16
// builds its array on the stack with two 8-byte stores that the compiler
// reloads with one 16-byte load, which the store buffer cannot forward;
// that stall was a third of the reader's host update (perf annotate: 38%
// of its samples on the two instructions after it).
func AddrV4(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	if addr4Words {
		return uint32((*netipWords)(unsafe.Pointer(&a)).lo), true
	}
	b := a.As16() // not As4, whose panics keep it from being inlined
	return uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15]), true
}

// netipWords is netip.Addr's layout in Go 1.22 and later: the address as
// two words (IPv4 as the IPv4-mapped IPv6 address's low 48 bits), and the
// zone handle, which for every IPv4 address is the same pointer.
type netipWords struct {
	hi, lo uint64
	z      unsafe.Pointer
}

// z4 is the zone handle of every IPv4 netip.Addr.
var z4 = func() unsafe.Pointer {
	a := netip.AddrFrom4([4]byte{192, 0, 2, 1})
	return (*netipWords)(unsafe.Pointer(&a)).z
}()

// addr4Words is set when netip.Addr is laid out as netipWords says:
// addresses built both ways compare equal, print the same and keep
// their class, and AddrFrom4's low word is the address. A release that
// changed the layout leaves addr4 and AddrV4 on netip's own functions
// (slower, never wrong).
var addr4Words = func() bool {
	if unsafe.Sizeof(netip.Addr{}) != unsafe.Sizeof(netipWords{}) || z4 == nil {
		return false
	}
	for _, a := range []uint32{0, 1, 0x01020304, 0x7f000001, 0xc0000201, 0xfefdfcfb, 0xffffffff} {
		var x netip.Addr
		*(*netipWords)(unsafe.Pointer(&x)) = netipWords{lo: 0xffff00000000 | uint64(a), z: z4}
		y := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		if x != y || !x.Is4() || x.Is4In6() || x.String() != y.String() || x.As4() != y.As4() ||
			uint32((*netipWords)(unsafe.Pointer(&y)).lo) != a {
			return false
		}
	}
	return true
}()
