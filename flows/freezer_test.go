package flows

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// tableRun is what a table gave for a capture: its events and ended
// flows in order, its stats, and how often it froze and thawed.
type tableRun struct {
	events                      []Event
	ended                       []Flow
	stats                       TableStats
	freezes, thaws, compactions uint64
	records                     uint64 // events' records (snapshot.go)
}

// runTable feeds the capture at path through a table with opts.
func runTable(t *testing.T, path string, opts Options) tableRun {
	t.Helper()
	return runTableWith(t, path, opts, nil)
}

// runTableWith is runTable with setup applied to the new table.
func runTableWith(t *testing.T, path string, opts Options, setup func(*Table)) tableRun {
	t.Helper()
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer src.Close()
	var r tableRun
	opts.OnEvent = func(e *Event) { r.events = append(r.events, *e) }
	opts.OnFlowEnd = func(f *Flow) { r.ended = append(r.ended, *f) }
	tb := NewTable(opts)
	if setup != nil {
		setup(tb)
	}
	var p capture.Packet
	for {
		if err := src.Next(&p); errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tb.Add(&p)
		if got := tb.Stats().Active; got > opts.MaxFlows && opts.MaxFlows > 0 {
			t.Fatalf("%s frame %d: %d flows held, MaxFlows %d", path, p.Index, got, opts.MaxFlows)
		}
	}
	r.stats = tb.Stats()
	r.freezes, r.thaws, r.records = tb.frz.freezes, tb.frz.thaws, tb.snapRecords
	if r.stats.Frozen != tb.frz.n || r.stats.Thawed > r.thaws {
		t.Fatalf("%s: Stats says %d frozen, %d thawed; the table froze %d, thawed %d", path, r.stats.Frozen, r.stats.Thawed, tb.frz.n, r.thaws)
	}
	r.stats.Frozen, r.stats.Thawed = 0, 0 // the rest must not depend on HotFlows
	tb.Close()
	if tb.frz.n != 0 || tb.Stats().Active != 0 {
		t.Fatalf("%s: after Close %d frozen, %d held", path, tb.frz.n, tb.Stats().Active)
	}
	return r
}

// TestHotFlows_sameEvents: every capture of the repository gives the
// same events (flow snapshots, look-ahead, host profiles), the same flow
// ends in the same order and the same stats whether every flow but one
// is frozen after each packet (HotFlows 1) or none is; also with short
// idle and close evictions (frozen flows evicted, tombstones) and a small
// MaxFlows (frozen flows ended to make room).
func TestHotFlows_sameEvents(t *testing.T) {
	var freezes, thaws uint64
	for _, path := range repoCaptures(t) {
		for _, o := range []Options{
			{},
			{IdleEvict: 2 * time.Second, CloseEvict: time.Second},
			{MaxFlows: 3},
		} {
			name := fmt.Sprintf("%s %+v", path, o)
			want := runTable(t, path, o)
			o.HotFlows = 1
			got := runTable(t, path, o)
			freezes, thaws = freezes+got.freezes, thaws+got.thaws
			if len(got.events) != len(want.events) || len(got.ended) != len(want.ended) {
				t.Fatalf("%s: HotFlows 1: %d events, %d flow ends; want %d, %d", name, len(got.events), len(got.ended), len(want.events), len(want.ended))
			}
			for i := range got.events {
				if !reflect.DeepEqual(&got.events[i], &want.events[i]) {
					t.Fatalf("%s: HotFlows 1: event %d differs:\ngot  %+v\nwant %+v", name, i, got.events[i], want.events[i])
				}
			}
			for i := range got.ended {
				if !reflect.DeepEqual(&got.ended[i], &want.ended[i]) {
					t.Fatalf("%s: HotFlows 1: flow end %d differs:\ngot  %+v\nwant %+v", name, i, got.ended[i], want.ended[i])
				}
			}
			if got.stats != want.stats {
				t.Fatalf("%s: HotFlows 1: stats %+v, want %+v", name, got.stats, want.stats)
			}
		}
	}
	if freezes == 0 || thaws == 0 {
		t.Fatalf("got %d freezes, %d thaws: nothing was frozen", freezes, thaws)
	}
	t.Logf("HotFlows 1: %d freezes, %d thaws", freezes, thaws)
}

