package flows

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// repoCaptures lists every capture of the repository: pcaps/*.pcap,
// pcaps/lab/*.pcap and the corpus.
func repoCaptures(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"../pcaps/*.pcap", "../pcaps/lab/*.pcap", "../pcaps/corpus/*/*.pcap*", "../pcaps/corpus/*/*/*.pcap*", "../pcaps/corpus/*/*/*/*.pcap*"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 150 {
		t.Fatalf("got %d captures, want the repository's (at least 150)", len(files))
	}
	return files
}

// tracker is what Table and Sharded share.
type tracker interface {
	Add(*capture.Packet)
	Close()
	Stats() TableStats
}

// feedFile runs one capture through a Table (shards 0) or a Sharded and
// returns its events in delivery order. A Sharded of 2 or more shards
// takes the packets as the pipeline gives them, decoded into its Slot;
// one shard, copied from the caller's packet.
func feedFile(t *testing.T, file string, shards int) ([]Event, TableStats) {
	t.Helper()
	src, err := capture.OpenFile(file, 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer src.Close()
	var events []Event
	opts := Options{OnEvent: func(e *Event) { events = append(events, *e) }}
	var tr tracker
	var sh *Sharded
	if shards == 0 {
		tr = NewTable(opts)
	} else {
		sh = NewSharded(shards, opts)
		tr = sh
	}
	var own capture.Packet
	for {
		p := &own
		if sh != nil && shards > 1 {
			p = sh.Slot()
		}
		err := src.Next(p)
		if err == io.EOF || errors.Is(err, capture.ErrTruncated) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		tr.Add(p)
	}
	tr.Close()
	return events, tr.Stats()
}

// TestSharded_sameAsOneShard: every capture of the repository gives the
// same events, in the same order, with 1, 2 and 5 shards and with 3
// shards fed in batches of 3 packets, and the same as a single Table (but
// Flow.ID, numbered per shard).
func TestSharded_sameAsOneShard(t *testing.T) {
	total := 0
	for _, file := range repoCaptures(t) {
		name := strings.TrimPrefix(file, "../pcaps/")
		one, st1 := feedFile(t, file, 1)
		for i := range one {
			one[i].Flow.ID = 0 // numbered per shard
		}
		total += len(one)
		for _, n := range []int{2, 5, -3} {
			old := shardBatch
			if n < 0 {
				// 3 shards, batches of 3 packets: many batch ends.
				shardBatch, n = 3, -n
			}
			got, stn := feedFile(t, file, n)
			shardBatch = old
			for i := range got {
				got[i].Flow.ID = 0
			}
			if len(got) != len(one) {
				t.Errorf("%s: %d shards: got %d events, want %d (1 shard)", name, n, len(got), len(one))
				continue
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], one[i]) {
					t.Errorf("%s: %d shards: event %d (frame %d) differs from 1 shard's (frame %d)%s", name, n, i, got[i].RSTs[0].Frame, one[i].RSTs[0].Frame, firstDiff(got[i], one[i]))
					break
				}
			}
			if stn.Flows != st1.Flows || stn.RSTPackets != st1.RSTPackets || stn.Events != st1.Events {
				t.Errorf("%s: %d shards: got stats %+v, want %+v", name, n, stn, st1)
			}
		}
		tab, _ := feedFile(t, file, 0)
		if len(tab) != len(one) {
			t.Errorf("%s: Table: got %d events, Sharded %d", name, len(tab), len(one))
			continue
		}
		for i := range tab {
			a, b := tab[i], one[i]
			a.Flow.ID = 0
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: event %d (frame %d): Table and Sharded differ%s", name, i, a.RSTs[0].Frame, firstDiff(b, a))
				break
			}
		}
	}
	if total < 400 {
		t.Errorf("got %d events over the captures, want at least 400 (is the corpus there?)", total)
	}
}

// firstDiff names the first field of Event where got and want differ.
func firstDiff(got, want Event) string {
	path, g, w := "", reflect.ValueOf(got), reflect.ValueOf(want)
	for g.Kind() == reflect.Struct || g.Kind() == reflect.Array {
		next := -1
		n := g.Len
		if g.Kind() == reflect.Struct {
			n = g.NumField
		}
		for i := range n() {
			var a, b reflect.Value
			if g.Kind() == reflect.Struct {
				a, b = g.Field(i), w.Field(i)
			} else {
				a, b = g.Index(i), w.Index(i)
			}
			if !reflect.DeepEqual(valueOf(a), valueOf(b)) {
				next = i
				if g.Kind() == reflect.Struct {
					path += "." + g.Type().Field(i).Name
				} else {
					path += fmt.Sprintf("[%d]", i)
				}
				g, w = a, b
				break
			}
		}
		if next < 0 || g.Type() == reflect.TypeOf(time.Time{}) {
			break
		}
	}
	return fmt.Sprintf(": %s: got %v, want %v", path, valueOf(g), valueOf(w))
}

