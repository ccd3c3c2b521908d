package report

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits for capture-derived strings, in runes of sanitised output.
const (
	maxShort = 200  // SNI, Host, path, ALPN, alert text, addresses, file names
	maxLong  = 1000 // summary, evidence detail, advice (they embed short values)
)

// Sanitize makes a capture-derived string safe to print on a terminal or in
// a document: control characters (C0, DEL, C1, including ESC and CSI),
// Unicode format characters (bidi overrides, zero-width) and line or
// paragraph separators are shown as escapes (\x1b, \r, \n, \u202e), a
// backslash as \\ so that escapes stay unambiguous, invalid UTF-8 as
// U+FFFD, and the result is cut to max runes, ending in "…" when cut.
// max < 1 means no limit.
func Sanitize(s string, max int) string {
	clean := true
	for i := plainRun(s, 0); i < len(s); i = plainRun(s, i+1) {
		if !plainByte(s[i]) { // a '"', which plainRun stops at
			clean = false
			break
		}
	}
	if clean && (max < 1 || len(s) <= max) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), 4*max+8))
	runes := 0
	var piece [12]byte
	for i := 0; i < len(s); {
		// A run of printable ASCII is itself, a rune a byte, copied at
		// once (most of a summary or an evidence line: a "µs" or "→" in
		// them sends the whole string here, and escapeRune's Unicode
		// class tables cost about 30 times as much a character: 4 us of a
		// finding's 9 us in a port scan's JSON, BenchmarkSanitize).
		if plainByte(s[i]) {
			j := i + 1
			for j < len(s) && plainByte(s[j]) {
				if k := plainRun(s, j); k > j {
					j = k // (plainRun also stops at a '"', which is plain here)
				} else {
					j++
				}
			}
			if n := j - i; max < 1 || runes+n < max || (runes+n == max && j == len(s)) {
				b.WriteString(s[i:j]) // the whole run fits
				runes += n
				i = j
				continue
			}
			// The cut falls in the run: its part that leaves room for
			// the ellipsis.
			b.WriteString(s[i : i+max-1-runes])
			b.WriteString("…")
			return b.String()
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		p := escapeRune(piece[:0], r, size)
		n := utf8.RuneCount(p)
		// Keep room for the ellipsis unless this is the last piece.
		if max > 0 && (runes+n > max || (runes+n == max && i < len(s))) {
			b.WriteString("…")
			return b.String()
		}
		b.Write(p)
		runes += n
	}
	return b.String()
}

// plainByte reports whether c is printable ASCII other than the
// backslash: a character Sanitize keeps as it is.
func plainByte(c byte) bool { return c >= 0x20 && c < 0x7f && c != '\\' }

// escapeRune appends r, or its visible escape, to p.
func escapeRune(p []byte, r rune, size int) []byte {
	const hex = "0123456789abcdef"
	switch {
	case r == utf8.RuneError && size <= 1:
		return utf8.AppendRune(p, utf8.RuneError)
	case r == '\\':
		return append(p, '\\', '\\')
	case r == '\n':
		return append(p, '\\', 'n')
	case r == '\r':
		return append(p, '\\', 'r')
	case r == '\t':
		return append(p, '\\', 't')
	case r < 0x20 || r == 0x7f:
		return append(p, '\\', 'x', hex[r>>4], hex[r&0xf])
	case (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
		p = append(p, '\\', 'u')
		if r > 0xffff {
			p = append(p, hex[r>>20&0xf], hex[r>>16&0xf])
		}
		return append(p, hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	return utf8.AppendRune(p, r)
}

// mdReplacer escapes the characters that carry meaning in Markdown inline
// text and GFM tables. CommonMark lets a backslash escape any ASCII
// punctuation, so each escape renders as the plain character.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `|`, `\|`, `~`, `\~`, `&`, `\&`, `#`, `\#`, `!`, `\!`,
)

// md sanitises a capture-derived string and escapes it for Markdown text
// and table cells. Leading spaces are dropped and a leading list marker
// ("- ", "+ ", "1. ", "1) ") or setext/rule line ("---", "===") is escaped,
// so that a value at the start of a line stays plain text.
func md(s string, max int) string {
	s = mdReplacer.Replace(strings.TrimLeft(Sanitize(s, max), " "))
	if s == "" {
		return s
	}
	spaceOrEnd := func(i int) bool { return i >= len(s) || s[i] == ' ' }
	switch {
	case (s[0] == '-' || s[0] == '+') && spaceOrEnd(1),
		strings.Trim(s, "- ") == "", strings.Trim(s, "= ") == "":
		return `\` + s
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && i < len(s) && (s[i] == '.' || s[i] == ')') && spaceOrEnd(i+1) {
		return s[:i] + `\` + s[i:]
	}
	return s
}
