package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rstscope/rstscope/heuristics"
)

func TestSanitize(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "example.com", 200, "example.com"},
		{"esc_clear_screen", "a\x1b[2Jb", 200, `a\x1b[2Jb`},
		{"cr_lf_bel_tab", "a\r\nb\a\tc", 200, `a\r\nb\x07\tc`},
		{"nul_del", "a\x00b\x7f", 200, `a\x00b\x7f`},
		{"c1_csi", "a\u009b2Jb", 200, `a\u009b2Jb`},
		{"bidi_override", "abc\u202egnp.exe", 200, `abc\u202egnp.exe`},
		{"zero_width", "pay\u200bpal.com", 200, `pay\u200bpal.com`},
		{"line_separator", "a\u2028b", 200, `a\u2028b`},
		{"backslash", `a\x1b`, 200, `a\\x1b`},
		{"invalid_utf8", "a\xff\xfeb", 200, "a\ufffd\ufffdb"},
		{"unicode_kept", "bücher.example/日本", 200, "bücher.example/日本"},
		{"cut", "abcdefghij", 5, "abcd…"},
		{"exact_fit", "abcde", 5, "abcde"},
		{"cut_not_inside_escape", "abc\x1bdef", 6, "abc…"},
		{"no_limit", strings.Repeat("x", 300), 0, strings.Repeat("x", 300)},
	}
	for _, c := range cases {
		if got := Sanitize(c.in, c.max); got != c.want {
			t.Errorf("%s: Sanitize(%q, %d) got %q, want %q", c.name, c.in, c.max, got, c.want)
		}
	}
}

func TestSanitize_bounds(t *testing.T) {
	hostile := strings.Repeat("\x1b[2J\r\n\a\xff", 2000) // 12 KB
	for _, max := range []int{1, 2, 10, 200, 1000} {
		got := Sanitize(hostile, max)
		if n := utf8.RuneCountInString(got); n > max {
			t.Errorf("max %d: got %d runes", max, n)
		}
		if !utf8.ValidString(got) {
			t.Errorf("max %d: invalid UTF-8 %q", max, got)
		}
		if !strings.HasSuffix(got, "…") {
			t.Errorf("max %d: cut value does not end in …: %q", max, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("max %d: control character %U left in %q", max, r, got)
			}
		}
	}
}

func TestMarkdownEscape(t *testing.T) {
	in := "a|b`c*d_e[f](g)<h>~i&j#k!l\\m"
	want := `a\|b` + "\\`" + `c\*d\_e\[f\](g)\<h\>\~i\&j\#k\!l\\\\m` // the backslash is sanitised to \\, then escaped
	if got := md(in, 200); got != want {
		t.Errorf("md(%q): got %q, want %q", in, got, want)
	}
	for in, want := range map[string]string{
		"- item":     `\- item`,
		"+ item":     `\+ item`,
		"===":        `\===`,
		"12. item":   `12\. item`,
		"3) item":    `3\) item`,
		"    code":   "code",
		"10.0.0.1":   "10.0.0.1",
		"-5.0 ms":    "-5.0 ms",
		"- - -":      `\- - -`,
		"1.":         `1\.`,
		"a - b 1. c": "a - b 1. c",
	} {
		if got := md(in, 200); got != want {
			t.Errorf("md(%q): got %q, want %q", in, got, want)
		}
	}
}

// hostileFinding carries terminal and document injections in every
// capture-derived string.
func hostileFinding() heuristics.Finding {
	evil := "evil\x1b[2J\x1b]0;pwned\a\r\n# injected heading\n```\n| x | y |\n<script>alert(1)</script>;#59;-->>S: fake"
	big := strings.Repeat("A", 10*1024)
	f := testFindings()[0] // the middlebox finding
	f.Summary = "RST after ClientHello (SNI " + evil + ")" + big
	f.Request = &heuristics.RequestInfo{Kind: "http", Method: "GET\x1b[31m", Path: "/" + evil + big,
		Host: evil + big, SNI: evil + big, ALPN: evil}
	f.TLSAlert = &heuristics.TLSAlertJSON{From: heuristics.SideServer, Packet: 9, Level: "fatal", Description: evil + big}
	f.Evidence = append(f.Evidence, heuristics.Evidence{Signal: heuristics.SignalTLSAlert, Detail: evil + big})
	f.Advice = evil + big
	f.Flow.Tunnel = evil
	f.Flow.Client = netip.AddrPort{} // unknown: no tshark line
	return f
}

