package heuristics

import (
	"slices"
	"strings"
	"testing"
)

// TestCauseTable: every cause of AllCauses has exactly one row and every
// row is in AllCauses; a row without a rule is decided by the engine
// (middlebox_injected only); every row explains itself.
func TestCauseTable(t *testing.T) {
	seen := map[Cause]int{}
	for _, r := range causes {
		seen[r.cause]++
		if !slices.Contains(AllCauses, r.cause) {
			t.Errorf("row %s: not in AllCauses", r.cause)
		}
		if r.rule == nil && r.cause != CauseMiddleboxInjected {
			t.Errorf("row %s: no rule, want one (only middlebox_injected is the engine's)", r.cause)
		}
		if !strings.Contains(r.explain, "What to do") {
			t.Errorf("row %s: explanation %q, want what to do", r.cause, r.explain)
		}
		if r.advice == nil && r.cause != CauseMiddleboxInjected {
			t.Errorf("row %s: no advice", r.cause)
		}
	}
	for _, c := range AllCauses {
		if seen[c] != 1 {
			t.Errorf("cause %s: got %d rows, want 1", c, seen[c])
		}
	}
	// The precedence DESIGN.md section 3 names, and the causes that stay
	// when the RST was forged.
	var order []Cause
	var survive []Cause
	for _, r := range causes {
		order = append(order, r.cause)
		if r.survivesForgery {
			survive = append(survive, r.cause)
		}
	}
	want := []Cause{CauseRefused, CauseIgnoredRST, CauseAfterReset, CauseTLSAlert, CauseStaleKeepalive, CauseIdleTimeout,
		CauseServerResetAfterRequest, CauseAbortiveClose, CauseClientAbort, CauseMiddleboxInjected, CauseUnknown}
	if strings.Join(causeNames(order), ",") != strings.Join(causeNames(want), ",") {
		t.Errorf("precedence: got %v, want %v", order, want)
	}
	wantSurvive := []Cause{CauseRefused, CauseIgnoredRST, CauseTLSAlert, CauseStaleKeepalive, CauseIdleTimeout, CauseMiddleboxInjected}
	if strings.Join(causeNames(survive), ",") != strings.Join(causeNames(wantSurvive), ",") {
		t.Errorf("survive a forged RST: got %v, want %v", survive, wantSurvive)
	}
}

func causeNames(cs []Cause) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
