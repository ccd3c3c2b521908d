package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/rstscope/rstscope/heuristics"
)

func TestNew_unknownFormat(t *testing.T) {
	w, err := New("yaml", &bytes.Buffer{}, Options{})
	if err == nil || w != nil {
		t.Fatalf("New(yaml): got (%v, %v), want an error", w, err)
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("New(yaml) error %q does not list format %q", err, f)
		}
	}
	for _, f := range Formats {
		if _, err := New(f, &bytes.Buffer{}, Options{}); err != nil {
			t.Errorf("New(%q): %v", f, err)
		}
	}
}

// keys returns the keys of a JSON object in document order.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.80s", raw)
	}
	var out []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var stampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func TestJSON_contract(t *testing.T) {
	fs := testFindings()
	out := render(t, "json", Options{}, fs, testSummary())

	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("output is not one JSON object: %v", err)
	}
	if got, want := strings.Join(keys(t, []byte(out)), ","), "tool,version,inputs,stats,by_cause,by_origin,warnings,findings"; got != want { // warnings: the fixture summary has one
		t.Errorf("top-level keys: got %s, want %s", got, want)
	}
	if !strings.HasPrefix(out, "{\n  \"tool\": \"rstscope\",\n") {
		t.Errorf("document not indented by 2 spaces: %.40q", out)
	}

	// by_cause: counts of the findings written, keys in AllCauses order.
	want := map[heuristics.Cause]int{}
	for _, f := range fs {
		want[f.Cause]++
	}
	var wantKeys []string
	for _, c := range heuristics.AllCauses {
		if want[c] > 0 {
			wantKeys = append(wantKeys, string(c))
		}
	}
	if got := strings.Join(keys(t, top["by_cause"]), ","); got != strings.Join(wantKeys, ",") {
		t.Errorf("by_cause keys: got %s, want %s", got, strings.Join(wantKeys, ","))
	}
	var byCause map[string]int
	if err := json.Unmarshal(top["by_cause"], &byCause); err != nil {
		t.Fatal(err)
	}
	for c, n := range want {
		if byCause[string(c)] != n {
			t.Errorf("by_cause[%s]: got %d, want %d", c, byCause[string(c)], n)
		}
	}
	var stats Stats
	if err := json.Unmarshal(top["stats"], &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Findings != uint64(len(fs)) || stats.Packets != 1234 || stats.Filtered != 1 {
		t.Errorf("stats: got findings %d packets %d filtered_out %d, want %d 1234 1", stats.Findings, stats.Packets, stats.Filtered, len(fs))
	}

	var findings []map[string]any
	if err := json.Unmarshal(top["findings"], &findings); err != nil {
		t.Fatal(err)
	}
	if len(findings) != len(fs) {
		t.Fatalf("findings: got %d, want %d", len(findings), len(fs))
	}
	var prev time.Time
	for i, f := range findings {
		rst := f["rst"].(map[string]any)
		flow := f["flow"].(map[string]any)
		frame := rst["packet"]
		if got := f["id"].(float64); got != float64(i+1) {
			t.Errorf("finding %d (frame %v): id got %v, want %d", i, frame, got, i+1)
		}
		if got := heuristics.Cause(f["cause"].(string)); got != wantOrder[i] {
			t.Errorf("finding %d (frame %v): cause got %s, want %s (sorted by RST time, frame, input)", i, frame, got, wantOrder[i])
		}
		for _, k := range []string{"cause", "origin", "confidence", "stage", "errno", "summary", "advice"} {
			if _, ok := f[k].(string); !ok {
				t.Errorf("finding %d (frame %v): %q missing or not a string", i, frame, k)
			}
		}
		for _, k := range []string{"alternatives", "evidence", "packets"} {
			if _, ok := f[k].([]any); !ok {
				t.Errorf("finding %d (frame %v): %q is %v, want a list ([] when empty)", i, frame, k, f[k])
			}
		}
		for _, k := range []string{"client", "server", "roles_from"} {
			if _, ok := flow[k].(string); !ok {
				t.Errorf("finding %d (frame %v): flow.%s missing", i, frame, k)
			}
		}
		for _, k := range []string{"from", "seq_check"} {
			if _, ok := rst[k].(string); !ok {
				t.Errorf("finding %d (frame %v): rst.%s missing", i, frame, k)
			}
		}
		if _, ok := rst["packet"].(float64); !ok {
			t.Errorf("finding %d: rst.packet missing", i)
		}
		for _, ts := range []any{rst["time"], flow["start"]} {
			s, _ := ts.(string)
			if !stampRE.MatchString(s) {
				t.Errorf("finding %d (frame %v): time %q, want RFC 3339 UTC with 6 decimals", i, frame, s)
			}
		}
		rt, _ := time.Parse(time.RFC3339Nano, rst["time"].(string))
		if rt.Before(prev) {
			t.Errorf("finding %d (frame %v): rst.time %v before the previous finding's %v", i, frame, rt, prev)
		}
		prev = rt
		for j, e := range f["evidence"].([]any) {
			if s, _ := e.(map[string]any)["signal"].(string); s == "" {
				t.Errorf("finding %d (frame %v): evidence[%d].signal missing", i, frame, j)
			}
		}
	}
	// The middlebox finding, checked field by field.
	mb := findings[3]
	rst := mb["rst"].(map[string]any)
	if mb["origin"] != "middlebox" || mb["confidence"] != "high" || rst["from"] != "server" ||
		rst["packet"] != 107.0 || rst["time"] != "2026-01-02T03:04:08.123456Z" || rst["ip_id"] != 0.0 ||
		mb["flow"].(map[string]any)["client"] != "10.0.0.2:51514" ||
		mb["request"].(map[string]any)["sni"] != "example.com" ||
		mb["evidence"].([]any)[0].(map[string]any)["signal"] != "ttl_mismatch" {
		t.Errorf("middlebox finding: got %v", mb)
	}
	// Equal time and frame: input 0 first.
	if r2, r3 := findings[1]["rst"].(map[string]any), findings[2]["rst"].(map[string]any); r2["input"] != 0.0 || r3["input"] != 1.0 {
		t.Errorf("tie on time and frame 30: got inputs %v, %v, want 0 (present), 1", r2["input"], r3["input"])
	}
}

