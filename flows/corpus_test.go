package flows

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
func runCapture(t *testing.T, file string, opts Options) (events []Event, ended []Flow) {
	t.Helper()
	src, err := capture.OpenFile(filepath.Join(corpusDir, file), 0, capture.FileOptions{})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer src.Close()
	opts.OnEvent = func(e *Event) { events = append(events, *e) }
	opts.OnFlowEnd = func(f *Flow) { ended = append(ended, *f) }
	tb := NewTable(opts)
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
			events, _ := runCapture(t, file, Options{})
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
// RST_FLOWS.tsv. Zeek's own conn.log has 5 s reset/close delays, hence
// CloseEvict 5 s here.
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
			// Zeek forgets a reset or closed connection 5 s after it
			// closed (tcp_reset_delay, tcp_close_delay).
			_, ended := runCapture(t, row["file"], Options{CloseEvict: 5 * time.Second})
			var f *Flow
			for i := range ended {
				if f == nil && ended[i].Client == parseTSVAddr(t, row["orig"]) && ended[i].Server == parseTSVAddr(t, row["resp"]) {
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

// TestCorpus_whoReset checks, for every RST flow of RST_FLOWS.tsv, that the
// event of the flow's first RST names the same sender as the table
// (syn_sender = client, syn_receiver = server; port-guess rows: the side
// on the high or low port) and the same endpoints.
func TestCorpus_whoReset(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus run skipped in -short mode")
	}
	byFile := map[string][]Event{}
	for _, row := range readTSV(t, filepath.Join(corpusDir, "RST_FLOWS.tsv")) {
		file := row["file"]
		events, ok := byFile[file]
		if !ok {
			events, _ = runCapture(t, file, Options{})
			byFile[file] = events
		}
		frame, err := strconv.ParseUint(row["first_rst_frame"], 10, 64)
		if err != nil {
			continue
		}
		var e *Event
		for i := range events {
			if events[i].First().Frame == frame {
				e = &events[i]
			}
		}
		name := file + " frame " + row["first_rst_frame"]
		if e == nil {
			t.Errorf("%s: no event starts at the first RST", name)
			continue
		}
		sender := e.First().Dir
		var from netip.AddrPort
		if sender == FromClient {
			from = e.Flow.Client
		} else {
			from = e.Flow.Server
		}
		var want string
		switch row["first_rst_by"] {
		case "syn_sender":
			want = row["orig"]
		case "syn_receiver":
			want = row["resp"]
		default:
			hi, lo := row["orig"], row["resp"]
			if parseTSVAddr(t, hi).Port() < parseTSVAddr(t, lo).Port() {
				hi, lo = lo, hi
			}
			want = lo
			if row["first_rst_by"] == "high_port_side" {
				want = hi
			}
		}
		if from != parseTSVAddr(t, want) {
			t.Errorf("%s: RST sender got %v (%v of %v>%v), want %s", name, from, sender, e.Flow.Client, e.Flow.Server, want)
		}
	}
}

// parseTSVAddr parses "ip:port" as the TSV files write it (IPv6 without
// brackets).
func parseTSVAddr(t *testing.T, s string) netip.AddrPort {
	i := strings.LastIndexByte(s, ':')
	a, err := netip.ParseAddr(s[:max(i, 0)])
	p, err2 := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || err2 != nil {
		t.Fatalf("bad address %q", s)
	}
	return netip.AddrPortFrom(a, uint16(p))
}
