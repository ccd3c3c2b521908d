package kernel_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/kernel"
)

// TestReasonCauses: every cause the table names is a DESIGN.md cause, and
// every sk_rst_reason of the recorded 6.18 format has a row except MPTCP's
// (which keep the packet verdict) and the enum's ERROR/MAX markers.
func TestReasonCauses(t *testing.T) {
	for _, r := range kernel.ReasonCauses {
		for _, c := range append([]string{r.Cause, r.SYN}, r.Alternatives...) {
			if c != "" && !slices.Contains(heuristics.AllCauses, heuristics.Cause(c)) {
				t.Errorf("%s: cause %q is not in heuristics.AllCauses", r.Reason, c)
			}
		}
		if r.Note == "" {
			t.Errorf("%s: no note", r.Reason)
		}
	}
	f := readFormat(t, "testdata/tcp_send_reset-6.18.format")
	for _, name := range f.Symbols["reason"] {
		if strings.HasPrefix(name, "MPTCP_") || name == "ERROR" || name == "MAX" {
			continue
		}
		if _, ok := kernel.CauseFor(name); !ok {
			t.Errorf("reason %s has no row", name)
		}
	}
	for _, name := range kernel.DropReasons {
		if r, ok := kernel.CauseFor(name); !ok || r.Cause != "ignored_rst" {
			t.Errorf("drop reason %s: row %+v, want ignored_rst", name, r)
		}
	}
}