// valueOf gives v as an interface, unexported fields included.
func valueOf(v reflect.Value) any {
	if v.CanInterface() {
		return v.Interface()
	}
	return fmt.Sprintf("%v", v)
}

// TestSharded_addNoAllocs: routing packets of established flows to the
// shards, across many batch ends, allocates nothing, whether the packet
// is the caller's (copied) or was decoded into the Sharded's Slot.
func TestSharded_addNoAllocs(t *testing.T) {
	s := NewSharded(2, Options{})
	defer s.Close()
	pk := ladder(t, lines(handshake, []string{"C>S PA seq=101 ack=301 len=100", "S>C A seq=301 ack=201"})...)
	for i := range pk {
		s.Add(&pk[i])
	}
	data, ack := pk[3], pk[4]
	slotted := func(p *capture.Packet) {
		q := s.Slot()
		*q = *p
		s.Add(q)
	}
	n := 0
	// Two packets a run: every batch of the ring (s.maxItems packets) is
	// used (and grown) once before the count.
	allocs := testing.AllocsPerRun((shardRing+2)*s.maxItems/2, func() {
		n++
		data.Seq = 101 + uint32(n)*100
		data.Time = data.Time.Add(time.Millisecond)
		ack.Ack = data.Seq + 100
		ack.Time = data.Time
		slotted(&data)
		s.Add(&ack)
	})
	if allocs != 0 {
		t.Errorf("Sharded.Add on an established flow: got %v allocs, want 0", allocs)
	}
	// AllocsPerRun rounds down: count every allocation of 20 batches. The
	// runtime may allocate for a goroutine blocked on a channel (a sudog
	// when its caches are empty), once in a while: fewer than one per 4
	// batches passes, one per batch (a buffer not reused) would not.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 * s.maxItems {
		n++
		data.Seq = 101 + uint32(n)*100
		data.Time = data.Time.Add(time.Millisecond)
		ack.Ack = data.Seq + 100
		ack.Time = data.Time
		slotted(&data)
		s.Add(&ack)
	}
	s.Stats() // waits for the shards
	runtime.ReadMemStats(&after)
	if d := after.Mallocs - before.Mallocs; d >= 5 {
		t.Errorf("%d packets over 20 batches: got %d allocations, want under 5", 20*s.maxItems, d)
	}
	if st := s.Stats(); st.Flows != 1 {
		t.Errorf("got %d flows, want 1", st.Flows)
	}
}

// FuzzSharded: any packet sequence (time jumps and reordering included)
// gives the same events through 1 shard, 3 shards in batches of 2
// packets (6 in all) taking each packet decoded into their Slot, as the
// pipeline gives them (a suspect held across a batch end, a held one
// released while the next is in the slot), and a Table (but Flow.ID), as
// long as no cap is reached.
func FuzzSharded(f *testing.F) {
	f.Add([]byte{
		0, 0x02, 0, 0, 0, 0, 1, 64,
		0x10, 0x12, 0, 1, 0, 0, 1, 52,
		0, 0x10, 1, 1, 0, 0, 1, 64,
		0, 0x18, 1, 1, 0x45, 0, 1, 64,
		0x10, 0x14, 1, 2, 0, 0, 1, 60,
		0x10, 0x04, 9, 2, 0, 0, 1, 60,
		2, 0x02, 0, 0, 0, 0, 0xff, 64, 0x12, 0x14, 0, 1, 0, 0, 1, 64,
		4, 0x02, 0, 0, 0, 0, 0xfd, 64, 0x14, 0x14, 0, 1, 0, 0x81, 0x81, 64,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		pk := fuzzPackets(data)
		opts := Options{LookAhead: 40 * time.Millisecond, CloseEvict: 100 * time.Millisecond, IdleEvict: time.Second}
		run := func(shards, batch int) []Event { return runPackets(pk, shards, batch, opts, time.Time{}) }
		one, many, tab := run(1, 1024), run(3, 2), run(0, 0)
		for _, c := range []struct {
			name string
			got  []Event
		}{{"3 shards", many}, {"Table", tab}} {
			if len(c.got) != len(one) {
				t.Fatalf("%s: got %d events, 1 shard %d", c.name, len(c.got), len(one))
			}
			for i := range one {
				if !reflect.DeepEqual(c.got[i], one[i]) {
					t.Fatalf("%s: event %d (frame %d) differs from 1 shard's%s", c.name, i, one[i].RSTs[0].Frame, firstDiff(c.got[i], one[i]))
				}
			}
		}
	})
}

