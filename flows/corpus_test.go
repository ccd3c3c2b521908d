package flows

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/capture"
)

const corpusDir = "../pcaps/corpus"

// readTSV returns the rows of a TSV file as maps by column name.
func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	defer f.Close()
	var head []string
	var rows []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if head == nil {
			head = cols
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			if i < len(head) {
				row[head[i]] = c
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// runCapture feeds one corpus file through a table.
func runCapture(t *testing.T, file string) (events []Event, ended []Flow) {
	t.Helper()
	src, err := capture.OpenFile(filepath.Join(corpusDir, file), 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer src.Close()
	tb := NewTable(Options{
		OnEvent:   func(e *Event) { events = append(events, *e) },
		OnFlowEnd: func(f *Flow) { ended = append(ended, *f) },
	})
	var p capture.Packet
	for {
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, capture.ErrTruncated) {
				break
			}
			t.Fatalf("%s: %v", file, err)
		}
		tb.Add(&p)
	}
	tb.Close()
	return events, ended
}

// TestCorpus_everyRSTInOneEvent: for every corpus capture, the events'
// RST counts add up to tshark's RST count (MANIFEST tcp_rst_count).
func TestCorpus_everyRSTInOneEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus run skipped in -short mode")
	}
	for _, row := range readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv")) {
		file := row["file"]
		want, err := strconv.Atoi(row["tcp_rst_count"])
		if err != nil {
			continue
		}
		t.Run(file, func(t *testing.T) {
			events, _ := runCapture(t, file)
			got := 0
			for i := range events {
				got += events[i].Count
			}
			if got != want {
				t.Errorf("RSTs in events: got %d, want %d", got, want)
			}
		})
	}
}

// TestCorpus_zeekBaselines compares conn_state (and history where Zeek's
// letters are all ones rstscope keeps) with the Zeek baselines listed in
// RST_FLOWS.tsv.
func TestCorpus_zeekBaselines(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus run skipped in -short mode")
	}
	for _, row := range readTSV(t, filepath.Join(corpusDir, "RST_FLOWS.tsv")) {
		state, hist := row["zeek_conn_state"], row["zeek_history"]
		if state == "" {
			continue
		}
		t.Run(row["file"]+"/"+row["orig"], func(t *testing.T) {
			_, ended := runCapture(t, row["file"])
			var f *Flow
			for i := range ended {
				if ended[i].Client.String() == row["orig"] && ended[i].Server.String() == row["resp"] {
					f = &ended[i]
				}
			}
			if f == nil {
				t.Fatalf("flow %s > %s not found", row["orig"], row["resp"])
			}
			if got := f.ConnState(); got != state {
				t.Errorf("conn_state: got %s, want %s (history %s, Zeek %s)", got, state, f.History(), hist)
			}
			if !strings.ContainsAny(hist, "CcGg^Xx") && f.History() != hist {
				t.Errorf("history: got %s, want %s", f.History(), hist)
			}
		})
	}
}
