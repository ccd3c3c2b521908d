package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddr4: addr4 builds the netip.Addr that AddrFrom4 builds, and
// AddrV4 reads its address back (and no key from IPv6, IPv4-mapped IPv6
// or the zero Addr), for random addresses and the edges: by their fast
// way when this Go release lays netip.Addr out as netipWords says (else
// the reading goroutine is slower: netipWords needs updating), and by
// netip's own functions otherwise.
func TestAddr4(t *testing.T) {
	if !addr4Words {
		t.Errorf("netip.Addr is not laid out as netipWords says: addr4 takes AddrFrom4")
	}
	rng := rand.New(rand.NewPCG(3, 5))
	saved := addr4Words
	defer func() { addr4Words = saved }()
	for _, fast := range []bool{true, false} {
		addr4Words = saved && fast
		for i := range 20000 {
			a := rng.Uint32()
			switch i {
			case 0:
				a = 0
			case 1:
				a = 0xffffffff
			}
			want := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
			got := addr4(a)
			if got != want || got.String() != want.String() || !got.Is4() || got.Zone() != "" {
				t.Fatalf("fast=%v: addr4(%#x) = %v, want %v", fast, a, got, want)
			}
			if m := netip.AddrFrom16(got.As16()); m == got || m.Unmap() != got {
				t.Fatalf("fast=%v: addr4(%#x) mapped and unmapped again gives %v", fast, a, m.Unmap())
			}
			if k, ok := AddrV4(want); !ok || k != a {
				t.Fatalf("fast=%v: AddrV4(%v) = %#x, %v; want %#x, true", fast, want, k, ok, a)
			}
		}
		for _, s := range []string{"::ffff:192.0.2.1", "2001:db8::1", "::", "::1"} {
			if k, ok := AddrV4(netip.MustParseAddr(s)); ok {
				t.Errorf("fast=%v: AddrV4(%s) = %#x, true; want no key", fast, s, k)
			}
		}
		if _, ok := AddrV4(netip.Addr{}); ok {
			t.Errorf("fast=%v: the zero Addr gave a key", fast)
		}
	}
}
