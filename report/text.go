package report

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/charmbracelet/x/term"
	"github.com/muesli/termenv"

	"github.com/rstscope/rstscope/heuristics"
)

// Text layout constants, in terminal cells.
const (
	defaultWidth   = 100 // Options.Width 0 and not a terminal
	maxAutoWidth   = 120 // Options.Width 0 on a terminal: its width, at most this
	minWidth       = 40
	indent         = 2  // cards and summary rows
	labelWidth     = 10 // key column of key/value rows
	barMax         = 40 // longest bar of the cause chart
	ladderRows     = 8  // packets shown per card
	ladderAfter    = 3  // at most this many packets after the last RST
	topResetterMax = 5
)

// textWriter renders the human report with lipgloss.
type textWriter struct {
	document // document mode: the findings; both modes: the counts
	st       styles
	width    int
	stream   bool
	echoIDs  echoIDs        // stream mode: IDs of findings that may be echoed
	inputs   []string       // file names, known at Close (document mode only)
	loc      *time.Location // where absolute times are shown (nil: UTC)
	// plain is set without colour (not asked for, or the output does not
	// support it, as lipgloss's renderer detects): single-line blocks that fit are then
	// laid out directly, as lipgloss would lay them out, instead of
	// through lipgloss (about 100 times faster per card; TestTextPlainPath
	// holds the two byte-identical).
	plain   bool
	emitBuf []byte // emit's, reused
}

// newText returns the text Writer. profile, when not nil and opts.Color
// is set, forces a colour profile (tests).
func newText(w io.Writer, opts Options, profile *termenv.Profile) *textWriter {
	r := lipgloss.NewRenderer(w)
	st := newStyles(r, opts.Color)
	if opts.Color && profile != nil {
		r.SetColorProfile(*profile)
	}
	width := opts.Width
	if width == 0 {
		width = terminalWidth(w)
	}
	width = max(width, minWidth)
	return &textWriter{document: document{out: sink{w: w}, quiet: opts.Quiet, tally: tally{detail: true}}, st: st, width: width, stream: opts.Stream, loc: opts.Location, plain: r.ColorProfile() == termenv.Ascii}
}

// terminalWidth is w's width when w is a terminal (at most maxAutoWidth),
// else defaultWidth.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(f.Fd()) {
		return defaultWidth
	}
	n, _, err := term.GetSize(f.Fd())
	if err != nil || n <= 0 {
		return defaultWidth
	}
	return min(n, maxAutoWidth)
}

func (t *textWriter) Write(f *heuristics.Finding) error {
	if !t.stream {
		return t.document.Write(f)
	}
	if err := t.out.check(f); err != nil {
		return err
	}
	t.tally.add(f)
	c := *f
	c.ID = t.n()
	t.echoIDs.resolve(&c) // a folded card keeps its number for later echoes
	if t.quiet || t.tally.folds(f) {
		return nil
	}
	t.emit(t.card(&c))
	t.out.flush()
	return t.out.err
}

func (t *textWriter) Close(s Summary) error {
	if t.out.closed {
		return t.out.finish()
	}
	s.Warnings = t.tally.warnings(s.Warnings)
	if t.stream {
		if t.n() > 0 && !t.quiet {
			t.emit(t.st.rule.Render(strings.Repeat("═", t.width)))
		}
		t.emit(t.header(s, t.n()) + "\n\n" + t.summary(&t.tally, t.n(), s))
		return t.out.finish()
	}
	t.inputs = s.Inputs
	t.emit(t.header(s, t.n()) + "\n\n" + t.summary(&t.tally, t.n(), s))
	fo := folder{t: &t.tally}
	cards := newDrawer(&t.out, func(b []byte, f *heuristics.Finding) []byte { return appendBlock(b, t.card(f)) })
	err := t.held.each(func(f *heuristics.Finding) error {
		if !fo.fold(f) {
			cards.add(f)
		}
		return t.out.err
	})
	cards.finish()
	t.out.fail(err)
	return t.out.finish()
}

// emit writes a block followed by a blank line, with trailing spaces
// (lipgloss pads blocks to their width) removed from every line.
func (t *textWriter) emit(block string) {
	t.emitBuf = appendBlock(t.emitBuf[:0], block)
	t.out.write(t.emitBuf)
}

