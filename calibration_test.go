package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/pcaps/lab"
)

// judged is one verdict of rstscope on a capture with ground truth.
type judged struct {
	source     string // lab, generator, corpus
	capture    string
	frame      uint64
	got        finding
	cause      string // the correct cause; "" when the truth does not say
	origin     string // the correct origin; "" when the truth does not say
	maxConf    string // the highest confidence the capture allows; "" for any
	knownWrong string // "issue 13 class N" when rstscope is known to get it wrong
}

func (j judged) right() bool {
	return (j.cause == "" || j.got.Cause == j.cause) && (j.origin == "" || j.got.Origin == j.origin)
}

func (j judged) overCap() bool {
	return j.maxConf != "" && confRank[j.got.Confidence] > confRank[j.maxConf]
}

func (j judged) correct() string {
	c, o := j.cause, j.origin
	if c == "" {
		c = "any cause"
	}
	if o == "" {
		o = "any origin"
	}
	return c + "/" + o
}

// curatedCloses are corpus RSTs analysed by hand for issue 13 class 2: an
// encrypted TLS alert after application data, next to a FIN, is a graceful
// close_notify, and the RST is a close racing with the other side's last
// write (DESIGN.md: abortive_close, "RST after its own FIN when more data
// arrives"), not a TLS failure. Facts from tshark (frames, flags, TLS
// record types); the frame is the finding's first RST.
var curatedCloses = []struct {
	file       string
	frame      uint64
	cause      string
	origin     string
	knownWrong string
	why        string
}{
	{"ndpi/443-curl.pcap", 105, "abortive_close", "client", "",
		"curl: the client's close_notify (frame 100, after application data) and FIN (101); the server's last record, close_notify and FIN (102-104) reach a closed socket: the client's kernel resets each"},
	{"ndpi/zoom.pcap", 256, "abortive_close", "client", "",
		"the client's close_notify (250) and FIN (251) after application data; the server's late application data (255) draws the client kernel's RST"},
	{"ndpi/alexa-app.pcapng", 180, "abortive_close", "client", "",
		"the client's FIN (177); the server's close_notify (178) and FIN (179) reach a closed socket"},
	{"zeek/Traces/tls/irc-starttls.pcap", 18, "abortive_close", "client", "",
		"IRC STARTTLS: the client's FIN (16); the server's 31-byte record (17, an encrypted close_notify's size) draws the client kernel's RST"},
	{"zeek/Traces/tls/smtp-starttls.pcap", 36, "abortive_close", "server", "",
		"SMTP STARTTLS: the server's last data and FIN (30, 31); the client's close_notify (34) and FIN (35) reach the server's closed socket"},
	{"zeek/Traces/tls/imap-starttls.pcap", 32, "abortive_close", "server", "",
		"IMAP STARTTLS: the server's close_notify with FIN (27); the client's close_notify (30) and FIN (31) reach the server's closed socket"},
	{"zeek/Traces/tls/dhe.pcap", 22, "abortive_close", "server", "",
		"HTTPS: the server's response, close_notify with FIN (16, 17); the client's close_notify (20) and FIN (21) reach the server's closed socket"},
}

