package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// stdFindingJSON is f as encoding/json writes it with HTML left as is,
// compact or with SetIndent(prefix, indent): what appendFindingJSON must
// write byte for byte.
func stdFindingJSON(t testing.TB, f *heuristics.Finding, prefix, indent string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent(prefix, indent)
	if err := e.Encode(f); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// checkFindingJSON fails t when appendFindingJSON and encoding/json
// disagree on f, compact, as the json format indents it, or indented
// otherwise; where names the finding.
func checkFindingJSON(t testing.TB, f *heuristics.Finding, where string) {
	t.Helper()
	for _, in := range [][2]string{{"", ""}, {"    ", "  "}, {"", "\t"}, {">", ""}} {
		want := stdFindingJSON(t, f, in[0], in[1])
		got := appendFindingJSON([]byte("x"), f, in[0], in[1])
		if string(got[1:]) != string(want) {
			i := 0
			for i < len(want) && i+1 < len(got) && got[i+1] == want[i] {
				i++
			}
			from := max(0, i-60)
			t.Fatalf("%s (indent %q %q): differs from encoding/json at byte %d:\ngot  %q\nwant %q", where, in[0], in[1], i,
				got[1+from:min(len(got), i+61)], want[from:min(len(want), i+60)])
		}
	}
}

// goldenFindings decodes the findings of the golden JSON and ndjson
// documents: report's and those of every capture in pcaps/.
func goldenFindings(t *testing.T) map[string][]heuristics.Finding {
	paths, _ := filepath.Glob("testdata/*json.golden")
	for _, dir := range []string{"../pcaps", "../pcaps/lab"} {
		p, _ := filepath.Glob(filepath.Join(dir, "*.golden.json"))
		paths = append(paths, p...)
	}
	if len(paths) < 20 {
		t.Fatalf("found %d golden documents, want the report's and pcaps'", len(paths))
	}
	out := map[string][]heuristics.Finding{}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Findings []heuristics.Finding }
		if strings.HasSuffix(path, "ndjson.golden") {
			for line := range strings.Lines(string(b)) {
				if !strings.HasPrefix(line, `{"id":`) {
					continue
				}
				var f heuristics.Finding
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				doc.Findings = append(doc.Findings, f)
			}
		} else if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[path] = doc.Findings
	}
	return out
}

// captureFindings judges every capture under dir (pcaps/, the corpus
// included) as rstscope -r does with its defaults, and returns the
// findings by file.
func captureFindings(t *testing.T, dir string) map[string][]heuristics.Finding {
	out := map[string][]heuristics.Finding{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if !strings.Contains(name, ".pcap") && !strings.Contains(name, ".cap") {
			return nil
		}
		src, err := capture.OpenFile(path, 0, capture.FileOptions{})
		if err != nil {
			return nil // not a capture this reader opens
		}
		defer src.Close()
		var fs []heuristics.Finding
		engine := &heuristics.Engine{}
		table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) { fs = append(fs, engine.Judge(ev)) }})
		var p capture.Packet
		for {
			if err := src.Next(&p); err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, capture.ErrTruncated) {
					t.Logf("%s: %v", path, err)
				}
				break
			}
			table.Add(&p)
		}
		table.Close()
		out[path] = fs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFindingJSON: appendFindingJSON writes what encoding/json writes,
// byte for byte, compact and indented, for the findings of every golden
// document, of every capture in pcaps/ (corpus included) as judged and
// as the JSON formats print them (forJSON), the fixtures, and random
// findings whose every field is set (odd strings, times, addresses and
// durations included).
func TestFindingJSON(t *testing.T) {
	n := 0
	for path, fs := range goldenFindings(t) {
		for i := range fs {
			checkFindingJSON(t, &fs[i], path+": finding "+fs[i].RST.Time.String())
			n++
		}
	}
	captures := captureFindings(t, "../pcaps")
	if len(captures) < 100 {
		t.Fatalf("judged %d captures under ../pcaps, want the corpus too", len(captures))
	}
	for path, fs := range captures {
		for i := range fs {
			checkFindingJSON(t, &fs[i], path+": judged")
			j := forJSON(&fs[i])
			checkFindingJSON(t, &j, path+": as printed")
			n += 2
		}
	}
	fixtures := append(testFindings(), browserCloses(12)...)
	fixtures = append(fixtures, scanFinding(3))
	for i := range fixtures {
		checkFindingJSON(t, &fixtures[i], "fixture")
		j := forJSON(&fixtures[i])
		checkFindingJSON(t, &j, "fixture as printed")
		n += 2
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		f := randomFinding(t, r)
		checkFindingJSON(t, &f, "random finding "+time.Duration(i).String())
		n++
	}
	t.Logf("%d findings (%d captures) encoded byte-identically", n, len(captures))
}

// FuzzFindingJSON: a random finding (from seed) with the fuzzer's text
// and durations where the contract prints strings and numbers encodes
// as encoding/json encodes it.
func FuzzFindingJSON(f *testing.F) {
	f.Add(uint64(1), "RST from server 10.0.0.1:443", int64(1500000), "ShADadR")
	f.Add(uint64(2), "\x00\x1f\"\\<>&\u2028\u2029\xff\xfe é", int64(-1), "")
	f.Add(uint64(3), "", int64(math.MaxInt64), "\x7f")
	f.Add(uint64(4), "%zone", int64(1), "a\u2029b")
	f.Fuzz(func(t *testing.T, seed uint64, s string, d int64, s2 string) {
		r := rand.New(rand.NewPCG(seed, seed>>32))
		x := randomFinding(t, r)
		x.Summary, x.Advice, x.RST.Payload, x.Flow.History = s, s2, s+s2, s2
		x.Gap.Duration, x.GapSeconds.Duration = time.Duration(d), time.Duration(d/3)
		if len(x.Packets) > 0 {
			x.Packets[0].TimeOffset.Duration = time.Duration(d)
			x.Packets[0].Flags = s
		}
		x.Evidence = append(x.Evidence, heuristics.Evidence{Signal: heuristics.Signal(s2), Detail: s})
		checkFindingJSON(t, &x, "fuzzed finding")
	})
}

// BenchmarkFindingJSON: one finding of the fixtures as the json format
// records it, by hand and through encoding/json.
func BenchmarkFindingJSON(b *testing.B) {
	fs := testFindings()
	f := forJSON(&fs[0])
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		e := newJSONEnc("    ", "  ")
		for b.Loop() {
			buf = e.appendFinding(buf[:0], &f)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		for b.Loop() {
			buf.Reset()
			e := json.NewEncoder(w)
			e.SetEscapeHTML(false)
			e.SetIndent("    ", "  ")
			if err := e.Encode(&f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
