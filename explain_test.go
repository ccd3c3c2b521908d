package main

import (
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
)

// TestExplain (issue 12.5): --explain all prints heuristics' cause table
// as ExplainAll gives it (a cause added through the table alone is in it:
// TestCauseTable_throwaway), every cause of AllCauses with its text;
// --explain CAUSE prints that one row's.
func TestExplain(t *testing.T) {
	code, out, stderr := runCLI(t, nil, "--explain", "all")
	if code != 0 {
		t.Fatalf("--explain all: exit %d: %s", code, stderr)
	}
	if want := heuristics.ExplainAll() + "\n"; out != want {
		t.Errorf("--explain all: got\n%s\nwant heuristics.ExplainAll():\n%s", out, want)
	}
	for _, c := range heuristics.AllCauses {
		if !strings.Contains(out, string(c)+"\n"+heuristics.Explain(c)) {
			t.Errorf("--explain all: %s and its text missing", c)
		}
	}
	code, out, _ = runCLI(t, nil, "--explain", "refused")
	if want := "refused\n" + heuristics.Explain(heuristics.CauseRefused) + "\n"; code != 0 || out != want {
		t.Errorf("--explain refused: exit %d, got %q, want %q", code, out, want)
	}
}
