package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestFlowMap_againstMap puts, finds and removes entries in random order
// and checks every step against a Go map, also with hashes that all fall
// in the last few slots (long probe runs, backward shifts that wrap around
// the end of the slots).
func TestFlowMap_againstMap(t *testing.T) {
	type key struct{ a, b netip.AddrPort }
	for _, collide := range []bool{false, true} {
		var store entryStore
		m := newFlowMap(&store, nil)
		ref := map[key]*entry{}
		rng := rand.New(rand.NewPCG(1, 2))
		hash := func(k key) uint64 {
			h := capture.FlowHash(k.a, k.b)
			if collide {
				return 1<<40 - 3 + h%8 // the last slots, whatever the size: runs wrap
			}
			return h
		}
		var keys []key
		steps := 20000
		if collide {
			steps = 3000
		}
		for i := range steps {
			switch op := rng.IntN(3); {
			case op < 2 || len(keys) == 0: // put a new flow
				k := key{
					netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(i)}), uint16(rng.IntN(3))),
					netip.AddrPortFrom(netip.AddrFrom16([16]byte{15: byte(rng.IntN(3))}), uint16(i)),
				}
				if ref[k] != nil {
					continue
				}
				e := store.alloc()
				e.st.ep = packEndpoints(k.a, k.b)
				m.put(e, hash(k))
				ref[k] = e
				keys = append(keys, k)
			default: // remove a random flow
				j := rng.IntN(len(keys))
				k := keys[j]
				keys[j] = keys[len(keys)-1]
				keys = keys[:len(keys)-1]
				e := ref[k]
				if !m.remove(e, hash(k)) {
					t.Fatalf("collide=%v step %d: remove of a held entry reported false", collide, i)
				}
				if m.remove(e, hash(k)) {
					t.Fatalf("collide=%v step %d: second remove reported true", collide, i)
				}
				delete(ref, k)
			}
			if i%97 == 0 {
				for k, e := range ref {
					if got := m.get(k.a, k.b, hash(k)); got != e {
						t.Fatalf("collide=%v step %d: get(%v) = %p, want %p", collide, i, k, got, e)
					}
					if got := m.get(k.b, k.a, hash(k)); got != e {
						t.Fatalf("collide=%v step %d: get of the reverse of %v = %p, want %p", collide, i, k, got, e)
					}
				}
				missing := key{netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:2")}
				if got := m.get(missing.a, missing.b, hash(missing)); got != nil {
					t.Fatalf("collide=%v step %d: get of an absent flow = %p, want nil", collide, i, got)
				}
			}
			if m.len() != len(ref) {
				t.Fatalf("collide=%v step %d: len %d, want %d", collide, i, m.len(), len(ref))
			}
		}
	}
}

// TestAdd_flowHashFromSourceOrTable: packets that carry FlowHash (from
// Prefetch) and packets that do not find the same flow.
func TestAdd_flowHashFromSourceOrTable(t *testing.T) {
	tb := NewTable(Options{})
	pk := ladder(t, lines(handshake, []string{"C>S PA seq=101 ack=301 len=10", "S>C A seq=301 ack=111"})...)
	for i := range pk {
		if i%2 == 0 {
			pk[i].FlowHash = capture.FlowHash(pk[i].Src, pk[i].Dst)
		}
		tb.Add(&pk[i])
	}
	if st := tb.Stats(); st.Flows != 1 || st.Active != 1 {
		t.Errorf("got %d flows (%d held), want 1", st.Flows, st.Active)
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
	if tb.store.n > st.PeakActive {
		t.Errorf("got %d entries made for a peak of %d flows held, want at most the peak", tb.store.n, st.PeakActive)
	}
	made := 0
	for _, s := range tb.store.slabs {
		made += len(s)
	}
	if tb.flows.len() != st.Active || made != tb.store.n {
		t.Errorf("flow map holds %d, Active %d; slabs %d, entries %d", tb.flows.len(), st.Active, made, tb.store.n)
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
