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
	l.reverseDirs()
	if got := l.At(0); got.Dir != FromClient || got.Flags != in.Flags || !got.HasTS {
		t.Errorf("after reverseDirs: got dir %v flags %v ts %v, want client, %v, true", got.Dir, got.Flags, got.HasTS, in.Flags)
	}
	far := in
	far.Len, far.Input, far.Time = 70000, 1<<20, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Push(far)
	got := l.At(1)
	if got.Len != 65535 || got.Input != 65535 || got.Time.Year() != 2255 {
		t.Errorf("saturated: got len %d input %d year %d, want 65535, 65535, 2255 (clamped)", got.Len, got.Input, got.Time.Year())
	}
}