func TestJSON_empty(t *testing.T) {
	out := render(t, "json", Options{}, nil, Summary{Tool: "rstscope", Version: "0.1.0"})
	for _, want := range []string{`"findings": []`, `"by_cause": {}`, `"inputs": []`, `"findings": 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("empty document: missing %s in\n%s", want, out)
		}
	}
}

// flushCounter is a buffered writer that counts flushes.
type flushCounter struct {
	bytes.Buffer
	flushes int
}

func (f *flushCounter) Flush() error { f.flushes++; return nil }

func TestNDJSON(t *testing.T) {
	fs := testFindings()
	var out flushCounter
	w, err := New("ndjson", &out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if err := w.Write(&fs[i]); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "\n"); got != i+1 {
			t.Fatalf("after finding %d (frame %d): got %d lines, want %d (one per finding, as it comes)", i+1, fs[i].RST.Packet, got, i+1)
		}
		if out.flushes != i+1 {
			t.Errorf("after finding %d: got %d flushes, want %d", i+1, out.flushes, i+1)
		}
	}
	if err := w.Close(testSummary()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(fs)+1 {
		t.Fatalf("got %d lines, want %d findings + 1 summary", len(lines), len(fs))
	}
	for i, l := range lines[:len(fs)] {
		var f heuristics.Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if f.ID != i+1 || f.Cause != fs[i].Cause || f.RST.Packet != fs[i].RST.Packet {
			t.Errorf("line %d: got id %d cause %s frame %d, want id %d cause %s frame %d (write order)",
				i+1, f.ID, f.Cause, f.RST.Packet, i+1, fs[i].Cause, fs[i].RST.Packet)
		}
	}
	last := []byte(lines[len(lines)-1])
	if got, want := strings.Join(keys(t, last), ","), "tool,version,inputs,stats,by_cause,by_origin,warnings"; got != want {
		t.Errorf("summary line keys: got %s, want %s", got, want)
	}
	if !strings.Contains(lines[len(lines)-1], `"findings":5`) || !strings.Contains(lines[len(lines)-1], `"by_cause":{"refused":1,`) {
		t.Errorf("summary line: got %s", last)
	}
}

// checkText asserts plain output: no escape sequence, no control byte
// other than newline, no line wider than width.
func checkText(t *testing.T, out string, width int) {
	t.Helper()
	for i, l := range strings.Split(out, "\n") {
		if w := lipgloss.Width(l); w > width {
			t.Errorf("line %d is %d cells, want <= %d: %q", i+1, w, width, l)
		}
		for _, r := range l {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("line %d holds control character %U: %q", i+1, r, l)
				break
			}
		}
	}
}

func TestText_plainFitsWidth(t *testing.T) {
	for _, width := range []int{80, 120, 40} {
		for _, stream := range []bool{false, true} {
			out := render(t, "text", Options{Width: width, Stream: stream}, testFindings(), testSummary())
			checkText(t, out, width)
			if strings.Contains(out, "\x1b") {
				t.Errorf("width %d stream %v: Color=false output holds ESC", width, stream)
			}
		}
	}
}

func TestText_color(t *testing.T) {
	var b bytes.Buffer
	profile := termenv.ANSI
	w := newText(&b, Options{Color: true, Width: 80}, &profile)
	fs := testFindings()
	for i := range fs {
		if err := w.Write(&fs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(testSummary()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\x1b[") {
		t.Fatalf("Color=true with an ANSI profile: no escape sequence in output")
	}
	for i, l := range strings.Split(out, "\n") {
		if w := lipgloss.Width(l); w > 80 {
			t.Errorf("line %d is %d cells, want <= 80: %q", i+1, w, l)
		}
	}
	// Stripped of colour, the text equals the plain rendering.
	plain := render(t, "text", Options{Width: 80}, testFindings(), testSummary())
	if got := stripANSI(out); got != plain {
		t.Errorf("coloured output without escapes differs from plain output")
	}
}

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

func TestText_stream(t *testing.T) {
	fs := testFindings()
	var b bytes.Buffer
	w, err := New("text", &b, Options{Width: 80, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&fs[0]); err != nil {
		t.Fatal(err)
	}
	first := b.String()
	if !strings.HasPrefix(first, "── #1 middlebox_injected ·") {
		t.Errorf("stream: first card got %.60q, want it printed at once as #1 middlebox_injected", first)
	}
	for i := 1; i < len(fs); i++ {
		if err := w.Write(&fs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(b.String(), "By cause") {
		t.Errorf("stream: summary printed before Close")
	}
	if err := w.Close(testSummary()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for i, f := range fs {
		card := "#" + strconv.Itoa(i+1) + " " + string(f.Cause) + " ·"
		if !strings.Contains(out, card) {
			t.Errorf("stream: missing card %q (write order numbering)", card)
		}
	}
	if c, s := strings.Index(out, "#5 "), strings.Index(out, "By cause"); c < 0 || s < c {
		t.Errorf("stream: summary at %d, last card at %d, want summary after cards", s, c)
	}
}

func TestText_document(t *testing.T) {
	out := render(t, "text", Options{Width: 80}, testFindings(), testSummary())
	inOrder(t, out, strings.Index(out, "By cause"), func(i int, c heuristics.Cause) string {
		return "#" + strconv.Itoa(i+1) + " " + string(c) + " ·"
	})
	for _, want := range []string{
		"93.184.216.34:443   middlebox (as server)  3", // the burst, by who really sent it
		"▶    107", "▶    109", // RST rows marked
		"10 of 13 shown", // the window and the cited frames 102 (SA) and 104 (ClientHello)
		"ttl_mismatch: RST TTL 61 vs server TTL 52 (3 vs 12 hops) [frames 102, 107]",
		"SNI example.com ALPN h2 (frame 104)",
		"server 3 · middlebox 1 · unknown 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	if strings.Contains(out, "   101  ") {
		t.Errorf("ladder shows frame 101, want only the 8 rows around the RSTs")
	}
}

func TestText_ladderColumns(t *testing.T) {
	f := testFindings()[0]
	cases := []struct {
		width      int
		want, lack []string
	}{
		{80, []string{"frame", "ms", "+ms", "dir", "flags", "seq", "ack", "len", "TTL", "IP ID"}, nil},
		{40, []string{"frame", "ms", "dir", "flags"}, []string{"+ms", "IP ID", "ack"}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		w := newText(&b, Options{Width: c.width}, nil)
		out := w.ladder(&f)
		checkText(t, out, c.width)
		var head string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "frame") && !strings.Contains(l, "packets") {
				head = l
			}
		}
		for _, h := range c.want {
			if !strings.Contains(head, h) {
				t.Errorf("width %d: ladder header %q lacks column %q", c.width, head, h)
			}
		}
		for _, h := range c.lack {
			if strings.Contains(head, h) {
				t.Errorf("width %d: ladder header %q has column %q, want it dropped", c.width, head, h)
			}
		}
		if !strings.Contains(out, "▶    107  ") {
			t.Errorf("width %d: RST frame 107 not marked:\n%s", c.width, out)
		}
		// The title names +ms only when the column is shown; the RST
		// (0.000 to itself) came 40 ms after the flow's SYN.
		shown := !slices.Contains(c.lack, "+ms")
		if got := strings.Contains(out, "+ms from the flow's first packet"); got != shown {
			t.Errorf("width %d: title explains +ms = %v, want %v:\n%s", c.width, got, shown, out)
		}
		if shown && !regexp.MustCompile(`▶ +107 +0\.000 +40\.000 `).MatchString(out) {
			t.Errorf("width %d: RST row lacks +ms 40.000:\n%s", c.width, out)
		}
	}
}

func TestLadderWindow(t *testing.T) {
	rows := func(n int, rst ...int) []heuristics.PacketRow {
		r := make([]heuristics.PacketRow, n)
		for _, i := range rst {
			r[i].RST = true
		}
		return r
	}
	cases := []struct {
		name     string
		rows     []heuristics.PacketRow
		from, to int
	}{
		{"short", rows(3, 2), 0, 3},
		{"rst_last", rows(16, 15), 8, 16},
		{"rst_middle", rows(16, 6), 2, 10},
		{"burst", rows(13, 6, 7, 8), 4, 12},
		{"no_rst", rows(10), 2, 10},
	}
	for _, c := range cases {
		if from, to := ladderWindow(c.rows); from != c.from || to != c.to {
			t.Errorf("%s: got [%d,%d), want [%d,%d)", c.name, from, to, c.from, c.to)
		}
	}
}

// failWriter fails every write and counts the attempts.
type failWriter struct {
	calls int
	err   error
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.calls++
	return 0, f.err
}

func TestWriter_keepsFirstError(t *testing.T) {
	boom := errors.New("disk full")
	for _, format := range Formats {
		for _, stream := range []bool{false, true} {
			fw := &failWriter{err: boom}
			w, err := New(format, fw, Options{Stream: stream})
			if err != nil {
				t.Fatal(err)
			}
			isStream := format == "ndjson" || format == "ecs" || (format == "text" && stream)
			fs := testFindings()
			for i := range fs {
				err := w.Write(&fs[i])
				switch {
				case isStream && !errors.Is(err, boom):
					t.Errorf("%s stream=%v: Write %d got %v, want %v", format, stream, i, err, boom)
				case !isStream && err != nil:
					t.Errorf("%s: Write %d got %v, want nil (documents write at Close)", format, i, err)
				}
			}
			if isStream && fw.calls != 1 {
				t.Errorf("%s stream=%v: %d write attempts, want 1 (stop after the first error)", format, stream, fw.calls)
			}
			err = w.Close(testSummary())
			if !errors.Is(err, boom) {
				t.Errorf("%s stream=%v: Close got %v, want %v", format, stream, err, boom)
			}
			if fw.calls != 1 {
				t.Errorf("%s stream=%v: %d write attempts, want 1", format, stream, fw.calls)
			}
			if err := w.Write(&fs[0]); !errors.Is(err, errClosed) {
				t.Errorf("%s: Write after Close got %v, want %v", format, err, errClosed)
			}
		}
	}
}

func TestWriter_nilFinding(t *testing.T) {
	for _, format := range Formats {
		w, _ := New(format, &bytes.Buffer{}, Options{})
		if err := w.Write(nil); !errors.Is(err, errNilFinding) {
			t.Errorf("%s: Write(nil) got %v, want %v", format, err, errNilFinding)
		}
		if err := w.Close(Summary{}); !errors.Is(err, errNilFinding) {
			t.Errorf("%s: Close after Write(nil) got %v, want %v", format, err, errNilFinding)
		}
	}
}

func TestWriter_bufio(t *testing.T) {
	// A *bufio.Writer given by main is flushed per streamed finding.
	var b bytes.Buffer
	bw := bufio.NewWriterSize(&b, 1<<16)
	w, _ := New("ndjson", bw, Options{})
	fs := testFindings()
	if err := w.Write(&fs[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), `{"id":1,`) {
		t.Errorf("ndjson line not flushed through bufio.Writer: got %q", b.String())
	}
}

func TestFormatTime(t *testing.T) {
	cases := []struct {
		in      time.Time
		want    string
		clamped bool
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), "2026-01-02T03:04:05.123456Z", false},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000000Z", false},
		{time.Date(2026, 1, 2, 4, 4, 5, 100000000, time.FixedZone("CET", 3600)), "2026-01-02T03:04:05.100000Z", false},
		// a pcapng timestamp from the far future, and one before year 0:
		// RFC 3339 has four year digits
		{time.Date(14645, 6, 30, 1, 2, 3, 0, time.UTC), "9999-12-31T23:59:59.999999Z", true},
		{time.Date(-5, 6, 30, 1, 2, 3, 0, time.UTC), "0000-01-01T00:00:00.000000Z", true},
	}
	for _, c := range cases {
		if got := formatTime(c.in, nil); got != c.want {
			t.Errorf("formatTime(%v): got %s, want %s", c.in, got, c.want)
		}
		if got := formatTime(c.in, time.UTC); got != c.want {
			t.Errorf("formatTime(%v, UTC): got %s, want %s", c.in, got, c.want)
		}
		in := heuristics.Instant{Time: c.in}
		b, _ := json.Marshal(in)
		if string(b) != `"`+c.want+`"` || in.Clamped() != c.clamped {
			t.Errorf("Instant(%v): got %s clamped %v, want %q %v", c.in, b, in.Clamped(), c.want, c.clamped)
		}
		if _, err := time.Parse(time.RFC3339, c.want); err != nil {
			t.Errorf("%s is not RFC 3339: %v", c.want, err)
		}
	}
}

// TestJSON_farFuture: a finding from year 14645 prints an RFC 3339 time
// and the document says it was clamped.
func TestJSON_farFuture(t *testing.T) {
	f := testFindings()[3]
	f.RST.Time = heuristics.Instant{Time: time.Date(14645, 6, 30, 0, 0, 0, 0, time.UTC)}
	for _, format := range Formats {
		out := render(t, format, Options{Width: 200}, []heuristics.Finding{f}, Summary{Tool: "rstscope"})
		if strings.Contains(out, "14645") || !strings.Contains(out, "9999-12-31T23:59:59.999999Z") {
			t.Errorf("%s: got %s, want the time clamped to 9999-12-31T23:59:59.999999Z", format, out)
		}
		if !strings.Contains(out, "1 finding with a capture time outside the years 0000-9999") {
			t.Errorf("%s: no warning for the clamped time in %s", format, out)
		}
	}
}

func TestTerminalWidth(t *testing.T) {
	if got := terminalWidth(&bytes.Buffer{}); got != defaultWidth {
		t.Errorf("buffer: got %d, want %d", got, defaultWidth)
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := terminalWidth(f); got != defaultWidth {
		t.Errorf("regular file: got %d, want %d", got, defaultWidth)
	}
	if got := newText(&bytes.Buffer{}, Options{Width: 10}, nil).width; got != minWidth {
		t.Errorf("Width 10: got %d, want %d", got, minWidth)
	}
}

// inOrder checks that the heading of each finding of wantOrder comes after
// from and after the one before (summary first, findings sorted).
func inOrder(t *testing.T, out string, from int, heading func(i int, c heuristics.Cause) string) {
	t.Helper()
	prev := from
	for i, c := range wantOrder {
		h := heading(i, c)
		at := strings.Index(out, h)
		if at < prev {
			t.Errorf("%q at %d, want after %d (sorted)", h, at, prev)
		}
		prev = at
	}
}
