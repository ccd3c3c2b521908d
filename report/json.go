package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/rstscope/rstscope/heuristics"
)

// The JSON contract (DESIGN.md section 4) is heuristics.Finding's tags and
// value types: the writers print Finding as encoding/json marshals it
// (through appendFindingJSON, which TestFindingJSON holds to that).

// forJSON is f as the JSON formats print it: nil lists as [], and the
// sentences (summary, advice, evidence details) through Sanitize as in
// text, so that a control byte from an SNI or Host cannot reach a
// terminal through `jq -r .summary`. Raw capture values keep their own
// fields (request, tls_alert), escaped as JSON strings only.
func forJSON(f *heuristics.Finding) heuristics.Finding {
	j := *f
	j.Summary = Sanitize(f.Summary, maxLong)
	j.Advice = Sanitize(f.Advice, maxLong)
	j.RST.Payload = Sanitize(f.RST.Payload, maxShort)
	if j.GapSeconds.Duration == 0 {
		j.GapSeconds = heuristics.Seconds{Duration: f.Gap.Duration} // idle_gap_s beside any idle_gap
	}
	j.Evidence = make([]heuristics.Evidence, len(f.Evidence))
	for i, e := range f.Evidence {
		e.Detail = Sanitize(e.Detail, maxLong)
		j.Evidence[i] = e
	}
	if j.Alternatives == nil {
		j.Alternatives = []heuristics.Cause{}
	}
	if j.Packets == nil {
		j.Packets = []heuristics.PacketRow{}
	}
	return j
}

// byName marshals as a JSON object whose keys keep the list's order
// (AllCauses, AllOrigins).
type byName[K ~string] []count[K]

type (
	byCause  = byName[heuristics.Cause]
	byOrigin = byName[heuristics.Origin]
)

// MarshalJSON implements json.Marshaler.
func (c byName[K]) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, cc := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(string(cc.Key))
		if err != nil {
			return nil, err
		}
		b.Write(k)
		fmt.Fprintf(&b, ":%d", cc.N)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// documentJSON is the whole --format json document; without Findings it
// is the final ndjson line.
type documentJSON struct {
	Tool     string   `json:"tool"`
	Version  string   `json:"version"`
	Inputs   []string `json:"inputs"`
	Stats    Stats    `json:"stats"`
	ByCause  byCause  `json:"by_cause"`
	ByOrigin byOrigin `json:"by_origin"`
	Warnings []string `json:"warnings,omitempty"`
	// findings follow, written one at a time by jsonWriter.Close
}

func newDocument(s Summary, n int, causes tally) documentJSON {
	d := documentJSON{Tool: s.Tool, Version: s.Version, Inputs: s.Inputs, Stats: s.Stats,
		ByCause: byCause(causes.causes()), ByOrigin: byOrigin(causes.origins()), Warnings: causes.warnings(s.Warnings)}
	if d.Inputs == nil {
		d.Inputs = []string{}
	}
	d.Stats.Findings = uint64(n)
	return d
}

// encode marshals v as one JSON value with a newline, HTML left as is.
func encode(v any, indent bool) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if indent {
		e.SetIndent("", "  ")
	}
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("report: json: %w", err)
	}
	return b.Bytes(), nil
}

// closeWrite is the least a write of the document's records carries.
var closeWrite = 256 << 10 // a variable for tests

// jsonWriter writes one document at Close. Its store keeps each finding
// as the JSON Close prints (record), encoded as it is written, so that
// Close, after the last packet, only numbers and copies them.
type jsonWriter struct {
	document
	enc *jsonEnc
	rec []byte // record's, reused
}

func newJSON(w io.Writer, opts Options) *jsonWriter {
	j := &jsonWriter{document: document{out: sink{w: w}, quiet: opts.Quiet}, enc: newJSONEnc("    ", "  ")}
	j.held.raw = j.record
	return j
}

// The parts of a record Close fills in: the ID (encoded as 0) and, for a
// finding that echoes another, consequence_of (encoded as -1; left out
// when the echoed finding was not written). A string value cannot hold
// either: its quotes are escaped.
const (
	recID          = "{\n      \"id\": 0"
	recConsequence = ",\n      \"consequence_of\": -1"
)

