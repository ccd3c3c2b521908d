package report

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/rstscope/rstscope/heuristics"
)

// Colours: the 16 ANSI colours, so that the terminal's theme decides the
// exact shade and light and dark backgrounds both work.
const (
	colorRed     = lipgloss.Color("1")
	colorGreen   = lipgloss.Color("2")
	colorYellow  = lipgloss.Color("3")
	colorBlue    = lipgloss.Color("4")
	colorMagenta = lipgloss.Color("5")
	colorCyan    = lipgloss.Color("6")
	colorGrey    = lipgloss.Color("8")
)

// Semantic colour names used below.
const (
	colorAccent    = colorCyan    // headings, card rule
	colorRST       = colorRed     // RST rows, middlebox-free resets
	colorMiddlebox = colorMagenta // forged resets
	colorBar       = colorBlue    // summary bar chart
	colorWarn      = colorYellow  // warnings
	colorGood      = colorGreen   // high confidence
	colorMuted     = colorGrey    // labels, frame numbers, rules
)

// styles holds every style of the text output, all derived from one
// renderer bound to the output.
type styles struct {
	plain   lipgloss.Style // no attribute; used with Width to wrap
	title   lipgloss.Style // tool name line
	heading lipgloss.Style // "By cause", "Top servers"
	label   lipgloss.Style // left column of key/value rows (width set per use)
	muted   lipgloss.Style
	warn    lipgloss.Style
	bar     lipgloss.Style
	cardID  lipgloss.Style
	cause   lipgloss.Style
	rule    lipgloss.Style
	signal  lipgloss.Style // evidence signal names
	cell    lipgloss.Style // ladder cell
	header  lipgloss.Style // ladder header cell
	rstCell lipgloss.Style // ladder cell of a RST row
	border  lipgloss.Style // ladder header rule
	origin  map[heuristics.Origin]lipgloss.Style
	conf    map[heuristics.Confidence]lipgloss.Style
}

// newStyles builds the styles on r. Without colour the renderer is set to
// the ASCII profile, so no escape sequence is ever written.
func newStyles(r *lipgloss.Renderer, color bool) styles {
	if !color {
		r.SetColorProfile(termenv.Ascii)
	}
	base := r.NewStyle()
	return styles{
		plain:   base,
		title:   base.Bold(true).Foreground(colorAccent),
		heading: base.Bold(true),
		label:   base.Foreground(colorMuted),
		muted:   base.Foreground(colorMuted),
		warn:    base.Bold(true).Foreground(colorWarn),
		bar:     base.Foreground(colorBar),
		cardID:  base.Bold(true).Foreground(colorAccent),
		cause:   base.Bold(true),
		rule:    base.Foreground(colorAccent),
		signal:  base.Foreground(colorAccent),
		cell:    base.PaddingRight(2),
		header:  base.PaddingRight(2).Foreground(colorMuted),
		rstCell: base.PaddingRight(2).Bold(true).Foreground(colorRST),
		border:  base.Foreground(colorMuted),
		origin: map[heuristics.Origin]lipgloss.Style{
			heuristics.OriginMiddlebox: base.Bold(true).Foreground(colorMiddlebox),
			heuristics.OriginServer:    base.Foreground(colorRST),
			heuristics.OriginClient:    base.Foreground(colorYellow),
			heuristics.OriginUnknown:   base.Foreground(colorMuted),
		},
		conf: map[heuristics.Confidence]lipgloss.Style{
			heuristics.High:   base.Foreground(colorGood),
			heuristics.Medium: base.Foreground(colorWarn),
			heuristics.Low:    base.Foreground(colorMuted),
		},
	}
}

// originStyle returns the style for o (plain when unknown).
func (s *styles) originStyle(o heuristics.Origin) lipgloss.Style {
	if st, ok := s.origin[o]; ok {
		return st
	}
	return s.muted
}

