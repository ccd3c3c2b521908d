package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/kernel"
)

// The lab checks itself with the host kernel's own account (issue 15): each
// capture's rstscope runs with --kernel-reasons in its host's namespace and
// records --kernel-events, saved beside the capture as
// NAME.SIDE.kernel.ndjson.

// kernelReasons is, per scenario, the reason the kernel gives for each RST
// of scenario.rsts (same order) that a lab host's TCP stack sends; "" for an
// RST a router makes; "A|B" when the finding may join either (reasonIs). Measured on Linux 6.18 and checked against what each
// scenario does (REFERENCE.md section 14).
var kernelReasons = map[string][]string{
	"refused_closed_port":              {"NO_SOCKET"},
	"refused_firewall_reject":          {""},
	"refused_lone_closed_port":         {"NO_SOCKET"},
	"refused_port_scan":                {"NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET", "NO_SOCKET"},
	"refused_lone_firewall":            {""},
	"refused_per_socket_ttl":           {"NO_SOCKET"},
	"abortive_close_unread_data":       {"TCP_ABORT_ON_CLOSE"},
	"server_reset_linger0":             {"TCP_STATE"},
	"keepalive_second_request_reset":   {"TCP_STATE"},
	"keepalive_third_request_injected": {""},
	"middlebox_string_reject":          {""},
	"middlebox_string_reject_r2":       {""},
	"middlebox_string_reject_r3":       {""},
	// The server's listener answers the client's FIN for the connection the
	// forged RST closed: the kernel traces it with the listener's tuple
	// (state TCP_LISTEN, no receiver), reason TCP_FLAGS.
	"middlebox_response_reject_r1":     {"", "TCP_FLAGS"},
	"middlebox_response_reject_r2":     {"", "TCP_FLAGS"},
	"middlebox_response_reject_r3":     {"", "TCP_FLAGS"},
	"forged_rst_echo":                  {"", "NO_SOCKET"},
	"idle_timeout_conntrack":           {""},
	"idle_timeout_conntrack_r3":        {""},
	"idle_timeout_conntrack_both_ways": {"", ""},
	"stale_keepalive":                  {"TCP_TIMEWAIT_SOCKET"},
	"tls_close_notify_late_write":      {"TCP_TIMEWAIT_SOCKET"},
	"tls_alert_version":                {"TCP_TIMEWAIT_SOCKET"},
	"tls_alert_version_close_notify":   {"TCP_TIMEWAIT_SOCKET"},
	"tls_alert_version_late_write":     {"TCP_TIMEWAIT_SOCKET"},
	"tls_alert_missing_cert":           {"TCP_TIMEWAIT_SOCKET"},
	"client_abort_mid_response":        {"TCP_ABORT_ON_CLOSE"},
	// The first RST of the burst answers the client's FIN_WAIT2 socket
	// (TCP_TIMEWAIT_SOCKET), the others a socket gone (NO_SOCKET); the
	// finding joins one of them by time, which load moves.
	"per_segment_rsts":                  {"NO_SOCKET|TCP_TIMEWAIT_SOCKET"},
	"control_fin_close":                 {},
	"control_client_rst_after_response": {"TCP_STATE"},
	"refused_closed_port_v6":            {"NO_SOCKET"},
	"middlebox_string_reject_v6":        {""},
	"nat_middlebox_string_reject":       {""},
	"nat_server_reset_linger0":          {"TCP_STATE"},
}

// kernelDisagreements are the lab RSTs where the cause the kernel's reason
// gives (kernel.ReasonCauses) and rstscope's packet-only cause disagree,
// with why: "SCENARIO.SIDE REASON" -> why. TestKernelTable fails on any
// other disagreement, and on a listed one that no longer disagrees.
var kernelDisagreements = map[string]string{
	// none since issue 13 class 1 was fixed: tls_alert_version_close_notify's
	// server RST (TCP_TIMEWAIT_SOCKET) was abortive_close from the packets
	// (the reason gives stale_keepalive or tls_alert); it is tls_alert now
}