// appendBlock appends block as emit writes it.
func appendBlock(b []byte, block string) []byte {
	for {
		i := strings.IndexByte(block, '\n')
		if i < 0 {
			b = append(b, strings.TrimRight(block, " ")...)
			return append(b, '\n', '\n')
		}
		b = append(b, strings.TrimRight(block[:i], " ")...)
		b = append(b, '\n')
		block = block[i+1:]
	}
}

// kv renders an indented "label  value" row; the value wraps in its
// column.
func (t *textWriter) kv(label, value string) string {
	if t.plain && fits(label, labelWidth) && fits(value, t.width-indent-labelWidth) {
		return spaces(indent) + label + spaces(labelWidth-cells(label)) + value
	}
	if t.plain && fits(label, labelWidth) {
		v := t.wrap(value, t.width-indent-labelWidth)
		return hang(spaces(indent)+label+spaces(labelWidth-cells(label)), spaces(indent+labelWidth), v)
	}
	l := t.st.label.Width(labelWidth).Render(label)
	v := t.st.plain.Width(t.width - indent - labelWidth).Render(value)
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Repeat(" ", indent), l, v)
}

// wrap wraps text at w cells, as the plain style with Width(w) does but
// for the padding of the lines, which emit trims.
func (t *textWriter) wrap(text string, w int) string {
	if t.plain && wrappable(text) {
		return wrapPlain(text, w)
	}
	return t.st.plain.Width(w).Render(text)
}

// para renders text wrapped at the card width, indented by n cells.
func (t *textWriter) para(n int, text string) string {
	if t.plain && fits(text, t.width-n) {
		return spaces(n) + text
	}
	if t.plain {
		v := t.wrap(text, t.width-n)
		return hang(spaces(n), spaces(n), v)
	}
	v := t.st.plain.Width(t.width - n).Render(text)
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Repeat(" ", n), v)
}

// header renders what was read.
func (t *textWriter) header(s Summary, n int) string {
	tool := s.Tool
	if tool == "" {
		tool = "rstscope"
	}
	title := Sanitize(tool, maxShort)
	if s.Version != "" {
		title += " " + Sanitize(s.Version, maxShort)
	}
	rows := []string{t.st.title.Render(title)}
	if len(s.Inputs) > 0 {
		in := make([]string, len(s.Inputs))
		for i, x := range s.Inputs {
			in[i] = Sanitize(x, maxShort)
		}
		rows = append(rows, t.kv("inputs", strings.Join(in, ", ")))
	}
	if sp := span(s, t.loc); sp != "" {
		rows = append(rows, t.kv("time", sp))
	}
	st := s.Stats
	rows = append(rows, t.kv("read", fmt.Sprintf("%d packets (%d TCP) · %d TCP flows · %d RSTs · %d findings",
		st.Packets, st.TCPPackets, st.TCPFlows, st.RSTPackets, n)))
	if st.Kernel != nil {
		rows = append(rows, t.kv("kernel", st.Kernel.String()))
	}
	var notes []string
	if st.Undecodable > 0 {
		notes = append(notes, plural(st.Undecodable, "undecodable frame", "undecodable frames"))
	}
	if st.DroppedByKernel > 0 {
		notes = append(notes, plural(st.DroppedByKernel, "packet", "packets")+" dropped by the kernel")
	}
	if st.DroppedFlows > 0 {
		notes = append(notes, plural(st.DroppedFlows, "flow", "flows")+" dropped (table full)")
	}
	if st.Filtered > 0 {
		notes = append(notes, plural(st.Filtered, "finding", "findings")+" filtered out")
	}
	if nd := st.notDecoded(); nd != "" {
		notes = append(notes, nd)
	}
	if st.TruncatedInput {
		notes = append(notes, "input truncated")
	}
	if len(notes) > 0 {
		rows = append(rows, t.kv("notes", strings.Join(notes, " · ")))
	}
	for _, w := range s.Warnings {
		rows = append(rows, t.kv(t.st.warn.Render("warning"), Sanitize(w, maxLong)))
	}
	return strings.Join(rows, "\n")
}

