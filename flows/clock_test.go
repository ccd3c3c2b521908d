package flows

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// jumpRun feeds pk and collects warnings too.
func jumpRun(t *testing.T, pk []capture.Packet) (result, []string) {
	t.Helper()
	var warns []string
	r := run(t, Options{OnWarning: func(m string) { warns = append(warns, m) }}, pk)
	return r, warns
}

// jumpFlow is the flow the time-jump tests move frame 6 (pk[5]) and the
// frames after it of.
var jumpFlow = lines(handshake, []string{
	"C>S PA seq=101 ack=301 len=10",  // 4
	"S>C A seq=301 ack=111",          // 5
	"C>S PA seq=111 ack=301 len=10",  // 6
	"S>C PA seq=301 ack=121 len=100", // 7
	"S>C R seq=401",                  // 8
	"C>S PA seq=121 ack=401 len=10",  // 9: the client still writes: After
})

// TestTable_timeJumps (issue 14 item 11).
func TestTable_timeJumps(t *testing.T) {
	base := jumpFlow
	t.Run("lone_outlier_in_2106", func(t *testing.T) {
		pk := ladder(t, base...)
		pk[5].Time = time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC) // frame 6
		r, warns := jumpRun(t, pk)
		e := r.one(t)
		if len(warns) != 1 || !strings.Contains(warns[0], "frame 6") || !strings.Contains(warns[0], "2106-02-07") {
			t.Errorf("warnings: got %q, want one naming frame 6 and its time", warns)
		}
		if st := r.table.Stats(); st.Evicted != 0 || st.TimeJumps != 1 {
			t.Errorf("evicted %d, time jumps %d; want 0 and 1", st.Evicted, st.TimeJumps)
		}
		if e.After.ReceiverDataPackets != 1 || e.Gap != time.Millisecond {
			t.Errorf("event: gap %v, after: receiver data %d; want 1ms and frame 9 in the look-ahead", e.Gap, e.After.ReceiverDataPackets)
		}
		if got := e.Flow.Ladder.At(5).Time; !got.Equal(pk[4].Time) {
			t.Errorf("frame 6 tracked at %v, want the clock's time %v", got, pk[4].Time)
		}
	})
	t.Run("clock_steps_back_20min", func(t *testing.T) {
		pk := ladder(t, base...)
		for i := 5; i < len(pk); i++ { // from frame 6 on
			pk[i].Time = pk[i].Time.Add(-20 * time.Minute)
		}
		r, warns := jumpRun(t, pk)
		e := r.one(t)
		if len(warns) != 1 || !strings.Contains(warns[0], "frame 6") || !strings.Contains(warns[0], "steps back by 19m59.999s") {
			t.Errorf("warnings: got %q, want one: frame 6 steps back by 20 min less the 1 ms between frames 5 and 6", warns)
		}
		if st := r.table.Stats(); st.Evicted != 0 || len(r.ended) != 1 {
			t.Errorf("evicted %d, flows %d; want 0 and 1 (the flow lives on)", st.Evicted, len(r.ended))
		}
		if e.Flow.ID != 1 || e.Flow.Dirs[0].DataPackets != 2 || e.After.ReceiverDataPackets != 1 || e.Gap != time.Millisecond {
			t.Errorf("event: flow %d with %d client data packets, gap %v, look-ahead data %d; want flow 1, 2, 1ms, 1",
				e.Flow.ID, e.Flow.Dirs[0].DataPackets, e.Gap, e.After.ReceiverDataPackets)
		}
	})
	t.Run("real_pause_of_two_days", func(t *testing.T) {
		pk := ladder(t, base...)
		for i := 5; i < len(pk); i++ {
			pk[i].Time = pk[i].Time.Add(48 * time.Hour)
		}
		r, warns := jumpRun(t, pk)
		if len(warns) != 1 || !strings.Contains(warns[0], "frame 6") || !strings.Contains(warns[0], "ahead by 48h") {
			t.Errorf("warnings: got %q, want one: frame 6 jumps ahead by 48h", warns)
		}
		// Time really passed: the flow was idle past IdleEvict and frame 6
		// starts a new (midstream) one, at its own time.
		if st := r.table.Stats(); st.Evicted != 1 || st.Flows != 2 {
			t.Errorf("evicted %d, flows %d; want 1 and 2", st.Evicted, st.Flows)
		}
		if e := r.one(t); !e.First().Time.Equal(pk[7].Time) {
			t.Errorf("RST time: got %v, want %v (times are not re-based forward)", e.First().Time, pk[7].Time)
		}
	})
}

