package report

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// render writes fs through a new Writer and returns the output.
func render(t *testing.T, format string, opts Options, fs []heuristics.Finding, s Summary) string {
	t.Helper()
	var b bytes.Buffer
	renderTo(t, &b, format, opts, fs, s)
	return b.String()
}

// renderTo writes fs through a new Writer over out.
func renderTo(t *testing.T, out io.Writer, format string, opts Options, fs []heuristics.Finding, s Summary) {
	t.Helper()
	w, err := New(format, out, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", format, err)
	}
	for i := range fs {
		if err := w.Write(&fs[i]); err != nil {
			t.Fatalf("%s: Write(finding %d, frame %d): %v", format, i, fs[i].RST.Packet, err)
		}
	}
	if err := w.Close(s); err != nil {
		t.Fatalf("%s: Close: %v", format, err)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run TestGolden -update)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s: line %d differs:\ngot  %q\nwant %q\n(go test ./report -run TestGolden -update rewrites; review the diff)", path, i+1, g, w)
			}
		}
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name   string
		format string
		opts   Options
	}{
		{"text_80.golden", "text", Options{Width: 80}},
		{"text_120.golden", "text", Options{Width: 120}},
		{"text_stream_80.golden", "text", Options{Width: 80, Stream: true}},
		{"report.json.golden", "json", Options{}},
		{"report.ndjson.golden", "ndjson", Options{}},
		{"report.md.golden", "markdown", Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name, render(t, c.format, c.opts, testFindings(), testSummary()))
		})
	}
}
