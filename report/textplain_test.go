package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/muesli/termenv"

	"github.com/rstscope/rstscope/heuristics"
)

// textVia renders fs as text at width, through the direct layout of
// plain text (direct) or through lipgloss for every block.
func textVia(t *testing.T, fs []heuristics.Finding, width int, stream, direct bool) string {
	t.Helper()
	var b bytes.Buffer
	w := newText(&b, Options{Width: width, Stream: stream}, nil)
	w.plain = direct
	for i := range fs {
		if err := w.Write(&fs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(testSummary()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// awkwardFindings are the fixtures with text that wraps or sits at the
// edge of a column: runs of spaces, trailing spaces, wide and combining
// characters, long unbroken words, numbers wider than their headers.
func awkwardFindings() []heuristics.Finding {
	base := testFindings()
	fs := testFindings()
	extra := []string{
		"two  spaces and trailing ",
		" leading space",
		"世界の中心で RST を叫ぶ 世界の中心で RST を叫ぶ 世界の中心で RST を叫ぶ",
		"e\u0301te\u0301 cafe\u0301 " + strings.Repeat("x", 130),
		strings.Repeat("word ", 40),
		"hyphen-ated-words-that-may-break-at-a-hyphen-when-the-line-is-too-long-for-it",
	}
	for i, e := range extra {
		f := base[i%len(base)]
		f.Summary = e
		f.Advice = e + " " + e
		f.Flow.Tunnel = e
		if len(f.Evidence) > 0 {
			f.Evidence[0].Detail = e
		}
		if f.Request != nil {
			f.Request.SNI = e
		}
		for k := range f.Packets {
			f.Packets[k].Seq = 4294967295 - uint32(k)
			f.Packets[k].Ack = 4000000000 + uint32(k)
			f.Packets[k].Len = 65535
		}
		fs = append(fs, f)
	}
	return fs
}

// TestTextPlainPath holds the direct layout of plain text byte-identical
// to lipgloss's at every width from the narrowest up, in both modes.
func TestTextPlainPath(t *testing.T) {
	fs := awkwardFindings()
	for _, stream := range []bool{false, true} {
		for width := minWidth; width <= 140; width++ {
			t.Run(fmt.Sprintf("stream=%v/width=%d", stream, width), func(t *testing.T) {
				want := textVia(t, fs, width, stream, false)
				got := textVia(t, fs, width, stream, true)
				if got == want {
					return
				}
				gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("line %d:\ndirect  %q\nlipgloss %q", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%d lines direct, %d through lipgloss", len(gl), len(wl))
			})
		}
	}
}

// TestWrapPlain holds wrapPlain to lipgloss's word wrap on every string
// of a small alphabet of words, spaces, hyphens and symbols, at every
// limit up to past its length (lines compared without the padding).
func TestWrapPlain(t *testing.T) {
	st := newText(io.Discard, Options{}, nil).st.plain
	alphabet := []string{"a", "bb", " ", "  ", "-", "·", "→", "long-word", "xxxxxxxxxxxx", "←…•⋮▶µ─█"}
	var gen func(prefix string, depth int)
	n := 0
	gen = func(s string, depth int) {
		if depth == 0 {
			return
		}
		for _, a := range alphabet {
			x := s + a
			for limit := 1; limit <= len(x)+2; limit++ {
				want := st.Width(limit).Render(x)
				var trimmed []string
				for _, l := range strings.Split(want, "\n") {
					trimmed = append(trimmed, strings.TrimRight(l, " "))
				}
				var got []string
				for _, l := range strings.Split(wrapPlain(x, limit), "\n") {
					got = append(got, strings.TrimRight(l, " "))
				}
				if g, w := strings.Join(got, "\n"), strings.Join(trimmed, "\n"); g != w {
					t.Fatalf("wrap %q at %d:\ngot  %q\nwant %q", x, limit, g, w)
				}
				n++
			}
			gen(x, depth-1)
		}
	}
	gen("", 4)
	if !wrappable("a·b→c-d  e") || wrappable("tab\there") || wrappable("世界") {
		t.Fatal("wrappable misjudges its alphabet")
	}
	t.Logf("%d wraps compared", n)
}

// TestTextPlainWithoutColourSupport: asking for colour on an output
// that lipgloss finds has none (cli asks on any character device, such
// as /dev/null) still takes the direct layout.
func TestTextPlainWithoutColourSupport(t *testing.T) {
	if w := newText(io.Discard, Options{Color: true}, nil); !w.plain {
		t.Error("colour asked on io.Discard: the lipgloss path is used")
	}
	if w := newText(io.Discard, Options{Color: true}, new(termenv.ANSI)); w.plain {
		t.Error("colour forced to ANSI: the direct layout is used, colour would be lost")
	}
}
