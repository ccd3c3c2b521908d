package flows

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// An hour-long silence (a firewall's idle timeout) ends with the server
// side's RST. The table evicted the flow after 15 min; the RST's flow is
// linked to it: roles from the old handshake (the client is on port 80,
// so ports alone would guess them wrong), the old flow's last packet, and
// a seq that continues the server's sequence.
func TestTable_linksFlowEvictedIdle(t *testing.T) {
	c, s := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:40000")
	for _, tc := range []struct {
		name string
		rst  string
		want SeqCheck
	}{
		{"exact", "S>C RA seq=321 ack=131 t=1h", SeqExact},
		{"in_window", "S>C RA seq=500 ack=131 t=1h", SeqInWindow},
		{"out_of_window", "S>C RA seq=900000 ack=131 t=1h", SeqOutOfWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := ladderAt(t, c, s, lines(handshake, []string{
				"C>S PA seq=101 ack=301 len=30",
				"S>C PA seq=301 ack=131 len=20",
				"C>S A seq=131 ack=321",
				tc.rst,
			})...)
			r := run(t, Options{}, pkts)
			ev := r.one(t)
			x := ev.Flow.Evicted
			if x == nil {
				t.Fatalf("event not linked to the evicted flow (roles %s)", ev.Flow.RolesFrom)
			}
			if ev.Flow.Client != c || ev.Flow.RolesFrom != RolesHandshake || ev.Sender() != FromServer {
				t.Errorf("client %s roles %s sender %s, want %s, handshake, server", ev.Flow.Client, ev.Flow.RolesFrom, ev.Sender(), c)
			}
			if !x.Last.Equal(pkts[5].Time) || x.LastFrame != 6 || x.Frame != 7 {
				t.Errorf("evicted %+v, want last packet frame 6 at %s, linked at frame 7", x, pkts[5].Time)
			}
			if x.SeqFit != tc.want || ev.First().SeqCheck != tc.want {
				t.Errorf("seq fit %s, RST seq check %s, want %s (judged against the evicted flow)", x.SeqFit, ev.First().SeqCheck, tc.want)
			}
			if ev.Stage != StageLaterInFlow {
				t.Errorf("stage %s, want later_in_flow", ev.Stage)
			}
			if x.TTL[1].Mode != 52 || x.TTL[0].Mode != 64 {
				t.Errorf("evicted TTLs %+v, want client 64, server 52", x.TTL)
			}
			if st := r.table.Stats(); st.Tombstones != 1 || st.Linked != 1 {
				t.Errorf("stats tombstones %d linked %d, want 1 and 1", st.Tombstones, st.Linked)
			}
		})
	}
}

// A flow that carried no data (a handshake only), a closed flow and a new
// connection's SYN leave or use no tombstone.
func TestTable_tombstoneOnlyForIdleData(t *testing.T) {
	for name, ls := range map[string][]string{
		"no data":  lines(handshake, []string{"S>C RA seq=301 ack=101 t=1h"}),
		"closed":   lines(handshake, []string{"C>S PA seq=101 ack=301 len=5", "C>S FA seq=106 ack=301", "S>C FA seq=301 ack=107", "C>S A seq=107 ack=302", "S>C RA seq=302 ack=107 t=1h"}),
		"new conn": lines(handshake, []string{"C>S PA seq=101 ack=301 len=5", "S>C A seq=301 ack=106", "C>S S seq=9000 t=1h", "S>C RA seq=0 ack=9001"}),
	} {
		r := run(t, Options{}, ladder(t, ls...))
		ev := r.one(t)
		if ev.Flow.Evicted != nil {
			t.Errorf("%s: linked to %+v", name, ev.Flow.Evicted)
		}
	}
}

