package flows

import (
	"math"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestLadder_packRoundTrip: an entry comes back from the 40-byte slot as
// it went in (every flag, both directions, the timestamps option), except
// what the slot saturates: lengths past 65535, inputs past 65535 and
// times outside what Unix nanoseconds hold.
func TestLadder_packRoundTrip(t *testing.T) {
	in := LadderEntry{Frame: 1 << 40, Input: 3, Time: time.Date(2106, 2, 7, 6, 28, 15, 123456789, time.UTC), Dir: FromServer,
		Flags: capture.SYN | capture.ACK | capture.ECE | capture.CWR | capture.NS, Seq: 1<<32 - 1, Ack: 7, Len: 1460,
		TTL: 255, IPID: 65535, Window: 65535, HasTS: true, TSVal: 1<<32 - 1}
	var l Ladder
	l.Push(in)
	if got := l.At(0); got != in {
		t.Errorf("got %+v\nwant %+v", got, in)
	}
	l.buf[0].reverseDir()
	if got := l.At(0); got.Dir != FromClient || got.Flags != in.Flags || !got.HasTS {
		t.Errorf("after reverseDir: got dir %v flags %v ts %v, want client, %v, true", got.Dir, got.Flags, got.HasTS, in.Flags)
	}
	far := in
	far.Len, far.Input, far.Time = 70000, 1<<20, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Push(far)
	got := l.At(1)
	if got.Len != 65535 || got.Input != 65535 || got.Time.Year() != 2255 {
		t.Errorf("saturated: got len %d input %d year %d, want 65535, 65535, 2255 (clamped)", got.Len, got.Input, got.Time.Year())
	}
}

// TestFlowLadder_growsLikeLadder: a held flow's ladder, grown from its
// inline 4 slots through pool blocks to 8 and 16 slots and then wrapping,
// expands to the same entries as a fixed Ladder fed the same packets, at
// every length; blocks given back are reused.
func TestFlowLadder_growsLikeLadder(t *testing.T) {
	var pool ladderPool
	var fl flowLadder
	var want Ladder
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := slotBase{ns: t0.UnixNano(), frame: 1, input: 2}
	for i := range 40 {
		p := capture.Packet{Index: uint64(i + 1), Input: 2 + i%3, Time: t0.Add(time.Duration(i) * time.Millisecond), Flags: capture.ACK, Seq: uint32(i), Len: i}
		d := FromClient
		if i%2 == 1 {
			d = FromServer
		}
		pool.push(&fl, uint64(i), packetFlowSlot(&p, d, p.Time.UnixNano(), base))
		want.Push(ladderEntry(&p, d))
		var got Ladder
		fl.expand(uint64(i+1), base, &got)
		if got.Len() != want.Len() || got.Total() != want.Total() {
			t.Fatalf("after %d packets: got %d held (%d total), want %d (%d)", i+1, got.Len(), got.Total(), want.Len(), want.Total())
		}
		for k := range want.Len() {
			if g, w := got.At(k), want.At(k); g != w {
				t.Fatalf("after %d packets, entry %d: got %+v, want %+v", i+1, k, g, w)
			}
		}
	}
	if fl.capOf() != 16 {
		t.Errorf("got a ladder of %d slots, want 16", fl.capOf())
	}
	pool.put(fl.ext)
	if s := pool.get(1); &s[0] != &fl.ext[0] || s[0] != (flowSlot{}) {
		t.Errorf("got a new or uncleared block, want the one given back, cleared")
	}
}

// TestFlowSlot_offsets: a held flow's 32-byte slot gives back the packet
// exactly within its ranges, also before the flow's start, first frame
// or input (a flow spanning inputs), and saturates beyond them (time
// +-2^47 ns, frame +-2^36, input +-127) instead of wrapping.
func TestFlowSlot_offsets(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 987654321, time.UTC)
	base := slotBase{ns: t0.UnixNano(), frame: 1 << 40, input: 3}
	cases := []struct {
		name      string
		dt        time.Duration
		frame     uint64
		input     int
		wantDT    time.Duration
		wantFrame uint64
		wantInput int
	}{
		{"same", 0, 1 << 40, 3, 0, 1 << 40, 3},
		{"later", 38*time.Hour + 1, 1<<40 + 1<<36 - 1, 130, 38*time.Hour + 1, 1<<40 + 1<<36 - 1, 130},
		{"earlier", -time.Hour - 7, 1<<40 - 1<<36, 0, -time.Hour - 7, 1<<40 - 1<<36, 0},
		{"beyond", 40 * time.Hour, 1<<40 + 1<<36, 200, time.Duration(1<<47 - 1), 1<<40 + 1<<36 - 1, 130},
		{"before", -40 * time.Hour, 5, -200, -time.Duration(1 << 47), 1<<40 - 1<<36, 0},
		// fill's path without clamps (in the flow's input, after its
		// first packet, within range), to its edges, and just past them.
		{"later, same input", 38 * time.Hour, 1<<40 + 7, 3, 38 * time.Hour, 1<<40 + 7, 3},
		{"edges, same input", 1<<47 - 1, 1<<40 + 1<<36 - 1, 3, 1<<47 - 1, 1<<40 + 1<<36 - 1, 3},
		{"past the time edge", 1 << 47, 1<<40 + 1, 3, 1<<47 - 1, 1<<40 + 1, 3},
		{"past the frame edge", 1, 1<<40 + 1<<36, 3, 1, 1<<40 + 1<<36 - 1, 3},
		{"a ns earlier, same input", -1, 1<<40 - 1, 3, -1, 1<<40 - 1, 3},
		{"past the input edge", 1, 1<<40 + 1, 200, 1, 1<<40 + 1, 130},
	}
	for _, c := range cases {
		p := capture.Packet{Index: c.frame, Input: c.input, Time: t0.Add(c.dt), Flags: capture.SYN | capture.ACK | capture.NS,
			Seq: 1<<32 - 1, Ack: 9, Len: 70000, TTL: 255, IPID: 65535, Window: 65535, Opts: capture.Options{HasTS: true, TSVal: 77}}
		s := packetFlowSlot(&p, FromServer, p.Time.UnixNano(), base)
		w := s.wide(base)
		got := w.entry()
		want := LadderEntry{Frame: c.wantFrame, Input: c.wantInput, Time: t0.Add(c.wantDT), Dir: FromServer, Flags: p.Flags,
			Seq: Seq(p.Seq), Ack: 9, Len: 65535, TTL: 255, IPID: 65535, Window: 65535, HasTS: true, TSVal: 77}
		if got != want {
			t.Errorf("%s: got %+v\nwant %+v", c.name, got, want)
		}
		s.reverseDir()
		if w := s.wide(base); w.dir() != FromClient {
			t.Errorf("%s: after reverseDir got %v, want client", c.name, w.dir())
		}
	}
}

