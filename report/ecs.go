package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// ECSVersion is the Elastic Common Schema version of the field list the
// ecs format is checked against (testdata/ecs-fields.tsv).
const ECSVersion = "9.5.0-dev"

// Observer describes the sensor for the ecs format's observer.* fields.
type Observer struct {
	Hostname  string // observer.hostname
	Interface string // observer.ingress.interface.name (live capture)
	Version   string // observer.version: rstscope's
}

// ecsWriter writes one Elastic Common Schema document per finding, one
// per line (NDJSON), as findings come; nothing at Close, since a log
// store wants events only (the run's counts are in --metrics). The
// finding's JSON contract goes under rstscope.* with its own names; the
// ECS fields are derived from that contract, so the two cannot disagree
// (REFERENCE.md section 15).
type ecsWriter struct {
	out sink
	obs Observer
	n   int
}

func newECS(w io.Writer, obs Observer) *ecsWriter { return &ecsWriter{out: sink{w: w}, obs: obs} }

func (e *ecsWriter) Write(f *heuristics.Finding) error {
	if err := e.out.check(f); err != nil {
		return err
	}
	e.n++
	doc, err := ecsDocument(f, e.n, e.obs)
	if err == nil {
		var b []byte
		if b, err = encode(doc, false); err == nil {
			e.out.write(b)
			e.out.flush()
			return e.out.err
		}
	}
	err = fmt.Errorf("report: ecs: %w", err)
	e.out.fail(err)
	return err
}

func (e *ecsWriter) Close(Summary) error { return e.out.finish() }

// contractJSON is f as the json and ndjson formats print it, numbered id.
func contractJSON(f *heuristics.Finding, id int) ([]byte, error) {
	c := forJSON(f)
	c.ID = id
	return appendFindingJSON(nil, &c, "", ""), nil
}

// ecsDocument maps a finding onto ECS, reading the contract's fields.
func ecsDocument(f *heuristics.Finding, id int, obs Observer) (map[string]any, error) {
	raw, err := contractJSON(f, id)
	if err != nil {
		return nil, err
	}
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // seq numbers and counts stay exact
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	flow, _ := c["flow"].(map[string]any)
	rst, _ := c["rst"].(map[string]any)
	client, err := netip.ParseAddrPort(str(flow["client"]))
	if err != nil {
		return nil, fmt.Errorf("flow.client: %w", err)
	}
	server, err := netip.ParseAddrPort(str(flow["server"]))
	if err != nil {
		return nil, fmt.Errorf("flow.server: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, str(rst["time"]))
	if err != nil {
		return nil, fmt.Errorf("rst.time: %w", err)
	}
	// The RST's sender and receiver: source and destination.
	src, dst := server, client
	if str(rst["from"]) == "client" {
		src, dst = client, server
	}
	evType := []string{"connection", "end"}
	if str(c["cause"]) == string(heuristics.CauseRefused) {
		evType = []string{"connection", "denied"}
	}
	event := map[string]any{
		"kind": "event", "category": []string{"network"}, "type": evType,
		"action": "tcp-reset", "reason": c["cause"], "outcome": "failure",
		"dataset": "rstscope.findings", "module": "rstscope", "end": rst["time"],
	}
	if start, err := time.Parse(time.RFC3339Nano, str(flow["start"])); err == nil && !start.IsZero() && !start.After(at) {
		event["start"] = flow["start"]
		event["duration"] = at.Sub(start).Nanoseconds()
	}
	netType := "ipv4"
	if client.Addr().Is6() {
		netType = "ipv6"
	}
	network := map[string]any{"transport": "tcp", "type": netType, "iana_number": "6"}
	cb, sb := num(flow["client_bytes"]), num(flow["server_bytes"])
	cp, sp := num(flow["client_packets"]), num(flow["server_packets"])
	network["bytes"], network["packets"] = cb+sb, cp+sp
	if v := num(flow["vlan"]); v != 0 {
		network["vlan"] = map[string]any{"id": fmt.Sprint(v)}
	}
	observer := map[string]any{"type": "sensor", "product": "rstscope", "vendor": "rstscope"}
	if obs.Hostname != "" {
		observer["hostname"] = obs.Hostname
	}
	if obs.Version != "" {
		observer["version"] = obs.Version
	}
	if obs.Interface != "" {
		observer["ingress"] = map[string]any{"interface": map[string]any{"name": obs.Interface}}
	}
	doc := map[string]any{
		"@timestamp":  rst["time"],
		"message":     c["summary"],
		"ecs":         map[string]any{"version": ECSVersion},
		"event":       event,
		"source":      endpoint(src, nil, nil),
		"destination": endpoint(dst, nil, nil),
		"client":      endpoint(client, cb, cp),
		"server":      endpoint(server, sb, sp),
		"network":     network,
		"observer":    observer,
		"related":     map[string]any{"ip": []string{client.Addr().String(), server.Addr().String()}},
		"rstscope":    c,
	}
	// A time RFC 3339 cannot write is clamped; the document says so, as
	// the json and ndjson totals do.
	if f.RST.Time.Clamped() || f.Flow.Start.Clamped() {
		var one tally
		one.add(f)
		c["warnings"] = one.warnings(nil)
		delete(event, "duration")
	}
	if req, ok := c["request"].(map[string]any); ok {
		if sni := str(req["sni"]); sni != "" {
			doc["tls"] = map[string]any{"client": map[string]any{"server_name": sni}}
		}
		if m := str(req["method"]); m != "" {
			doc["http"] = map[string]any{"request": map[string]any{"method": m}}
		}
		url := map[string]any{}
		if h := str(req["host"]); h != "" {
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host // url.domain has no port
			}
			url["domain"] = h
		}
		if p := str(req["path"]); p != "" {
			url["path"] = p
		}
		if len(url) > 0 {
			doc["url"] = url
		}
	}
	return doc, nil
}

// endpoint is an ECS source/destination/client/server object; bytes and
// packets when given.
func endpoint(ap netip.AddrPort, bytes, packets any) map[string]any {
	m := map[string]any{"ip": ap.Addr().String(), "port": ap.Port()}
	if bytes != nil {
		m["bytes"], m["packets"] = bytes, packets
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// num reads a json.Number as an unsigned count (0 when absent).
func num(v any) uint64 {
	n, _ := v.(json.Number)
	var u uint64
	fmt.Sscan(n.String(), &u)
	return u
}