// record is f as Close prints it inside "findings", with the ID and
// consequence_of to fill in (see recID); the bytes are valid until the
// next call.
func (j *jsonWriter) record(f *heuristics.Finding) ([]byte, error) {
	fj := forJSON(f)
	fj.ID, fj.ConsequenceOf = 0, 0
	if f.Echoes != nil {
		fj.ConsequenceOf = -1
	}
	j.rec = j.enc.appendFinding(j.rec[:0], &fj)
	return j.rec, nil
}

// appendRecord appends record b with its ID and consequence_of; echo
// says that b holds consequence_of (its finding echoes another), which is
// then looked for.
func appendRecord(out []byte, id, consequenceOf int, echo bool, b []byte) []byte {
	out = append(out, recID[:len(recID)-1]...)
	out = strconv.AppendInt(out, int64(id), 10)
	b = b[len(recID):]
	if !echo {
		return append(out, b...)
	}
	if i := bytes.LastIndex(b, []byte(recConsequence)); i >= 0 {
		out = append(out, b[:i]...)
		if consequenceOf != 0 {
			out = append(out, recConsequence[:len(recConsequence)-2]...)
			out = strconv.AppendInt(out, int64(consequenceOf), 10)
		}
		b = b[i+len(recConsequence):]
	}
	return append(out, b...)
}

// Close writes the document: the header fields, then the findings one at
// a time as the store gives them back, so that only one is decoded at a
// time. The output is what encoding/json indents for the whole document.
func (j *jsonWriter) Close(s Summary) error {
	if j.out.closed {
		return j.out.finish()
	}
	d := newDocument(s, j.n(), j.tally)
	head, err := encode(d, true)
	if err != nil {
		j.out.fail(err)
		return j.out.finish()
	}
	if j.quiet {
		j.out.write(head)
		return j.out.finish()
	}
	// head ends with "\n}\n": reopen it for "findings".
	j.out.write(append(head[:len(head)-3], ",\n  \"findings\": ["...))
	sep := "\n    "
	// The records go out in writes of at least closeWrite bytes, not one
	// a record (6,214 write calls on the bench capture, in the serial end
	// of a run).
	var b []byte
	err = j.held.eachRaw(func(id, consequenceOf int, echo bool, rec []byte) error {
		b = appendRecord(append(b, sep...), id, consequenceOf, echo, rec)
		if len(b) >= closeWrite {
			j.out.write(b)
			b = b[:0]
		}
		sep = ",\n    "
		return j.out.err
	})
	j.out.fail(err)
	if len(b) > 0 {
		j.out.write(b)
	}
	if j.n() > 0 {
		j.out.write([]byte("\n  ]\n}\n"))
	} else {
		j.out.write([]byte("]\n}\n"))
	}
	return j.out.finish()
}

// ndjsonWriter writes one line per finding as it comes, numbered in write
// order, then the document without findings at Close.
type ndjsonWriter struct {
	out     sink
	n       int
	tally   tally
	quiet   bool    // Options.Quiet: the summary line only
	echoIDs echoIDs // IDs of findings that may be echoed
	enc     jsonEnc // compact
	line    []byte  // Write's, reused
}

func newNDJSON(w io.Writer, opts Options) *ndjsonWriter {
	return &ndjsonWriter{out: sink{w: w}, quiet: opts.Quiet}
}

func (j *ndjsonWriter) Write(f *heuristics.Finding) error {
	if err := j.out.check(f); err != nil {
		return err
	}
	j.n++
	j.tally.add(f)
	if j.quiet {
		return nil
	}
	fj := forJSON(f)
	fj.ID = j.n
	j.echoIDs.resolve(&fj)
	j.line = append(j.enc.appendFinding(j.line[:0], &fj), '\n')
	j.out.write(j.line)
	j.out.flush()
	return j.out.err
}

func (j *ndjsonWriter) heldSink() *sink { return &j.out }

func (j *ndjsonWriter) Close(s Summary) error {
	if j.out.closed {
		return j.out.finish()
	}
	b, err := encode(newDocument(s, j.n, j.tally), false)
	if err != nil {
		j.out.fail(err)
	} else {
		j.out.write(b)
	}
	return j.out.finish()
}
