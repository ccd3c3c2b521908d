package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exampleMarker precedes a README output block that TestReadmeExamples
// regenerates: <!-- example args="-r pcaps/demo.pcap" show="summary,4,7"
// lines="40" prompt="yes" -->. args are rstscope's arguments; show picks
// the summary (everything before the first card) and cards by number
// (default: the whole output); lines keeps the first lines only; prompt
// starts the block with the command line ("$ rstscope ARGS").
var (
	exampleMarker = regexp.MustCompile(`<!-- example ((?:\w+="[^"]*"\s*)+)-->\n`)
	exampleAttr   = regexp.MustCompile(`(\w+)="([^"]*)"`)
	cardStart     = regexp.MustCompile(`(?m)^── #(\d+) `)
)

// exampleOutput runs rstscope as the marker says and cuts the output.
func exampleOutput(t *testing.T, attrs map[string]string) string {
	t.Helper()
	args := strings.Fields(attrs["args"])
	code, out, errs := runCLI(t, nil, args...)
	if code != 0 {
		t.Fatalf("rstscope %s: exit %d: %s", attrs["args"], code, errs)
	}
	if show := attrs["show"]; show != "" {
		// Parts: the summary, then one part per card (each ends with its
		// blank line).
		parts := map[string]string{}
		idx := cardStart.FindAllStringSubmatchIndex(out, -1)
		end := len(out)
		if len(idx) > 0 {
			end = idx[0][0]
		}
		parts["summary"] = out[:end]
		for i, m := range idx {
			stop := len(out)
			if i+1 < len(idx) {
				stop = idx[i+1][0]
			}
			parts[out[m[2]:m[3]]] = out[m[0]:stop]
		}
		var b strings.Builder
		for _, p := range strings.Split(show, ",") {
			s, ok := parts[p]
			if !ok {
				t.Fatalf("rstscope %s: no part %q in the output", attrs["args"], p)
			}
			b.WriteString(s)
		}
		out = b.String()
	}
	out = strings.TrimRight(out, "\n") + "\n"
	if n, err := strconv.Atoi(attrs["lines"]); err == nil {
		lines := strings.SplitAfter(out, "\n")
		out = strings.Join(lines[:min(n, len(lines))], "")
	}
	if attrs["prompt"] == "yes" {
		out = "$ rstscope " + attrs["args"] + "\n" + out
	}
	return out
}

// TestReadmeExamples (issue 18.12): every README output block marked with
// an example comment is what the binary prints today; go test -run
// TestReadmeExamples -update rewrites the blocks.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	marks := exampleMarker.FindAllSubmatchIndex(readme, -1)
	if len(marks) < 2 {
		t.Fatalf("README.md has %d example markers, want the demo and the --peer examples", len(marks))
	}
	var out bytes.Buffer
	last := 0
	for _, m := range marks {
		attrs := map[string]string{}
		for _, a := range exampleAttr.FindAllSubmatch(readme[m[2]:m[3]], -1) {
			attrs[string(a[1])] = string(a[2])
		}
		rest := readme[m[1]:]
		if !bytes.HasPrefix(rest, []byte("```\n")) {
			t.Fatalf("README.md: example %q is not followed by a ``` block", attrs["args"])
		}
		body := rest[4:]
		n := bytes.Index(body, []byte("```\n"))
		if n < 0 {
			t.Fatalf("README.md: example %q: block not closed", attrs["args"])
		}
		want := exampleOutput(t, attrs)
		if got := string(body[:n]); got != want {
			if !*update {
				gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range max(len(gl), len(wl)) {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Errorf("README.md example %q, line %d:\nREADME  %q\nrstscope %q\n(go test -run TestReadmeExamples -update rewrites the block)", attrs["args"], i+1, g, w)
						break
					}
				}
			}
		}
		start := m[1] + 4
		out.Write(readme[last:start])
		out.WriteString(want)
		last = start + n
	}
	out.Write(readme[last:])
	if *update && !bytes.Equal(out.Bytes(), readme) {
		if err := os.WriteFile("README.md", out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
