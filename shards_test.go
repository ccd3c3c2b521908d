package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestShards_sameOutput: every capture of pcaps/, pcaps/lab and the corpus
// gives byte-identical JSON and ndjson (the stream, in order) with one
// flow table (--shards 1) and with 2 and 3 shards.
func TestShards_sameOutput(t *testing.T) {
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
		for _, format := range []string{"json", "ndjson"} {
			code1, one, errs := runCLI(t, nil, "-r", path, "--format", format, "--shards", "1")
			if code1 != 0 && format == "json" {
				t.Logf("%s: exit %d with one shard: %s", path, code1, errs)
			}
			if format == "json" {
				findings += countFindings(one)
			}
			for _, n := range []string{"2", "3"} {
				code, got, _ := runCLI(t, nil, "-r", path, "--format", format, "--shards", n)
				if code != code1 || got != one {
					t.Errorf("%s --format %s: %s shards: exit %d and output differ from one shard's (exit %d)\ngot:\n%.2000s\nwant:\n%.2000s", path, format, n, code, code1, got, one)
				}
			}
		}
	}
	if findings < 400 {
		t.Errorf("got %d findings over the captures, want at least 400", findings)
	}
}

// countFindings gives the number of findings of a JSON report.
func countFindings(out string) int {
	var doc struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if json.Unmarshal([]byte(out), &doc) != nil {
		return 0
	}
	return len(doc.Findings)
}