// TestTable_timeJumpsTwoInputs: two inputs merged by time, the second's
// clock stepping back 20 minutes: only that input is re-based (one
// warning naming it), the first input's flow is untouched, nothing is
// evicted and both RSTs see their look-ahead.
func TestTable_timeJumpsTwoInputs(t *testing.T) {
	steps := lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=10",
		"S>C A seq=301 ack=111",
		"C>S PA seq=111 ack=301 len=10 t=10s",
		"S>C PA seq=301 ack=121 len=100",
		"S>C R seq=401",
		"C>S PA seq=121 ack=401 len=10",
	})
	a := ladder(t, steps...)
	rst0 := a[7].Time
	b := ladderAt(t, netip.MustParseAddrPort("10.9.0.1:5000"), netip.MustParseAddrPort("10.9.0.2:80"), steps...)
	for i := range b {
		b[i].Input = 1
		b[i].Time = b[i].Time.Add(500 * time.Microsecond)
		if i >= 5 { // input 1's clock steps back from its 6th packet
			b[i].Time = b[i].Time.Add(-20 * time.Minute)
		}
	}
	// Merge as capture.OpenFiles does: of the inputs' next packets, the
	// earliest; input 1's stepped-back packets thus come right after its
	// 5th, ahead of input 0's later ones.
	var pk []capture.Packet
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && !b[0].Time.Before(a[0].Time) {
			pk, a = append(pk, a[0]), a[1:]
		} else {
			pk, b = append(pk, b[0]), b[1:]
		}
	}
	r, warns := jumpRun(t, pk)
	if len(warns) != 1 || !strings.Contains(warns[0], "input 1 frame 6: capture time steps back") {
		t.Errorf("warnings: got %q, want one: input 1 frame 6 steps back", warns)
	}
	if st := r.table.Stats(); st.Evicted != 0 || st.Flows != 2 {
		t.Errorf("evicted %d, flows %d; want 0 and 2", st.Evicted, st.Flows)
	}
	if len(r.events) != 2 {
		t.Fatalf("got %d events, want 2", len(r.events))
	}
	for _, e := range r.events {
		if e.After.ReceiverDataPackets != 1 || e.Flow.Dirs[0].DataPackets != 2 || e.Gap != time.Millisecond {
			t.Errorf("input %d: look-ahead data %d, client data %d, gap %v; want 1, 2, 1ms", e.First().Input, e.After.ReceiverDataPackets, e.Flow.Dirs[0].DataPackets, e.Gap)
		}
	}
	for _, e := range r.events {
		if e.First().Input == 0 && !e.First().Time.Equal(rst0) {
			t.Errorf("input 0's RST time: got %v, want %v (not re-based)", e.First().Time, rst0)
		}
	}
}

// TestTable_timeJumpsTwoSuspects: input 1's suspect comes while input 0's
// is held, so input 0's is let go as a lone outlier and input 1's is held
// in its place. Both are tracked at the clock's time when they came (the
// letting go cannot move the clock: it tracks the suspect at an earlier
// reading of it), and each is warned of once.
func TestTable_timeJumpsTwoSuspects(t *testing.T) {
	a := ladder(t, jumpFlow...)
	b := ladderAt(t, netip.MustParseAddrPort("10.9.0.1:5000"), netip.MustParseAddrPort("10.9.0.2:80"), jumpFlow...)
	far := time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC)
	for i := range b {
		b[i].Input = 1
		b[i].Time = b[i].Time.Add(500 * time.Microsecond)
	}
	a[5].Time, b[5].Time = far, far.Add(time.Hour) // frame 6 of each; not near each other either
	clock := b[4].Time                             // the latest time before them
	var pk []capture.Packet
	pk = append(pk, a[:5]...)
	pk = append(pk, b[:5]...)
	pk = append(pk, a[5], b[5])
	pk = append(pk, a[6:]...)
	pk = append(pk, b[6:]...)
	r, warns := jumpRun(t, pk)
	if len(warns) != 2 || !strings.Contains(warns[0], "input 0 frame 6") || !strings.Contains(warns[1], "input 1 frame 6") {
		t.Fatalf("warnings: got %q, want input 0 frame 6, then input 1 frame 6", warns)
	}
	for _, w := range warns {
		if !strings.Contains(w, "out of line") || !strings.Contains(w, "taken as "+clock.Format(time.RFC3339Nano)) {
			t.Errorf("warning %q: want a lone outlier taken as %v", w, clock)
		}
	}
	if st := r.table.Stats(); st.Evicted != 0 || st.Flows != 2 || st.TimeJumps != 2 {
		t.Errorf("evicted %d, flows %d, time jumps %d; want 0, 2, 2", st.Evicted, st.Flows, st.TimeJumps)
	}
	if len(r.events) != 2 {
		t.Fatalf("got %d events, want 2", len(r.events))
	}
	for _, e := range r.events {
		if got := e.Flow.Ladder.At(5).Time; !got.Equal(clock) {
			t.Errorf("input %d: frame 6 tracked at %v, want the clock's time %v", e.First().Input, got, clock)
		}
		if e.After.ReceiverDataPackets != 1 || e.Gap != time.Millisecond {
			t.Errorf("input %d: gap %v, look-ahead data %d; want 1ms, 1", e.First().Input, e.Gap, e.After.ReceiverDataPackets)
		}
	}
}

// TestInNsRange: the single comparison is -4e18 < ns < 4e18.
func TestInNsRange(t *testing.T) {
	for _, ns := range []int64{math.MinInt64, -9e18, -4e18 - 1, -4e18, -4e18 + 1, -1, 0, 1, 4e18 - 1, 4e18, 4e18 + 1, 9e18, math.MaxInt64} {
		if got, want := inNsRange(ns), ns > -4e18 && ns < 4e18; got != want {
			t.Errorf("inNsRange(%d): got %v, want %v", ns, got, want)
		}
	}
}

// TestUnixNano: t.UnixNano() where it fits, clamped beyond.
func TestUnixNano(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Unix(1_767_323_045, 123_456_789), time.Unix(-9e9, 0), time.Unix(9e9, 999_999_999),
		time.Date(2026, 12, 7, 6, 0, 0, 1, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 5, time.FixedZone("x", 3600)),
	} {
		if got, want := unixNano(tm), tm.UnixNano(); got != want {
			t.Errorf("unixNano(%v): got %d, want %d", tm, got, want)
		}
	}
	for _, c := range []struct {
		t    time.Time
		want int64
	}{{time.Unix(-9e9-1, 0), -9e18}, {time.Unix(9e9+1, 0), 9e18}, {time.Time{}, -9e18}, {time.Unix(1<<62, 0), 9e18}} {
		if got := unixNano(c.t); got != c.want {
			t.Errorf("unixNano(%v): got %d, want %d", c.t, got, c.want)
		}
	}
}
