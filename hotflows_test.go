package main

import (
	"path/filepath"
	"testing"
)

// TestHotFlows_sameOutput: every capture of pcaps/, pcaps/lab and the
// corpus gives byte-identical JSON and text when every flow but one per
// table is frozen after each packet (--hot-flows 1), with one table and
// with 2 shards, as with the default hot tier.
func TestHotFlows_sameOutput(t *testing.T) {
	var files []string
	for _, g := range []string{"pcaps/*.pcap", "pcaps/lab/*.pcap", "pcaps/corpus/*/*.pcap*", "pcaps/corpus/*/*/*.pcap*", "pcaps/corpus/*/*/*/*.pcap*"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 150 {
		t.Fatalf("got %d captures, want the repository's (at least 150)", len(files))
	}
	findings := 0
	for _, path := range files {
		for _, format := range []string{"json", "text"} {
			code1, want, errs := runCLI(t, nil, "-r", path, "--format", format, "--shards", "1")
			if code1 != 0 && format == "json" {
				t.Logf("%s: exit %d: %s", path, code1, errs)
			}
			if format == "json" {
				findings += countFindings(want)
			}
			for _, shards := range []string{"1", "2"} {
				code, got, _ := runCLI(t, nil, "-r", path, "--format", format, "--shards", shards, "--hot-flows", "1")
				if code != code1 || got != want {
					t.Errorf("%s --format %s --shards %s --hot-flows 1: exit %d and output differ from the default's (exit %d)\ngot:\n%.2000s\nwant:\n%.2000s", path, format, shards, code, code1, got, want)
				}
			}
		}
	}
	if findings < 400 {
		t.Errorf("got %d findings over the captures, want at least 400", findings)
	}
}
