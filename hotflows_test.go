package main

import (
	"os"
	"path/filepath"
	"testing"
)

// repoCaptures gives every capture of pcaps/, pcaps/lab and the corpus.
func repoCaptures(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"pcaps/*.pcap", "pcaps/lab/*.pcap", "pcaps/corpus/*/*.pcap*", "pcaps/corpus/*/*/*.pcap*", "pcaps/corpus/*/*/*/*.pcap*"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 150 {
		t.Fatalf("got %d captures, want the repository's (at least 150)", len(files))
	}
	return files
}

// readFile gives the contents of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHotFlows_sameOutput: every capture of pcaps/, pcaps/lab and the
// corpus gives byte-identical JSON, text and -w pcap when every flow but
// one per table is frozen after each packet (--hot-flows 1), with one
// table and with 2 shards, as with the default hot tier.
func TestHotFlows_sameOutput(t *testing.T) {
	files := repoCaptures(t)
	findings, wrote := 0, 0
	dir := t.TempDir()
	wantPcap, gotPcap := filepath.Join(dir, "want.pcap"), filepath.Join(dir, "got.pcap")
	for _, path := range files {
		for _, format := range []string{"json", "text"} {
			code1, want, errs := runCLI(t, nil, "-r", path, "--format", format, "--shards", "1", "-w", wantPcap)
			if code1 != 0 && format == "json" {
				t.Logf("%s: exit %d: %s", path, code1, errs)
			}
			if format == "json" {
				findings += countFindings(want)
			}
			for _, shards := range []string{"1", "2"} {
				code, got, _ := runCLI(t, nil, "-r", path, "--format", format, "--shards", shards, "--hot-flows", "1", "-w", gotPcap)
				if code != code1 || got != want {
					t.Errorf("%s --format %s --shards %s --hot-flows 1: exit %d and output differ from the default's (exit %d)\ngot:\n%.2000s\nwant:\n%.2000s", path, format, shards, code, code1, got, want)
				}
				// -w keeps a flow's packets until OnFlowEnd lets them go.
				a, b := readFile(t, wantPcap), readFile(t, gotPcap)
				wrote += len(a)
				if a != b {
					t.Errorf("%s --shards %s --hot-flows 1: -w wrote %d bytes, want the default's %d", path, shards, len(b), len(a))
				}
			}
		}
	}
	if findings < 400 {
		t.Errorf("got %d findings over the captures, want at least 400", findings)
	}
	if wrote < 1<<20 {
		t.Errorf("-w wrote %d bytes over the captures: the flows of the findings were not written", wrote)
	}
}
