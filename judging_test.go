package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// TestJudging_sameAsInline: a file read judges its events on a goroutine
// of its own (judging.go) unless -w is given, which judges them inside
// the table's callback; both must report the same findings in the same
// order, whatever the capture.
func TestJudging_sameAsInline(t *testing.T) {
	var files []string
	for _, g := range []string{"pcaps/*.pcap", "pcaps/lab/*.pcap"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("got %d captures, want the repository's (at least 50)", len(files))
	}
	findings := 0
	for _, path := range files {
		// json, a document; ndjson, streamed (and held, see
		// TestJudging_holds).
		for _, format := range []string{"json", "ndjson"} {
			code1, inline, errs := runCLI(t, nil, "-r", path, "--format", format, "-w", filepath.Join(t.TempDir(), "w.pcap"))
			if code1 != 0 {
				t.Logf("%s: exit %d judged inline: %s", path, code1, errs)
			}
			if format == "json" {
				findings += countFindings(inline)
			}
			code, got, _ := runCLI(t, nil, "-r", path, "--format", format)
			if code != code1 || got != inline {
				t.Errorf("%s, %s: judged on its own goroutine: exit %d and output differ from judged inline (exit %d)\ngot:\n%.2000s\nwant:\n%.2000s", path, format, code, code1, got, inline)
			}
		}
	}
	if findings < 80 {
		t.Errorf("got %d findings over the captures, want at least 80", findings)
	}
}

// TestJudging_holds: the writing goroutine gives a finding to the report
// to hold (report.WriteHeld) while other events handed over are behind
// it, writes the last of a run at once, and releases what it held when
// the last of a run is not kept, so that a run of findings is one write
// and none waits for a finding that may not come. The judge here waits
// for the test before each event, so that every event is handed over
// before any is judged.
func TestJudging_holds(t *testing.T) {
	type call struct {
		id   int // the finding's Flow.ID; 0: a release
		hold bool
	}
	var calls []call // the writing goroutine's, read after close
	gate := make(chan struct{})
	j := startJudging(func(ev *flows.Event, f *heuristics.Finding) bool {
		<-gate
		f.Summary = fmt.Sprint(ev.Flow.ID)
		return ev.Flow.ID%10 != 0 // IDs 10, 20...: left out by the filter
	}, func(f *heuristics.Finding, hold bool) error {
		id, _ := strconv.Atoi(f.Summary)
		calls = append(calls, call{id, hold})
		return nil
	}, func() error {
		calls = append(calls, call{0, false})
		return nil
	}, func(*heuristics.Finding, bool, error) {})

	var ev flows.Event
	run := func(ids ...uint64) {
		for _, id := range ids {
			ev.Flow.ID = id
			j.event(&ev)
		}
		for range ids {
			gate <- struct{}{}
		}
		for range ids { // written: the next run comes after
			j.done(<-j.out)
		}
	}
	run(1, 2, 3, 4)   // four kept: held, held, held, written
	run(5, 6, 10, 20) // the last two left out: released at the last
	run(30)           // alone and left out: nothing held, no release
	run(7)            // alone: written
	j.close()
	want := []call{{1, true}, {2, true}, {3, true}, {4, false},
		{5, true}, {6, true}, {0, false},
		{7, false}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("writes and releases (id, hold; id 0 a release):\n got %v\nwant %v", calls, want)
	}
}
