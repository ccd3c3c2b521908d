package heuristics

import (
	"strings"
	"testing"
)

// Issue 13 class 7: a stack's genuine RSTs that the origin rules used to
// take for a middlebox's.

// delayedACK is a client-side handshake whose ACK leaves 40 ms after the
// SYN/ACK (Linux delays it while a write is pending): the SYN/ACK-to-ACK
// leg is the client's own delay, not a path.
var delayedACK = []string{"C S", "S SA @30ms", "C A @40ms"}

func TestTooFast_hostOwnRST(t *testing.T) {
	t.Run("capture_on_the_sender", func(t *testing.T) {
		ev := newScenario(t).event(lines(delayedACK,
			"C PA len=120 req=http:GET:/video.mp4:example.com",
			"S A @30ms", "S A len=1400 @0.1ms", "S A len=1400 @0.1ms",
			"C RA @0.06ms")...)
		check(t, judge(ev), want{cause: CauseClientAbort, origin: OriginClient,
			absent: []Signal{SignalTooFast}})
	})
	t.Run("a_nearer_hop_is_still_too_fast", func(t *testing.T) {
		// control: the same RST one hop short of the client's TTL was
		// made between the capture point and the client
		ev := newScenario(t).event(lines(delayedACK,
			"C PA len=120 req=http:GET:/video.mp4:example.com",
			"S A @30ms", "S A len=1400 @0.1ms", "S A len=1400 @0.1ms",
			"C RA @0.06ms ttl=63 id=0")...)
		f := judge(ev)
		check(t, f, want{cause: f.Cause, origin: OriginMiddlebox,
			signals: map[Signal][]uint64{SignalTooFast: {7, 8}}})
	})
}

func TestBurst_perSegmentAnswers(t *testing.T) {
	t.Run("bsd_answers_each_segment_after_close", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=100 req=http:GET:/events:example.com",
			"S PA len=800 @100ms", "C A",
			"C FA @2s",
			"S A len=1400 @15ms", "S A len=1400 @0.006ms", "S A len=1400 @0.006ms",
			"C R @0.018ms id=0x3baa nots", "C R @0.011ms id=0x5b30 nots", "C R @0.011ms id=0xb1f1 nots")...)
		f := judge(ev)
		check(t, f, want{cause: CauseAbortiveClose, origin: OriginClient,
			absent: []Signal{SignalRSTBurst}})
		found := false
		for _, e := range f.Evidence {
			found = found || (e.Signal == SignalNote && strings.Contains(e.Detail, "each answer one segment"))
		}
		if !found {
			t.Errorf("evidence: no note that the RSTs answer the segments one each\n%s", dump(f))
		}
	})
	t.Run("linux_socketless_rsts_are_no_copies", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=100 req=http:GET:/events:example.com",
			"C FA @1ms",
			"S A len=1400 @100ms", "C R @0.02ms id=0",
			"S A len=1400 @0.01ms", "C R @0.02ms id=0",
			"S A len=1400 @0.01ms", "C R @0.02ms id=0")...)
		f := judge(ev)
		for _, e := range f.Evidence {
			if strings.Contains(e.Detail, "captured twice") {
				t.Errorf("evidence: %s: %s, but each RST answers its own segment\n%s", e.Signal, e.Detail, dump(f))
			}
		}
	})
	t.Run("no_segments_to_answer_is_still_a_burst", func(t *testing.T) {
		// control: the same three RSTs with nothing of the server's to
		// answer keep the burst signal
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=100 req=http:GET:/events:example.com",
			"S PA len=800 @100ms", "C A",
			"C FA @2s", "S A @15ms",
			"C R @0.018ms id=0x3baa nots", "C R @0.011ms id=0x5b30 nots", "C R @0.011ms id=0xb1f1 nots")...)
		f := judge(ev)
		check(t, f, want{cause: f.Cause, origin: f.Origin,
			signals: map[Signal][]uint64{SignalRSTBurst: {10}}})
	})
}
