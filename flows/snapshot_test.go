package flows

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestEvents_recordIsSnapshot: for every capture of the repository, the
// events a table decides from the records its waiting events keep
// (snapshot.go) equal, field by field, the events built from the live
// flow at each first RST (snapLive: what the table did before records,
// a Flow expanded when the RST arrived, with its Stage, Gap and Trigger),
// also with short evictions, a small MaxFlows, every flow frozen but one
// and a short look-ahead (events due at once).
func TestEvents_recordIsSnapshot(t *testing.T) {
	var records, events int
	for _, path := range repoCaptures(t) {
		for _, o := range []Options{
			{},
			{IdleEvict: 2 * time.Second, CloseEvict: time.Second},
			{MaxFlows: 3},
			{HotFlows: 1},
			{LookAhead: time.Millisecond},
		} {
			name := fmt.Sprintf("%s %+v", path, o)
			want := runTableWith(t, path, o, func(tb *Table) { tb.snapLive = true })
			got := runTable(t, path, o)
			if want.records != 0 {
				t.Fatalf("%s: snapLive kept %d records, want none", name, want.records)
			}
			if len(got.events) != len(want.events) {
				t.Fatalf("%s: got %d events, want %d", name, len(got.events), len(want.events))
			}
			for i := range got.events {
				g, w := &got.events[i], &want.events[i]
				if !reflect.DeepEqual(&g.Flow, &w.Flow) {
					t.Fatalf("%s: event %d (frame %d): Flow differs from the snapshot at the RST:\ngot  %+v\nwant %+v",
						name, i, g.First().Frame, g.Flow, w.Flow)
				}
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("%s: event %d (frame %d) differs:\ngot  %+v\nwant %+v", name, i, g.First().Frame, *g, *w)
				}
			}
			if got.stats != want.stats {
				t.Fatalf("%s: stats %+v, want %+v", name, got.stats, want.stats)
			}
			records += int(got.records)
			events += len(got.events)
		}
	}
	if records == 0 || records > events {
		t.Fatalf("%d events from %d records: want records for most of them", events, records)
	}
	t.Logf("%d events, %d of them from records", events, records)
}

// TestEvents_noAllocs: once its pools are warm, a table that opens and
// decides an event per RST on an established flow, with packets in the
// look-ahead, allocates only the decided event's History string
// (histState.String, as before records): records go into reused chunks
// and decode into pooled parts.
func TestEvents_noAllocs(t *testing.T) {
	n := 0
	tb := NewTable(Options{OnEvent: func(*Event) { n++ }})
	pk := ladder(t, lines(handshake, []string{"C>S PA seq=101 ack=301 len=100", "S>C A seq=301 ack=201", "S>C R seq=99999"})...)
	for i := range pk {
		tb.Add(&pk[i])
	}
	data, ack, rst := pk[3], pk[4], pk[5]
	round := func() {
		data.Seq += 100
		data.Time = data.Time.Add(3 * time.Second) // past the look-ahead: decides the last event
		ack.Ack, ack.Time = data.Seq+100, data.Time
		rst.Seq++
		rst.Time = data.Time.Add(time.Millisecond)
		tb.Add(&data)
		tb.Add(&ack)
		tb.Add(&rst) // out of window: the flow stays, a new event opens
	}
	for range 10 {
		round()
	}
	before := n
	allocs := testing.AllocsPerRun(1000, round)
	if allocs > 1 {
		t.Errorf("an event per round: got %v allocs a round, want at most 1 (History)", allocs)
	}
	if n-before < 1000 || tb.snapRecords < 1000 {
		t.Fatalf("got %d events from %d records, want one a round", n-before, tb.snapRecords)
	}
}

// BenchmarkPendingEvents holds maxPending events waiting for their
// look-ahead and reports the live heap they take, per event: RSTs on new
// tuples (a record of an empty flow), RSTs on established flows (6
// packets, a request and a response each: the flows' own heap is
// measured before), and RSTs past MaxFlows (untracked: no record).
func BenchmarkPendingEvents(b *testing.B) {
	for _, sc := range []struct {
		name        string
		established bool
		maxFlows    int
	}{
		{"new_tuple", false, 0},
		{"established", true, 0},
		{"untracked", false, 1},
	} {
		b.Run(sc.name, func(b *testing.B) {
			var perEvent, perRecord float64
			for b.Loop() {
				tb := NewTable(Options{MaxFlows: sc.maxFlows})
				var p capture.Packet
				if sc.established {
					for i := range maxPending {
						establish(tb, &p, i, t0)
					}
				}
				at := t0.Add(time.Second)
				before := liveHeap()
				for i := range maxPending {
					cl, srv := flowAddrs(i)
					isn := uint32(i) * 7
					p = capture.Packet{Index: uint64(10*maxPending + i), Time: at.Add(time.Duration(i) * time.Nanosecond),
						Src: srv, Dst: cl, Flags: capture.RST | capture.ACK, Seq: 10001, Ack: isn + 101, TTL: 52}
					tb.Add(&p)
				}
				after := liveHeap()
				if w := len(tb.queue) - tb.qhead; w != maxPending {
					b.Fatalf("got %d events waiting, want %d", w, maxPending)
				}
				perEvent = float64(after-before) / maxPending
				perRecord = 0
				for _, oe := range tb.queue[tb.qhead:] {
					perRecord += float64(oe.snap.n)
				}
				perRecord /= maxPending
				tb.Close()
			}
			b.ReportMetric(perEvent, "B/event")
			b.ReportMetric(perRecord, "record-B")
		})
	}
}

// BenchmarkEvents: an event per round on an established HTTP flow whose
// ladder is full (16 packets): a data packet 3 s later (deciding the last
// event), its ACK, and an out-of-window RST that opens the next event.
// "record" is the table as it is; "live" expands the flow at the RST as
// the table did before records (snapLive), for a comparison in one run.
func BenchmarkEvents(b *testing.B) {
	for _, live := range []bool{false, true} {
		b.Run(map[bool]string{false: "record", true: "live"}[live], func(b *testing.B) {
			n := 0
			tb := NewTable(Options{OnEvent: func(*Event) { n++ }})
			tb.snapLive = live
			pk := ladder(b, lines(handshake, []string{"C>S PA seq=101 ack=301 len=38", "S>C PA seq=301 ack=139 len=100",
				"C>S A seq=139 ack=401", "S>C R seq=99999"})...)
			withPayload(&pk[3], []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
			for i := range pk {
				tb.Add(&pk[i])
			}
			data, ack, rst := pk[4], pk[5], pk[6]
			data.Payload = nil
			for b.Loop() {
				data.Seq += 100
				data.Time = data.Time.Add(3 * time.Second)
				ack.Ack, ack.Time = data.Seq+100, data.Time
				rst.Seq++
				rst.Time = data.Time.Add(time.Millisecond)
				tb.Add(&data)
				tb.Add(&ack)
				tb.Add(&rst)
			}
			b.ReportMetric(float64(n)/float64(b.N), "events/op")
		})
	}
}
