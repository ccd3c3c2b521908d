package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExport: -w writes every packet of every flow with a finding; the
// file reads back (with tshark too, when installed) and gives the same
// findings.
func TestExport(t *testing.T) {
	in := "pcaps/demo.pcap"
	out := filepath.Join(t.TempDir(), "out.pcap")
	want := runJSON(t, "-r", in)
	// Keep only the middlebox findings: -w then holds only their flows.
	code, _, errs := runCLI(t, nil, "-r", in, "-w", out, "--origin", "middlebox", "--format", "json", "-o", os.DevNull)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := runJSON(t, "-r", out)
	var wantMB []finding
	for _, f := range want.Findings {
		if f.Origin == "middlebox" {
			wantMB = append(wantMB, f)
		}
	}
	if len(wantMB) == 0 {
		t.Fatal("demo has no middlebox finding to export")
	}
	if len(got.Findings) != len(wantMB) {
		t.Fatalf("re-read: got %d findings, want %d", len(got.Findings), len(wantMB))
	}
	for i, f := range got.Findings {
		w := wantMB[i]
		if f.Cause != w.Cause || f.Origin != w.Origin || f.Flow.Client != w.Flow.Client || f.Summary == "" {
			t.Errorf("finding %d: got %s/%s %s, want %s/%s %s", i, f.Cause, f.Origin, f.Flow.Client, w.Cause, w.Origin, w.Flow.Client)
		}
	}
	if got.Stats.TCPFlows != uint64(len(wantMB)) {
		t.Errorf("exported flows: got %d, want %d (only flows with a kept finding)", got.Stats.TCPFlows, len(wantMB))
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		b, err := exec.Command(tshark, "-r", out, "-Y", "tcp.flags.reset==1").Output()
		if err != nil {
			t.Fatalf("tshark cannot read the export: %v", err)
		}
		if n := strings.Count(strings.TrimSpace(string(b)), "\n") + 1; uint64(n) != got.Stats.RSTPackets {
			t.Errorf("tshark counts %d RSTs in the export, rstscope %d", n, got.Stats.RSTPackets)
		}
	}
}

// TestFilters: --cause, --origin, --min-confidence and --host select
// findings in every format, and stats say how many were left out.
func TestFilters(t *testing.T) {
	all := runJSON(t, "-r", "pcaps/demo.pcap")
	count := func(keep func(f finding) bool) int {
		n := 0
		for _, f := range all.Findings {
			if keep(f) {
				n++
			}
		}
		return n
	}
	cases := []struct {
		args []string
		keep func(f finding) bool
	}{
		{[]string{"--cause", "refused,idle_timeout"}, func(f finding) bool { return f.Cause == "refused" || f.Cause == "idle_timeout" }},
		{[]string{"--origin", "middlebox"}, func(f finding) bool { return f.Origin == "middlebox" }},
		{[]string{"--min-confidence", "high"}, func(f finding) bool { return f.Confidence == "high" }},
		{[]string{"--host", "10.77.3.2:8081"}, func(f finding) bool { return strings.HasSuffix(f.Flow.Server, ":8081") }},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			want := count(c.keep)
			if want == 0 || want == len(all.Findings) {
				t.Fatalf("filter selects %d of %d: not a useful test", want, len(all.Findings))
			}
			d := runJSON(t, append([]string{"-r", "pcaps/demo.pcap"}, c.args...)...)
			if len(d.Findings) != want {
				t.Errorf("json: got %d findings, want %d", len(d.Findings), want)
			}
			for _, f := range d.Findings {
				if !c.keep(f) {
					t.Errorf("json: finding %s/%s %s should have been filtered out", f.Cause, f.Origin, f.Flow.Server)
				}
			}
			_, md, _ := runCLI(t, nil, append([]string{"-r", "pcaps/demo.pcap", "--format", "markdown"}, c.args...)...)
			if n := strings.Count(md, "\n### "); n != want {
				t.Errorf("markdown: got %d finding sections, want %d", n, want)
			}
			_, nd, _ := runCLI(t, nil, append([]string{"-r", "pcaps/demo.pcap", "--format", "ndjson"}, c.args...)...)
			lines := strings.Split(strings.TrimSpace(nd), "\n")
			if len(lines) != want+1 {
				t.Errorf("ndjson: got %d lines, want %d findings + summary", len(lines), want)
			}
			var sum struct {
				Stats struct {
					Filtered int `json:"filtered_out"`
				} `json:"stats"`
			}
			json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
			if sum.Stats.Filtered != len(all.Findings)-want {
				t.Errorf("filtered_out: got %d, want %d", sum.Stats.Filtered, len(all.Findings)-want)
			}
		})
	}
}

// TestGoldenFormats pins the text (80 columns, no colour) and markdown
// renderings of the demo capture; -update rewrites them.
func TestGoldenFormats(t *testing.T) {
	for _, c := range []struct{ format, golden string }{
		{"text", "pcaps/demo.golden.txt"},
		{"markdown", "pcaps/demo.golden.md"},
	} {
		t.Run(c.format, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, "-r", "pcaps/demo.pcap", "--format", c.format, "--no-color")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if *update {
				os.WriteFile(c.golden, []byte(out), 0o644)
			}
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatalf("golden: %v (go test -run TestGoldenFormats -update)", err)
			}
			if out != string(want) {
				t.Errorf("%s output differs from %s (-update rewrites it; check the diff first)", c.format, c.golden)
			}
			if strings.ContainsRune(out, 0x1b) {
				t.Errorf("%s: escape bytes in uncoloured output", c.format)
			}
			if c.format == "text" {
				for i, l := range strings.Split(out, "\n") {
					if w := len([]rune(l)); w > 100 {
						t.Errorf("text line %d is %d columns wide, want at most 100 off a terminal", i+1, w)
					}
				}
			}
		})
	}
}
