package main

import (
	"path/filepath"
	"testing"
)

// TestJudging_sameAsInline: a file read judges its events on a goroutine
// of its own (judging.go) unless -w is given, which judges them inside
// the table's callback; both must report the same findings in the same
// order, whatever the capture.
func TestJudging_sameAsInline(t *testing.T) {
	var files []string
	for _, g := range []string{"pcaps/*.pcap", "pcaps/lab/*.pcap"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("got %d captures, want the repository's (at least 50)", len(files))
	}
	findings := 0
	for _, path := range files {
		code1, inline, errs := runCLI(t, nil, "-r", path, "--format", "json", "-w", filepath.Join(t.TempDir(), "w.pcap"))
		if code1 != 0 {
			t.Logf("%s: exit %d judged inline: %s", path, code1, errs)
		}
		findings += countFindings(inline)
		code, got, _ := runCLI(t, nil, "-r", path, "--format", "json")
		if code != code1 || got != inline {
			t.Errorf("%s: judged on its own goroutine: exit %d and output differ from judged inline (exit %d)\ngot:\n%.2000s\nwant:\n%.2000s", path, code, code1, got, inline)
		}
	}
	if findings < 80 {
		t.Errorf("got %d findings over the captures, want at least 80", findings)
	}
}
