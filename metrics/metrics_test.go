package metrics

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// scrape serves m on loopback and returns one exposition.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	}()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func newTestMetrics() *Metrics {
	m := New(Options{Version: "0.test", Causes: []string{"refused", "idle_timeout"},
		Origins: []string{"server", "middlebox"}, Confidences: []string{"low", "high"}})
	for range 3 {
		m.Reset("refused", "server", "high")
	}
	m.Update(Snapshot{Packets: 100, TCPPackets: 90, Flows: 7, ActiveFlows: 2, FrozenFlows: 1, FlowsThawed: 8, RSTPackets: 4,
		KernelDrops: 5, IfaceDrops: 6, DroppedFlows: 1, Filtered: 2, PcapWritten: 9, PcapHeldBytes: 4096, PcapHeldFlows: 3,
		Kernel: &KernelCounts{SendReset: 11, ReceiveReset: 12, Dropped: 13, Lost: 14, RSTs: 9, Joined: 7}})
	return m
}

// TestExposition: the counters carry what was given, every label
// combination is present from 0, and no series has an address or port.
func TestExposition(t *testing.T) {
	body := scrape(t, newTestMetrics())
	for _, want := range []string{
		`rstscope_resets_total{cause="refused",confidence="high",origin="server"} 3`,
		`rstscope_resets_total{cause="idle_timeout",confidence="low",origin="middlebox"} 0`,
		"rstscope_packets_total 100", "rstscope_tcp_packets_total 90", "rstscope_flows_total 7",
		"rstscope_flows_active 2", "rstscope_flows_frozen 1", "rstscope_flows_thawed_total 8", "rstscope_rst_packets_total 4",
		`rstscope_dropped_packets_total{where="kernel"} 5`, `rstscope_dropped_packets_total{where="interface"} 6`,
		"rstscope_flows_dropped_total 1", "rstscope_findings_filtered_total 2",
		"rstscope_pcap_packets_written_total 9", "rstscope_pcap_held_bytes 4096", "rstscope_pcap_held_flows 3",
		`rstscope_kernel_events_total{event="tcp_send_reset"} 11`, `rstscope_kernel_events_total{event="tcp_receive_reset"} 12`,
		`rstscope_kernel_events_total{event="kfree_skb"} 13`, "rstscope_kernel_events_lost_total 14",
		"rstscope_kernel_rsts_total 9", "rstscope_kernel_rsts_joined_total 7",
		`rstscope_build_info{goversion="go`, "rstscope_process_resident_memory_bytes ", "rstscope_process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if n := strings.Count(body, "rstscope_resets_total{"); n != 2*2*2 {
		t.Errorf("resets_total series: got %d, want 8 (every cause, origin, confidence)", n)
	}
	for _, bad := range []string{"addr=", "port=", "ip=", "client=", "server="} {
		if strings.Contains(body, bad) {
			t.Errorf("exposition has an unbounded label %q", bad)
		}
	}
}

// TestExposition_noKernel: without the kernel's account its series are
// absent, not 0 (0 would claim the kernel saw no resets).
func TestExposition_noKernel(t *testing.T) {
	m := newTestMetrics()
	m.Update(Snapshot{Packets: 1})
	body := scrape(t, m)
	if strings.Contains(body, "rstscope_kernel_") {
		t.Errorf("no kernel account, yet the exposition has kernel series:\n%s", body)
	}
	if !strings.Contains(body, "rstscope_packets_total 1") {
		t.Error("exposition lacks rstscope_packets_total 1")
	}
}

// TestExposition_promtool: `promtool check metrics` (Prometheus's own
// linter) accepts the exposition: names, units, _total, help text.
func TestExposition_promtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: run `make deps` (Debian package prometheus), then `make test`")
	}
	body := scrape(t, newTestMetrics())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	t.Logf("promtool check metrics: exit 0, no complaints")
}

// TestServe_profiles: with Profiling (--pprof) the listener also serves
// Go's heap profile, the one a running sensor's memory is read from;
// without it, nothing under /debug/pprof/.
func TestServe_profiles(t *testing.T) {
	get := func(m *Metrics, path string) (int, string) {
		t.Helper()
		srv, err := m.Serve("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		resp, err := http.Get("http://" + srv.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	on := New(Options{Version: "0.test", Profiling: true})
	if code, body := get(on, "/debug/pprof/heap?debug=1"); code != 200 || !strings.HasPrefix(body, "heap profile: ") {
		t.Errorf("Profiling: GET /debug/pprof/heap?debug=1: got %d %.40q, want 200 and a heap profile", code, body)
	}
	if code, body := get(on, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("Profiling: GET /debug/pprof/: got %d, want 200 and the index (%.60q)", code, body)
	}
	off := New(Options{Version: "0.test"})
	if code, _ := get(off, "/debug/pprof/heap"); code != 404 {
		t.Errorf("without Profiling: GET /debug/pprof/heap: got %d, want 404", code)
	}
}
