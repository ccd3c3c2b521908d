package heuristics_test

import (
	"strings"
	"testing"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

// TestCauseTable_throwaway adds a cause through the table alone (one row:
// rule, advice, explanation) and sees it judged, explained and filtered,
// with nothing else touched.
func TestCauseTable_throwaway(t *testing.T) {
	const c heuristics.Cause = "throwaway_cause"
	const explain = "A throwaway cause of this test.\nWhat to do: nothing."
	heuristics.AddCause(t, c, heuristics.SignalNote, func(ev *flows.Event) bool { return ev.First().Window == 4242 },
		"throw it away", explain)

	handshake := []string{"C S", "S SA @1ms", "C A @1ms", "C PA len=100"}
	var e heuristics.Engine
	hit := e.Judge(heuristics.ScenarioEvent(t, append(handshake, "S RA win=4242")...))
	miss := e.Judge(heuristics.ScenarioEvent(t, append(handshake, "S RA")...))
	if hit.Cause != c || hit.Advice != "throw it away" || hit.Errno != "ECONNRESET" {
		t.Errorf("judged: got %s advice %q errno %s, want %s, its advice, ECONNRESET", hit.Cause, hit.Advice, hit.Errno, c)
	}
	if miss.Cause == c || miss.Cause == heuristics.CauseUnknown {
		t.Errorf("judged without the shape: got %s, want the usual cause", miss.Cause)
	}

	// --explain CAUSE and --explain all
	if got, err := heuristics.ParseCause(string(c)); err != nil || got != c {
		t.Errorf("ParseCause: got %s %v", got, err)
	}
	if got := heuristics.Explain(c); got != explain {
		t.Errorf("Explain: got %q, want %q", got, explain)
	}
	if !strings.Contains(heuristics.ExplainAll(), string(c)+"\n"+explain) {
		t.Errorf("ExplainAll: %s missing", c)
	}

	// --cause
	flt, err := report.ParseFilter(string(c), "", "", nil)
	if err != nil {
		t.Fatalf("--cause %s: %v", c, err)
	}
	if !flt.Keep(&hit) || flt.Keep(&miss) {
		t.Errorf("--cause %s: kept %v and %v, want the first only", c, flt.Keep(&hit), flt.Keep(&miss))
	}
}