// reorderedTraffic gives n packets of flows flows between random hosts:
// handshakes, data, FINs and RSTs at random, with capture times jittered
// out of order by up to jitter (lists kept in last-packet order then
// walk back, and the frozen part must be walked too).
func reorderedTraffic(seed uint64, n, flows int, jitter time.Duration) []capture.Packet {
	r := rand.New(rand.NewPCG(seed, 7))
	type fl struct {
		c, s     netip.AddrPort
		seq, ack uint32
		state    int
	}
	fs := make([]fl, flows)
	for i := range fs {
		fs[i] = fl{c: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(30000+i)),
			s: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(r.IntN(4))}), 443), seq: r.Uint32(), ack: r.Uint32()}
	}
	out := make([]capture.Packet, 0, n)
	for i := range n {
		f := &fs[r.IntN(flows)]
		p := capture.Packet{Index: uint64(i + 1), Time: t0.Add(time.Duration(i)*time.Millisecond + time.Duration(r.Int64N(int64(jitter)))),
			Src: f.c, Dst: f.s, TTL: 64, IPID: uint16(i), Window: 500, Seq: f.seq, Ack: f.ack}
		fromServer := r.IntN(2) == 0
		if fromServer {
			p.Src, p.Dst, p.TTL, p.Seq, p.Ack = f.s, f.c, 50, f.ack, f.seq
		}
		switch k := r.IntN(20); {
		case f.state == 0 && !fromServer:
			p.Flags, f.state = capture.SYN, 1
		case f.state == 1 && fromServer:
			p.Flags, f.state = capture.SYN|capture.ACK, 2
		case k == 0:
			p.Flags = capture.RST | capture.ACK
		case k == 1:
			p.Flags = capture.FIN | capture.ACK
		case k < 8:
			p.Flags, p.Len = capture.PSH|capture.ACK, 1+r.IntN(100)
			p.Payload = make([]byte, p.Len)
		default:
			p.Flags = capture.ACK
		}
		if fromServer {
			f.ack += uint32(p.Len)
		} else {
			f.seq += uint32(p.Len)
		}
		if r.IntN(30) == 0 {
			f.state = 0 // a new connection on the tuple
			f.seq += 100000
		}
		out = append(out, p)
	}
	return out
}

