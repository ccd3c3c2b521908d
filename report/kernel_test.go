package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
)

// TestKernel_summaryAndEvidence: the kernel's account shows as the summary
// line "kernel: N of M RSTs joined, K events lost" in text and markdown, as
// stats.kernel in JSON, and its kernel_reason evidence line in each card.
func TestKernel_summaryAndEvidence(t *testing.T) {
	f := &heuristics.Finding{Cause: heuristics.CauseStaleKeepalive, Origin: heuristics.OriginServer, Confidence: heuristics.High,
		Evidence: []heuristics.Evidence{{Signal: "kernel_reason", Frames: []uint64{92},
			Detail: "this host's TCP stack sent it: TCP_TIMEWAIT_SOCKET, 8 us before frame 92"}},
		Kernel: &heuristics.KernelInfo{Event: "tcp_send_reset", Reason: "TCP_TIMEWAIT_SOCKET", State: "TCP_FIN_WAIT2", NetNS: 4026531840, DeltaUS: -8}}
	sum := Summary{Tool: "rstscope", Stats: Stats{RSTPackets: 9, Kernel: &KernelStats{RSTs: 9, Joined: 7, Events: 12}}}
	for _, format := range []string{"text", "markdown", "json"} {
		var b bytes.Buffer
		w, err := New(format, &b, Options{Width: 200})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(sum); err != nil {
			t.Fatal(err)
		}
		out := strings.ReplaceAll(b.String(), `\_`, "_") // markdown escapes underscores
		if format == "json" {
			var doc struct {
				Stats struct {
					Kernel KernelStats `json:"kernel"`
				} `json:"stats"`
				Findings []struct {
					Kernel heuristics.KernelInfo `json:"kernel"`
				} `json:"findings"`
			}
			if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Stats.Kernel != *sum.Stats.Kernel || len(doc.Findings) != 1 || doc.Findings[0].Kernel != *f.Kernel {
				t.Errorf("json: stats.kernel %+v findings %+v, want %+v and %+v", doc.Stats.Kernel, doc.Findings, *sum.Stats.Kernel, *f.Kernel)
			}
			continue
		}
		for _, want := range []string{"7 of 9 RSTs joined, 0 events lost", "kernel_reason", "TCP_TIMEWAIT_SOCKET, 8 us before frame 92"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", format, want, out)
			}
		}
		if !strings.Contains(out, "kernel") {
			t.Errorf("%s: no kernel row", format)
		}
	}
}
