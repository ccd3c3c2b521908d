package heuristics

import (
	"strings"
	"testing"
	"time"
)

// TestFinding_adviceIn (issue 18.6): the advice of a server reset names
// the RST's instant; the Finding keeps it typed (AdviceTime), Advice (the
// JSON contract) says UTC, and AdviceIn shows it in another zone.
func TestFinding_adviceIn(t *testing.T) {
	f := judge(newScenario(t).event(lines(farHandshake,
		"C PA len=517 req=tls:example.com",
		"S A @100ms",
		"S RA @59ms")...))
	if !f.AdviceTime.Equal(f.RST.Time.Time) {
		t.Fatalf("AdviceTime %v, want the RST's time %v", f.AdviceTime, f.RST.Time)
	}
	utc := f.RST.Time.UTC().Format("15:04:05.000") + " UTC"
	if !strings.Contains(f.Advice, "logs at "+utc+" for the TLS handshake for example.com") || f.AdviceIn(nil) != f.Advice || f.AdviceIn(time.UTC) != f.Advice {
		t.Errorf("advice %q (nil zone %q): want the RST's time %s", f.Advice, f.AdviceIn(nil), utc)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	want := strings.Replace(f.Advice, utc, f.RST.Time.In(tokyo).Format("15:04:05.000")+" JST", 1)
	if got := f.AdviceIn(tokyo); got != want || got == f.Advice {
		t.Errorf("AdviceIn(JST): got %q, want %q", got, want)
	}
	// An advice that names no instant keeps none.
	g := judge(newScenario(t).event("C S", "S RA @1ms"))
	if !g.AdviceTime.IsZero() || g.AdviceIn(tokyo) != g.Advice {
		t.Errorf("refused: AdviceTime %v, AdviceIn %q: want none, the advice as is", g.AdviceTime, g.AdviceIn(tokyo))
	}
}