// TestHotFlows_reordered: traffic out of time order, with evictions and a
// full table, gives the same events, flow ends and stats for HotFlows 1,
// 2, 5 and 70 as with every flow hot (flows thawed at random leave holes
// in the queues, which are compacted).
func TestHotFlows_reordered(t *testing.T) {
	run := func(pk []capture.Packet, o Options) tableRun {
		var r tableRun
		o.OnEvent = func(e *Event) { r.events = append(r.events, *e) }
		o.OnFlowEnd = func(f *Flow) { r.ended = append(r.ended, *f) }
		tb := NewTable(o)
		for i := range pk {
			p := pk[i]
			tb.Add(&p)
		}
		r.stats = tb.Stats()
		r.freezes, r.thaws, r.compactions = tb.frz.freezes, tb.frz.thaws, tb.frz.compactions
		r.stats.Frozen, r.stats.Thawed = 0, 0 // the rest must not depend on HotFlows
		tb.Close()
		return r
	}
	var thaws, compactions uint64
	for seed := range uint64(8) {
		pk := reorderedTraffic(seed, 3000, 150, time.Duration(1+seed%4)*40*time.Millisecond)
		for _, o := range []Options{
			{IdleEvict: 300 * time.Millisecond, CloseEvict: 100 * time.Millisecond},
			{IdleEvict: 2 * time.Second, CloseEvict: 500 * time.Millisecond, MaxFlows: 60},
			{},
		} {
			want := run(pk, o)
			for _, hot := range []int{1, 2, 5, 70} {
				o.HotFlows = hot
				got := run(pk, o)
				thaws, compactions = thaws+got.thaws, compactions+got.compactions
				name := fmt.Sprintf("seed %d, %+v", seed, o)
				if len(got.events) != len(want.events) || len(got.ended) != len(want.ended) {
					t.Fatalf("%s: %d events, %d flow ends; want %d, %d", name, len(got.events), len(got.ended), len(want.events), len(want.ended))
				}
				for i := range got.ended {
					if !reflect.DeepEqual(&got.ended[i], &want.ended[i]) {
						t.Fatalf("%s: flow end %d: got flow %d (last %v), want flow %d (last %v)", name, i, got.ended[i].ID, got.ended[i].Last, want.ended[i].ID, want.ended[i].Last)
					}
				}
				for i := range got.events {
					if !reflect.DeepEqual(&got.events[i], &want.events[i]) {
						t.Fatalf("%s: event %d differs", name, i)
					}
				}
				if got.stats != want.stats {
					t.Fatalf("%s: stats %+v, want %+v", name, got.stats, want.stats)
				}
			}
		}
	}
	if thaws == 0 || compactions == 0 {
		t.Fatalf("got %d thaws, %d compactions: the frozen tier was not exercised", thaws, compactions)
	}
}

// TestHotFlows_stats: Stats counts the flows frozen now (within Active)
// and the packets that thawed one.
func TestHotFlows_stats(t *testing.T) {
	tb := NewTable(Options{HotFlows: 2})
	var p capture.Packet
	for i := range 5 {
		establish(tb, &p, i, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if s := tb.Stats(); s.Active != 5 || s.Frozen != 3 || s.Thawed != 0 {
		t.Fatalf("after 5 flows: got %d active, %d frozen, %d thawed; want 5, 3, 0", s.Active, s.Frozen, s.Thawed)
	}
	cl, srv := flowAddrs(0) // the coldest: frozen
	p = capture.Packet{Index: p.Index + 1, Time: t0.Add(time.Second), Src: cl, Dst: srv, Flags: capture.ACK, Seq: 101, Ack: 10001, TTL: 64}
	tb.Add(&p)
	if s := tb.Stats(); s.Active != 5 || s.Frozen != 3 || s.Thawed != 1 {
		t.Fatalf("after a packet of a frozen flow: got %d active, %d frozen, %d thawed; want 5, 3, 1", s.Active, s.Frozen, s.Thawed)
	}
	tb.Close()
	if s := tb.Stats(); s.Active != 0 || s.Frozen != 0 {
		t.Fatalf("after Close: got %d active, %d frozen; want 0, 0", s.Active, s.Frozen)
	}
}

// TestHotFlows_reusedTable: a table reused after Close (its queues,
// ids and dictionary kept) still gives what an all-hot table reused the
// same way gives.
func TestHotFlows_reusedTable(t *testing.T) {
	pk := reorderedTraffic(99, 3000, 150, 40*time.Millisecond)
	var runs [2][]Event
	for k, hot := range []int{0, 1} {
		tb := NewTable(Options{HotFlows: hot, IdleEvict: 300 * time.Millisecond, OnEvent: func(e *Event) { runs[k] = append(runs[k], *e) }})
		for range 3 {
			for i := range pk {
				p := pk[i]
				tb.Add(&p)
			}
			tb.Close()
			if tb.frz.n != 0 || len(tb.frz.opens) != 0 {
				t.Fatalf("HotFlows %d: after Close %d frozen, %d with open events", hot, tb.frz.n, len(tb.frz.opens))
			}
		}
	}
	if len(runs[0]) == 0 || !reflect.DeepEqual(runs[0], runs[1]) {
		t.Fatalf("reused HotFlows 1 table: %d events, want the all-hot table's %d, equal", len(runs[1]), len(runs[0]))
	}
}
