package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/rstscope/rstscope/heuristics"
)

// The JSON contract (DESIGN.md section 4) is heuristics.Finding's tags and
// value types: the writers marshal Finding itself.

// forJSON is f as the JSON formats print it: nil lists as [], and the
// sentences (summary, advice, evidence details) through Sanitize as in
// text, so that a control byte from an SNI or Host cannot reach a
// terminal through `jq -r .summary`. Raw capture values keep their own
// fields (request, tls_alert), escaped by encoding/json only.
func forJSON(f *heuristics.Finding) heuristics.Finding {
	j := *f
	j.Summary = Sanitize(f.Summary, maxLong)
	j.Advice = Sanitize(f.Advice, maxLong)
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
	Tool     string                `json:"tool"`
	Version  string                `json:"version"`
	Inputs   []string              `json:"inputs"`
	Stats    Stats                 `json:"stats"`
	ByCause  byCause               `json:"by_cause"`
	ByOrigin byOrigin              `json:"by_origin,omitempty"` // not filled yet
	Warnings []string              `json:"warnings,omitempty"`
	Findings *[]heuristics.Finding `json:"findings,omitempty"`
}

func newDocument(s Summary, n int, causes tally) documentJSON {
	d := documentJSON{Tool: s.Tool, Version: s.Version, Inputs: s.Inputs, Stats: s.Stats,
		ByCause: byCause(causes.causes()), Warnings: causes.warnings(s.Warnings)}
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

// jsonWriter writes one document at Close.
type jsonWriter struct{ document }

func newJSON(w io.Writer) *jsonWriter { return &jsonWriter{document{out: sink{w: w}}} }

func (j *jsonWriter) Close(s Summary) error {
	t, ok := j.sorted()
	if !ok {
		return j.out.finish()
	}
	list := make([]heuristics.Finding, len(j.findings))
	for i := range j.findings {
		list[i] = forJSON(&j.findings[i])
	}
	d := newDocument(s, len(list), t)
	d.Findings = &list
	b, err := encode(d, true)
	if err != nil {
		j.out.fail(err)
	} else {
		j.out.write(b)
	}
	return j.out.finish()
}

// ndjsonWriter writes one line per finding as it comes, numbered in write
// order, then the document without findings at Close.
type ndjsonWriter struct {
	out     sink
	n       int
	tally   tally
	echoIDs echoIDs // IDs of findings that may be echoed
}

func newNDJSON(w io.Writer) *ndjsonWriter { return &ndjsonWriter{out: sink{w: w}} }

func (j *ndjsonWriter) Write(f *heuristics.Finding) error {
	if err := j.out.check(f); err != nil {
		return err
	}
	j.n++
	j.tally.add(f)
	fj := forJSON(f)
	fj.ID = j.n
	j.echoIDs.resolve(&fj)
	b, err := encode(fj, false)
	if err != nil {
		j.out.fail(err)
		return err
	}
	j.out.write(b)
	j.out.flush()
	return j.out.err
}

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