// kernelSupported says whether this kernel can give its account (6.12+:
// reasons for active resets, every RST traced, drops traced).
func kernelSupported(t *testing.T) bool {
	tr, err := kernel.Open(kernel.Options{NetNS: []uint32{1}})
	if err != nil {
		t.Logf("lab: kernel reasons not checked: %v", err)
		return false
	}
	s := tr.Session()
	tr.Close()
	if !s.Reasons || !s.AllResets || !s.Drops {
		t.Logf("lab: kernel reasons not checked: kernel %s lacks reasons, full tcp_send_reset or drop reasons (6.12+)", s.Kernel)
		return false
	}
	return true
}

// saveEvents copies a run's --kernel-events beside its saved capture.
func saveEvents(t *testing.T, res result, sc scenario, side string) {
	src := res.client.events
	if side == "server" {
		src = res.server.events
	}
	if src == "" {
		return
	}
	if err := copyFile(src, sc.name+"."+side+".kernel.ndjson"); err != nil {
		t.Errorf("lab: save %s kernel events: %v", side, err)
	}
}

// kernelReport is the JSON report's kernel parts.
type kernelReport struct {
	Stats struct {
		Kernel *struct {
			RSTs   int `json:"rsts"`
			Joined int `json:"joined"`
			Lost   int `json:"events_lost"`
		} `json:"kernel"`
	} `json:"stats"`
	Findings []kernelFinding `json:"findings"`
}

type kernelFinding struct {
	Cause      string `json:"cause"`
	Origin     string `json:"origin"`
	Confidence string `json:"confidence"`
	Stage      string `json:"stage"`
	RST        struct {
		Packet int `json:"packet"`
	} `json:"rst"`
	Evidence []evidence `json:"evidence"`
	Kernel   *struct {
		Event  string `json:"event"`
		Reason string `json:"reason"`
	} `json:"kernel"`
}

func readKernelReport(path string) (kernelReport, error) {
	var r kernelReport
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}

// sentHere is each RST the capture at side sees, with the reason the
// kernel of that side's host gives for it ("" when that host's TCP stack
// did not send it) and whether the table knows.
func sentHere(sc scenario, side string) (ws []wantRST, reasons []string, known bool) {
	table, known := kernelReasons[sc.name]
	for i, w := range sc.rsts {
		if w.ttlAt(side) == 0 {
			continue
		}
		ws = append(ws, w)
		r := ""
		if string(w.by) == side && i < len(table) {
			r = table[i]
		}
		reasons = append(reasons, r)
	}
	return ws, reasons, known
}

// reasonIs reports whether got is the reason want names, or one of the
// reasons it lists as "A|B".
func reasonIs(got, want string) bool {
	return got == want || strings.Contains(want, "|") && slices.Contains(strings.Split(want, "|"), got)
}

// checkKernel asserts the kernel's account in a live report: every RST the
// side's own host sent is joined with tcp_send_reset and the reason the
// table gives; the verdict's cause is one the reason allows, at high
// confidence, with the origin of the truth; no RST of another maker gets
// the kernel's send event.
func checkKernel(t *testing.T, side string, sc scenario, path string) {
	t.Helper()
	r, err := readKernelReport(path)
	if err != nil {
		t.Errorf("%s capture (live, kernel): %v", side, err)
		return
	}
	if r.Stats.Kernel == nil || r.Stats.Kernel.Lost != 0 {
		t.Errorf("%s capture (live, kernel): stats.kernel %+v, want the kernel's account with no event lost", side, r.Stats.Kernel)
	}
	ws, reasons, known := sentHere(sc, side)
	if len(r.Findings) != len(ws) {
		t.Errorf("%s capture (live, kernel): %d findings, want %d", side, len(r.Findings), len(ws))
		return
	}
	for i, f := range r.Findings {
		got := ""
		if f.Kernel != nil && f.Kernel.Event == "tcp_send_reset" {
			got = f.Kernel.Reason
		}
		name := fmt.Sprintf("%s capture (live, kernel) frame %d", side, f.RST.Packet)
		switch {
		case !known:
			t.Errorf("%s: the kernel says %q: scenario %s has no kernelReasons row", name, got, sc.name)
		case !reasonIs(got, reasons[i]):
			t.Errorf("%s: kernel reason %q, want %q (made by the %s)", name, got, reasons[i], ws[i].by)
		}
		for _, e := range f.Evidence {
			if e.Signal == string(kernel.SignalAbsent) {
				// the lab's hosts run no firewall and no raw socket
				t.Errorf("%s: %s: %s", name, e.Signal, e.Detail)
			}
		}
		if got == "" {
			continue
		}
		if problem := reasonProblem(got, f); problem != "" {
			t.Errorf("%s: %s", name, problem)
		}
		if want := ws[i].at(side).Origin; f.Origin != want {
			t.Errorf("%s: origin %s with the kernel's word, want %s", name, f.Origin, want)
		}
	}
}

