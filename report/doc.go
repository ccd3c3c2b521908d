// Package report renders findings: the last stage of the pipeline
// (capture -> flows -> heuristics -> report).
//
// New returns one Writer per format:
//
//   - text: the human report, laid out with lipgloss at Options.Width cells.
//     A header (inputs, time span, counts, warnings), a summary (findings by
//     cause as a bar chart, most first; by origin; the top resetters: the
//     hosts that really sent the RSTs, by origin, with their side and
//     ports;
//     groups of GroupMin or more similar findings), then one card per
//     finding with a short packet ladder that always shows the frames the
//     finding names. With Options.Stream (live
//     capture) each card prints as its finding is written and the header and
//     summary follow at Close. Without Options.Color, or when the output is
//     not a terminal or NO_COLOR is set, no escape sequence is written.
//   - json: one document at Close, the contract of DESIGN.md section 4:
//     heuristics.Finding as encoding/json marshals it (its tags and value
//     types are the contract). The findings are written by a hand-made
//     appender (appendFindingJSON, ten times faster), which tests hold
//     byte-identical to encoding/json on every field.
//   - ndjson: one finding per line as it is written, then a last line with
//     the document minus "findings".
//   - markdown: one document at Close, with a packet table, a Mermaid
//     sequence diagram and tshark commands per finding.
//   - ecs: one Elastic Common Schema document per finding, per line, as it
//     is written, and nothing at Close; the ECS fields are read from the
//     finding's contract JSON, which goes whole under rstscope.*
//     (Options.Observer fills observer.*).
//
// Document formats sort findings by RST time, then frame, then input, and
// number them 1..n; streams number them in write order. Findings with the
// same cause, origin and server, GroupMin (10) or more of them, print in
// text and markdown as one line (count, first and last RST) and the card
// of the first; so do findings of one cause and origin from GroupMin or
// more ports of one server (a port scan's refusals), as one group over
// the host. JSON lists them all. Options.Quiet (-q) prints the header
// and summary only. At Close, text cards and markdown sections are drawn
// on every core (drawer: the input is over by then) and written in order.
//
// Memory: a document Writer keeps up to spillAfter findings in memory;
// past that it writes each to an unlinked temporary file (json: the
// finding's final text; text and markdown: a compact binary record, see
// appendSpill), compressed in S2 blocks (spillWriter: a tmpfs TMPDIR is
// memory), and keeps a 40-byte sort key, then reads them back in
// order at Close, one at a time (a million findings within 1 GB in every
// format; TestDocument_memoryBounded measures it). The counts of the
// summary are kept as findings come. Every
// capture-derived string passes Sanitize before text or Markdown; in JSON
// and ndjson the sentences (summary, advice, evidence details) pass it too,
// so that `jq -r .summary` cannot write terminal controls, while the raw
// values (request, tls_alert) stay in their own fields, escaped as
// encoding/json escapes them. Times print in UTC with fixed microsecond precision; a
// time outside the years 0000-9999 prints clamped to that range (RFC 3339
// has four year digits) and the document warns about it.
//
// Buffers: Write copies the Finding value but keeps its slices until Close
// (or until it spills them); the caller must not modify them after Write. Writers keep their first
// error and return it from Close; when the io.Writer has a Flush() error
// method (a *bufio.Writer), streamed output is flushed after each finding.
//
// Clock: none. Only capture times from findings and the Summary are shown.
package report
