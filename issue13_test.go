package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestAfterReset: on kernel-made lab captures (issue 13 class 8), the
// endpoint's RST answering a packet for the connection a forged RST had
// closed is after_reset with consequence_of naming the forged RST's
// finding, in JSON, ndjson and text alike, and the text summary counts it
// as an echo, not a cause.
func TestAfterReset(t *testing.T) {
	for _, tc := range []struct {
		capture      string
		forged, echo uint64 // RST frames
		side         string
	}{
		{"pcaps/lab/forged_rst_echo.client.pcap", 7, 9, "client"},
		{"pcaps/lab/middlebox_response_reject_r1.server.pcap", 7, 9, "server"},
		{"pcaps/lab/middlebox_response_reject_r2.server.pcap", 7, 9, "server"},
		{"pcaps/lab/middlebox_response_reject_r3.server.pcap", 7, 9, "server"},
	} {
		d := runJSON(t, "-r", tc.capture)
		forged, echo := findingWithFrame(d.Findings, tc.forged), findingWithFrame(d.Findings, tc.echo)
		if forged == nil || echo == nil {
			t.Fatalf("%s: want findings at frames %d and %d, got %+v", tc.capture, tc.forged, tc.echo, d.Findings)
		}
		if forged.Origin != "middlebox" || forged.ConsequenceOf != 0 {
			t.Errorf("%s frame %d: got %s/%s consequence_of %d, want a forged root cause", tc.capture, tc.forged, forged.Cause, forged.Origin, forged.ConsequenceOf)
		}
		if echo.Cause != "after_reset" || echo.Origin != tc.side || echo.ConsequenceOf != forged.ID || !echo.hasSignal("after_forged_rst") {
			t.Errorf("%s frame %d: got %s/%s consequence_of %d, want after_reset/%s of #%d", tc.capture, tc.echo, echo.Cause, echo.Origin, echo.ConsequenceOf, tc.side, forged.ID)
		}
		code, out, _ := runCLI(t, nil, "-r", tc.capture, "--format", "ndjson")
		if code != 0 || !strings.Contains(out, `"cause":"after_reset"`) || !strings.Contains(out, `"consequence_of":`+strconv.Itoa(forged.ID)) {
			t.Errorf("%s ndjson: exit %d, want after_reset with consequence_of %d:\n%s", tc.capture, code, forged.ID, out)
		}
		code, out, _ = runCLI(t, nil, "-r", tc.capture)
		if code != 0 || !strings.Contains(out, "1 echo (after_reset") || !strings.Contains(out, "echo of #"+strconv.Itoa(forged.ID)) {
			t.Errorf("%s text: exit %d, want the summary's \"1 echo\" and the card's \"echo of #%d\":\n%s", tc.capture, code, forged.ID, out)
		}
	}
}

// TestPeerWithoutTheFlow (issue 13 class 9): on kernel-made lab captures,
// a server-side capture that ran through the RST and holds no packet of the
// flow proves the SYN never reached the server (absent_at_sender, the SYN
// lost_in_path); an empty one says so in a note and changes nothing, and
// neither is an error.
func TestPeerWithoutTheFlow(t *testing.T) {
	d := runJSON(t, "-r", "pcaps/lab/refused_firewall_reject.client.pcap", "--peer", "pcaps/lab/refused_firewall_reject.server.pcap")
	f := findingWithFrame(d.Findings, 12)
	if f == nil || f.Cause != "refused" || f.Origin != "middlebox" || f.Confidence != "high" || !f.hasSignal("absent_at_sender") || !f.hasSignal("lost_in_path") {
		t.Errorf("refused_firewall_reject --peer: got %+v, want refused/middlebox high with absent_at_sender and lost_in_path", f)
	}
	alone := runJSON(t, "-r", "pcaps/lab/refused_lone_firewall.client.pcap")
	d = runJSON(t, "-r", "pcaps/lab/refused_lone_firewall.client.pcap", "--peer", "pcaps/lab/refused_lone_firewall.server.pcap")
	if len(d.Findings) != 1 || len(alone.Findings) != 1 {
		t.Fatalf("refused_lone_firewall: got %d findings with the empty peer, %d alone, want 1", len(d.Findings), len(alone.Findings))
	}
	f, a := &d.Findings[0], &alone.Findings[0]
	if f.Cause != a.Cause || f.Origin != a.Origin || f.Confidence != a.Confidence || f.hasSignal("absent_at_sender") {
		t.Errorf("refused_lone_firewall --peer (empty): got %s/%s %s, want the capture's own %s/%s %s and no verdict from the peer", f.Cause, f.Origin, f.Confidence, a.Cause, a.Origin, a.Confidence)
	}
	noted := false
	for _, e := range f.Evidence {
		noted = noted || (e.Signal == "note" && strings.Contains(e.Detail, "holds no packet at all"))
	}
	if !noted {
		t.Errorf("refused_lone_firewall --peer (empty): want a note that the peer holds nothing: %+v", f.Evidence)
	}
}