// TestSharded_maxFlowsSplit: shards holding as many established flows as
// MaxFlows (all recent, so none can be ended early) drop none, though
// the route hash never splits them evenly; twice as many are still
// bounded, by what the shards' caps add up to.
func TestSharded_maxFlowsSplit(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []int{2, 3, 7} {
		const max = 35_000
		s := NewSharded(n, Options{MaxFlows: max})
		var p capture.Packet
		for i := range 2 * max {
			cl, srv := flowAddrs(i)
			at := t0.Add(time.Duration(i) * time.Microsecond)
			for k, pk := range []capture.Packet{
				{Src: cl, Dst: srv, Flags: capture.SYN, Seq: 100},
				{Src: srv, Dst: cl, Flags: capture.SYN | capture.ACK, Seq: 900, Ack: 101},
				{Src: cl, Dst: srv, Flags: capture.ACK, Seq: 101, Ack: 901},
			} {
				p = pk
				p.Index, p.Time, p.TTL, p.Window = uint64(3*i+k+1), at, 64, 1000
				s.Add(&p)
			}
			if i == max-1 {
				s.Flush(at) // hands the batch being filled to the shards
				if st := s.Stats(); st.Dropped != 0 || st.DroppedFlows != 0 || st.Active != max {
					t.Fatalf("%d shards, MaxFlows %d, %d flows held: %d active, %d packets and %d flows dropped; want all held (%+v)",
						n, max, max, st.Active, st.Dropped, st.DroppedFlows, st)
				}
			}
		}
		s.Flush(t0.Add(time.Second))
		st := s.Stats()
		if limit := n * shardMaxFlows(max, n); st.Active > limit || st.DroppedFlows == 0 {
			t.Fatalf("%d shards, MaxFlows %d, %d flows offered: %d active (shards' caps %d), %d dropped; want at most the caps, the rest dropped",
				n, max, 2*max, st.Active, limit, st.DroppedFlows)
		}
		s.Close()
	}
}

// TestSharded_slotAcrossBatchEnd: packets decoded into the Slot while
// the clock holds a suspect (a time jump) give one table's events for any
// batch size: the held packet is copied out of the slot before the slot
// is used again, a packet in the slot when a held one is released and
// routed first is copied, and so is one whose slot was handed out before
// a Flush sent the batch (not taken from the batch the shards have).
func TestSharded_slotAcrossBatchEnd(t *testing.T) {
	base := jumpFlow
	jumps := map[string]func(pk []capture.Packet){
		"outlier": func(pk []capture.Packet) { pk[5].Time = pk[5].Time.Add(100 * 24 * time.Hour) },
		"step_back": func(pk []capture.Packet) {
			for i := 5; i < len(pk); i++ {
				pk[i].Time = pk[i].Time.Add(-20 * time.Minute)
			}
		},
		"pause": func(pk []capture.Packet) {
			for i := 5; i < len(pk); i++ {
				pk[i].Time = pk[i].Time.Add(48 * time.Hour)
			}
		},
	}
	for name, jump := range jumps {
		pk := ladder(t, base...)
		jump(pk)
		want := run(t, Options{}, pk).events
		if len(want) != 1 {
			t.Fatalf("%s: one table: got %d events, want 1", name, len(want))
		}
		want[0].Flow.ID = 0
		for _, n := range []int{2, 3} {
			for batch := 1; batch <= 4; batch++ {
				old := shardBatch
				shardBatch = batch
				var got []Event
				s := NewSharded(n, Options{OnEvent: func(e *Event) { got = append(got, *e) }})
				shardBatch = old
				for i := range pk {
					p := s.Slot()
					if i == 4 {
						s.Flush(pk[3].Time) // the clock stays: nothing decided
					}
					*p = pk[i]
					s.Add(p)
				}
				s.Close()
				if len(got) != 1 {
					t.Errorf("%s: %d shards, batches of %d: got %d events, want 1", name, n, batch, len(got))
					continue
				}
				got[0].Flow.ID = 0
				if !reflect.DeepEqual(got[0], want[0]) {
					t.Errorf("%s: %d shards, batches of %d: event differs from one table's%s", name, n, batch, firstDiff(got[0], want[0]))
				}
			}
		}
	}
}

// TestShardItem_touch: touch writes in every cache line of an item (so
// that warming an item brings all of its lines to the reader's core), and
// items are whole lines. The item is filled as route fills one, and each
// line must differ after touch.
func TestShardItem_touch(t *testing.T) {
	size := unsafe.Sizeof(shardItem{})
	if size%64 != 0 {
		t.Fatalf("shardItem is %d bytes, not whole cache lines (items in a slice would straddle lines)", size)
	}
	p := ladder(t, "C>S PA seq=1 ack=1 len=10 ts=5")[0]
	p.FlowHash, p.RouteHash, p.CapLen, p.WireLen, p.Frame = 0x1234, 0x5678, 90, 90, make([]byte, 90)
	it := &shardItem{p: p}
	before := unsafe.Slice((*byte)(unsafe.Pointer(it)), size)
	was := append([]byte(nil), before...)
	it.touch()
	for l := uintptr(0); l < size/64; l++ {
		if string(was[64*l:64*l+64]) == string(before[64*l:64*l+64]) {
			t.Errorf("touch left line %d of %d unwritten", l+1, size/64)
		}
	}
}