// reasonProblem says how a verdict made with the kernel's reason strays
// from what the reason allows ("" when it does not).
func reasonProblem(reason string, f kernelFinding) string {
	rc, ok := kernel.CauseFor(reason)
	if !ok {
		return ""
	}
	cause, allowed := rc.Cause, rc.Alternatives
	if f.Stage == "post_syn" && rc.SYN != "" {
		cause, allowed = rc.SYN, nil
	}
	switch {
	case cause == "":
		return "" // the reason leaves the cause to the packets
	case f.Cause != cause && !slices.Contains(allowed, f.Cause):
		return fmt.Sprintf("cause %s, but %s gives %s (or %v)", f.Cause, reason, cause, allowed)
	case f.Confidence != "high":
		return fmt.Sprintf("confidence %s with the kernel's %s, want high", f.Confidence, reason)
	}
	return ""
}

// TestKernelTable replays the join without root: each saved lab capture
// with its --kernel-events (rstscope -r CAPTURE --kernel-events EVENTS),
// and without them. It prints the table of the kernel's reason against
// rstscope's packet-only cause for every lab RST, and fails where the
// kernel's reason (kernelReasons) is not joined, where the verdict with it
// strays from what the reason allows, and where the packet-only cause
// disagrees with the reason's outside kernelDisagreements.
func TestKernelTable(t *testing.T) {
	tl := replayTools(t)
	dir := t.TempDir()
	var rows []string
	listed := map[string]bool{}
	for _, sc := range scenarios {
		for _, side := range []string{"client", "server"} {
			base := sc.name + "." + side
			events := base + ".kernel.ndjson"
			if _, err := os.Stat(events); errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: missing (make lab-pcaps records it beside %s.pcap)", events, base)
				continue
			}
			var reps [2]kernelReport
			for i, extra := range [][]string{nil, {"--kernel-events", events}} {
				js := filepath.Join(dir, fmt.Sprintf("%s.%d.json", base, i))
				args := append([]string{"-r", base + ".pcap", "--format", "json", "-o", js}, extra...)
				if out, err := exec.Command(tl.rstscope, args...).CombinedOutput(); err != nil {
					t.Fatalf("rstscope %s: %v: %s", strings.Join(args, " "), err, out)
				}
				var err error
				if reps[i], err = readKernelReport(js); err != nil {
					t.Fatal(err)
				}
			}
			alone, with := reps[0], reps[1]
			ws, reasons, known := sentHere(sc, side)
			if len(alone.Findings) != len(with.Findings) || len(with.Findings) != len(ws) {
				t.Errorf("%s: %d findings alone, %d with the kernel, want %d", base, len(alone.Findings), len(with.Findings), len(ws))
				continue
			}
			for i, f := range with.Findings {
				po := alone.Findings[i]
				got := "(none)"
				if f.Kernel != nil {
					got = f.Kernel.Event + " " + f.Kernel.Reason
				}
				rows = append(rows, fmt.Sprintf("%-44s %5d  %-8s %-36s %-40s %s",
					base, f.RST.Packet, ws[i].by, got, po.Cause+"/"+po.Origin, f.Cause+"/"+f.Origin+" "+f.Confidence))
				if !known {
					continue // checkKernel (TestLab) names the missing row
				}
				reason := ""
				if f.Kernel != nil && f.Kernel.Event == "tcp_send_reset" {
					reason = f.Kernel.Reason
				}
				if !reasonIs(reason, reasons[i]) {
					t.Errorf("%s frame %d: joined kernel reason %q, want %q", base, f.RST.Packet, reason, reasons[i])
				}
				if reason == "" {
					continue
				}
				if p := reasonProblem(reason, f); p != "" {
					t.Errorf("%s frame %d: %s", base, f.RST.Packet, p)
				}
				key := base + " " + reason
				disagree := reasonProblem(reason, kernelFinding{Cause: po.Cause, Stage: po.Stage, Confidence: "high"}) != ""
				why, ok := kernelDisagreements[key]
				switch {
				case disagree && !ok:
					t.Errorf("%s frame %d: the kernel says %s, the packets say %s: not in kernelDisagreements",
						base, f.RST.Packet, reason, po.Cause)
				case !disagree && ok:
					t.Errorf("%s frame %d: %q agrees now: remove it from kernelDisagreements (%s)", base, f.RST.Packet, key, why)
				}
				listed[key] = true
			}
		}
	}
	for key := range kernelDisagreements {
		if !listed[key] {
			t.Errorf("kernelDisagreements: %q matches no lab RST", key)
		}
	}
	t.Logf("kernel reason x packet-only cause, every lab RST:\n%-44s %5s  %-8s %-36s %-40s %s\n%s",
		"capture", "frame", "made by", "kernel", "packet-only", "with the kernel", strings.Join(rows, "\n"))
	timewaitJoin(t, tl.rstscope, dir)
}

