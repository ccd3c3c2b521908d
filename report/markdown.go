package report

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// markdownWriter writes one GitHub-flavoured Markdown document at Close.
type markdownWriter struct {
	document
	loc *time.Location // where absolute times are shown (nil: UTC)
}

func newMarkdown(w io.Writer, opts Options) *markdownWriter {
	return &markdownWriter{document{out: sink{w: w}, quiet: opts.Quiet, tally: tally{detail: true}}, opts.Location}
}

// Close writes the header and summary, then one section per finding as
// the store gives them back.
func (m *markdownWriter) Close(s Summary) error {
	if m.out.closed {
		return m.out.finish()
	}
	s.Warnings = m.tally.warnings(s.Warnings)
	var b strings.Builder
	m.header(&b, s)
	m.summary(&b, &m.tally, s)
	if m.n() > 0 && !m.quiet {
		b.WriteString("## Findings\n")
	}
	m.out.write([]byte(b.String()))
	fo := folder{t: &m.tally}
	sections := newDrawer(&m.out, func(out []byte, f *heuristics.Finding) []byte {
		var b strings.Builder
		b.WriteString("\n")
		finding(&b, f, s.Inputs, m.loc)
		return append(out, b.String()...)
	})
	err := m.held.each(func(f *heuristics.Finding) error {
		if !fo.fold(f) {
			sections.add(f)
		}
		return m.out.err
	})
	sections.finish()
	m.out.fail(err)
	return m.out.finish()
}

// code formats a name of ours (cause, signal, errno...) as a code span, or
// escaped text when it holds anything unusual.
func code(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' || r == ':') {
			return md(s, maxShort)
		}
	}
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func (m *markdownWriter) header(b *strings.Builder, s Summary) {
	tool := s.Tool
	if tool == "" {
		tool = "rstscope"
	}
	fmt.Fprintf(b, "# %s report\n\n", md(tool, maxShort))
	b.WriteString("| read | |\n|---|---|\n")
	if s.Version != "" {
		fmt.Fprintf(b, "| version | %s |\n", md(s.Version, maxShort))
	}
	if len(s.Inputs) > 0 {
		in := make([]string, len(s.Inputs))
		for i, x := range s.Inputs {
			in[i] = md(x, maxShort)
		}
		fmt.Fprintf(b, "| inputs | %s |\n", strings.Join(in, ", "))
	}
	if sp := span(s, m.loc); sp != "" {
		fmt.Fprintf(b, "| time | %s |\n", sp)
	}
	st := s.Stats
	fmt.Fprintf(b, "| packets | %d (%d TCP) |\n", st.Packets, st.TCPPackets)
	fmt.Fprintf(b, "| TCP flows | %d |\n", st.TCPFlows)
	fmt.Fprintf(b, "| RST packets | %d |\n", st.RSTPackets)
	fmt.Fprintf(b, "| findings | %d |\n", m.n())
	if st.Kernel != nil {
		fmt.Fprintf(b, "| kernel | %s |\n", st.Kernel)
	}
	if st.Filtered > 0 {
		fmt.Fprintf(b, "| filtered out | %d |\n", st.Filtered)
	}
	if st.Undecodable > 0 {
		fmt.Fprintf(b, "| undecodable frames | %d |\n", st.Undecodable)
	}
	if st.DroppedByKernel > 0 {
		fmt.Fprintf(b, "| dropped by the kernel | %d |\n", st.DroppedByKernel)
	}
	if st.DroppedFlows > 0 {
		fmt.Fprintf(b, "| flows dropped (table full) | %d |\n", st.DroppedFlows)
	}
	if nd := st.notDecoded(); nd != "" {
		fmt.Fprintf(b, "| may hide TCP | %s |\n", md(nd, maxLong))
	}
	if st.TruncatedInput {
		b.WriteString("| input truncated | yes |\n")
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(b, "\n> **Warning:** %s\n", md(w, maxLong))
	}
	b.WriteString("\n")
}