// TestFlowSlot_overflow: a packet time so far before the flow's first
// that the difference overflows int64 (it wraps to a small positive
// number) saturates to the earliest offset, as does one so far after it
// to the latest.
func TestFlowSlot_overflow(t *testing.T) {
	for _, c := range []struct {
		name     string
		base, ns int64
		want     int64
	}{
		{"far before", math.MaxInt64 - 10, math.MinInt64 + 5, -maxNsOff - 1},
		{"far after", math.MinInt64 + 10, math.MaxInt64 - 5, maxNsOff},
	} {
		var s flowSlot
		p := capture.Packet{Index: 1, Flags: capture.ACK}
		s.fill(&p, FromClient, c.ns, &slotBase{ns: c.base, frame: 1})
		if got := int64(s.nsHi)<<32 | int64(s.nsLo); got != c.want {
			t.Errorf("%s: time offset %d, want %d", c.name, got, c.want)
		}
	}
}

// TestFrameOff: a direction's frames (SYN, FIN, request, last data) are
// kept as 32-bit offsets from the flow's first frame: exact within +-2^31,
// also before the first (a later input), saturated beyond.
func TestFrameOff(t *testing.T) {
	f := flowState{firstFrame: 1 << 40}
	for _, c := range []struct{ frame, want uint64 }{
		{1 << 40, 1 << 40},
		{1<<40 + 5, 1<<40 + 5},
		{1<<40 - 7, 1<<40 - 7},
		{1<<40 + 1<<31 - 1, 1<<40 + 1<<31 - 1},
		{1<<40 + 1<<33, 1<<40 + 1<<31 - 1},
		{3, 1<<40 - 1<<31},
	} {
		if got := frameAt(f.firstFrame, f.frameOff(c.frame), true); got != c.want {
			t.Errorf("frame %d: got %d, want %d", c.frame, got, c.want)
		}
	}
	if got := frameAt(f.firstFrame, 5, false); got != 0 {
		t.Errorf("not valid: got %d, want 0", got)
	}
}
