package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestShards_sameOutput: every capture of pcaps/, pcaps/lab and the corpus
// gives byte-identical JSON and ndjson (the stream, in order) with one
// flow table (--shards 1) and with 2 and 3 shards.
func TestShards_sameOutput(t *testing.T) {
	files := repoCaptures(t)
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

// TestReadDirectory: -r of a directory of rotated files, and of a pattern
// naming them, reports the same findings as the capture they were cut from
// (frames are numbered per file, so the packet numbers and inputs differ).
func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	splitForTest(t, "pcaps/demo.pcap", dir, 4)
	whole := runJSON(t, "-r", "pcaps/demo.pcap")
	for _, arg := range []string{dir, filepath.Join(dir, "*.pcap")} {
		got := runJSON(t, "-r", arg)
		if len(got.Findings) != len(whole.Findings) || len(got.Findings) == 0 {
			t.Fatalf("-r %s: got %d findings, want %d", arg, len(got.Findings), len(whole.Findings))
		}
		for i := range got.Findings {
			g, w := got.Findings[i], whole.Findings[i]
			if g.Cause != w.Cause || g.Origin != w.Origin || g.RST.Time != w.RST.Time {
				t.Errorf("-r %s: finding %d: got %s/%s at %v, want %s/%s at %v", arg, i+1, g.Cause, g.Origin, g.RST.Time, w.Cause, w.Origin, w.RST.Time)
			}
		}
	}
}

// splitForTest cuts a little-endian pcap file into n files of dir, in
// order (as tcpdump -C rotates), each with the file header.
func splitForTest(t *testing.T, src, dir string, n int) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	head, body := raw[:24], raw[24:]
	var recs [][]byte
	for len(body) >= 16 {
		l := 16 + int(binary.LittleEndian.Uint32(body[8:12]))
		recs, body = append(recs, body[:l]), body[l:]
	}
	per := (len(recs) + n - 1) / n
	for k := range n {
		out := append([]byte(nil), head...)
		for _, r := range recs[k*per : min((k+1)*per, len(recs))] {
			out = append(out, r...)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rot_%03d.pcap", k)), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