func TestHostile_text(t *testing.T) {
	for _, width := range []int{80, 120} {
		out := render(t, "text", Options{Width: width}, []heuristics.Finding{hostileFinding()}, testSummary())
		checkText(t, out, width)
		if strings.Contains(out, "\x1b") || strings.Contains(out, "\a") || strings.Contains(out, "\r") {
			t.Errorf("width %d: raw ESC, BEL or CR reached the terminal", width)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("width %d: escape not shown visibly", width)
		}
		if len(out) > 40*1024 {
			t.Errorf("width %d: %d bytes of output, want long values cut", width, len(out))
		}
		if strings.Contains(out, "\n# injected") || strings.Contains(out, strings.Repeat("A", 300)) {
			t.Errorf("width %d: hostile newline or 10 KB value not neutralised", width)
		}
	}
}

func TestHostile_markdown(t *testing.T) {
	out := render(t, "markdown", Options{}, []heuristics.Finding{hostileFinding()}, testSummary())
	for i, l := range strings.Split(out, "\n") {
		for _, r := range l {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("line %d holds control character %U: %q", i+1, r, l)
			}
		}
		if strings.HasPrefix(l, "# injected") || strings.HasPrefix(l, "| x |") || (strings.HasPrefix(l, "```") && l != "```" && l != "```mermaid" && l != "```sh") {
			t.Errorf("line %d: injected Markdown structure: %q", i+1, l)
		}
		if unescaped(l, '<') {
			t.Errorf("line %d: unescaped HTML: %q", i+1, l)
		}
	}
	if strings.Count(out, "```") != 2 {
		t.Errorf("got %d code fences, want 2 (one mermaid block open+close; no tshark: bad address)", strings.Count(out, "```"))
	}
	if strings.Contains(out, strings.Repeat("A", maxLong)) {
		t.Errorf("10 KB value not cut")
	}
	checkMermaid(t, mermaid(ptr(hostileFinding())))
}

