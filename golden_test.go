package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files of TestGolden")

// expect is the hand-written truth for one finding of a capture in pcaps/:
// the real assertion behind each golden file, so that a careless -update
// cannot make a wrong attribution pass.
type expect struct {
	frame   uint64 // rst.packet
	cause   string
	origin  string
	minConf string
	signals []string
}

// expectations lists every finding of every capture at the top of pcaps/
// (made by cmd/rstgen; see pcaps/README.md for the recipe of each). The
// lab's captures (pcaps/lab/) are asserted by pcaps/lab's own table.
var expectations = map[string][]expect{
	"abortive_close.pcap": {{6, "abortive_close", "server", "medium", []string{"rst_instead_of_fin", "ttl_consistent"}}},
	"abortive_close_tuple_reuse.pcap": {
		{7, "abortive_close", "client", "medium", []string{"rst_instead_of_fin", "ipid_consistent"}},
		{12, "server_reset_after_request", "server", "high", []string{"request_without_response", "ttl_consistent"}},
	},
	"client_abort.pcap": {{35, "client_abort", "client", "high", []string{"abort_mid_response", "ipid_consistent"}}},
	"idle_timeout_azure_idle_reset.pcap": {
		{14, "idle_timeout", "middlebox", "high", []string{"idle_gap", "known_timeout", "ttl_mismatch", "crossed_rst"}},
		{15, "idle_timeout", "middlebox", "medium", []string{"idle_gap", "known_timeout", "crossed_rst"}},
	},
	"idle_timeout_nlb_idle_timeout.pcap":           {{15, "idle_timeout", "middlebox", "medium", []string{"idle_gap", "known_timeout", "ttl_mismatch"}}},
	"ignored_rst_rst_in_window_challenge_ack.pcap": {{5, "ignored_rst", "middlebox", "medium", []string{"challenge_ack", "data_after_rst"}}},
	"ignored_rst_rst_out_of_window.pcap":           {{5, "ignored_rst", "middlebox", "medium", []string{"out_of_window", "data_after_rst"}}},
	"middlebox_injected_gfw_triple_rst.pcap": {{5, "middlebox_injected", "middlebox", "high",
		[]string{"data_after_rst", "ttl_mismatch", "rst_burst", "too_fast"}}},
	"middlebox_injected_iptables_reject_tls.pcap": {{5, "middlebox_injected", "middlebox", "high",
		[]string{"ttl_mismatch", "fingerprint"}}},
	// demo.pcap merges nine lab captures (real kernel resets, client side):
	// `rstscope -r pcaps/lab/<scenario>.client.pcap ... -w pcaps/demo.pcap --write-all`.
	"demo.pcap": {
		{12, "refused", "server", "high", []string{"syn_answered_by_rst", "ttl_consistent"}},
		{21, "idle_timeout", "middlebox", "medium", []string{"idle_gap", "ttl_mismatch", "fingerprint"}},
		{53, "client_abort", "client", "high", []string{"abort_mid_response", "ipid_consistent"}},
		{58, "middlebox_injected", "middlebox", "medium", []string{"ttl_mismatch", "fingerprint"}},
		{69, "tls_alert", "server", "high", []string{"tls_alert", "ttl_consistent"}},
		{88, "abortive_close", "server", "medium", []string{"rst_instead_of_fin", "ipid_consistent"}},
		{92, "stale_keepalive", "server", "high", []string{"fin_then_data", "ttl_consistent"}},
		{98, "server_reset_after_request", "server", "high", []string{"request_without_response", "ttl_consistent"}},
		{110, "refused", "middlebox", "medium", []string{"syn_answered_by_rst", "ttl_mismatch", "fingerprint"}},
	},
	"refused.pcap":                                    {{2, "refused", "server", "high", []string{"syn_answered_by_rst"}}},
	"refused_ipv6_refused.pcap":                       {{2, "refused", "server", "high", []string{"syn_answered_by_rst"}}},
	"server_reset_after_request_midstream_rst.pcap":   {{6, "server_reset_after_request", "server", "medium", []string{"request_without_response", "midstream"}}},
	"server_reset_after_request_retransmissions.pcap": {{9, "server_reset_after_request", "server", "high", []string{"request_without_response"}}},
	"stale_keepalive.pcap":                            {{10, "stale_keepalive", "server", "high", []string{"fin_then_data", "ipid_consistent"}}},
	"tls_alert_tls13_encrypted_alert.pcap":            {{11, "tls_alert", "client", "medium", []string{"encrypted_alert"}}},
	"tls_alert_tls_alert_split.pcap":                  {{13, "tls_alert", "client", "high", []string{"tls_alert"}}},
	"tls_alert_tls_plaintext_alert.pcap":              {{6, "tls_alert", "server", "high", []string{"tls_alert", "ttl_consistent"}}},
}

var confRank = map[string]int{"low": 1, "medium": 2, "high": 3}

// TestGolden runs rstscope on every capture in pcaps/ and pcaps/lab/,
// diffs the JSON with its .golden.json (go test -run TestGolden -update
// rewrites them), and checks the expectation table.
func TestGolden(t *testing.T) {
	top, _ := filepath.Glob("pcaps/*.pcap")
	lab, _ := filepath.Glob("pcaps/lab/*.pcap")
	if len(top) < len(expectations) {
		t.Errorf("pcaps/ has %d captures, the expectation table %d: a capture is missing", len(top), len(expectations))
	}
	for name := range expectations {
		if _, err := os.Stat(filepath.Join("pcaps", name)); err != nil {
			t.Errorf("expected capture missing: %v", err)
		}
	}
	for _, path := range append(top, lab...) {
		t.Run(path, func(t *testing.T) {
			code, out, errs := runCLI(t, nil, "-r", path, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden := strings.TrimSuffix(path, ".pcap") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden: %v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal([]byte(out), want) {
				t.Errorf("output differs from %s (go test -run TestGolden -update rewrites it; check the diff first)\ngot:\n%s", golden, out)
			}
			if filepath.Dir(path) != "pcaps" {
				return
			}
			exp, ok := expectations[filepath.Base(path)]
			if !ok {
				t.Fatalf("no expectation for %s: add it to the table", path)
			}
			checkExpectations(t, runJSON(t, "-r", path), exp)
		})
	}
}

// checkExpectations checks d's findings against the hand-written table
// exp: one finding per entry, with its cause, origin, at least its
// confidence and every signal listed.
func checkExpectations(t *testing.T, d doc, exp []expect) {
	t.Helper()
	if len(d.Findings) != len(exp) {
		t.Errorf("findings: got %d, want %d", len(d.Findings), len(exp))
	}
	for _, e := range exp {
		f := findingWithFrame(d.Findings, e.frame)
		if f == nil {
			t.Errorf("frame %d: no finding", e.frame)
			continue
		}
		if f.Cause != e.cause || f.Origin != e.origin {
			t.Errorf("frame %d: got %s/%s, want %s/%s: %s", e.frame, f.Cause, f.Origin, e.cause, e.origin, f.Summary)
		}
		if confRank[f.Confidence] < confRank[e.minConf] {
			t.Errorf("frame %d: confidence %s, want at least %s", e.frame, f.Confidence, e.minConf)
		}
		for _, s := range e.signals {
			if !f.hasSignal(s) {
				t.Errorf("frame %d: evidence lacks %s", e.frame, s)
			}
		}
	}
}
