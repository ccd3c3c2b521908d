package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestFlowMap_againstMap puts, finds and removes entries in random order
// and checks every step against a Go map, with a seed that makes all
// hashes collide in a few slots (long probe runs, backward shifts that
// wrap around the end of the slots).
func TestFlowMap_againstMap(t *testing.T) {
	for _, collide := range []bool{false, true} {
		m := newFlowMap()
		ref := map[tuple]*entry{}
		rng := rand.New(rand.NewPCG(1, 2))
		hash := func(k *tuple) uint64 {
			if collide {
				return 1<<40 - 3 + k.hash(m.seed)%8 // the last slots, whatever the size: runs wrap
			}
			return k.hash(m.seed)
		}
		var keys []tuple
		steps := 20000
		if collide {
			steps = 3000
		}
		for i := range steps {
			switch op := rng.IntN(3); {
			case op < 2 || len(keys) == 0: // put a new key
				k := tuple{a0: rng.Uint64N(4), a1: uint64(i), b1: rng.Uint64N(3), pa: uint16(rng.IntN(3))}
				if ref[k] != nil {
					continue
				}
				e := &entry{tuple: k}
				e.hash = hash(&k)
				m.put(e, e.hash)
				ref[k] = e
				keys = append(keys, k)
			default: // remove a random key
				j := rng.IntN(len(keys))
				k := keys[j]
				keys[j] = keys[len(keys)-1]
				keys = keys[:len(keys)-1]
				e := ref[k]
				if !m.remove(e, e.hash) {
					t.Fatalf("collide=%v step %d: remove of a held entry reported false", collide, i)
				}
				if m.remove(e, e.hash) {
					t.Fatalf("collide=%v step %d: second remove reported true", collide, i)
				}
				delete(ref, k)
			}
			if i%97 == 0 {
				for k, e := range ref {
					if got := m.get(&k, hash(&k)); got != e {
						t.Fatalf("collide=%v step %d: get(%v) = %p, want %p", collide, i, k, got, e)
					}
				}
				missing := tuple{a0: 99, a1: uint64(i)}
				if got := m.get(&missing, hash(&missing)); got != nil {
					t.Fatalf("collide=%v step %d: get of an absent key = %p, want nil", collide, i, got)
				}
			}
			if m.len() != len(ref) {
				t.Fatalf("collide=%v step %d: len %d, want %d", collide, i, m.len(), len(ref))
			}
		}
	}
}

// TestTupleOf_canonical: both directions give one tuple; IPv4 and IPv6
// endpoints, and ports, keep flows apart.
func TestTupleOf_canonical(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:443")
	if tupleOf(a, b) != tupleOf(b, a) {
		t.Errorf("tuple of a>b %+v differs from b>a %+v", tupleOf(a, b), tupleOf(b, a))
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:40000")
	for _, o := range []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:40001"),
		netip.MustParseAddrPort("[::a00:1]:40000"), // IPv4-compatible, not the IPv4 address
		v6,
	} {
		if tupleOf(o, b) == tupleOf(a, b) {
			t.Errorf("%v and %v give the same tuple with %v", o, a, b)
		}
	}
	// Same address both sides: the port orders them.
	x, y := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.1:8080")
	if tupleOf(x, y) != tupleOf(y, x) {
		t.Errorf("same address: tuples differ by direction")
	}
}

// shortFlows makes n complete connections one after another, each from its
// own client port, 1 s apart: handshake, request, FIN both ways.
func shortFlows(t testing.TB, n int) []capture.Packet {
	var out []capture.Packet
	for i := range n {
		c := netip.AddrPortFrom(cliAddr.Addr(), uint16(1024+i%60000))
		c = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 60000), 1}), c.Port())
		pk := ladderAt(t, c, srvAddr, lines(handshake, []string{"C>S PA seq=101 ack=301 len=10", "S>C FA seq=301 ack=111", "C>S FA seq=111 ack=302", "S>C A seq=302 ack=112"})...)
		for j := range pk {
			pk[j].Time = t0.Add(time.Duration(i)*time.Second + time.Duration(j)*time.Millisecond)
			pk[j].Index = uint64(len(out) + 1)
			out = append(out, pk[j])
		}
	}
	return out
}

// TestTable_memoryFollowsConcurrentFlows: 3000 short connections one after
// another, with no more than about 31 open or recently closed at once (they
// leave CloseEvict, 30 s, after their last packet): the table makes no
// more entries than it held at once, so its memory follows concurrent
// flows, not the capture's length.
func TestTable_memoryFollowsConcurrentFlows(t *testing.T) {
	tb := NewTable(Options{})
	pk := shortFlows(t, 3000)
	for i := range pk {
		tb.Add(&pk[i])
	}
	st := tb.Stats()
	if st.Flows != 3000 {
		t.Fatalf("got %d flows, want 3000", st.Flows)
	}
	if st.PeakActive > 40 {
		t.Errorf("got peak %d flows held, want at most 40 (closed flows leave after 30 s)", st.PeakActive)
	}
	if tb.entries > st.PeakActive {
		t.Errorf("got %d entries made for a peak of %d flows held, want at most the peak", tb.entries, st.PeakActive)
	}
	if tb.flows.len() != st.Active || len(tb.slab) != tb.entries {
		t.Errorf("flow map holds %d, Active %d; slab %d, entries %d", tb.flows.len(), st.Active, len(tb.slab), tb.entries)
	}
}

// TestAdd_newFlowNoAllocs: once the table has ended as many flows as it
// holds, a new connection (on known hosts) reuses an ended flow's entry:
// its packets allocate nothing.
func TestAdd_newFlowNoAllocs(t *testing.T) {
	tb := NewTable(Options{})
	pk := shortFlows(t, 400)
	warm := len(pk) / 2
	for i := range pk[:warm] {
		tb.Add(&pk[i])
	}
	i := warm
	allocs := testing.AllocsPerRun(100, func() {
		for range 7 { // one connection
			tb.Add(&pk[i])
			i++
		}
	})
	if allocs != 0 {
		t.Errorf("a new connection: got %v allocations, want 0", allocs)
	}
}
