package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// ecsField is one row of the ECS field list.
type ecsField struct {
	typ   string
	array bool
}

// loadECS reads testdata/ecs-fields.tsv (a copy of ../shared/ecs-fields.tsv:
// ECS's generated fields.csv): field definitions and allowed values.
func loadECS(t *testing.T) (map[string]ecsField, map[string][]string) {
	t.Helper()
	b, err := os.ReadFile("testdata/ecs-fields.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if shared, err := os.ReadFile("../../shared/ecs-fields.tsv"); err == nil && !bytes.Equal(shared, b) {
		t.Errorf("testdata/ecs-fields.tsv differs from ../shared/ecs-fields.tsv: copy it again")
	}
	fields, allowed := map[string]ecsField{}, map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		switch {
		case cols[0] == "#allowed" && len(cols) == 3:
			allowed[cols[1]] = strings.Split(cols[2], ",")
		case strings.HasPrefix(cols[0], "#") || cols[0] == "field" || len(cols) < 4:
		default:
			fields[cols[0]] = ecsField{typ: cols[1], array: cols[3] == "array"}
		}
	}
	if len(fields) < 1000 || len(allowed["event.type"]) == 0 {
		t.Fatalf("ECS field list: %d fields, event.type allowed %q: not the whole list", len(fields), allowed["event.type"])
	}
	return fields, allowed
}

// flatten lists a document's leaves by dotted name.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, x, out)
		}
		return
	}
	out[prefix] = v
}

// ecsTypeOK reports whether a JSON value v fits ECS type typ.
func ecsTypeOK(typ string, v any) bool {
	switch typ {
	case "keyword", "constant_keyword", "wildcard", "match_only_text":
		_, ok := v.(string)
		return ok
	case "ip":
		s, ok := v.(string)
		_, err := netip.ParseAddr(s)
		return ok && err == nil
	case "long", "integer":
		n, ok := v.(json.Number)
		_, err := n.Int64()
		return ok && err == nil
	case "date":
		s, ok := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return ok && err == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	}
	return false // object, nested, flattened, geo_point...: not leaves we write
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, line)
		}
		docs = append(docs, m)
	}
	return docs
}

// TestECS_fields checks every field name the ecs format emits, and its
// value's type, against the ECS field definitions; rstscope's own fields
// live under rstscope.*, which ECS does not define.
func TestECS_fields(t *testing.T) {
	fields, allowed := loadECS(t)
	if _, ok := fields["rstscope"]; ok {
		t.Fatal("rstscope is an ECS field name: the custom fields would collide")
	}
	for name := range fields {
		if strings.HasPrefix(name, "rstscope.") {
			t.Fatalf("ECS defines %s", name)
		}
	}
	fs := testFindings()
	obs := Observer{Hostname: "sensor-1", Interface: "eth0", Version: "0.test"}
	docs := decodeLines(t, render(t, "ecs", Options{Observer: obs}, fs, testSummary()))
	if len(docs) != len(fs) {
		t.Fatalf("got %d documents, want one per finding (%d)", len(docs), len(fs))
	}
	names := map[string]bool{}
	for i, doc := range docs {
		leaves := map[string]any{}
		flatten("", doc, leaves)
		for name, v := range leaves {
			if strings.HasPrefix(name, "rstscope.") {
				continue
			}
			names[name] = true
			def, ok := fields[name]
			if !ok {
				t.Errorf("finding %d: field %s is not in ECS", i+1, name)
				continue
			}
			vals := []any{v}
			if arr, isArr := v.([]any); isArr {
				if !def.array {
					t.Errorf("finding %d: %s is an array, ECS says one %s", i+1, name, def.typ)
				}
				vals = arr
			}
			for _, x := range vals {
				if !ecsTypeOK(def.typ, x) {
					t.Errorf("finding %d: %s = %#v does not fit ECS type %s", i+1, name, x, def.typ)
				}
				if ok := allowed[name]; ok != nil && !slices.Contains(ok, x.(string)) {
					t.Errorf("finding %d: %s = %q is not an allowed value (%s)", i+1, name, x, strings.Join(ok, ","))
				}
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	t.Logf("%d ECS field names in %d documents checked against ECS %s (%d fields): %s",
		len(sorted), len(docs), ECSVersion, len(fields), strings.Join(sorted, " "))
}

// TestECS_mapping: the ECS fields say what the finding says: the RST's
// sender is source, its receiver destination; roles as client/server;
// denied for refused; the whole contract under rstscope.
func TestECS_mapping(t *testing.T) {
	fs := testFindings()
	obs := Observer{Hostname: "sensor-1", Interface: "eth0", Version: "0.test"}
	docs := decodeLines(t, render(t, "ecs", Options{Observer: obs}, fs, testSummary()))
	contract := decodeLines(t, render(t, "ndjson", Options{}, fs, testSummary()))
	for i, doc := range docs {
		f := &fs[i]
		leaves := map[string]any{}
		flatten("", doc, leaves)
		get := func(k string) string {
			switch v := leaves[k].(type) {
			case string:
				return v
			case json.Number:
				return v.String()
			case nil:
				return ""
			}
			b, _ := json.Marshal(leaves[k])
			return string(b)
		}
		client, server := f.Flow.Client, f.Flow.Server
		sender, receiver := server, client
		if f.RST.From == heuristics.SideClient {
			sender, receiver = client, server
		}
		wantType := `["connection","end"]`
		if f.Cause == heuristics.CauseRefused {
			wantType = `["connection","denied"]`
		}
		netType := "ipv4"
		if client.Addr().Is6() {
			netType = "ipv6"
		}
		for k, want := range map[string]string{
			"@timestamp": f.RST.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), "event.kind": "event",
			"event.category": `["network"]`, "event.type": wantType, "event.action": "tcp-reset",
			"event.reason": string(f.Cause), "event.outcome": "failure",
			"source.ip": sender.Addr().String(), "source.port": itoa(sender.Port()),
			"destination.ip": receiver.Addr().String(), "destination.port": itoa(receiver.Port()),
			"client.ip": client.Addr().String(), "client.port": itoa(client.Port()),
			"server.ip": server.Addr().String(), "server.port": itoa(server.Port()),
			"network.transport": "tcp", "network.type": netType,
			"observer.hostname": "sensor-1", "observer.product": "rstscope", "observer.version": "0.test",
			"observer.ingress.interface.name": "eth0", "message": f.Summary,
		} {
			if got := get(k); got != want {
				t.Errorf("finding %d (frame %d): %s: got %s, want %s", i+1, f.RST.Packet, k, got, want)
			}
		}
		if !reflect.DeepEqual(doc["rstscope"], contract[i]) {
			t.Errorf("finding %d: rstscope.* differs from the ndjson contract line\n got %v\nwant %v", i+1, doc["rstscope"], contract[i])
		}
		if r := f.Request; r != nil && r.SNI != "" && get("tls.client.server_name") != r.SNI {
			t.Errorf("finding %d: tls.client.server_name: got %q, want %q", i+1, get("tls.client.server_name"), r.SNI)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestECS_quiet: ECS has no summary, so -q (Quiet) would write nothing at
// all; New refuses it rather than leave a log pipeline silently empty.
func TestECS_quiet(t *testing.T) {
	var b strings.Builder
	if w, err := New("ecs", &b, Options{Quiet: true}); err == nil || w != nil || !strings.Contains(err.Error(), "no summary") {
		t.Errorf("New(ecs, Quiet): got %v, %v; want no writer and an error naming the missing summary", w, err)
	}
	if _, err := New("ecs", &b, Options{}); err != nil {
		t.Errorf("New(ecs): %v", err)
	}
}
