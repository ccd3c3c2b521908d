package main

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

var (
	// cardTitle starts a text card: "── #12 refused · ...".
	cardTitle = regexp.MustCompile(`^── #(\d+) `)
	// ladderRow is one row of a text ladder: an optional RST marker, the
	// frame, the ms offset, the +ms since the flow began (when the
	// terminal is wide enough) and the direction.
	ladderRow = regexp.MustCompile(`^\s+(?:▶\s+)?(\d+)\s+(?:-?\d+\.\d+)\s+(?:\d+\.\d+\s+)?(?:C→S|S→C|\?)\s`)
)

// textLadders maps each card's id to the frames its text ladder shows.
func textLadders(out string) map[int][]uint64 {
	m := map[int][]uint64{}
	id := 0
	for _, l := range strings.Split(out, "\n") {
		if c := cardTitle.FindStringSubmatch(l); c != nil {
			id, _ = strconv.Atoi(c[1])
			continue
		}
		if id == 0 {
			continue
		}
		if r := ladderRow.FindStringSubmatch(l); r != nil {
			n, _ := strconv.ParseUint(r[1], 10, 64)
			m[id] = append(m[id], n)
		}
	}
	return m
}

// citedByFinding lists the frames a finding names: its RSTs, its
// evidence's, its request's and its TLS alert's.
func citedByFinding(f *heuristics.Finding) []uint64 {
	fr := append([]uint64{f.RST.Packet}, f.RST.Frames...)
	for _, e := range f.Evidence {
		fr = append(fr, e.Frames...)
	}
	if f.Request != nil && f.Request.Frame != 0 {
		fr = append(fr, f.Request.Frame)
	}
	if f.TLSAlert != nil && f.TLSAlert.Packet != 0 {
		fr = append(fr, f.TLSAlert.Packet)
	}
	return fr
}

// TestLadder_showsEveryCitedFrame runs every capture of pcaps/,
// pcaps/lab/ and the corpus as JSON and as text (issue 18.8): each text
// card's ladder, shortened or not, shows every frame its finding names,
// and so does the JSON packets list.
func TestLadder_showsEveryCitedFrame(t *testing.T) {
	paths, _ := filepath.Glob("pcaps/*.pcap")
	lab, _ := filepath.Glob("pcaps/lab/*.pcap")
	paths = append(paths, lab...)
	for _, row := range readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv")) {
		paths = append(paths, filepath.Join(corpusDir, row["file"]))
	}
	if len(paths) < 140 {
		t.Fatalf("found %d captures, want pcaps/, pcaps/lab/ and the corpus", len(paths))
	}
	findings, shortened, folded := 0, 0, 0
	for _, path := range paths {
		code, js, errs := runCLI(t, nil, "-r", path, "--format", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", path, code, errs)
		}
		var d struct{ Findings []heuristics.Finding }
		if err := json.Unmarshal([]byte(js), &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		code, txt, errs := runCLI(t, nil, "-r", path, "--no-color")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", path, code, errs)
		}
		ladders := textLadders(txt)
		type similar struct {
			cause  heuristics.Cause
			origin heuristics.Origin
			server netip.AddrPort
		}
		groups := map[similar]int{}
		// A server host's ports with findings of one cause and origin
		// (report.GroupMin of them make a host group).
		type hostSimilar struct {
			cause  heuristics.Cause
			origin heuristics.Origin
			host   netip.Addr
		}
		ports := map[hostSimilar]map[uint16]bool{}
		for _, f := range d.Findings {
			groups[similar{f.Cause, f.Origin, f.Flow.Server}]++
			if f.Flow.Server.IsValid() {
				k := hostSimilar{f.Cause, f.Origin, f.Flow.Server.Addr()}
				if ports[k] == nil {
					ports[k] = map[uint16]bool{}
				}
				ports[k][f.Flow.Server.Port()] = true
			}
		}
		for i := range d.Findings {
			f := &d.Findings[i]
			findings++
			var rows []uint64
			for _, r := range f.Packets {
				rows = append(rows, r.Packet)
			}
			for _, fr := range citedByFinding(f) {
				if !slices.Contains(rows, fr) {
					t.Errorf("%s #%d (%s): frame %d is cited but not in the JSON packets %v", path, f.ID, f.Cause, fr, rows)
				}
			}
			shown, ok := ladders[f.ID]
			if !ok && len(f.Packets) > 0 {
				// A card left out must belong to a group the summary folds:
				// GroupMin similar findings, or GroupMin ports of its server.
				n := groups[similar{f.Cause, f.Origin, f.Flow.Server}]
				p := len(ports[hostSimilar{f.Cause, f.Origin, f.Flow.Server.Addr()}])
				if n < report.GroupMin && (!f.Flow.Server.IsValid() || p < report.GroupMin) {
					t.Errorf("%s #%d (%s): no card, but only %d similar findings, from %d ports of the server", path, f.ID, f.Cause, n, p)
				}
				folded++
				continue
			}
			if len(shown) < len(rows) {
				shortened++
			}
			for _, fr := range citedByFinding(f) {
				if !slices.Contains(shown, fr) {
					t.Errorf("%s #%d (%s): frame %d is cited but the text ladder shows only %v", path, f.ID, f.Cause, fr, shown)
				}
			}
		}
	}
	t.Logf("%d captures, %d findings (%d folded into groups), %d shortened ladders: every cited frame shown", len(paths), findings, folded, shortened)
	if shortened == 0 {
		t.Errorf("no shortened ladder: the test does not exercise the window")
	}
}