// TestSharded_clockOutOfNsRange: a shard carries the reader's clock in
// nanoseconds while it is in unixNano's range and as a Time past it
// (shardRef.wide). Captures whose packets cross that range's end (late
// 2096), lie in 2200, or in 2300 (past 2262, where int64 nanoseconds
// saturate), each with a Flush beyond, give a single Table's events with
// 2 shards and with 3 in batches of 2. (A wide clock read as nanoseconds
// kept a shard's clock in 1970: events were decided at the end, with
// EndOfInput. In 2300 the reader's host snapshots of the RSTs, due by
// saturated nanoseconds, were never due: SenderHost.Known false.)
func TestSharded_clockOutOfNsRange(t *testing.T) {
	edge := time.Unix(0, 4e18).UTC() // inNsRange's end
	if inNsRange(unixNano(edge)) || !inNsRange(unixNano(edge.Add(-time.Nanosecond))) {
		t.Fatalf("%v is not the end of unixNano's range", edge)
	}
	for _, start := range []time.Time{edge.Add(-60 * time.Millisecond), time.Date(2200, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2300, 1, 2, 3, 4, 5, 0, time.UTC)} {
		pk := outOfRangeFlows(t, start)
		opts, flush := Options{LookAhead: 40 * time.Millisecond, IdleEvict: time.Minute}, pk[len(pk)-1].Time.Add(time.Hour)
		want := runPackets(pk, 0, 0, opts, flush)
		if len(want) != 4 || want[1].Count != 2 || want[3].Count != 2 || want[3].EndOfInput {
			t.Fatalf("from %v: one table gave %d events, want 4 (two refused, two resets of two RSTs each, decided before the end)", start, len(want))
		}
		for _, c := range []struct{ shards, batch int }{{2, 1024}, {3, 2}} {
			got := runPackets(pk, c.shards, c.batch, opts, flush)
			if len(got) != len(want) {
				t.Fatalf("from %v, %d shards: %d events, one table %d", start, c.shards, len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("from %v, %d shards: event %d differs from one table's%s", start, c.shards, i, firstDiff(got[i], want[i]))
				}
			}
		}
	}
}

// outOfRangeFlows gives six flows 20 ms apart from start, in time order:
// refused, reset after the request (two RSTs), left idle, twice.
func outOfRangeFlows(t *testing.T, start time.Time) []capture.Packet {
	var pk []capture.Packet
	for i := range 6 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 40000)
		var lines []string
		switch i % 3 {
		case 0:
			lines = []string{"C>S S seq=100", "S>C RA seq=0 ack=101"}
		case 1: // the second RST 1 ms later, within the look-ahead
			lines = []string{"C>S S seq=100", "S>C SA seq=300 ack=101", "C>S A seq=101 ack=301", "C>S PA seq=101 ack=301 len=40", "S>C R seq=301", "S>C R seq=301"}
		default:
			lines = []string{"C>S S seq=100", "S>C SA seq=300 ack=101", "C>S A seq=101 ack=301"}
		}
		for _, p := range ladderAt(t, c, srvAddr, lines...) {
			p.Time = start.Add(time.Duration(i)*20*time.Millisecond + p.Time.Sub(t0))
			pk = append(pk, p)
		}
	}
	slices.SortStableFunc(pk, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
	for i := range pk {
		pk[i].Index = uint64(i + 1)
	}
	return pk
}

// runPackets runs pk through a Table (shards 0) or a Sharded of batches
// of batch packets a shard (fed through Slot with 2 or more shards), then,
// unless flush is zero, a Flush to it, and gives the events (Flow.ID
// cleared).
func runPackets(pk []capture.Packet, shards, batch int, opts Options, flush time.Time) []Event {
	var events []Event
	opts.OnEvent = func(e *Event) { events = append(events, *e) }
	var tr interface {
		tracker
		Flush(time.Time)
	} = NewTable(opts)
	var sh *Sharded
	if shards > 0 {
		old := shardBatch
		shardBatch = batch
		sh = NewSharded(shards, opts)
		tr = sh
		shardBatch = old
	}
	for i := range pk {
		p := &capture.Packet{}
		if shards > 1 {
			p = sh.Slot()
		}
		*p = pk[i]
		tr.Add(p)
	}
	if !flush.IsZero() {
		tr.Flush(flush)
	}
	tr.Close()
	for i := range events {
		events[i].Flow.ID = 0
	}
	return events
}
