package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSeveralInputs_nameTheFile runs two captures at once (issue 18.9):
// every JSON finding carries rst.input, and each text card says which
// file its frame number belongs to.
func TestSeveralInputs_nameTheFile(t *testing.T) {
	a, b := "pcaps/refused.pcap", "pcaps/stale_keepalive.pcap"
	code, out, errs := runCLI(t, nil, "-r", a, "-r", b, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d struct {
		Inputs   []string `json:"inputs"`
		Findings []struct {
			ID  int `json:"id"`
			RST struct {
				Packet uint64 `json:"packet"`
				Input  *int   `json:"input"`
			} `json:"rst"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != 2 {
		t.Fatalf("findings: got %d, want 2 (one per capture)", len(d.Findings))
	}
	code, txt, errs := runCLI(t, nil, "-r", a, "-r", b, "--no-color")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	seen := map[int]bool{}
	for _, f := range d.Findings {
		if f.RST.Input == nil {
			t.Fatalf("finding %d (frame %d): rst.input missing with two inputs", f.ID, f.RST.Packet)
		}
		seen[*f.RST.Input] = true
		want := fmt.Sprintf("rst       frame %d of %s at ", f.RST.Packet, d.Inputs[*f.RST.Input])
		if !strings.Contains(txt, want) {
			t.Errorf("finding %d: text lacks %q", f.ID, want)
		}
	}
	if !seen[0] || !seen[1] {
		t.Errorf("rst.input: got %v, want both 0 and 1", seen)
	}
}

// TestQuietFlag: -q prints the header and summary without cards, and
// --format json -q the document without its findings list.
func TestQuietFlag(t *testing.T) {
	code, out, errs := runCLI(t, nil, "-r", "pcaps/demo.pcap", "-q", "--no-color")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "── #") || !strings.Contains(out, "By cause") || !strings.Contains(out, "9 findings") {
		t.Errorf("-q: want the summary of 9 findings and no card:\n%s", out)
	}
	code, out, errs = runCLI(t, nil, "-r", "pcaps/demo.pcap", "--quiet", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d["findings"]; ok || d["by_cause"] == nil {
		t.Errorf("--quiet json: want by_cause and no findings list:\n%s", out)
	}
}
