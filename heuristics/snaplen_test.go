package heuristics

import (
	"strings"
	"testing"
)

// noteWith reports whether f has a note containing s.
func noteWith(f Finding, s string) bool {
	for _, e := range f.Evidence {
		if e.Signal == SignalNote && strings.Contains(e.Detail, s) {
			return true
		}
	}
	return false
}

// TestPayloadCut: data packets the capture's snaplen cut are named on the
// card with what could not be read; a verdict a hidden TLS alert would
// outrank is at most medium, and low when it rests on there being no
// alert.
func TestPayloadCut(t *testing.T) {
	t.Run("alert_could_be_cut", func(t *testing.T) {
		// TestTLSAlert's alert_beats_stale_keepalive with every payload cut
		// at the TCP header: the fatal alert is gone, what is left is a
		// FIN, the client's write and the RST.
		ev := newScenario(t).event(lines(handshake,
			"C PA len=517 cut",
			"S PA len=7 @300ms cut", "S FA", "C A",
			"C PA len=50 @2s cut", "S R id=0")...)
		f := judge(ev)
		if f.Cause != CauseStaleKeepalive || f.Origin != OriginServer || f.Confidence != Low {
			t.Errorf("got %s/%s %s, want stale_keepalive/server low: %s", f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		for _, want := range []string{
			"2 of 2 data packets from the client were cut by the capture's snaplen: its request and any TLS alert could not be read",
			"1 of 1 data packets from the server were cut by the capture's snaplen: its response and any TLS alert could not be read",
		} {
			if !noteWith(f, want) {
				t.Errorf("no note %q in %+v", want, f.Evidence)
			}
		}
	})
	t.Run("request_read", func(t *testing.T) {
		// TestStaleKeepalive with the client's request cut after its
		// request line: read as HTTP, it hid no alert; the verdict stays.
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100 req=http:GET:/a:example.com cut", "S PA len=500 @20ms", "C A",
			"S FA @5s", "C A",
			"C PA len=120 @20s", "S R id=0 @0.2ms")...)
		f := judge(ev)
		if f.Cause != CauseStaleKeepalive || f.Confidence != High {
			t.Errorf("got %s/%s %s, want stale_keepalive high: %s", f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		if want := "1 of 2 data packets from the client were cut by the capture's snaplen: only their tails were lost"; !noteWith(f, want) {
			t.Errorf("no note %q in %+v", want, f.Evidence)
		}
	})
	t.Run("nothing_cut", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=517",
			"S PA len=7 @300ms", "S FA", "C A",
			"C PA len=50 @2s", "S R id=0")...)
		f := judge(ev)
		if noteWith(f, "snaplen") || f.Confidence == Low {
			t.Errorf("got %s/%s %s with %+v, want no snaplen note and no low", f.Cause, f.Origin, f.Confidence, f.Evidence)
		}
	})
	t.Run("cut_long_before", func(t *testing.T) {
		// The server's only (cut) data came 400 s before the RST: an alert
		// there could not explain it.
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100 req=http:GET:/a:example.com", "S PA len=500 @20ms cut", "C A",
			"C PA len=100 @400s req=http:GET:/b:example.com", "S R id=0 @0.2ms")...)
		f := judge(ev)
		if f.Cause != CauseIdleTimeout || f.Confidence != High {
			t.Errorf("got %s/%s %s, want idle_timeout high: %s", f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		if want := "1 of 1 data packets from the server were cut by the capture's snaplen: its response and any TLS alert could not be read (its last data came 400.0 s before the RST: too early"; !noteWith(f, want) {
			t.Errorf("no note %q in %+v", want, f.Evidence)
		}
	})
}