// summary renders counts by cause (a bar chart), by origin and the top
// servers.
func (t *textWriter) summary(tl *tally, n int, s Summary) string {
	if n == 0 {
		return t.st.heading.Render(noFindings(s))
	}
	var rows []string
	causes := tl.rootsByCount()
	nameW, countW, most := 0, 0, 0
	for _, c := range causes {
		nameW = max(nameW, lipgloss.Width(Sanitize(string(c.Key), maxShort)))
		countW = max(countW, len(strconv.Itoa(c.N)))
		most = max(most, c.N)
	}
	bars := min(barMax, t.width-indent-nameW-2-countW-2)
	rows = append(rows, t.st.heading.Render("By cause"))
	for _, c := range causes {
		name := t.st.cell.Width(nameW + 2).Render(Sanitize(string(c.Key), maxShort))
		count := t.st.plain.Width(countW).Align(lipgloss.Right).Render(strconv.Itoa(c.N))
		row := lipgloss.JoinHorizontal(lipgloss.Top, strings.Repeat(" ", indent), name, count)
		if bars > 0 {
			k := max(1, (c.N*bars+most-1)/most)
			row += "  " + t.st.bar.Render(strings.Repeat("█", k))
		}
		rows = append(rows, row)
	}

	if e := tl.echoes(); e > 0 {
		rows = append(rows, t.para(indent, plural(uint64(e), "echo", "echoes")+" (after_reset: a forged reset's consequence, not counted above)"))
	}

	rows = append(rows, t.st.heading.Render("By origin"))
	var origins []string
	for _, o := range tl.origins() {
		origins = append(origins, t.st.originStyle(o.Key).Render(Sanitize(string(o.Key), maxShort))+" "+strconv.Itoa(o.N))
	}
	rows = append(rows, t.para(indent, strings.Join(origins, " · ")))

	rows = append(rows, t.st.heading.Render("Top resetters (who really sent the RSTs)"))
	top := tl.topResetters(topResetterMax)
	addrW, sideW, countW := 0, 0, 0
	for _, r := range top {
		addrW = max(addrW, lipgloss.Width(Sanitize(r.label(), maxShort)))
		sideW = max(sideW, lipgloss.Width(r.Side()))
		countW = max(countW, len(strconv.Itoa(r.RSTs)))
	}
	addrW = min(addrW, max(1, t.width-indent-2-sideW-2-countW))
	for _, r := range top {
		addr := t.st.cell.Width(addrW + 2).Render(Sanitize(r.label(), maxShort))
		side := t.st.originStyle(r.Origin).Width(sideW + 2).Render(r.Side())
		count := t.st.plain.Width(countW).Align(lipgloss.Right).Render(strconv.Itoa(r.RSTs))
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, strings.Repeat(" ", indent), addr, side, count))
	}
	if gs := tl.bigGroups(); len(gs) > 0 {
		rows = append(rows, t.st.heading.Render(fmt.Sprintf("Repeated (%d or more findings with the same cause, origin and server)", GroupMin)))
		for _, g := range gs {
			rows = append(rows, t.para(indent, g.line(t.inputs, t.loc)))
		}
		if tl.hasHostGroups() {
			// Said apart: the heading would not fit a terminal's width.
			rows = append(rows, t.para(indent, t.st.muted.Render(fmt.Sprintf("a server with a number of ports: %d or more of its ports with findings of that cause and origin", GroupMin))))
		}
		switch {
		case t.quiet:
		case t.stream:
			note := fmt.Sprintf("the first %d cards of each are above; the others were left out", GroupMin-1)
			if tl.hasHostGroups() {
				note = fmt.Sprintf("the first %d cards of each server port are above, until its server had %d ports; the others were left out", GroupMin-1, GroupMin)
			}
			rows = append(rows, t.para(indent, t.st.muted.Render(note)))
		default:
			rows = append(rows, t.para(indent, t.st.muted.Render("the first card of each follows; the others are left out (--format json lists them all)")))
		}
	}
	return strings.Join(rows, "\n")
}