// unescaped reports whether c occurs in l without a Markdown backslash
// escape (an odd number of backslashes before it).
func unescaped(l string, c byte) bool {
	for i := 0; i < len(l); i++ {
		if l[i] != c {
			continue
		}
		n := 0
		for j := i - 1; j >= 0 && l[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func TestHostile_json(t *testing.T) {
	f := hostileFinding()
	out := render(t, "json", Options{}, []heuristics.Finding{f}, testSummary())
	var doc struct{ Findings []heuristics.Finding }
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("hostile strings broke the JSON: %v", err)
	}
	if got := doc.Findings[0].Request.SNI; got != f.Request.SNI {
		t.Errorf("JSON SNI: got %d bytes, want the original %d bytes", len(got), len(f.Request.SNI))
	}
	if bytes.ContainsAny([]byte(out), "\x1b\a\r") {
		t.Errorf("raw control bytes in JSON output")
	}
	// What `jq -r` prints: the sentences are sanitised as in text, the raw
	// values stay in their own fields.
	got := doc.Findings[0]
	texts := []string{got.Summary, got.Advice}
	for _, e := range got.Evidence {
		texts = append(texts, e.Detail)
	}
	for _, s := range texts {
		if strings.ContainsAny(s, "\x1b\a\r\n") || utf8.RuneCountInString(s) > maxLong {
			t.Errorf("JSON sentence holds a control character or is not cut: %.80q", s)
		}
	}
	if !strings.Contains(got.Summary, `\x1b[2J`) {
		t.Errorf("JSON summary: got %.120q, want the escape shown as in text", got.Summary)
	}
	if !strings.Contains(got.Request.Host, "\x1b") {
		t.Errorf("JSON request.host: lost its raw value")
	}
	// ndjson: the same sanitiser.
	var line heuristics.Finding
	nd := render(t, "ndjson", Options{}, []heuristics.Finding{f}, testSummary())
	if err := json.Unmarshal([]byte(strings.SplitN(nd, "\n", 2)[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line.Summary != got.Summary || line.Evidence[len(line.Evidence)-1].Detail != got.Evidence[len(got.Evidence)-1].Detail {
		t.Errorf("ndjson sentences differ from json's")
	}
}

var (
	participantRE = regexp.MustCompile(`^    participant ([A-Za-z]+) as (.*)$`)
	messageRE     = regexp.MustCompile(`^    ([A-Za-z]+)(-[^ :]*)([A-Za-z]+): (.*)$`)
	noteRE        = regexp.MustCompile(`^    Note over ([A-Za-z]+),([A-Za-z]+): (.*)$`)
	labelRE       = regexp.MustCompile(`^(?:[A-Za-z0-9 .,_=/()+\-:\[\]]|#[0-9]+;)*$`)
	entityRE      = regexp.MustCompile(`#([0-9]+);`)
)

// checkMermaid asserts a well-formed sequenceDiagram: participants declared
// before any message, only ->> arrows between declared participants, and
// labels made only of safe characters and entity codes.
func checkMermaid(t *testing.T, d string) (participants []string, messages []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	if lines[0] != "sequenceDiagram" {
		t.Fatalf("mermaid: first line %q, want sequenceDiagram", lines[0])
	}
	declared := map[string]bool{}
	for i, l := range lines[1:] {
		label := ""
		switch {
		case participantRE.MatchString(l):
			m := participantRE.FindStringSubmatch(l)
			if len(messages) > 0 {
				t.Errorf("mermaid line %d: participant %s declared after a message", i+2, m[1])
			}
			declared[m[1]] = true
			participants = append(participants, m[1])
			label = m[2]
		case messageRE.MatchString(l):
			m := messageRE.FindStringSubmatch(l)
			if m[2] != "->>" {
				t.Errorf("mermaid line %d: arrow %q, want ->>", i+2, m[2])
			}
			if !declared[m[1]] || !declared[m[3]] {
				t.Errorf("mermaid line %d: %s->>%s uses an undeclared participant", i+2, m[1], m[3])
			}
			messages = append(messages, m[1]+"->>"+m[3])
			label = m[4]
		case noteRE.MatchString(l):
			m := noteRE.FindStringSubmatch(l)
			if !declared[m[1]] || !declared[m[2]] {
				t.Errorf("mermaid line %d: note over an undeclared participant", i+2)
			}
			label = m[3]
		default:
			t.Errorf("mermaid line %d: not a participant, message or note: %q", i+2, l)
			continue
		}
		if !labelRE.MatchString(label) {
			t.Errorf("mermaid line %d: unescaped label %q", i+2, label)
		}
	}
	return participants, messages
}

func TestMermaid(t *testing.T) {
	for _, f := range testFindings() {
		p, m := checkMermaid(t, mermaid(&f))
		want := "C,S"
		if f.Origin == heuristics.OriginMiddlebox {
			want = "C,M,S"
		}
		if got := strings.Join(p, ","); got != want {
			t.Errorf("%s (frame %d): participants %s, want %s", f.Cause, f.RST.Packet, got, want)
		}
		if len(m) != len(f.Packets) {
			t.Errorf("%s (frame %d): %d messages, want one per packet (%d)", f.Cause, f.RST.Packet, len(m), len(f.Packets))
		}
		for i, r := range f.Packets {
			want := map[heuristics.Side]string{heuristics.SideClient: "C->>S", heuristics.SideServer: "S->>C"}[r.From]
			if r.RST && f.Origin == heuristics.OriginMiddlebox {
				want = "M->>C"
			}
			if i < len(m) && m[i] != want {
				t.Errorf("%s frame %d: arrow %s, want %s", f.Cause, r.Packet, m[i], want)
			}
		}
	}
}

func TestMermaidText_roundTrip(t *testing.T) {
	in := "a;b#c\nd<e>f&g\"h'i`j-->>k%%l é"
	got := mermaidText(in)
	if !labelRE.MatchString(got) {
		t.Fatalf("mermaidText(%q) = %q holds unsafe characters", in, got)
	}
	dec := entityRE.ReplaceAllStringFunc(got, func(e string) string {
		n, _ := strconv.Atoi(e[1 : len(e)-1])
		return string(rune(n))
	})
	if want := Sanitize(in, 120); dec != want {
		t.Errorf("decoded label %q, want %q", dec, want)
	}
}

func TestTsharkCommand(t *testing.T) {
	fs := testFindings()
	inputs := []string{"capture.pcap", "it's here.pcapng"}
	cases := []struct {
		f    heuristics.Finding
		want string
	}{
		{fs[0], "tshark -r 'capture.pcap' -Y 'ip.addr==10.0.0.2 && tcp.port==51514 && ip.addr==93.184.216.34 && tcp.port==443'\n" +
			"tshark -r 'capture.pcap' -Y 'frame.number==107' -V\n"},
		{fs[3], "tshark -r 'capture.pcap' -Y 'ipv6.addr==2001:db8::2 && tcp.port==40000 && ipv6.addr==2001:db8::1 && tcp.port==8080'\n" +
			"tshark -r 'capture.pcap' -Y 'frame.number==12' -V\n"},
		{fs[1], "tshark -r 'it'\\''s here.pcapng' -Y 'ip.addr==192.168.1.10 && tcp.port==50000 && ip.addr==192.168.1.20 && tcp.port==80'\n" +
			"tshark -r 'it'\\''s here.pcapng' -Y 'frame.number==30' -V\n"},
	}
	for _, c := range cases {
		if got := tsharkCommand(&c.f, inputs); got != c.want {
			t.Errorf("%s (frame %d): got\n%s\nwant\n%s", c.f.Cause, c.f.RST.Packet, got, c.want)
		}
	}
	if got := tsharkCommand(&cases[0].f, nil); !strings.HasPrefix(got, "tshark -r 'FILE' ") {
		t.Errorf("no inputs: got %q, want FILE placeholder", got)
	}
}

func TestMarkdown_document(t *testing.T) {
	out := render(t, "markdown", Options{}, testFindings(), testSummary())
	inOrder(t, out, 0, func(i int, c heuristics.Cause) string {
		return "### " + strconv.Itoa(i+1) + ". `" + string(c) + "`"
	})
	for _, want := range []string{
		"| `middlebox_injected` | 1 |",
		"| `server` | 3 |",
		"- `ttl_mismatch`: RST TTL 61 vs server TTL 52 (3 vs 12 hops) (frames 102, 107)",
		"    M->>C: [107] 0.000 ms RA seq=2000001 ack=1000518 len=0 ttl=61 (claims server)",
		"| 107 | 0.000 | 40.000 | S→C | RA | 2000001 | 1000518 | 0 | 61 | 0 | **RST** |",
		"**errno:** `ECONNREFUSED`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Count(out, "```mermaid\nsequenceDiagram\n") != 4 {
		t.Errorf("got %d mermaid diagrams, want 4 (findings with packets)", strings.Count(out, "```mermaid\nsequenceDiagram\n"))
	}
}

// sanitizeRunes is Sanitize's result worked out another way: every rune's
// piece from escapeRune, then, past max runes, the longest run of whole
// pieces that leaves room for the ellipsis. TestSanitize_asciiPath holds
// Sanitize's printable-ASCII path to it.
func sanitizeRunes(s string, max int) string {
	var pieces []string
	total := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		p := string(escapeRune(nil, r, size))
		pieces = append(pieces, p)
		total += utf8.RuneCountInString(p)
	}
	if max < 1 || total <= max {
		return strings.Join(pieces, "")
	}
	out, n := "", 0
	for _, p := range pieces {
		k := utf8.RuneCountInString(p)
		if n+k > max-1 {
			break
		}
		out, n = out+p, n+k
	}
	return out + "…"
}

// TestSanitize_asciiPath compares Sanitize with the rune-by-rune
// reference on strings that mix printable ASCII with what must be
// escaped or kept as multi-byte runes, at every cut length around them.
func TestSanitize_asciiPath(t *testing.T) {
	parts := []string{"a", "Z", " ", "~", "\\", "\x1b", "\n", "\x7f", "\x00", "µ", "→", "…", "\u202e", "\u200b", "\u2028", "\u0085", "日", "\xff", "\xe2\x86", "\U0001F600"}
	seed := uint32(1)
	next := func(n int) int {
		seed = seed*1664525 + 1013904223
		return int(seed>>8) % n
	}
	for range 3000 {
		var sb strings.Builder
		for range next(24) {
			sb.WriteString(parts[next(len(parts))])
		}
		s := sb.String()
		for _, max := range []int{0, 1, 2, 3, 5, 8, 13, 21, 200} {
			if got, want := Sanitize(s, max), sanitizeRunes(s, max); got != want {
				t.Fatalf("Sanitize(%q, %d) = %q, the rune-by-rune reference %q", s, max, got, want)
			}
		}
	}
}

// BenchmarkSanitize: a finding's summary as the port-scan case writes it
// (one "µs" sends it down the escaping path): 2,130 ns before the
// printable-ASCII path, 306 ns with it a byte at a time, 179 ns a run at
// a time.
func BenchmarkSanitize(b *testing.B) {
	s := "RST from server 10.0.0.2:1: RST+ACK with ack 1 = SYN seq + 1 answers the client's SYN (frame 1) 10 µs later; no SYN/ACK was seen (the client sees ECONNREFUSED)"
	b.ReportAllocs()
	for b.Loop() {
		Sanitize(s, maxLong)
	}
}
