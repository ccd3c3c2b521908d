package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/capture"
)

// TestSensorFlags: the sensor's flags exit 2 with one line when misused.
func TestSensorFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "pcaps/demo.pcap", "-C", "1"}, "-C, -W and -G need -w FILE"},
		{[]string{"-r", "pcaps/demo.pcap", "-w", "x.pcap", "-W", "3"}, "-W needs -C or -G"},
		{[]string{"-r", "pcaps/demo.pcap", "-w", "x.pcap", "-G", "-1"}, "must not be negative"},
		{[]string{"-r", "pcaps/demo.pcap", "--context", "0"}, "--context must be at least 1"},
		{[]string{"-r", "pcaps/demo.pcap", "--format", "ecss"}, "text, json, ndjson, markdown, ecs"},
		{[]string{"-r", "pcaps/demo.pcap", "--pprof"}, "--pprof needs --metrics ADDR"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, nil, &stdout, &stderr, nil)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("rstscope %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want)
		}
	}
}

// TestSensorECSFile: --format ecs on the demo capture gives one ECS line
// per finding of the JSON document, same causes in the same order.
func TestSensorECSFile(t *testing.T) {
	var js, ecs, stderr bytes.Buffer
	if code := run([]string{"-r", "pcaps/demo.pcap", "--format", "json"}, nil, &js, &stderr, nil); code != 0 {
		t.Fatalf("json: exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"-r", "pcaps/demo.pcap", "--format", "ecs"}, nil, &ecs, &stderr, nil); code != 0 {
		t.Fatalf("ecs: exit %d: %s", code, stderr.String())
	}
	var doc struct{ Findings []struct{ Cause string } }
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(ecs.String()), "\n")
	if len(lines) != len(doc.Findings) || len(lines) == 0 {
		t.Fatalf("ecs: %d lines, want one per finding (%d)", len(lines), len(doc.Findings))
	}
	for i, l := range lines {
		var e struct {
			Event struct{ Reason, Action string }
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("ecs line %d: %v", i+1, err)
		}
		if e.Event.Reason != doc.Findings[i].Cause || e.Event.Action != "tcp-reset" {
			t.Errorf("ecs line %d: event.reason %q action %q, want %q tcp-reset", i+1, e.Event.Reason, e.Event.Action, doc.Findings[i].Cause)
		}
	}
}

// TestSensorRotateFile: -r with --write-all and -C/-W writes through the
// rotating writer, as live: the first file has -W's slot name (all.pcap0)
// and holds every packet of the input.
func TestSensorRotateFile(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "all.pcap")
	var stdout, stderr bytes.Buffer
	// -C takes millions of bytes and the demo is smaller: no rotation
	// happens (capture's tests and the live tests rotate).
	if code := run([]string{"-r", "pcaps/demo.pcap", "--format", "json", "-w", w, "--write-all", "-C", "1", "-W", "2"}, nil, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	count := func(paths ...string) int {
		src, err := capture.OpenFiles(paths, capture.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		n := 0
		var p capture.Packet
		for src.Next(&p) == nil {
			n++
		}
		return n
	}
	if got, want := count(w+"0"), count("pcaps/demo.pcap"); got != want || want == 0 {
		t.Errorf("-w %s -C 1 -W 2: %d packets in %s0, want all %d of the input", w, got, w, want)
	}
}
