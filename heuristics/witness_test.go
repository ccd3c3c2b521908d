package heuristics

import (
	"slices"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/flows"
)

// fakeWitness testifies the same claim about every event (a stand-in for
// a peer capture or the kernel).
type fakeWitness struct{ claim WitnessClaim }

func (w fakeWitness) Testify(*flows.Event) Testimony {
	return Testimony{Claims: []WitnessClaim{w.claim, {Evidence: Evidence{Signal: SignalNote, Detail: "witness context"}}},
		Kernel: &KernelInfo{Event: "tcp_send_reset", Reason: "NOT_SPECIFIED"}}
}

// TestJudge_witness: a witness's claim is weighed in the one combine step:
// a genuine claim overturns the capture's middlebox verdict, a forged one
// overturns a genuine verdict but keeps a cause that survives forgery; the
// summary and advice follow the combined verdict, the witness's evidence
// comes first (proof) and last (context), and its objects are attached.
func TestJudge_witness(t *testing.T) {
	t.Run("genuine_overturns_middlebox", func(t *testing.T) {
		s := newScenario(t)
		s.serverTTL = 62
		ev := s.event(lines(handshake, "C PA len=90 req=http:GET:/BLOCKME:10.77.3.2", "S RA @0.05ms ttl=64 id=0 win=0")...)
		if f := judge(ev); f.Origin != OriginMiddlebox {
			t.Fatalf("alone: got origin %s, want middlebox", f.Origin)
		}
		w := fakeWitness{WitnessClaim{Attest: AttestGenuine, Summary: "the witness saw it sent",
			Evidence: Evidence{Signal: SignalPresentAtSender, Detail: "seen leaving the server"}}}
		f := (&Engine{}).Judge(ev, w)
		if f.Origin != OriginServer || f.Cause != CauseServerResetAfterRequest || f.Confidence != Medium || slices.Contains(f.Alternatives, f.Cause) {
			t.Errorf("got %s/%s %s alternatives %v, want server_reset_after_request/server medium", f.Cause, f.Origin, f.Confidence, f.Alternatives)
		}
		if !strings.HasPrefix(f.Summary, "RST from server") || !strings.HasSuffix(f.Summary, "; the witness saw it sent") || strings.Contains(f.Advice, "from the path") {
			t.Errorf("summary %q advice %q: want the server's words", f.Summary, f.Advice)
		}
		if f.Evidence[0].Signal != SignalPresentAtSender || f.Evidence[len(f.Evidence)-1].Detail != "witness context" || f.Kernel == nil {
			t.Errorf("evidence %v kernel %v: want the proof first, the context last, the kernel object", f.Evidence, f.Kernel)
		}
	})
	t.Run("forged_keeps_refused", func(t *testing.T) {
		s := newScenario(t)
		s.host = hostTTL(52, 12)
		ev := s.event("C S", "S RA seq=0 id=0 @0.3ms")
		if f := judge(ev); f.Cause != CauseRefused || f.Origin != OriginServer {
			t.Fatalf("alone: got %s/%s, want refused/server", f.Cause, f.Origin)
		}
		w := fakeWitness{WitnessClaim{Attest: AttestForged, Summary: "the witness never saw it",
			Evidence: Evidence{Signal: SignalAbsentAtSender, Detail: "not at the server"}}}
		f := (&Engine{}).Judge(ev, w)
		if f.Cause != CauseRefused || f.Origin != OriginMiddlebox || f.Confidence != High {
			t.Errorf("got %s/%s %s, want refused/middlebox high", f.Cause, f.Origin, f.Confidence)
		}
		if !strings.HasPrefix(f.Summary, "RST claimed from server") || !strings.Contains(f.Summary, "a firewall on the path") ||
			!strings.HasSuffix(f.Summary, "; the witness never saw it") || !strings.Contains(f.Advice, "a firewall between the capture point and the server") {
			t.Errorf("summary %q advice %q: want the firewall's words", f.Summary, f.Advice)
		}
	})
}