// card renders one finding.
func (t *textWriter) card(f *heuristics.Finding) string {
	rows := []string{t.cardTitle(f)}

	flow := Sanitize(addrText(f.Flow.Client), maxShort) + " → " + Sanitize(addrText(f.Flow.Server), maxShort)
	if f.Flow.RolesFrom != "" {
		flow += " (roles from " + Sanitize(f.Flow.RolesFrom, maxShort) + ")"
	}
	if f.Flow.VLAN != 0 {
		flow += fmt.Sprintf(" · VLAN %d", f.Flow.VLAN)
	}
	if f.Flow.Tunnel != "" {
		flow += " · tunnel " + Sanitize(f.Flow.Tunnel, maxShort)
	}
	rows = append(rows, t.kv("flow", flow))
	if f.Summary != "" {
		rows = append(rows, t.para(indent, Sanitize(f.Summary, maxLong)))
	}
	rows = append(rows, t.kv("rst", rstLine(f, t.input(f), t.loc)))

	var stage []string
	if f.Stage != "" {
		stage = append(stage, Sanitize(f.Stage, maxShort))
	}
	if f.Errno != "" {
		stage = append(stage, "errno "+Sanitize(f.Errno, maxShort))
	}
	if f.RST.SeqCheck != "" {
		stage = append(stage, "seq_check "+Sanitize(f.RST.SeqCheck, maxShort))
	}
	if len(stage) > 0 {
		rows = append(rows, t.kv("stage", strings.Join(stage, " · ")))
	}
	if f.Gap.Duration != 0 {
		gap := f.Gap.String()
		if f.KnownTimeout != "" {
			gap += " (matches " + Sanitize(f.KnownTimeout, maxShort) + ")"
		}
		rows = append(rows, t.kv("idle gap", gap))
	}
	if a := alertLine(f.TLSAlert); a != "" {
		rows = append(rows, t.kv("tls alert", a))
	}
	if r := requestLine(f.Request); r != "" {
		rows = append(rows, t.kv("request", r))
	}
	if len(f.Evidence) > 0 {
		rows = append(rows, t.kv("evidence", ""))
		for _, e := range f.Evidence {
			rows = append(rows, t.evidence(e))
		}
	}
	if f.Advice != "" {
		rows = append(rows, t.kv("advice", Sanitize(f.AdviceIn(t.loc), maxLong)))
	}
	if len(f.Alternatives) > 0 {
		alt := make([]string, len(f.Alternatives))
		for i, a := range f.Alternatives {
			alt[i] = Sanitize(string(a), maxShort)
		}
		rows = append(rows, t.kv("could be", strings.Join(alt, ", ")))
	}
	if l := t.ladder(f); l != "" {
		rows = append(rows, l)
	}
	return strings.Join(rows, "\n")
}

// input names f's capture file when there are several, else "".
func (t *textWriter) input(f *heuristics.Finding) string {
	if len(t.inputs) < 2 {
		return ""
	}
	return inputName(t.inputs, f.RST.Input)
}

// cardTitle is the rule line: id, cause, origin, confidence.
func (t *textWriter) cardTitle(f *heuristics.Finding) string {
	title := t.paint(t.st.cardID, fmt.Sprintf("#%d", f.ID)) + " " +
		t.paint(t.st.cause, Sanitize(string(f.Cause), maxShort)) +
		t.paint(t.st.muted, " · origin ") + t.paint(t.st.originStyle(f.Origin), Sanitize(string(f.Origin), maxShort)) +
		t.paint(t.st.muted, " · confidence ") + t.paint(t.st.confStyle(f.Confidence), f.Confidence.String())
	if f.ConsequenceOf > 0 {
		title += t.paint(t.st.muted, fmt.Sprintf(" · echo of #%d", f.ConsequenceOf))
	}
	fill := t.width - 3 - cells(title) - 1
	if fill < 2 {
		return t.st.plain.Width(t.width).Render(title)
	}
	return t.paint(t.st.rule, "── ") + title + " " + t.paint(t.st.rule, strings.Repeat("─", fill))
}

