package capture

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// shiftedCopy writes the TCP frames of a corpus pcap with every timestamp
// moved by d, through PcapWriter.
func shiftedCopy(t *testing.T, name string, d time.Duration) string {
	t.Helper()
	pkts, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, name), 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shifted.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewPcapWriter(f, pkts[0].LinkType, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkts {
		pkts[i].Time = pkts[i].Time.Add(d)
		if err := w.WritePacket(&pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenFiles_merge merges a capture with a time-shifted copy of itself:
// packets come in time order (the first input on a tie), each input's
// packets keep their own Index sequence, and the stats add up. The order is
// checked against mergecap's where it is installed.
func TestOpenFiles_merge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		frames  uint64 // manifest packets
		ordered bool   // the file's own timestamps never go back
	}{
		{"ndpi/webex.pcap", 1110, true},
		{"ndpi/avast.pcap", 142, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testMerge(t, tc.name, tc.frames, tc.ordered) })
	}
}

func testMerge(t *testing.T, name string, frames uint64, ordered bool) {
	orig := filepath.Join(corpusDir, name)
	single, err := readAll(t, openOrFatal(t, orig, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := single[0].Time, single[0].Time
	for _, p := range single {
		if p.Time.Before(lo) {
			lo = p.Time
		}
		if p.Time.After(hi) {
			hi = p.Time
		}
	}
	shift := hi.Sub(lo) / 2
	shifted := shiftedCopy(t, name, shift)

	m, err := OpenFiles([]string{orig, shifted}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := readAll(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(single) {
		t.Fatalf("merged %d packets, want %d", len(got), 2*len(single))
	}
	next := [2]int{}
	switches := 0
	for i, p := range got {
		if i > 0 {
			prev := got[i-1]
			if ordered && (p.Time.Before(prev.Time) || p.Time.Equal(prev.Time) && p.Input < prev.Input) {
				t.Fatalf("packet %d (input %d frame %d, %v) after input %d frame %d (%v): not in merge order",
					i, p.Input, p.Index, p.Time, prev.Input, prev.Index, prev.Time)
			}
			if p.Input != prev.Input {
				switches++
			}
		}
		want := single[next[p.Input]]
		next[p.Input]++
		wantIndex, wantTime := want.Index, want.Time
		if p.Input == 1 { // the copy holds the TCP frames only, shifted
			wantIndex, wantTime = uint64(next[1]), want.Time.Add(shift)
		}
		if p.Index != wantIndex || p.Seq != want.Seq || !p.Time.Equal(wantTime) {
			t.Fatalf("packet %d: input %d frame %d seq %d %v, want frame %d seq %d %v", i, p.Input, p.Index, p.Seq, p.Time, wantIndex, want.Seq, wantTime)
		}
	}
	if switches < 3 {
		t.Errorf("inputs alternate %d times: the shifted copy does not interleave", switches)
	}
	st := m.Stats()
	if want := frames + uint64(len(single)); st.Packets != want || st.TCPPackets != uint64(len(got)) {
		t.Errorf("Stats: Packets %d TCPPackets %d, want %d and %d", st.Packets, st.TCPPackets, want, len(got))
	}
	if ordered && (!st.FirstTime.Equal(single[0].Time) || !st.LastTime.Equal(got[len(got)-1].Time)) {
		t.Errorf("Stats: FirstTime %v LastTime %v, want %v and %v", st.FirstTime, st.LastTime, single[0].Time, got[len(got)-1].Time)
	}
	if lt := m.(LinkTyper).LinkTypes(); len(lt) != 1 || lt[0] != 1 {
		t.Errorf("LinkTypes() = %v, want [1]", lt)
	}

	if _, err := exec.LookPath("mergecap"); err != nil {
		return
	}
	merged := filepath.Join(t.TempDir(), "mergecap.pcap")
	if out, err := exec.Command("mergecap", "-F", "pcap", "-w", merged, orig, shifted).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v\n%s", err, out)
	}
	ref, err := readAll(t, openOrFatal(t, merged, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != len(got) {
		t.Fatalf("mergecap gives %d packets, OpenFiles %d", len(ref), len(got))
	}
	for i := range ref {
		if !ref[i].Time.Equal(got[i].Time) || ref[i].Seq != got[i].Seq || ref[i].Src != got[i].Src {
			t.Fatalf("packet %d: OpenFiles %v %s seq %d, mergecap %v %s seq %d", i, got[i].Time, got[i].Src, got[i].Seq, ref[i].Time, ref[i].Src, ref[i].Seq)
		}
	}
}

// TestOpenFiles_truncatedInput: an input cut mid-record stops itself only;
// the other input's packets all come, then the cut's error.
func TestOpenFiles_truncatedInput(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "ndpi/avast.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := cutFile(t, "ndpi/avast.pcap", pcapRecordEnds(t, raw)[9]+20) // inside record 11
	other := filepath.Join(corpusDir, "ndpi/webex.pcap")
	m, err := OpenFiles([]string{cut, other}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := readAll(t, m)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	n := [2]int{}
	for _, p := range got {
		n[p.Input]++
	}
	st := m.Stats()
	if n[0] != 10 || uint64(n[1]) != st.TCPPackets-10 || !st.Truncated {
		t.Errorf("got %d + %d packets, Truncated %v; want 10 from the cut input, all %d TCP of the other, Truncated", n[0], n[1], st.Truncated, st.TCPPackets-10)
	}
}

func TestOpenFiles_openError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pcap")
	_, err := OpenFiles([]string{filepath.Join(corpusDir, "ndpi/avast.pcap"), missing}, FileOptions{})
	if err == nil || err.Error() != "capture: "+missing+": no such file or directory" {
		t.Errorf("got %v, want the missing file named", err)
	}
}
