package flows

import (
	"cmp"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/rstscope/rstscope/capture"
)

// feed runs pkts through a table with opts (noSynOnly as given) and
// returns its events and ended flows (by ID).
func feed(t *testing.T, pkts []capture.Packet, noSynOnly bool) ([]Event, []Flow, TableStats) {
	t.Helper()
	var evs []Event
	var ended []Flow
	tb := NewTable(Options{
		OnEvent:   func(e *Event) { evs = append(evs, *e) },
		OnFlowEnd: func(f *Flow) { ended = append(ended, *f) },
	})
	tb.noSynOnly = noSynOnly
	for i := range pkts {
		tb.Add(&pkts[i])
	}
	st := tb.Stats()
	tb.Close()
	slices.SortStableFunc(ended, func(a, b Flow) int { return cmp.Compare(a.ID, b.ID) })
	return evs, ended, st
}

// readPackets reads a capture into packets with their payloads copied.
func readPackets(t *testing.T, path string) []capture.Packet {
	t.Helper()
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer src.Close()
	var out []capture.Packet
	for {
		var p capture.Packet
		err := src.Next(&p)
		if errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		p.Payload = slices.Clone(p.Payload)
		p.Frame = nil
		out = append(out, p)
	}
}

// TestSynOnly_sameAsFullFlows: tracking a SYN-only flow as a compact
// record and replaying its SYN when the second packet comes gives the
// same events, the same ended flows and the same host profiles as tracking
// every flow in full, on every lab capture and corpus capture.
func TestSynOnly_sameAsFullFlows(t *testing.T) {
	files, _ := filepath.Glob("../pcaps/*.pcap")
	// The corpus too with -short (0.2 s): the lab's captures alone have no
	// flow that ends SYN-only.
	for _, row := range readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv")) {
		files = append(files, filepath.Join(corpusDir, row["file"]))
	}
	if len(files) < 10 {
		t.Fatalf("got %d captures, want the lab's and the corpus's", len(files))
	}
	compacted := 0
	for _, file := range files {
		pk := readPackets(t, file)
		evA, endA, stA := feed(t, pk, false)
		evB, endB, stB := feed(t, pk, true)
		if !reflect.DeepEqual(evA, evB) {
			for i := range min(len(evA), len(evB)) {
				if !reflect.DeepEqual(evA[i], evB[i]) {
					t.Errorf("%s: event %d (RST frame %d) differs with SYN-only records", file, i, evA[i].RSTs[0].Frame)
					break
				}
			}
			if len(evA) != len(evB) {
				t.Errorf("%s: got %d events, want %d", file, len(evA), len(evB))
			}
		}
		if !reflect.DeepEqual(endA, endB) {
			t.Errorf("%s: ended flows differ with SYN-only records (%d vs %d flows)", file, len(endA), len(endB))
		}
		if stA.Flows != stB.Flows || stA.PeakActive != stB.PeakActive {
			t.Errorf("%s: stats flows/peak %d/%d, want %d/%d", file, stA.Flows, stA.PeakActive, stB.Flows, stB.PeakActive)
		}
		for i := range endA {
			if endA[i].Ladder.Total() == 1 {
				compacted++
			}
		}
	}
	if compacted == 0 {
		t.Errorf("no capture had a flow that ended SYN-only: the compact path went untested")
	}
}

// TestSynOnly_promotedOnSecondPacket: a pure SYN is held compactly; its
// SYN/ACK promotes the flow with the SYN in its ladder, profile and host
// profile counted once.
func TestSynOnly_promotedOnSecondPacket(t *testing.T) {
	pk := ladder(t, "C>S S seq=100 mss=1460 ws=7 ts=5", "S>C SA seq=300 ack=101", "C>S A seq=101 ack=301")
	tb := NewTable(Options{})
	tb.Add(&pk[0])
	if tb.syns.n != 1 || tb.flows.get(pk[0].Src, pk[0].Dst, capture.FlowHash(pk[0].Src, pk[0].Dst)) != nil {
		t.Fatalf("after the SYN: got %d SYN-only records, want 1 and no full entry", tb.syns.n)
	}
	if got := tb.Stats().Active; got != 1 {
		t.Errorf("Active after the SYN: got %d, want 1", got)
	}
	tb.Add(&pk[1])
	tb.Add(&pk[2])
	if tb.syns.n != 0 {
		t.Errorf("after the SYN/ACK: got %d SYN-only records, want 0", tb.syns.n)
	}
	e := tb.flows.get(pk[0].Src, pk[0].Dst, capture.FlowHash(pk[0].Src, pk[0].Dst))
	if e == nil {
		t.Fatal("no full entry after the SYN/ACK")
	}
	f := new(Flow)
	e.st.expand(f)
	c := f.Profile(FromClient)
	if f.ID != 1 || f.RolesFrom != RolesHandshake || !c.SYNSeen || c.ISN != 100 || c.MSS != 1460 || c.WScale != 7 || c.TSPackets != 1 || !c.SYNTime.Equal(pk[0].Time) {
		t.Errorf("client profile: got ID %d roles %v SYN %v ISN %d MSS %d ws %d ts %d time %v", f.ID, f.RolesFrom, c.SYNSeen, c.ISN, c.MSS, c.WScale, c.TSPackets, c.SYNTime)
	}
	if f.Ladder.Len() != 3 || f.Ladder.At(0).Frame != 1 || f.History() != "ShA" || f.ClientRTT != pk[1].Time.Sub(pk[0].Time) {
		t.Errorf("got ladder %d entries (first frame %d), history %q, client RTT %v", f.Ladder.Len(), f.Ladder.At(0).Frame, f.History(), f.ClientRTT)
	}
	if h := tb.hosts.get(cliAddr.Addr()); h == nil || h.TTL.Count != 2 || h.Flows != 1 || h.IPID.Samples != 2 {
		t.Errorf("client host: got %+v, want 2 TTL and IP ID samples, 1 flow", h)
	}
}