// rstLine describes the RST packet(s); input names the capture file when
// there are several.
func rstLine(f *heuristics.Finding, input string, loc *time.Location) string {
	r := &f.RST
	var b strings.Builder
	fmt.Fprintf(&b, "frame %d", r.Packet)
	if input != "" {
		b.WriteString(" of " + Sanitize(input, maxShort))
	}
	b.WriteString(" at " + formatTime(r.Time.Time, loc))
	b.WriteString(" · claimed from " + r.From.String())
	if r.Flags != "" {
		b.WriteString(" · " + Sanitize(r.Flags, maxShort))
	}
	fmt.Fprintf(&b, " seq %d ack %d win %d TTL %d", r.Seq, r.Ack, r.Window, r.TTL)
	if r.IPID != nil {
		fmt.Fprintf(&b, " IP ID %d", *r.IPID)
	}
	if r.PayloadLen > 0 {
		fmt.Fprintf(&b, " · payload %d bytes", r.PayloadLen)
		if r.Payload != "" {
			b.WriteString(` "` + Sanitize(r.Payload, maxShort) + `"`)
			if len(r.Payload) < r.PayloadLen {
				b.WriteString(" (first " + strconv.Itoa(len(r.Payload)) + ")")
			}
		}
	}
	if r.Count > 1 {
		fmt.Fprintf(&b, " · %d RSTs", r.Count)
		if len(r.Frames) > 0 {
			b.WriteString(" (" + frameList(r.Frames) + ")")
		}
	}
	return b.String()
}

// frameList gives "frame 7" or "frames 7, 8, 9".
func frameList(fr []uint64) string {
	s := make([]string, len(fr))
	for i, n := range fr {
		s[i] = strconv.FormatUint(n, 10)
	}
	if len(fr) == 1 {
		return "frame " + s[0]
	}
	return "frames " + strings.Join(s, ", ")
}

// plural gives "1 flow" or "2 flows".
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatUint(n, 10) + " " + many
}

// alertLine describes a TLS alert, or "".
func alertLine(a *heuristics.TLSAlertJSON) string {
	if a == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("from " + a.From.String())
	fmt.Fprintf(&b, ", frame %d: ", a.Packet)
	switch {
	case a.Encrypted:
		b.WriteString("encrypted alert")
	default:
		if a.Level != "" {
			b.WriteString(Sanitize(a.Level, maxShort) + " ")
		}
		if a.Description != "" {
			b.WriteString(Sanitize(a.Description, maxShort))
		} else {
			b.WriteString("alert")
		}
		if a.Code != nil {
			fmt.Fprintf(&b, " (%d)", *a.Code)
		}
	}
	return b.String()
}

// requestLine describes what the client asked for, or "".
func requestLine(r *heuristics.RequestInfo) string {
	if r == nil {
		return ""
	}
	var p []string
	if r.Kind != "" {
		p = append(p, strings.ToUpper(Sanitize(r.Kind, maxShort)))
	}
	if r.Method != "" {
		p = append(p, Sanitize(r.Method, maxShort))
	}
	if r.Path != "" {
		p = append(p, Sanitize(r.Path, maxShort))
	}
	if r.Host != "" {
		p = append(p, "Host "+Sanitize(r.Host, maxShort))
	}
	if r.SNI != "" {
		p = append(p, "SNI "+Sanitize(r.SNI, maxShort))
	}
	if r.ALPN != "" {
		p = append(p, "ALPN "+Sanitize(r.ALPN, maxShort))
	}
	if r.Frame != 0 {
		p = append(p, fmt.Sprintf("(frame %d)", r.Frame))
	}
	return strings.Join(p, " ")
}

// evidence renders one evidence bullet with a hanging indent.
func (t *textWriter) evidence(e heuristics.Evidence) string {
	text := t.paint(t.st.signal, Sanitize(string(e.Signal), maxShort))
	if e.Detail != "" {
		text += ": " + Sanitize(e.Detail, maxLong)
	}
	if len(e.Frames) > 0 {
		text += " " + t.paint(t.st.muted, "["+frameList(e.Frames)+"]")
	}
	lead := strings.Repeat(" ", indent+2) + "• "
	if t.plain && fits(text, t.width-cells(lead)) {
		return lead + text
	}
	if t.plain {
		v := t.wrap(text, t.width-cells(lead))
		return hang(lead, spaces(cells(lead)), v)
	}
	v := t.st.plain.Width(t.width - lipgloss.Width(lead)).Render(text)
	return lipgloss.JoinHorizontal(lipgloss.Top, lead, v)
}

// ladderWindow picks the rows to show: up to ladderRows ending at most
// ladderAfter rows after the last RST row (or the last rows without one).
func ladderWindow(rows []heuristics.PacketRow) (from, to int) {
	to = len(rows)
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].RST {
			to = min(len(rows), i+1+ladderAfter)
			break
		}
	}
	return max(0, to-ladderRows), to
}

