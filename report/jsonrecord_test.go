package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// TestJSON_recordsAsEncodingJSON: the json document, whose findings are
// encoded as they are written and numbered at Close (jsonWriter.record),
// is byte for byte what encoding/json indents for the sorted, numbered
// findings: IDs in RST time order, consequence_of naming the echoed
// middlebox finding, and left out when the echoed reset has no finding;
// kept in memory and spilled alike.
func TestJSON_recordsAsEncodingJSON(t *testing.T) {
	fs := testFindings()
	for i := range 20 {
		fs = append(fs, scanFinding(i*7919))
	}
	forged := scanFinding(5)
	forged.Origin, forged.RST.Packet, forged.RST.Time = heuristics.OriginMiddlebox, 5000, at(t0.Add(time.Second))
	echo := scanFinding(6)
	echo.Cause, echo.RST.Time = heuristics.CauseAfterReset, at(t0.Add(2*time.Second))
	echo.Echoes = &heuristics.RSTRef{Packet: 5000}
	lost := scanFinding(7) // echoes a reset that has no finding
	lost.Cause, lost.RST.Time = heuristics.CauseAfterReset, at(t0.Add(3*time.Second))
	lost.Echoes = &heuristics.RSTRef{Packet: 4999}
	// Written out of order: Close sorts by RST time.
	fs = append([]heuristics.Finding{lost, echo}, append(fs, forged)...)

	// What encoding/json gives for the document, findings sorted and
	// numbered as the report numbers them.
	want := append([]heuristics.Finding(nil), fs...)
	sortFindings(want)
	ids := map[heuristics.RSTRef]int{}
	for i := range want {
		f := &want[i]
		if f.Origin == heuristics.OriginMiddlebox {
			ids[heuristics.RSTRef{Input: f.RST.Input, Packet: f.RST.Packet}] = f.ID
		}
	}
	echoes := 0
	for i := range want {
		if want[i].Echoes != nil {
			want[i].ConsequenceOf = ids[*want[i].Echoes]
			if want[i].ConsequenceOf != 0 {
				echoes++
			}
		}
		want[i] = forJSON(&want[i])
	}
	if echoes != 1 {
		t.Fatalf("%d echoes resolved, want 1: the test does not exercise consequence_of", echoes)
	}
	defer func(n int) { spillAfter = n }(spillAfter)
	for _, spill := range []int{1 << 30, 3} {
		spillAfter = spill
		got := render(t, "json", Options{}, fs, testSummary())
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(got), &doc); err != nil {
			t.Fatalf("spillAfter %d: not JSON: %v\n%.2000s", spill, err, got)
		}
		// The whole document again, its findings replaced by want's.
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		e.SetIndent("", "  ")
		rest := map[string]any{}
		for k, v := range doc {
			rest[k] = v
		}
		rest["findings"] = want
		if err := e.Encode(rest); err != nil {
			t.Fatal(err)
		}
		// Key order: encoding/json sorts map keys; compare findings only.
		gotF, wantF := findingsPart(t, got), findingsPart(t, b.String())
		if gotF != wantF {
			t.Errorf("spillAfter %d: findings differ from encoding/json's:\ngot:\n%.3000s\nwant:\n%.3000s", spill, gotF, wantF)
		}
	}
}

// findingsPart gives the "findings" array of an indented document.
func findingsPart(t *testing.T, doc string) string {
	t.Helper()
	i := bytes.Index([]byte(doc), []byte("\n  \"findings\": ["))
	if i < 0 {
		t.Fatalf("no findings in:\n%.2000s", doc)
	}
	rest := doc[i:]
	j := bytes.Index([]byte(rest), []byte("\n  ]"))
	if j < 0 {
		t.Fatalf("findings not closed in:\n%.2000s", doc)
	}
	return rest[:j]
}
