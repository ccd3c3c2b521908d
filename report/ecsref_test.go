package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// TestSortedJSON_orders: objects are written with their keys sorted
// whatever order and subset of keys they come in, one sequence after
// another through one sorter, also when an order kept for a sequence's
// hash is not that sequence's (a collision: it is sorted again).
func TestSortedJSON_orders(t *testing.T) {
	keys := []string{"a", "b", "flow", "flags", "id", "packet", "rst", "seq", "z", "zz"}
	r := rand.New(rand.NewPCG(7, 8))
	var so sortedJSON
	for n := range 20000 {
		m := map[string]int{}
		var src bytes.Buffer
		src.WriteByte('{')
		for i, k := range r.Perm(len(keys))[:r.IntN(len(keys)+1)] {
			if i > 0 {
				src.WriteByte(',')
			}
			m[keys[k]] = i
			fmt.Fprintf(&src, "%q:%d", keys[k], i)
		}
		src.WriteByte('}')
		if n%7 == 0 && len(so.perms) > 0 { // spoil a kept order
			for h, p := range so.perms {
				slices.Reverse(p)
				so.perms[h] = p
				break
			}
		}
		got, rest, err := appendSortedJSON([]byte("x"), src.Bytes(), nil, &so)
		want, _ := json.Marshal(m)
		if err != nil || len(rest) != 0 || string(got) != "x"+string(want) {
			t.Fatalf("%s: got %s (rest %q, %v), want x%s", src.Bytes(), got, rest, err, want)
		}
	}
	if len(so.perms) < 50 {
		t.Errorf("%d orders kept over 20,000 objects: the test should see many sequences", len(so.perms))
	}
}

// TestECS_document: the ecs writer's documents are, byte for byte, what
// encoding/json writes for the reference's maps (ecsDocumentRef), and it
// fails where the reference fails, for the findings of every golden
// document, every capture in pcaps/ (corpus included), the fixtures
// (a clamped time among them) and random findings whose every field is
// set (invalid UTF-8, zoned addresses, hosts with and without a port),
// with and without an observer.
func TestECS_document(t *testing.T) {
	var sets [][]heuristics.Finding
	for _, fs := range goldenFindings(t) {
		sets = append(sets, fs)
	}
	for _, fs := range captureFindings(t, "../pcaps") {
		sets = append(sets, fs)
	}
	fixtures := append(testFindings(), browserCloses(12)...)
	clamped := scanFinding(5)
	clamped.RST.Time = at(time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))
	fixtures = append(fixtures, scanFinding(3), clamped)
	sets = append(sets, fixtures)
	r := rand.New(rand.NewPCG(5, 6))
	var random []heuristics.Finding
	for range 3000 {
		f := randomFinding(t, r)
		for _, ap := range []*netip.AddrPort{&f.Flow.Client, &f.Flow.Server} {
			for !ap.Addr().IsValid() && r.IntN(8) > 0 { // mostly documents, some refusals
				*ap = randomAddrPort(r)
			}
		}
		if f.Request != nil && r.IntN(2) == 0 {
			f.Request.Host = []string{"example.com:8080", "example.com", "[::1]:443", ":80", "h\xffst:1"}[r.IntN(5)]
		}
		random = append(random, f)
	}
	sets = append(sets, random)
	observers := []Observer{{}, {Hostname: "sensor-1", Interface: "eth0", Version: "0.test"},
		{Hostname: "h\xff<>\u2028", Version: "v\x00"}}
	n, failed := 0, 0
	// A writer per observer, kept across findings: its key orders
	// (sortedJSON) see every shape of object the findings have.
	writers := map[Observer]*ecsWriter{}
	for _, fs := range sets {
		for i := range fs {
			obs := observers[n%len(observers)]
			n++
			var want []byte
			doc, werr := ecsDocumentRef(&fs[i], n, obs)
			if werr == nil {
				if want, werr = encode(doc, false); werr != nil {
					t.Fatal(werr)
				}
			}
			e := writers[obs]
			if e == nil {
				e = newECS(nil, obs)
				writers[obs] = e
			}
			got, gerr := e.appendDocument(nil, &fs[i], n)
			if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
				t.Fatalf("finding %d: error %v, want %v", n, gerr, werr)
			}
			if werr != nil {
				failed++
				continue
			}
			if got = append(got, '\n'); !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("finding %d (observer %+v): differs from the reference at byte %d:\ngot  %q\nwant %q", n, obs, i,
					got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
			}
		}
	}
	if failed > n/4 {
		t.Fatalf("%d of %d findings have no document: the comparison covers too few", failed, n)
	}
	t.Logf("%d ECS documents byte-identical to the reference's (%d refused alike)", n-failed, failed)
}

// contractJSONRef is f as the json and ndjson formats print it,
// numbered id, by encoding/json.
func contractJSONRef(f *heuristics.Finding, id int) ([]byte, error) {
	c := forJSON(f)
	c.ID = id
	return json.Marshal(c)
}

// ecsDocumentRef maps a finding onto ECS, reading the contract's fields
// back into maps: the ecs writer's first form, kept as the reference its
// direct writing (ecsWriter.appendDocument) must equal once encoded.
func ecsDocumentRef(f *heuristics.Finding, id int, obs Observer) (map[string]any, error) {
	raw, err := contractJSONRef(f, id)
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
		"source":      endpointRef(src, nil, nil),
		"destination": endpointRef(dst, nil, nil),
		"client":      endpointRef(client, cb, cp),
		"server":      endpointRef(server, sb, sp),
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

// endpointRef is an ECS source/destination/client/server object; bytes and
// packets when given.
func endpointRef(ap netip.AddrPort, bytes, packets any) map[string]any {
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