// msOffset formats a time offset in ms with a sign and fixed precision.
func msOffset(d heuristics.Millis) string {
	if d.Duration == 0 {
		return "0.000"
	}
	return strconv.FormatFloat(d.MS(), 'f', 3, 64)
}

// flagsCell is a row's flags; a partial row without known flags says
// "?" (see heuristics.PacketRow.Partial).
func flagsCell(r *heuristics.PacketRow) string {
	if r.Partial && r.Flags == "" {
		return "?"
	}
	return Sanitize(r.Flags, maxShort)
}

// direction is the arrow for a row's sender.
func direction(from heuristics.Side) string {
	switch from {
	case heuristics.SideClient:
		return "C→S"
	case heuristics.SideServer:
		return "S→C"
	}
	return "?"
}

// ladderColumn is one column of the packet ladder.
type ladderColumn struct {
	head  string
	right bool // numbers align right
	drop  int  // narrow terminals drop columns with the highest drop first; 0 never
	// cell is row r's text; base is the RST's time since the flow's
	// first packet (the "+ms" column adds it to the row's offset).
	cell func(r *heuristics.PacketRow, base time.Duration) string
}

// ladderSinceCol is the index of the "+ms" column in ladderColumns.
const ladderSinceCol = 3

// ladderColumns are the ladder's columns, left to right.
var ladderColumns = []ladderColumn{
	{"", false, 0, func(r *heuristics.PacketRow, _ time.Duration) string {
		if r.RST {
			return "▶"
		}
		return ""
	}},
	{"frame", true, 0, func(r *heuristics.PacketRow, _ time.Duration) string { return strconv.FormatUint(r.Packet, 10) }},
	{"ms", true, 0, func(r *heuristics.PacketRow, _ time.Duration) string { return msOffset(r.TimeOffset) }},
	// +ms is the row's time since the flow's first packet, as tcpdump -ttttt
	// and Wireshark's tcp.time_relative count, dropped first when narrow.
	{"+ms", true, 6, fromStart},
	{"dir", false, 0, func(r *heuristics.PacketRow, _ time.Duration) string { return direction(r.From) }},
	{"flags", false, 0, func(r *heuristics.PacketRow, _ time.Duration) string { return flagsCell(r) }},
	{"seq", true, 3, func(r *heuristics.PacketRow, _ time.Duration) string { return strconv.FormatUint(uint64(r.Seq), 10) }},
	{"ack", true, 4, func(r *heuristics.PacketRow, _ time.Duration) string { return strconv.FormatUint(uint64(r.Ack), 10) }},
	{"len", true, 2, func(r *heuristics.PacketRow, _ time.Duration) string { return strconv.Itoa(r.Len) }},
	{"TTL", true, 1, func(r *heuristics.PacketRow, _ time.Duration) string { return strconv.Itoa(int(r.TTL)) }},
	{"IP ID", true, 5, func(r *heuristics.PacketRow, _ time.Duration) string {
		if r.IPID == nil {
			return "-"
		}
		return strconv.Itoa(int(*r.IPID))
	}},
}

// citedFrames are the frames a finding names: its RSTs, its evidence's,
// the request's and the TLS alert's.
func citedFrames(f *heuristics.Finding) map[uint64]bool {
	m := map[uint64]bool{f.RST.Packet: true}
	for _, n := range f.RST.Frames {
		m[n] = true
	}
	for _, e := range f.Evidence {
		for _, n := range e.Frames {
			m[n] = true
		}
	}
	if f.Request != nil && f.Request.Frame != 0 {
		m[f.Request.Frame] = true
	}
	if f.TLSAlert != nil && f.TLSAlert.Packet != 0 {
		m[f.TLSAlert.Packet] = true
	}
	return m
}

// ladderShown picks the rows to show, in order: the ladderWindow and,
// outside it, every row whose frame the finding names (so a shortened
// ladder never hides the alert or FIN its evidence cites).
func ladderShown(f *heuristics.Finding) []int {
	rows := f.Packets
	from, to := ladderWindow(rows)
	cited := citedFrames(f)
	var idx []int
	for i := range rows {
		if i >= from && i < to || cited[rows[i].Packet] || rows[i].Partial {
			idx = append(idx, i)
		}
	}
	return idx
}