// causeWitness testifies a cause, as the kernel's reset reason does.
type causeWitness struct{ claim WitnessClaim }

func (w causeWitness) Testify(*flows.Event) Testimony {
	return Testimony{Claims: []WitnessClaim{w.claim}}
}

// TestJudge_witnessCause: a witness's cause (the kernel's reason through its
// table) fixes the cause at high confidence; packet context keeps its own
// cause when it is a variant the witness allows; a witness that allows
// causes without naming one confirms an allowed cause and leaves any other.
func TestJudge_witnessCause(t *testing.T) {
	// A server RST after a finished exchange: abortive_close alone.
	event := func(t *testing.T) *flows.Event {
		return newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=500 @20ms", "C A @20ms", "S RA @1ms")...)
	}
	genuine := func(cause Cause, allowed ...Cause) causeWitness {
		return causeWitness{WitnessClaim{Attest: AttestGenuine, Cause: cause, Allowed: allowed,
			Summary:  "this host's kernel sent it (X)",
			Evidence: Evidence{Signal: "kernel_reason", Detail: "this host's TCP stack sent it: X"}}}
	}
	if f := judge(event(t)); f.Cause != CauseAbortiveClose || f.Confidence == High {
		t.Fatalf("alone: got %s %s, want abortive_close below high", f.Cause, f.Confidence)
	}
	for _, tc := range []struct {
		name    string
		w       causeWitness
		cause   Cause
		conf    Confidence
		alt     Cause // must be among the alternatives ("" none required)
		summary bool  // the witness's summary clause is appended
	}{
		{"fixes_another_cause", genuine(CauseStaleKeepalive), CauseStaleKeepalive, High, CauseAbortiveClose, true},
		{"confirms_the_same_cause", genuine(CauseAbortiveClose), CauseAbortiveClose, High, "", false},
		{"keeps_an_allowed_variant", genuine(CauseClientAbort, CauseAbortiveClose), CauseAbortiveClose, High, "", false},
		{"allowed_only_confirms", genuine("", CauseAbortiveClose), CauseAbortiveClose, High, "", false},
		{"allowed_only_leaves_others", genuine("", CauseStaleKeepalive), CauseAbortiveClose, Medium, "", false},
		{"drop_proves_ignored_rst", causeWitness{WitnessClaim{Cause: CauseIgnoredRST, Summary: "dropped",
			Evidence: Evidence{Signal: "kernel_dropped", Detail: "dropped"}}}, CauseIgnoredRST, High, CauseAbortiveClose, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := (&Engine{}).Judge(event(t), tc.w)
			if f.Cause != tc.cause || f.Confidence != tc.conf || f.Origin != OriginServer {
				t.Errorf("got %s/%s %s, want %s/server %s", f.Cause, f.Origin, f.Confidence, tc.cause, tc.conf)
			}
			if tc.alt != "" && !slices.Contains(f.Alternatives, tc.alt) || slices.Contains(f.Alternatives, f.Cause) {
				t.Errorf("alternatives %v: want %q and not %s", f.Alternatives, tc.alt, f.Cause)
			}
			if got := strings.HasSuffix(f.Summary, "; "+tc.w.claim.Summary); got != tc.summary {
				t.Errorf("summary %q: clause %q appended %v, want %v", f.Summary, tc.w.claim.Summary, got, tc.summary)
			}
			if f.Evidence[0].Signal != tc.w.claim.Evidence.Signal {
				t.Errorf("evidence %v: want the witness's claim first", f.Evidence)
			}
			// The witness's advice goes with the cause it names.
			w := tc.w
			w.claim.Advice = "witness advice"
			g := (&Engine{}).Judge(event(t), w)
			if want := f.Cause == w.claim.Cause; (g.Advice == "witness advice") != want {
				t.Errorf("advice %q: the witness's advice taken %v, want %v (cause %s, witness %s)", g.Advice, !want, want, g.Cause, w.claim.Cause)
			}
		})
	}
}
