package heuristics

import (
	"encoding/json"
	"testing"
)

// TestJudge_scratchNotKept: Judge builds its ctx, views and claims in
// pooled memory that the next call reuses; a Finding must hold none of
// it. Each finding's JSON, taken as Judge returns it, must be the same
// after every later event of the capture has been judged (on the same
// engine, so that the pool hands the same arrays back).
func TestJudge_scratchNotKept(t *testing.T) {
	evs := mixEvents(t, 400000)
	if len(evs) < 100 {
		t.Fatalf("got %d events from the mix, want at least 100", len(evs))
	}
	var e Engine
	found := make([]Finding, len(evs))
	first := make([][]byte, len(evs))
	causes := map[Cause]bool{}
	for i := range evs {
		found[i] = e.Judge(&evs[i])
		b, err := json.Marshal(&found[i])
		if err != nil {
			t.Fatal(err)
		}
		first[i] = b
		causes[found[i].Cause] = true
	}
	if len(causes) < 8 {
		t.Fatalf("the mix gave %d causes, want at least 8 (the test should reuse scratch across kinds of events)", len(causes))
	}
	for i := range found {
		b, _ := json.Marshal(&found[i])
		if string(b) != string(first[i]) {
			t.Fatalf("finding %d changed after later events were judged:\nthen: %.600s\nnow:  %.600s", i, first[i], b)
		}
	}
}