// ladder renders the last packets of the flow; RST rows are marked and
// highlighted, rows left out are marked by a "⋮" row. When the table is
// wider than the card, columns are dropped (+ms first, then IP ID, ack, seq,
// len, TTL) before lipgloss shrinks it.
func (t *textWriter) ladder(f *heuristics.Finding) string {
	rows := f.Packets
	if len(rows) == 0 {
		return ""
	}
	idx := ladderShown(f)
	// shown holds the rows with nil for a gap.
	var shown []*heuristics.PacketRow
	for k, i := range idx {
		if k == 0 && i > 0 || k > 0 && i > idx[k-1]+1 {
			shown = append(shown, nil)
		}
		shown = append(shown, &rows[i])
	}
	if last := idx[len(idx)-1]; last < len(rows)-1 {
		shown = append(shown, nil)
	}
	avail := t.width - indent
	body, dropAbove := t.ladderBody(shown, sinceStart(f), avail)
	what := "ms relative to the RST"
	if ladderColumns[ladderSinceCol].drop < dropAbove {
		what = "ms from the RST, +ms from the flow's first packet"
	}
	title := "packets (" + what + ")"
	if len(idx) < len(rows) {
		title = fmt.Sprintf("packets (%d of %d shown; %s)", len(idx), len(rows), what)
	}
	return t.para(indent, t.paint(t.st.label, title)) + "\n" + t.indentBlock(body)
}

// ladderBody lays the ladder out in at most avail cells: all columns
// when they fit, else without the columns of the highest drop ranks
// (+ms first, then IP ID, ack, seq, len, TTL), and lipgloss shrinks what is
// still too wide. The widths are counted, not rendered, so the table is
// rendered once; without colour a table that fits is laid out here
// directly, as lipgloss lays it out. It returns the table and the drop
// rank it kept columns below.
func (t *textWriter) ladderBody(shown []*heuristics.PacketRow, base time.Duration, avail int) (string, int) {
	data := ladderCells(shown, ladderColumns, base)
	widest := columnWidths(data)
	dropAbove := 7
	for ; dropAbove > 1; dropAbove-- {
		if ladderWidth(widest, dropAbove) <= avail {
			break
		}
	}
	if ladderWidth(widest, dropAbove) > avail {
		return t.ladderTable(shown, base, dropAbove).Width(avail).String(), dropAbove
	}
	if !t.plain {
		return t.ladderTable(shown, base, dropAbove).String(), dropAbove
	}
	return plainLadder(data, ladderWidths(widest, dropAbove), dropAbove), dropAbove
}

// ladderCells is the text of the ladder: the header row, then one row per
// shown row, one cell per column of cols.
func ladderCells(shown []*heuristics.PacketRow, cols []ladderColumn, base time.Duration) [][]string {
	data := make([][]string, 1+len(shown))
	data[0] = make([]string, len(cols))
	for j, c := range cols {
		data[0][j] = c.head
	}
	for i, r := range shown {
		row := make([]string, len(cols))
		for j, c := range cols {
			row[j] = ladderCell(r, c, base)
		}
		data[1+i] = row
	}
	return data
}

// ladderWidths are the natural widths of the columns kept with
// dropAbove, as lipgloss's table sizes them: the widest cell and two
// cells of padding, none after the last column. Dropped columns are 0.
// widest is each column's widest cell (columnWidths).
func ladderWidths(widest []int, dropAbove int) []int {
	w := make([]int, len(ladderColumns))
	last := -1
	for j, c := range ladderColumns {
		if c.drop >= dropAbove {
			continue
		}
		w[j] = widest[j] + 2
		last = j
	}
	if last >= 0 {
		w[last] -= 2
	}
	return w
}

// columnWidths is the widest cell of each column of data.
func columnWidths(data [][]string) []int {
	w := make([]int, len(ladderColumns))
	for _, row := range data {
		for j, c := range row {
			w[j] = max(w[j], cells(c))
		}
	}
	return w
}

// ladderWidth is the width of the ladder with dropAbove.
func ladderWidth(widest []int, dropAbove int) int {
	n := 0
	for _, w := range ladderWidths(widest, dropAbove) {
		n += w
	}
	return n
}