// calibrationVerdicts runs rstscope on every capture with ground truth:
// the lab's fixtures (pcaps/lab scenarios.go), the generator's captures
// (the expectation table of golden_test.go) and the corpus rows with
// curated origins, curated TLS closes or a Zeek REJ (a refused connection).
func calibrationVerdicts(t *testing.T) []judged {
	t.Helper()
	var out []judged
	for _, tr := range lab.Truths() {
		path := filepath.Join("pcaps", "lab", tr.Capture)
		d := runJSON(t, "-r", path)
		if len(d.Findings) != len(tr.Findings) {
			t.Errorf("%s: %d findings, the lab's truth has %d", path, len(d.Findings), len(tr.Findings))
			continue
		}
		for i, v := range tr.Findings {
			f := d.Findings[i]
			out = append(out, judged{source: "lab", capture: path, frame: f.RST.Packet, got: f,
				cause: v.Cause, origin: v.Origin, maxConf: v.MaxConfidence, knownWrong: v.KnownWrong})
		}
	}
	var names []string
	for name := range expectations {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join("pcaps", name)
		d := runJSON(t, "-r", path)
		for _, e := range expectations[name] {
			f := findingWithFrame(d.Findings, e.frame)
			if f == nil {
				t.Errorf("%s frame %d: no finding", path, e.frame)
				continue
			}
			out = append(out, judged{source: "generator", capture: path, frame: e.frame, got: *f, cause: e.cause, origin: e.origin})
		}
	}
	docs := map[string]doc{}
	corpusDoc := func(file string) doc {
		d, ok := docs[file]
		if !ok {
			d = runJSON(t, "-r", filepath.Join(corpusDir, file))
			docs[file] = d
		}
		return d
	}
	for _, c := range curatedCorpus {
		f := findingWithFrame(corpusDoc(c.file).Findings, c.frame)
		if f == nil {
			t.Errorf("%s frame %d: no finding", c.file, c.frame)
			continue
		}
		out = append(out, judged{source: "corpus", capture: filepath.Join(corpusDir, c.file), frame: c.frame, got: *f, origin: c.origin})
	}
	for _, c := range curatedCloses {
		f := findingWithFrame(corpusDoc(c.file).Findings, c.frame)
		if f == nil {
			t.Errorf("%s frame %d: no finding", c.file, c.frame)
			continue
		}
		out = append(out, judged{source: "corpus", capture: filepath.Join(corpusDir, c.file), frame: c.frame, got: *f,
			cause: c.cause, origin: c.origin, knownWrong: c.knownWrong})
	}
	for _, row := range readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv")) {
		for _, entry := range strings.Split(row["zeek_rst_flows"], ";") {
			tuple, state, ok := strings.Cut(strings.TrimSpace(entry), "=")
			if !ok || !strings.HasPrefix(state, "REJ/") {
				continue
			}
			orig, resp, _ := strings.Cut(tuple, ">")
			// Zeek REJ: the SYN was answered by a RST; who made it, Zeek
			// cannot tell. Without another packet from that address in the
			// capture, nothing checks the claimed sender: medium at most
			// (issue 13 class 5).
			path := filepath.Join(corpusDir, row["file"])
			j := judged{source: "corpus", capture: path, cause: "refused"}
			if ap, err := netip.ParseAddrPort(resp); err == nil && !sendsOtherThanRST(t, path, ap.Addr()) {
				j.maxConf = "medium"
			}
			for _, f := range corpusDoc(row["file"]).Findings {
				if f.Flow.Client == orig && f.Flow.Server == resp {
					j.frame, j.got = f.RST.Packet, f
					out = append(out, j)
				}
			}
		}
	}
	return out
}

// sendsOtherThanRST reports whether addr sent any packet but a RST in the
// capture at path: something to check a RST claiming addr against.
func sendsOtherThanRST(t *testing.T, path string, addr netip.Addr) bool {
	t.Helper()
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer src.Close()
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("%s: %v", path, err)
			}
			return false
		}
		if p.Src.Addr() == addr && !p.Flags.Has(capture.RST) {
			return true
		}
	}
}

// calibration is the count of verdicts per confidence level.
type calibration struct {
	verdicts, right, knownWrong, overCap int
}