func (m *markdownWriter) summary(b *strings.Builder, tl *tally, s Summary) {
	b.WriteString("## Summary\n\n")
	if m.n() == 0 {
		b.WriteString(md(noFindings(s), maxLong) + "\n")
		return
	}
	b.WriteString("| cause | findings |\n|---|---:|\n")
	for _, c := range tl.rootsByCount() {
		fmt.Fprintf(b, "| %s | %d |\n", code(string(c.Key)), c.N)
	}
	if e := tl.echoes(); e > 0 {
		fmt.Fprintf(b, "\n%s (after_reset: a forged reset's consequence, not counted above)\n", plural(uint64(e), "echo", "echoes"))
	}
	b.WriteString("\n| origin | findings |\n|---|---:|\n")
	for _, o := range tl.origins() {
		fmt.Fprintf(b, "| %s | %d |\n", code(string(o.Key)), o.N)
	}
	b.WriteString("\n| top resetters (who really sent the RSTs) | side | RSTs |\n|---|---|---:|\n")
	for _, r := range tl.topResetters(topResetterMax) {
		fmt.Fprintf(b, "| %s | %s | %d |\n", md(r.label(), maxShort), md(r.Side(), maxShort), r.RSTs)
	}
	if gs := tl.bigGroups(); len(gs) > 0 {
		fmt.Fprintf(b, "\n**Repeated** (%s", repeatedWhat(tl))
		if !m.quiet {
			b.WriteString("; the first finding of each follows, the others are left out")
		}
		b.WriteString(")\n\n| findings | cause | origin | server | first | last |\n|---:|---|---|---|---|---|\n")
		for _, g := range gs {
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n", g.N, code(string(g.Cause)), code(string(g.Origin)),
				md(g.serverText(), maxShort), mdEscapeOwn(g.First.where(s.Inputs, m.loc)), mdEscapeOwn(g.Last.where(s.Inputs, m.loc)))
		}
	}
	b.WriteString("\n")
}

// finding writes one finding's section.
func finding(b *strings.Builder, f *heuristics.Finding, inputs []string, loc *time.Location) {
	fmt.Fprintf(b, "### %d. %s: %s → %s\n\n", f.ID, code(string(f.Cause)),
		md(addrText(f.Flow.Client), maxShort), md(addrText(f.Flow.Server), maxShort))
	if f.Summary != "" {
		b.WriteString(md(f.Summary, maxLong) + "\n\n")
	}
	fmt.Fprintf(b, "- **origin:** %s · **confidence:** %s\n", code(string(f.Origin)), f.Confidence)
	if f.ConsequenceOf > 0 {
		fmt.Fprintf(b, "- **echo of:** finding %d\n", f.ConsequenceOf)
	}
	fl := &f.Flow
	line := "- **flow:** client " + md(addrText(fl.Client), maxShort) + ", server " + md(addrText(fl.Server), maxShort)
	if fl.RolesFrom != "" {
		line += " (roles from " + md(fl.RolesFrom, maxShort) + ")"
	}
	if fl.VLAN != 0 {
		line += fmt.Sprintf(", VLAN %d", fl.VLAN)
	}
	if fl.Tunnel != "" {
		line += ", tunnel " + md(fl.Tunnel, maxShort)
	}
	b.WriteString(line + "\n")
	in := ""
	if len(inputs) > 1 {
		in = inputName(inputs, f.RST.Input)
	}
	b.WriteString("- **RST:** " + mdEscapeOwn(rstLine(f, in, loc)) + "\n")
	var stage []string
	if f.Stage != "" {
		stage = append(stage, "**stage:** "+code(f.Stage))
	}
	if f.Errno != "" {
		stage = append(stage, "**errno:** "+code(f.Errno))
	}
	if f.RST.SeqCheck != "" {
		stage = append(stage, "**seq_check:** "+code(f.RST.SeqCheck))
	}
	if len(stage) > 0 {
		b.WriteString("- " + strings.Join(stage, " · ") + "\n")
	}
	if f.Gap.Duration != 0 {
		b.WriteString("- **idle gap:** " + md(f.Gap.String(), maxShort))
		if f.KnownTimeout != "" {
			b.WriteString(" (matches " + md(f.KnownTimeout, maxShort) + ")")
		}
		b.WriteString("\n")
	}
	if a := alertLine(f.TLSAlert); a != "" {
		b.WriteString("- **TLS alert:** " + mdEscapeOwn(a) + "\n")
	}
	if r := requestLine(f.Request); r != "" {
		b.WriteString("- **request:** " + mdEscapeOwn(r) + "\n")
	}
	if len(f.Alternatives) > 0 {
		alt := make([]string, len(f.Alternatives))
		for i, a := range f.Alternatives {
			alt[i] = code(string(a))
		}
		b.WriteString("- **alternatives:** " + strings.Join(alt, ", ") + "\n")
	}
	if f.Advice != "" {
		b.WriteString("- **advice:** " + md(f.AdviceIn(loc), maxLong) + "\n")
	}
	if len(f.Evidence) > 0 {
		b.WriteString("\n**Evidence**\n\n")
		for _, e := range f.Evidence {
			b.WriteString("- " + code(string(e.Signal)))
			if e.Detail != "" {
				b.WriteString(": " + md(e.Detail, maxLong))
			}
			if len(e.Frames) > 0 {
				b.WriteString(" (" + frameList(e.Frames) + ")")
			}
			b.WriteString("\n")
		}
	}
	if len(f.Packets) > 0 {
		b.WriteString("\n**Packets** (ms from the RST, +ms from the flow's first packet)\n\n")
		b.WriteString("| frame | ms | +ms | dir | flags | seq | ack | len | TTL | IP ID | |\n")
		b.WriteString("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|\n")
		base := sinceStart(f)
		for _, r := range f.Packets {
			sinceFirst := fromStart(&r, base)
			ipid, note := "-", ""
			if r.IPID != nil {
				ipid = strconv.Itoa(int(*r.IPID))
			}
			switch {
			case r.RST:
				note = "**RST**"
			case r.After:
				note = "after"
			}
			if r.Partial {
				fmt.Fprintf(b, "| %d | %s | %s | %s | %s | - | - | - | - | - | %s |\n",
					r.Packet, msOffset(r.TimeOffset), sinceFirst, direction(r.From), md(flagsCell(&r), maxShort), note)
				continue
			}
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %d | %d | %d | %d | %s | %s |\n",
				r.Packet, msOffset(r.TimeOffset), sinceFirst, direction(r.From), md(r.Flags, maxShort),
				r.Seq, r.Ack, r.Len, r.TTL, ipid, note)
		}
		b.WriteString("\n```mermaid\n")
		b.WriteString(mermaid(f))
		b.WriteString("```\n")
	}
	if cmd := tsharkCommand(f, inputs); cmd != "" {
		b.WriteString("\n```sh\n" + cmd + "```\n")
	}
}