// timewaitJoin: per_segment_rsts' client capture with its kernel events,
// every reset of the burst given the reason the first one has
// (TCP_TIMEWAIT_SOCKET, the client's FIN_WAIT2 socket), as the finding
// joins under load. The reason's own cause is stale_keepalive; it must not
// overturn the packets' abortive_close (the client closed right after its
// request, no connection reused): it confirms it, at high confidence.
func timewaitJoin(t *testing.T, rstscope, dir string) {
	raw, err := os.ReadFile("per_segment_rsts.client.kernel.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"state":"TCP_TIME_WAIT","reason":"TCP_TIMEWAIT_SOCKET"`) {
		t.Fatal("per_segment_rsts.client.kernel.ndjson: the burst's first reset is not TCP_TIMEWAIT_SOCKET any more")
	}
	events := filepath.Join(dir, "timewait.kernel.ndjson")
	tw := strings.ReplaceAll(string(raw), `"state":"UNKNOWN","reason":"NO_SOCKET"`, `"state":"TCP_TIME_WAIT","reason":"TCP_TIMEWAIT_SOCKET"`)
	if err := os.WriteFile(events, []byte(tw), 0o644); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "timewait.json")
	args := []string{"-r", "per_segment_rsts.client.pcap", "--kernel-events", events, "--format", "json", "-o", js}
	if out, err := exec.Command(rstscope, args...).CombinedOutput(); err != nil {
		t.Fatalf("rstscope %s: %v: %s", strings.Join(args, " "), err, out)
	}
	r, err := readKernelReport(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 {
		t.Fatalf("per_segment_rsts with TCP_TIMEWAIT_SOCKET: %d findings, want 1", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Kernel == nil || f.Kernel.Reason != "TCP_TIMEWAIT_SOCKET" || f.Cause != "abortive_close" || f.Origin != "client" || f.Confidence != "high" {
		t.Errorf("per_segment_rsts with TCP_TIMEWAIT_SOCKET: %s/%s %s, kernel %+v; want abortive_close/client high, joined with TCP_TIMEWAIT_SOCKET",
			f.Cause, f.Origin, f.Confidence, f.Kernel)
	}
}
