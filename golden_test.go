package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	"abortive_close.pcap":                      {{6, "abortive_close", "server", "medium", []string{"rst_instead_of_fin", "ttl_consistent"}}},
	"abortive_close_bsd_per_segment_rsts.pcap": {{11, "abortive_close", "client", "medium", []string{"rst_after_fin", "ttl_consistent"}}},
	"client_abort_own_rst_too_fast.pcap":       {{20, "client_abort", "client", "medium", []string{"abort_mid_response", "ipid_consistent"}}},
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
	// A lone RST to a SYN: nothing else from the server to check it
	// against, so medium at most (issue 13 class 5).
	"refused.pcap":                                    {{2, "refused", "server", "medium", []string{"syn_answered_by_rst"}}},
	"refused_ipv6_refused.pcap":                       {{2, "refused", "server", "medium", []string{"syn_answered_by_rst"}}},
	"server_reset_after_request_midstream_rst.pcap":   {{6, "server_reset_after_request", "server", "medium", []string{"request_without_response", "midstream"}}},
	"server_reset_after_request_retransmissions.pcap": {{9, "server_reset_after_request", "server", "high", []string{"request_without_response"}}},
	"stale_keepalive.pcap":                            {{10, "stale_keepalive", "server", "high", []string{"fin_then_data", "ipid_consistent"}}},
	"tls_alert_tls13_encrypted_alert.pcap":            {{11, "tls_alert", "client", "medium", []string{"encrypted_alert"}}},
	"tls_alert_tls_alert_split.pcap":                  {{13, "tls_alert", "client", "high", []string{"tls_alert"}}},
	"tls_alert_tls_plaintext_alert.pcap":              {{6, "tls_alert", "server", "high", []string{"tls_alert", "ttl_consistent"}}},
}

// refutation is evidence a finding must not carry: a claim its capture
// disproves, by signal, or by a phrase of an evidence line when set.
// knownWrong names the issue 13 class when rstscope makes the claim today:
// the test then logs it, and fails once the claim is gone so that the
// mark is removed.
type refutation struct {
	frame      uint64
	signal     string
	phrase     string
	knownWrong string
	why        string
}

// claimed reports whether f makes the refuted claim.
func (r refutation) claimed(f *finding) bool {
	for _, e := range f.Evidence {
		if e.Signal == r.signal && (r.phrase == "" || strings.Contains(e.Detail, r.phrase)) {
			return true
		}
	}
	return false
}

func (r refutation) String() string {
	if r.phrase != "" {
		return fmt.Sprintf("%s %q", r.signal, r.phrase)
	}
	return r.signal
}

var refutations = map[string][]refutation{
	"abortive_close_bsd_per_segment_rsts.pcap": {{frame: 11, signal: "rst_burst",
		why: "each RST answers its own server segment, with the client's TTL: a BSD stack's per-segment RSTs, not an injector's burst"}},
	"client_abort_own_rst_too_fast.pcap": {{frame: 20, signal: "too_fast",
		why: "the capture host's own RST (TTL 64, IP ID and timestamps continuing): a host is never too fast for itself"}},
}

// perSegment is the claim that per-segment RSTs are one RST captured twice.
const perSegment = "captured twice"

// corpusRefutations are refutations on public captures (paths under
// pcaps/corpus), checked by TestCorpus_refutations.
var corpusRefutations = map[string][]refutation{
	"ndpi/alexa-app.pcapng": {
		{frame: 2753, signal: "too_fast", why: "the capture host's own RST: TTL 64 as all the client's packets (0 hops)"},
		{frame: 2784, signal: "too_fast", why: "as frame 2753"},
	},
	"suricata-verify/output-eve-ftp-data/input.pcap": {{frame: 998, signal: "too_fast", why: "the capture host's own RST: TTL 64 as all the client's packets"}},
	"ndpi/dingtalk.pcap":                             {{frame: 16, signal: "too_fast", why: "captured on the server: its RST has TTL 64 as all its packets"}},
	"ndpi/443-curl.pcap": {{frame: 105, signal: "note", phrase: perSegment,
		why: "frames 105-107 answer the server's segments 102-104 one each (Linux, no socket: IP ID 0, seq = their ack)"}},
	"ndpi/anydesk.pcapng": {{frame: 96, signal: "note", phrase: perSegment, why: "frames 96 and 97 answer the server's segments 94 and 95"}},
	"zeek/Traces/ftp/ipv6-violation.pcap": {{frame: 15, signal: "note", phrase: perSegment,
		why: "frame 15 answers the server's data (14), frame 17 its FIN (16)"}},
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
			d := runJSON(t, "-r", path)
			checkExpectations(t, d, exp)
			checkRefutations(t, d, refutations[filepath.Base(path)])
		})
	}
}

// checkRefutations checks that no finding carries evidence its capture
// disproves; a known-wrong mark turns the failure into a log line.
func checkRefutations(t *testing.T, d doc, rs []refutation) {
	t.Helper()
	for _, r := range rs {
		f := findingWithFrame(d.Findings, r.frame)
		switch {
		case f == nil:
			t.Errorf("frame %d: no finding", r.frame)
		case r.claimed(f) && r.knownWrong != "":
			t.Logf("known wrong (%s): frame %d: evidence has %s (%s)", r.knownWrong, r.frame, r, r.why)
		case r.claimed(f):
			t.Errorf("frame %d: evidence has %s, which the capture disproves: %s", r.frame, r, r.why)
		case r.knownWrong != "":
			t.Errorf("frame %d: evidence no longer has %s: remove the mark %q", r.frame, r, r.knownWrong)
		}
	}
}

// TestCorpus_refutations: evidence public captures disprove (issue 13).
func TestCorpus_refutations(t *testing.T) {
	for _, file := range slices.Sorted(maps.Keys(corpusRefutations)) {
		t.Run(file, func(t *testing.T) {
			checkRefutations(t, runJSON(t, "-r", filepath.Join(corpusDir, file)), corpusRefutations[file])
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
