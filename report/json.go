package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// The JSON contract (DESIGN.md section 4) is heuristics.Finding's tags.
// findingJSON, flowJSON and rstJSON mirror Finding, FlowInfo and RSTInfo
// field for field, in order, with the same tags; only the instants differ:
// they marshal as stamp (RFC 3339, UTC, fixed microseconds) where
// encoding/json would give time.Time's variable RFC3339Nano precision.
// TestJSONMirror fails when the mirrors drift from heuristics.

// stamp is a time.Time that marshals as 2026-01-02T03:04:05.123456Z.
type stamp time.Time

// MarshalJSON implements json.Marshaler.
func (s stamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = time.Time(s).UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

type flowJSON struct {
	Client        string `json:"client"`
	Server        string `json:"server"`
	RolesFrom     string `json:"roles_from"`
	Start         stamp  `json:"start"`
	ClientBytes   uint64 `json:"client_bytes"`
	ServerBytes   uint64 `json:"server_bytes"`
	ClientPackets uint64 `json:"client_packets"`
	ServerPackets uint64 `json:"server_packets"`
	Tunnel        string `json:"tunnel,omitempty"`
	VLAN          uint16 `json:"vlan,omitempty"`
	History       string `json:"history,omitempty"`
	ConnState     string `json:"conn_state,omitempty"`
}

type rstJSON struct {
	Time     stamp    `json:"time"`
	Packet   uint64   `json:"packet"`
	Input    int      `json:"input,omitempty"`
	From     string   `json:"from"`
	Count    int      `json:"count"`
	Flags    string   `json:"flags"`
	Seq      uint32   `json:"seq"`
	Ack      uint32   `json:"ack"`
	Window   uint16   `json:"window"`
	TTL      uint8    `json:"ttl"`
	IPID     *uint16  `json:"ip_id,omitempty"`
	SeqCheck string   `json:"seq_check"`
	Frames   []uint64 `json:"frames,omitempty"`
}

type findingJSON struct {
	ID           int                      `json:"id"`
	Cause        heuristics.Cause         `json:"cause"`
	Origin       heuristics.Origin        `json:"origin"`
	Confidence   heuristics.Confidence    `json:"confidence"`
	Summary      string                   `json:"summary"`
	Flow         flowJSON                 `json:"flow"`
	RST          rstJSON                  `json:"rst"`
	Stage        string                   `json:"stage"`
	Errno        string                   `json:"errno"`
	Alternatives []heuristics.Cause       `json:"alternatives"`
	Advice       string                   `json:"advice"`
	Gap          string                   `json:"idle_gap,omitempty"`
	KnownTimeout string                   `json:"known_timeout,omitempty"`
	Request      *heuristics.RequestInfo  `json:"request,omitempty"`
	TLSAlert     *heuristics.TLSAlertJSON `json:"tls_alert,omitempty"`
	Evidence     []heuristics.Evidence    `json:"evidence"`
	Packets      []heuristics.PacketRow   `json:"packets"`
	Correlation  *heuristics.Correlation  `json:"correlation,omitempty"`
}

// toJSON converts f for marshalling; nil lists become [].
func toJSON(f *heuristics.Finding) findingJSON {
	fl, r := &f.Flow, &f.RST
	j := findingJSON{
		ID: f.ID, Cause: f.Cause, Origin: f.Origin, Confidence: f.Confidence, Summary: f.Summary,
		Flow: flowJSON{
			Client: fl.Client, Server: fl.Server, RolesFrom: fl.RolesFrom, Start: stamp(fl.Start),
			ClientBytes: fl.ClientBytes, ServerBytes: fl.ServerBytes,
			ClientPackets: fl.ClientPackets, ServerPackets: fl.ServerPackets,
			Tunnel: fl.Tunnel, VLAN: fl.VLAN, History: fl.History, ConnState: fl.ConnState,
		},
		RST: rstJSON{
			Time: stamp(r.Time), Packet: r.Packet, Input: r.Input, From: r.From, Count: r.Count,
			Flags: r.Flags, Seq: r.Seq, Ack: r.Ack, Window: r.Window, TTL: r.TTL, IPID: r.IPID,
			SeqCheck: r.SeqCheck, Frames: r.Frames,
		},
		Stage: f.Stage, Errno: f.Errno, Alternatives: f.Alternatives, Advice: f.Advice,
		Gap: f.Gap, KnownTimeout: f.KnownTimeout, Request: f.Request, TLSAlert: f.TLSAlert,
		Evidence: f.Evidence, Packets: f.Packets, Correlation: f.Correlation,
	}
	if j.Alternatives == nil {
		j.Alternatives = []heuristics.Cause{}
	}
	if j.Evidence == nil {
		j.Evidence = []heuristics.Evidence{}
	}
	if j.Packets == nil {
		j.Packets = []heuristics.PacketRow{}
	}
	return j
}

// byCause marshals as a JSON object whose keys follow AllCauses order.
type byCause []causeCount

// MarshalJSON implements json.Marshaler.
func (c byCause) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, cc := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(string(cc.Cause))
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
	Tool     string         `json:"tool"`
	Version  string         `json:"version"`
	Inputs   []string       `json:"inputs"`
	Stats    Stats          `json:"stats"`
	ByCause  byCause        `json:"by_cause"`
	Warnings []string       `json:"warnings,omitempty"`
	Findings *[]findingJSON `json:"findings,omitempty"`
}

func newDocument(s Summary, n int, causes tally) documentJSON {
	d := documentJSON{Tool: s.Tool, Version: s.Version, Inputs: s.Inputs, Stats: s.Stats,
		ByCause: byCause(causes.causes()), Warnings: s.Warnings}
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
type jsonWriter struct {
	out      sink
	findings []heuristics.Finding
}

func newJSON(w io.Writer) *jsonWriter { return &jsonWriter{out: sink{w: w}} }

func (j *jsonWriter) Write(f *heuristics.Finding) error {
	if err := j.out.check(f); err != nil {
		return err
	}
	j.findings = append(j.findings, *f)
	return nil
}

func (j *jsonWriter) Close(s Summary) error {
	if j.out.closed {
		return j.out.finish()
	}
	sortFindings(j.findings)
	var t tally
	list := make([]findingJSON, len(j.findings))
	for i := range j.findings {
		t.add(&j.findings[i])
		list[i] = toJSON(&j.findings[i])
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
	out   sink
	n     int
	tally tally
}

func newNDJSON(w io.Writer) *ndjsonWriter { return &ndjsonWriter{out: sink{w: w}} }

func (j *ndjsonWriter) Write(f *heuristics.Finding) error {
	if err := j.out.check(f); err != nil {
		return err
	}
	j.n++
	j.tally.add(f)
	fj := toJSON(f)
	fj.ID = j.n
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
