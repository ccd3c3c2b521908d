package cli

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/report"
)

// TestStats: the report's stats come from the capture's and the table's
// counters; frames that may hide TCP keep their reasons, in order, and
// the capture's overflow count becomes "other".
func TestStats(t *testing.T) {
	st := capture.Stats{Packets: 40, TCPPackets: 10, Undecodable: 2, Truncated: true, KernelDrops: 3, IfaceDrops: 4,
		Hidden: []capture.HiddenCount{
			{Reason: capture.HiddenReason{Kind: capture.HiddenUDPPort, Value: 2152}, Count: 27},
			{Reason: capture.HiddenReason{Kind: capture.HiddenEtherType, Value: 0x88e5}, Count: 1},
		},
		HiddenOther: 2,
	}
	ts := flows.TableStats{Flows: 5, RSTPackets: 6, DroppedFlows: 7, EndedEarly: 8}
	got := Stats(st, ts, 9, 11)
	want := report.Stats{Packets: 40, TCPPackets: 10, TCPFlows: 5, RSTPackets: 6, Findings: 9, Undecodable: 2,
		TruncatedInput: true, DroppedByKernel: 3, DroppedByInterface: 4, DroppedFlows: 7, FlowsEndedEarly: 8, Filtered: 11}
	nd := got.NotDecoded
	got.NotDecoded = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}
	wantND := []report.NotDecoded{{Reason: "UDP/2152 (GTP-U)", Packets: 27}, {Reason: "EtherType 0x88e5 (MACsec)", Packets: 1}, {Reason: "other", Packets: 2}}
	if !slices.Equal(nd, wantND) {
		t.Errorf("not_decoded: got %+v, want %+v", nd, wantND)
	}
	if nd := Stats(capture.Stats{}, ts, 0, 0).NotDecoded; nd != nil {
		t.Errorf("nothing hidden: got %+v, want nil (omitted from JSON)", nd)
	}
}

// TestWarnings: drops and --max-flows each give their warning, naming the
// limit; quiet counters give none.
func TestWarnings(t *testing.T) {
	cfg := &Config{MaxFlows: 500}
	if w := cfg.Warnings(capture.Stats{}, flows.TableStats{}); len(w) != 0 {
		t.Errorf("quiet counters: got %q", w)
	}
	w := cfg.Warnings(capture.Stats{KernelDrops: 1}, flows.TableStats{EndedEarly: 2, DroppedFlows: 3})
	if len(w) != 3 || !strings.HasPrefix(w[0], "1 packets dropped by the kernel and 0 by the interface") ||
		!strings.HasPrefix(w[1], "2 flows were ended early to make room: --max-flows 500") ||
		!strings.HasPrefix(w[2], "3 flows were not tracked: --max-flows 500") {
		t.Errorf("warnings: got %q", w)
	}
}

// TestIsTerminal: /dev/null is a character device but no terminal, so it
// gets neither colour nor a progress line; a pipe is none either.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Errorf("IsTerminal(%s) = true, want false", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Error("IsTerminal(pipe) = true, want false")
	}
	if IsTerminal(&strings.Builder{}) {
		t.Error("IsTerminal(strings.Builder) = true, want false")
	}
}