// TestCalibration: over every verdict with ground truth, how often each
// confidence level is right (cause and origin). A wrong `high` verdict
// fails, and so does `medium` right less than 90 % of the time; verdicts
// marked known-wrong (an issue 13 class) are counted and listed apart and
// left out of those two gates. The markdown it prints is the README's
// calibration section (go test -run TestCalibration -update rewrites it).
func TestCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rstscope on every capture with ground truth; skipped with -short")
	}
	js := calibrationVerdicts(t)
	levels := []string{"high", "medium", "low"}
	by := map[string]*calibration{}
	bySource := map[string]map[string]*calibration{}
	for _, l := range levels {
		by[l] = &calibration{}
	}
	var wrong, marked, markedRight, capped []judged
	for _, j := range js {
		c, ok := by[j.got.Confidence]
		if !ok {
			t.Errorf("%s frame %d: confidence %q is not a level", j.capture, j.frame, j.got.Confidence)
			continue
		}
		if bySource[j.source] == nil {
			bySource[j.source] = map[string]*calibration{}
			for _, l := range levels {
				bySource[j.source][l] = &calibration{}
			}
		}
		s := bySource[j.source][j.got.Confidence]
		c.verdicts++
		s.verdicts++
		switch {
		case j.right() && !j.overCap() && j.knownWrong != "" && j.source == "corpus":
			t.Errorf("%s frame %d: %s/%s %s is right now: remove the mark %q", j.capture, j.frame, j.got.Cause, j.got.Origin, j.got.Confidence, j.knownWrong)
			fallthrough
		case j.right():
			c.right++
			s.right++
			if j.knownWrong != "" {
				markedRight = append(markedRight, j)
			}
		case j.knownWrong != "":
			c.knownWrong++
			s.knownWrong++
			marked = append(marked, j)
		default:
			wrong = append(wrong, j)
		}
		if j.overCap() {
			c.overCap++
			capped = append(capped, j)
			if j.knownWrong == "" && j.source == "corpus" {
				t.Errorf("%s frame %d: confidence %s, the capture allows at most %s", j.capture, j.frame, j.got.Confidence, j.maxConf)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%d verdicts with ground truth: %d in the lab's kernel-made captures, %d in the generator's, %d in public corpus captures (curated origins and TLS closes, Zeek REJ).\n\n",
		len(js), count(js, "lab"), count(js, "generator"), count(js, "corpus"))
	b.WriteString("| confidence | verdicts | right | wrong | of them known wrong (issue 13) | right | right without known wrong | over the capture's cap |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, l := range levels {
		c := by[l]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %d |\n", l, c.verdicts, c.right, c.verdicts-c.right, c.knownWrong,
			percent(c.right, c.verdicts), percent(c.right, c.verdicts-c.knownWrong), c.overCap)
	}
	b.WriteString("\n| source | high right/verdicts | medium right/verdicts | low right/verdicts |\n|---|---|---|---|\n")
	for _, src := range []string{"lab", "generator", "corpus"} {
		fmt.Fprintf(&b, "| %s |", src)
		for _, l := range levels {
			c := bySource[src][l]
			if c == nil {
				c = &calibration{}
			}
			fmt.Fprintf(&b, " %d/%d |", c.right, c.verdicts)
		}
		b.WriteString("\n")
	}
	if len(marked) > 0 {
		b.WriteString("\nKnown wrong today (issue 13):\n\n")
		slices.SortStableFunc(marked, func(x, y judged) int { return strings.Compare(x.knownWrong, y.knownWrong) })
		for _, j := range marked {
			fmt.Fprintf(&b, "- %s: `%s` frame %d: %s/%s %s, correct %s\n", j.knownWrong, j.capture, j.frame,
				j.got.Cause, j.got.Origin, j.got.Confidence, j.correct())
		}
	}
	if len(markedRight) > 0 {
		b.WriteString("\nRight cause and origin, but marked for the request, evidence or confidence (see the section below and pcaps/lab):\n\n")
		for _, j := range markedRight {
			fmt.Fprintf(&b, "- %s: `%s` frame %d: %s/%s %s\n", j.knownWrong, j.capture, j.frame, j.got.Cause, j.got.Origin, j.got.Confidence)
		}
	}
	var refuted []string
	for _, set := range []struct {
		dir string
		rs  map[string][]refutation
	}{{"pcaps", refutations}, {corpusDir, corpusRefutations}} {
		for _, name := range slices.Sorted(maps.Keys(set.rs)) {
			d := runJSON(t, "-r", filepath.Join(set.dir, name))
			for _, r := range set.rs[name] {
				if f := findingWithFrame(d.Findings, r.frame); f != nil && r.claimed(f) {
					refuted = append(refuted, fmt.Sprintf("- %s: `%s/%s` frame %d: evidence %s: %s\n", r.knownWrong, set.dir, name, r.frame, r, r.why))
				}
			}
		}
	}
	if len(refuted) > 0 {
		b.WriteString("\nRight cause and origin, but evidence the capture disproves:\n\n")
		b.WriteString(strings.Join(refuted, ""))
	}
	if len(capped) > 0 {
		b.WriteString("\nMore confident than the capture allows:\n\n")
		for _, j := range capped {
			mark := ""
			if j.knownWrong != "" {
				mark = " (" + j.knownWrong + ")"
			}
			fmt.Fprintf(&b, "- `%s` frame %d: %s, at most %s%s\n", j.capture, j.frame, j.got.Confidence, j.maxConf, mark)
		}
	}
	table := b.String()
	t.Logf("calibration:\n%s", table)

	for _, j := range wrong {
		t.Errorf("%s frame %d: %s/%s %s, correct %s: %s", j.capture, j.frame, j.got.Cause, j.got.Origin, j.got.Confidence, j.correct(), j.got.Summary)
	}
	if n := by["high"].verdicts - by["high"].right - by["high"].knownWrong; n > 0 {
		t.Errorf("high: %d wrong verdicts (listed above), want none", n)
	}
	if m := by["medium"]; m.verdicts-m.knownWrong > 0 && m.right*10 < (m.verdicts-m.knownWrong)*9 {
		t.Errorf("medium: right %d of %d (%s), want at least 90 %%", m.right, m.verdicts-m.knownWrong, percent(m.right, m.verdicts-m.knownWrong))
	}
	checkReadmeSection(t, "calibration", table)
}

func count(js []judged, source string) int {
	n := 0
	for _, j := range js {
		if j.source == source {
			n++
		}
	}
	return n
}

func percent(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f %%", 100*float64(n)/float64(of))
}

// checkReadmeSection compares README.md's generated section name (between
// <!-- name:begin --> and <!-- name:end -->) with text; -update rewrites it.
func checkReadmeSection(t *testing.T, name, text string) {
	t.Helper()
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md: no %s section (%s ... %s)", name, strings.TrimSpace(begin), end)
	}
	got := string(readme[i+len(begin) : j])
	if got == text {
		return
	}
	if *update {
		out := append([]byte{}, readme[:i+len(begin)]...)
		out = append(out, text...)
		out = append(out, readme[j:]...)
		if err := os.WriteFile("README.md", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's %s section is out of date (go test -run %s -update rewrites it)", name, t.Name())
}