// mdEscapeOwn escapes a line built by this package from sanitised parts
// (rstLine, alertLine, requestLine) for Markdown.
func mdEscapeOwn(s string) string { return mdReplacer.Replace(s) }

// mermaid returns a sequenceDiagram of the finding's packets. Participants
// are declared first; a middlebox origin adds a Middlebox participant that
// sends the finding's RSTs. Every label goes through mermaidText.
func mermaid(f *heuristics.Finding) string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	b.WriteString("    participant C as " + mermaidText("Client "+addrText(f.Flow.Client)) + "\n")
	mb := f.Origin == heuristics.OriginMiddlebox
	if mb {
		b.WriteString("    participant M as Middlebox\n")
	}
	b.WriteString("    participant S as " + mermaidText("Server "+addrText(f.Flow.Server)) + "\n")
	for _, r := range f.Packets {
		label := fmt.Sprintf("[%d] %s ms %s seq=%d ack=%d len=%d ttl=%d", r.Packet, msOffset(r.TimeOffset),
			r.Flags, r.Seq, r.Ack, r.Len, r.TTL)
		if r.Partial {
			label = fmt.Sprintf("[%d] %s ms %s", r.Packet, msOffset(r.TimeOffset), flagsCell(&r))
		}
		var from, to string
		switch r.From {
		case heuristics.SideClient:
			from, to = "C", "S"
		case heuristics.SideServer:
			from, to = "S", "C"
		default:
			b.WriteString("    Note over C,S: " + mermaidText(label+" (sender unknown)") + "\n")
			continue
		}
		if r.RST && mb {
			label += " (claims " + r.From.String() + ")"
			from = "M"
		}
		b.WriteString("    " + from + "->>" + to + ": " + mermaidText(label) + "\n")
	}
	return b.String()
}

// mermaidText makes s safe as a Mermaid label: ASCII letters, digits,
// space and . , _ = / ( ) + - : [ ] stay; every other character becomes a
// Mermaid entity code (#59; for ";"), so that '#', ';', newlines, '<' or
// arrows in capture strings cannot end the label or inject markup. It is
// cut to 120 runes first.
func mermaidText(s string) string {
	s = Sanitize(s, 120)
	var b strings.Builder
	for _, r := range s {
		if mermaidSafe(r) {
			b.WriteRune(r)
			continue
		}
		b.WriteString("#" + strconv.Itoa(int(r)) + ";")
	}
	return b.String()
}

func mermaidSafe(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune(" .,_=/()+-:[]", r)
}

// tsharkCommand gives tshark commands that show the flow and the RST
// frame, or "" when an address is unknown.
func tsharkCommand(f *heuristics.Finding, inputs []string) string {
	c, s := f.Flow.Client, f.Flow.Server
	if !c.IsValid() || !s.IsValid() {
		return ""
	}
	file := inputName(inputs, f.RST.Input)
	if file == "" {
		file = "FILE"
	}
	file = shellQuote(Sanitize(file, 0))
	flt := fmt.Sprintf("%s && tcp.port==%d && %s && tcp.port==%d",
		addrFilter(c.Addr()), c.Port(), addrFilter(s.Addr()), s.Port())
	return fmt.Sprintf("tshark -r %s -Y '%s'\ntshark -r %s -Y 'frame.number==%d' -V\n", file, flt, file, f.RST.Packet)
}

// addrFilter is ip.addr==A or ipv6.addr==A.
func addrFilter(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return "ip.addr==" + a.String()
	}
	return "ipv6.addr==" + a.WithZone("").String()
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