// plainLadder lays out the ladder without colour: the header, its rule,
// the rows; numbers align right, every line is as wide as the table.
// ws are the column widths (ladderWidths).
func plainLadder(data [][]string, ws []int, dropAbove int) string {
	total := 0
	for _, w := range ws {
		total += w
	}
	last := 0
	for j, c := range ladderColumns {
		if c.drop < dropAbove {
			last = j
		}
	}
	var b strings.Builder
	b.Grow((len(data) + 1) * (total + 8))
	line := func(row []string) {
		for j, c := range ladderColumns {
			if c.drop >= dropAbove {
				continue
			}
			pad := ws[j] - cells(row[j])
			if c.right {
				tail := 2 // padding after the column
				if j == last {
					tail = 0
				}
				b.WriteString(spaces(pad - tail))
				b.WriteString(row[j])
				b.WriteString(spaces(tail))
			} else {
				b.WriteString(row[j])
				b.WriteString(spaces(pad))
			}
		}
	}
	line(data[0])
	b.WriteByte('\n')
	b.WriteString(strings.Repeat("─", total))
	for _, row := range data[1:] {
		b.WriteByte('\n')
		line(row)
	}
	return b.String()
}

// ladderCell is row r's cell in column c; r nil is a gap.
func ladderCell(r *heuristics.PacketRow, c ladderColumn, base time.Duration) string {
	switch {
	case r == nil && c.head == "frame":
		return "⋮"
	case r == nil:
		return ""
	case r.Partial && c.drop > 0 && c.head != "+ms":
		return "-" // not kept: the row is recalled from the flow's facts (its time is known)
	}
	return c.cell(r, base)
}

// sinceStart is the RST's time since the flow's first packet: the base of
// the ladder's "+ms" column (0 when the flow's start is unknown). Both
// instants count in microseconds, as the JSON contract prints them, so a
// finding read back from the report's spill store prints the same.
func sinceStart(f *heuristics.Finding) time.Duration {
	if f.Flow.Start.IsZero() || f.RST.Time.IsZero() {
		return 0
	}
	return f.RST.Time.Truncate(time.Microsecond).Sub(f.Flow.Start.Truncate(time.Microsecond))
}

// fromStart is a row's "+ms" cell: base (sinceStart) plus the row's
// offset to the RST, in microseconds.
func fromStart(r *heuristics.PacketRow, base time.Duration) string {
	return msOffset(heuristics.Millis{Duration: base + r.TimeOffset.Round(time.Microsecond)})
}

// ladderTable builds the ladder with the columns whose drop rank is below
// dropAbove.
func (t *textWriter) ladderTable(shown []*heuristics.PacketRow, base time.Duration, dropAbove int) *table.Table {
	var cols []ladderColumn
	for _, c := range ladderColumns {
		if c.drop < dropAbove {
			cols = append(cols, c)
		}
	}
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.head
	}
	data := make([][]string, len(shown))
	for i, r := range shown {
		data[i] = make([]string, len(cols))
		for j, c := range cols {
			data[i][j] = ladderCell(r, c, base)
		}
	}
	return table.New().
		Border(lipgloss.NormalBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).
		BorderColumn(false).BorderHeader(true).
		BorderStyle(t.st.border).
		Headers(heads...).
		Rows(data...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := t.st.cell
			switch {
			case row == table.HeaderRow:
				s = t.st.header
			case shown[row] != nil && shown[row].RST:
				s = t.st.rstCell
			}
			if cols[col].right {
				s = s.Align(lipgloss.Right)
			}
			if col == len(cols)-1 {
				s = s.UnsetPaddingRight()
			}
			return s
		})
}

// indentBlock indents every line of s.
func (t *textWriter) indentBlock(s string) string {
	if t.plain {
		return hang(spaces(indent), spaces(indent), s)
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, strings.Repeat(" ", indent), s)
}

// hang puts first before the first line of block and rest before each
// other line: lipgloss.JoinHorizontal of a one-line column and block,
// but for the spaces it pads lines with, which emit trims.
func hang(first, rest, block string) string {
	var b strings.Builder
	b.Grow(len(block) + len(first) + strings.Count(block, "\n")*len(rest))
	b.WriteString(first)
	for {
		i := strings.IndexByte(block, '\n')
		if i < 0 {
			b.WriteString(block)
			return b.String()
		}
		b.WriteString(block[:i+1])
		b.WriteString(rest)
		block = block[i+1:]
	}
}