// confStyle returns the style for c (plain when none).
func (s *styles) confStyle(c heuristics.Confidence) lipgloss.Style {
	if st, ok := s.conf[c]; ok {
		return st
	}
	return s.muted
}

// paint renders s in st. Without colour every style but those with a
// width or padding leaves a line without tab, CR or newline unchanged,
// so paint returns it as is.
func (t *textWriter) paint(st lipgloss.Style, s string) string {
	if t.plain && oneLine(s) {
		return s
	}
	return st.Render(s)
}

// oneLine reports whether s has no tab, CR or newline: lipgloss renders
// such a line without changing its text (tabs become spaces, lines split).
func oneLine(s string) bool { return !strings.ContainsAny(s, "\t\r\n") }

// cells is the width of s in terminal cells: a cell per printable ASCII
// character and narrowSymbols rune, else as lipgloss measures it.
func cells(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c < 0x80 || !strings.ContainsRune(narrowSymbols, r) {
			return lipgloss.Width(s)
		}
		n++
		i += size - 1
	}
	return n
}

// fits reports whether s is one line of at most w cells, which a
// lipgloss style with Width(w) neither wraps nor changes but pads to w.
func fits(s string, w int) bool { return oneLine(s) && cells(s) <= w }

// blanks backs spaces for the usual short runs.
const blanks = "                                                                                                                                "

// spaces returns n spaces.
func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blanks) {
		return blanks[:n]
	}
	return strings.Repeat(" ", n)
}

// narrowSymbols are the non-ASCII characters rstscope itself writes in
// text; each is one rune, one grapheme and one cell wide.
const narrowSymbols = "·→←…•⋮▶µ─█"

// wrappable reports whether wrapPlain wraps s exactly as lipgloss does:
// printable ASCII and narrowSymbols only.
func wrappable(s string) bool {
	for _, r := range s {
		if (r < 0x20 || r > 0x7e) && !strings.ContainsRune(narrowSymbols, r) {
			return false
		}
	}
	return true
}

// wrapPlain wraps a wrappable s at limit cells as lipgloss's word wrap
// (cellbuf.Wrap) does: at spaces, after hyphens, and inside words longer
// than a line. Lines are not padded.
func wrapPlain(s string, limit int) string {
	if s == "" || limit < 1 {
		return s
	}
	buf := make([]byte, 0, len(s)+len(s)/limit+1)
	// The word being built is s[ws:we] (wordLen cells), the spaces before
	// it nsp: indices and a count, not copies, for it runs per character.
	ws, we, wordLen, nsp, curWidth := 0, 0, 0, 0, 0
	addSpace := func() {
		curWidth += nsp
		buf = append(buf, spaces(nsp)...)
		nsp = 0
	}
	addWord := func() {
		if wordLen == 0 {
			return
		}
		addSpace()
		curWidth += wordLen
		buf = append(buf, s[ws:we]...)
		wordLen = 0
	}
	newline := func() {
		buf = append(buf, '\n')
		curWidth = 0
		nsp = 0
	}
	for i := 0; i < len(s); {
		n := 1
		if s[i] >= 0x80 {
			_, n = utf8.DecodeRuneInString(s[i:])
		}
		switch c := s[i]; {
		case c == ' ':
			addWord()
			nsp++
			i++
			continue
		case c == '-':
			addSpace()
			if curWidth+wordLen+1 <= limit {
				addWord()
				buf = append(buf, c)
				curWidth++
				i++
				continue
			}
		}
		if wordLen+1 > limit {
			addWord() // a word longer than a line breaks
		}
		if wordLen == 0 {
			ws = i
		}
		we = i + n
		wordLen++
		if curWidth+wordLen+nsp > limit {
			newline()
		}
		i += n
	}
	if wordLen == 0 {
		if curWidth+nsp <= limit {
			buf = append(buf, spaces(nsp)...)
		}
	}
	addWord()
	return string(buf)
}
