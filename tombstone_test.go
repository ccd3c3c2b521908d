package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestIdleTimeout_pastEviction: a real conntrack idle timeout (the lab's
// iptables rule forgets the flow after 5 s; the client's next request draws
// its REJECT) rewritten so that the silence lasts an hour, as behind a
// firewall with a 1 h idle timeout. The table evicts the flow after 15 min;
// the RST must still be judged on the old flow, through its tombstone:
// idle_timeout from the middlebox, the gap an hour long, and evidence that
// says the flow was evicted and how the packet was matched.
func TestIdleTimeout_pastEviction(t *testing.T) {
	frames, err := readLabCapture("pcaps/lab/idle_timeout_conntrack.client.pcap")
	if err != nil {
		t.Fatal(err)
	}
	// Frame 8 is the client's request after the silence, frame 9 the RST.
	const stretch = time.Hour
	if len(frames) != 9 || frames[7].orig != 8 {
		t.Fatalf("capture has %d frames, want 9", len(frames))
	}
	gap0 := frames[7].time.Sub(frames[6].time)
	for i := 7; i < len(frames); i++ {
		frames[i].time = frames[i].time.Add(stretch)
	}
	pcap := labPcap(frames)
	wantGap := (gap0 + stretch).Seconds()

	for _, args := range [][]string{nil, {"--shards", "3"}} {
		f := judgeRaw(t, pcap, args...)
		if f.Cause != "idle_timeout" || f.Origin != "middlebox" {
			t.Errorf("%v: verdict %s/%s %s, want idle_timeout/middlebox: %s", args, f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		if f.Confidence == "high" {
			t.Errorf("%v: confidence high, but the ladder before the gap is gone", args)
		}
		if math.Abs(f.IdleGapS-wantGap) > 0.01 {
			t.Errorf("%v: idle gap %.3f s, want %.3f s", args, f.IdleGapS, wantGap)
		}
		var note, mid bool
		for _, e := range f.Evidence {
			note = note || strings.Contains(e.Detail, "idle past rstscope's flow-table eviction") && strings.Contains(e.Detail, "matched to it by its tuple")
			mid = mid || e.Signal == "midstream" && strings.Contains(e.Detail, "evicted from rstscope's flow table")
		}
		if !note || !mid {
			t.Errorf("%v: evidence lacks the eviction note (%v) or the mid-stream link (%v): %+v", args, note, mid, f.Evidence)
		}
		if !f.hasSignal("idle_gap") || !f.hasSignal("ttl_mismatch") {
			t.Errorf("%v: want idle_gap and ttl_mismatch evidence: %+v", args, f.Evidence)
		}
		if f.Flow.RolesFrom != "handshake" || !strings.HasSuffix(f.Flow.Server, ":8080") {
			t.Errorf("%v: roles %s (server %s), want the old flow's (handshake, server on 8080)", args, f.Flow.RolesFrom, f.Flow.Server)
		}
	}

	// With an eviction longer than the silence the flow is never
	// evicted: the same verdict, from the ladder, without the note.
	f := judgeRaw(t, pcap, "--idle-evict", "2h")
	if f.Cause != "idle_timeout" || f.Origin != "middlebox" || math.Abs(f.IdleGapS-wantGap) > 0.01 {
		t.Errorf("--idle-evict 2h: %s/%s gap %.3f s, want idle_timeout/middlebox, %.3f s", f.Cause, f.Origin, f.IdleGapS, wantGap)
	}
	for _, e := range f.Evidence {
		if strings.Contains(e.Detail, "eviction") {
			t.Errorf("--idle-evict 2h: the flow was not evicted, yet: %s", e.Detail)
		}
	}
}

// tombFinding is a finding with its idle gap.
type tombFinding struct {
	finding
	IdleGapS float64 `json:"idle_gap_s"`
}

// judgeRaw runs rstscope on pcap and returns its only finding.
func judgeRaw(t *testing.T, pcap []byte, args ...string) tombFinding {
	t.Helper()
	code, out, errs := runCLI(t, bytes.NewReader(pcap), append([]string{"-r", "-", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("rstscope %v: exit %d: %s", args, code, errs)
	}
	var d struct {
		Findings []tombFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != 1 {
		t.Fatalf("rstscope %v: %d findings, want 1", args, len(d.Findings))
	}
	return d.Findings[0]
}

// TestIdleTimeout_pastEvictionKnownTimeout: the Azure capture's 240 s
// silence stretched to 1200 s, GCP Cloud NAT's idle timeout, past the
// table's 15 min eviction. The gap matches a known timeout, but the checks
// on the flow before it (an unanswered request, data in flight) cannot be
// made: idle_timeout from the middlebox, not above medium.
func TestIdleTimeout_pastEvictionKnownTimeout(t *testing.T) {
	frames, err := readLabCapture("pcaps/idle_timeout_azure_idle_reset.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 15 {
		t.Fatalf("capture has %d frames, want 15", len(frames))
	}
	// Frames 14 and 15 are the two RSTs after the silence.
	shift := 1200*time.Second - frames[13].time.Sub(frames[12].time)
	for i := 13; i < len(frames); i++ {
		frames[i].time = frames[i].time.Add(shift)
	}
	code, out, errs := runCLI(t, bytes.NewReader(labPcap(frames)), "-r", "-", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d struct {
		Findings []tombFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != 2 {
		t.Fatalf("%d findings, want 2 (one per RST)", len(d.Findings))
	}
	for _, f := range d.Findings {
		if f.Cause != "idle_timeout" || f.Origin != "middlebox" || f.Confidence == "high" {
			t.Errorf("frame %d: %s/%s %s, want idle_timeout/middlebox below high: %s", f.RST.Packet, f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		if math.Abs(f.IdleGapS-1200) > 0.01 {
			t.Errorf("frame %d: idle gap %.3f s, want 1200 s", f.RST.Packet, f.IdleGapS)
		}
		if !f.hasSignal("known_timeout") {
			t.Errorf("frame %d: no known_timeout evidence (GCP Cloud NAT, 1200 s): %+v", f.RST.Packet, f.Evidence)
		}
	}
}
