package flows

import (
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

// TestFlowLadder_growsLikeLadder: a held flow's ladder, grown from the
// pool through 4, 8 and 16 slots and then wrapping, expands to the same
// entries as a fixed Ladder fed the same packets, at every length; blocks
// given back are reused.
func TestFlowLadder_growsLikeLadder(t *testing.T) {
	var pool ladderPool
	var fl flowLadder
	var want Ladder
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 40 {
		p := capture.Packet{Index: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), Flags: capture.ACK, Seq: uint32(i), Len: i}
		pool.push(&fl, packetSlot(&p, FromClient, p.Time.UnixNano()))
		want.Push(ladderEntry(&p, FromClient))
		var got Ladder
		fl.expand(&got)
		if got.Len() != want.Len() || got.Total() != want.Total() {
			t.Fatalf("after %d packets: got %d held (%d total), want %d (%d)", i+1, got.Len(), got.Total(), want.Len(), want.Total())
		}
		for k := range want.Len() {
			if g, w := got.At(k), want.At(k); g != w {
				t.Fatalf("after %d packets, entry %d: got %+v, want %+v", i+1, k, g, w)
			}
		}
	}
	if len(fl.s) != 16 {
		t.Errorf("got a block of %d slots, want 16", len(fl.s))
	}
	pool.put(fl.s)
	if s := pool.get(2); &s[0] != &fl.s[0] || s[0] != (ladderSlot{}) {
		t.Errorf("got a new or uncleared block, want the one given back, cleared")
	}
}