// TestTombstones_bounded: many flows evicted for idleness (and a SYN
// flood) never grow the store past its fixed size, writing and looking up
// tombstones allocates nothing, and a tombstone stays under 100 bytes.
func TestTombstones_bounded(t *testing.T) {
	if sz := unsafe.Sizeof(tombstone{}); sz > 96 {
		t.Errorf("tombstone is %d bytes, want <= 96 (tombstone.go's bound)", sz)
	}
	tb := NewTable(Options{IdleEvict: time.Second})
	const n = 200_000
	at := t0
	var p capture.Packet
	addFlow := func(i int, flags capture.TCPFlags, payload []byte) {
		p = capture.Packet{Index: uint64(i + 1), Time: at, Flags: flags, Seq: 1000, Ack: 1, Window: 100, TTL: 64,
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 1}), 443)}
		withPayload(&p, payload)
		tb.Add(&p)
		at = at.Add(10 * time.Millisecond)
	}
	data := make([]byte, 10)
	for i := range n {
		addFlow(i, capture.PSH|capture.ACK, data)
	}
	tb.Flush(at.Add(time.Hour))
	st := tb.Stats()
	if st.Tombstones != n {
		t.Fatalf("tombstones written %d, want %d (every flow carried data and was evicted idle)", st.Tombstones, n)
	}
	if got, bound := len(tb.tombs.slots), tombBuckets*tombWays; got != bound || cap(tb.tombs.slots) != bound {
		t.Errorf("store holds %d slots (cap %d), want the fixed %d", got, cap(tb.tombs.slots), bound)
	}
	held := 0
	for i := range tb.tombs.slots {
		if tb.tombs.slots[i].hash != 0 {
			held++
		}
	}
	if held > tombBuckets*tombWays || held < tombBuckets*tombWays*9/10 {
		t.Errorf("%d tombstones held after %d evictions, want close to the bound %d", held, n, tombBuckets*tombWays)
	}

	// A SYN flood: half-open flows are no data flows, no tombstones.
	for i := range n {
		addFlow(n+i, capture.SYN, nil)
	}
	tb.Flush(at.Add(time.Hour))
	if st2 := tb.Stats(); st2.Tombstones != n {
		t.Errorf("SYN flood wrote %d tombstones", st2.Tombstones-n)
	}

	// put and take on a full store allocate nothing.
	var f flowState
	f.anyData = true
	rng := rand.New(rand.NewPCG(1, 2))
	allocs := testing.AllocsPerRun(1000, func() {
		a := netip.AddrFrom4([4]byte{172, 16, byte(rng.IntN(256)), byte(rng.IntN(256))})
		c, s := netip.AddrPortFrom(a, uint16(rng.IntN(60000)+1024)), netip.AddrPortFrom(a, 443)
		f.ep = packEndpoints(c, s)
		tb.tombs.put(&f)
		q := capture.Packet{Src: s, Dst: c}
		if _, ok := tb.tombs.take(&q); !ok {
			t.Fatal("tombstone just written not found")
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per put+take, want 0", allocs)
	}
	t.Logf("%d evictions, %d tombstones held, %d bytes each, store %.1f MB", n, held, unsafe.Sizeof(tombstone{}),
		float64(len(tb.tombs.slots))*float64(unsafe.Sizeof(tombstone{}))/1e6)
}

// A shard's bucket (hash % n, then (hash / n) % (tombBuckets / n)) is
// one-to-one with one table's (hash % tombBuckets) when n divides
// tombBuckets: the same flows share a bucket, so Sharded and one table
// keep and drop the same tombstones.
func TestTombStore_shardBucketsMatchOneTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	one := tombStore{buckets: tombBuckets, div: 1}
	for _, n := range []uint64{2, 3, 4, 5, 6, 8, 12, 16} {
		if tombBuckets%n != 0 {
			t.Fatalf("tombBuckets %d is not divisible by %d", tombBuckets, n)
		}
		sh := tombStore{buckets: tombBuckets / n, div: n}
		for range 100_000 {
			a := rng.Uint64()
			b := a + uint64(rng.IntN(4))*tombBuckets // same bucket in one table
			if rng.IntN(2) == 0 {
				b = rng.Uint64()
			}
			same1 := one.bucket(a) == one.bucket(b)
			sameN := a%n == b%n && sh.bucket(a) == sh.bucket(b)
			if same1 != sameN {
				t.Fatalf("n=%d: hashes %d and %d share a bucket in one table: %v, in shards: %v", n, a, b, same1, sameN)
			}
		}
	}
}
