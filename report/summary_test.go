package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// browserCloses is the shape of issue 18.7: one client closes n
// connections to one server with RST (origin client), and the server
// resets one connection itself.
func browserCloses(n int) []heuristics.Finding {
	var fs []heuristics.Finding
	for i := range n {
		fs = append(fs, heuristics.Finding{
			Cause: heuristics.CauseAbortiveClose, Origin: heuristics.OriginClient, Confidence: heuristics.Medium,
			Flow: heuristics.FlowInfo{Client: ap(fmt.Sprintf("10.0.0.2:%d", 40000+i)), Server: ap("93.184.216.34:443")},
			RST: heuristics.RSTInfo{Time: at(t0.Add(time.Duration(i) * time.Second)), Packet: uint64(10 + i),
				From: heuristics.SideClient, Count: 1},
		})
	}
	fs = append(fs, heuristics.Finding{
		Cause: heuristics.CauseServerResetAfterRequest, Origin: heuristics.OriginServer, Confidence: heuristics.High,
		Flow: heuristics.FlowInfo{Client: ap("10.0.0.2:39999"), Server: ap("93.184.216.34:443")},
		RST:  heuristics.RSTInfo{Time: at(t0), Packet: 5, From: heuristics.SideServer, Count: 1},
	}, heuristics.Finding{
		Cause: heuristics.CauseMiddleboxInjected, Origin: heuristics.OriginMiddlebox, Confidence: heuristics.High,
		Flow: heuristics.FlowInfo{Client: ap("10.0.0.3:50000"), Server: ap("198.51.100.7:80")},
		RST:  heuristics.RSTInfo{Time: at(t0), Packet: 6, From: heuristics.SideServer, Count: 3},
	})
	return fs
}

func TestTally_resettersByOrigin(t *testing.T) {
	tl := tally{detail: true}
	fs := browserCloses(47)
	for i := range fs {
		tl.add(&fs[i])
	}
	got := tl.topResetters(5)
	want := []struct {
		addr, side string
		n          int
	}{
		{"10.0.0.2", "client", 47},
		{"198.51.100.7:80", "middlebox (as server)", 3},
		{"93.184.216.34:443", "server", 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d resetters %v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].addrOrUnknown() != w.addr || got[i].Side() != w.side || got[i].RSTs != w.n {
			t.Errorf("resetter %d: got %s %s %d, want %s %s %d", i, got[i].addrOrUnknown(), got[i].Side(), got[i].RSTs, w.addr, w.side, w.n)
		}
	}
	cs := tl.rootsByCount()
	if cs[0].Key != heuristics.CauseAbortiveClose || cs[0].N != 47 {
		t.Errorf("by cause: got %v first, want abortive_close 47", cs[0])
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].N > cs[i-1].N {
			t.Errorf("by cause not ordered by count: %v", cs)
		}
	}
}

func TestText_resettersSaySide(t *testing.T) {
	out := render(t, "text", Options{Width: 100}, browserCloses(47), Summary{})
	i := strings.Index(out, "Top resetters (who really sent the RSTs)")
	if i < 0 {
		t.Fatalf("no resetter heading:\n%s", out)
	}
	lines := strings.Split(out[i:], "\n")
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "10.0.0.2" || f[1] != "client" || f[2] != "47" {
		t.Errorf("first resetter: got %q, want 10.0.0.2 client 47", lines[1])
	}
	if strings.Contains(out, "93.184.216.34:443  48") || strings.Contains(out, "Top servers") {
		t.Errorf("the client's closes are still counted for the server:\n%s", out[i:])
	}
	md := render(t, "markdown", Options{}, browserCloses(47), Summary{})
	if !strings.Contains(md, "| 10.0.0.2 | client | 47 |") || !strings.Contains(md, "| `abortive_close` | 47 |\n| `server_reset_after_request`") {
		t.Errorf("markdown summary lacks the client resetter or count order:\n%s", md)
	}
}

// TestJSON_forJQ checks the fields of issue 18.9 that jq users read
// without parsing strings: by_origin, idle_gap_s, the split endpoints and
// rst.input.
func TestJSON_forJQ(t *testing.T) {
	fs := testFindings()
	fs[0].Gap = heuristics.Gap{Duration: 350200 * time.Millisecond}
	out := render(t, "json", Options{}, fs, testSummary())
	var d struct {
		ByOrigin map[string]int `json:"by_origin"`
		Findings []struct {
			IdleGap  *string  `json:"idle_gap"`
			IdleGapS *float64 `json:"idle_gap_s"`
			Flow     struct {
				Client     string  `json:"client"`
				Server     string  `json:"server"`
				ClientIP   *string `json:"client_ip"`
				ServerIP   *string `json:"server_ip"`
				ClientPort *int    `json:"client_port"`
				ServerPort *int    `json:"server_port"`
			} `json:"flow"`
			RST struct {
				Input *int `json:"input"`
			} `json:"rst"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, f := range fs {
		want[string(f.Origin)]++
	}
	if len(d.ByOrigin) != len(want) {
		t.Errorf("by_origin: got %v, want %v", d.ByOrigin, want)
	}
	for o, n := range want {
		if d.ByOrigin[o] != n {
			t.Errorf("by_origin[%s]: got %d, want %d", o, d.ByOrigin[o], n)
		}
	}
	gaps := 0
	for i, f := range d.Findings {
		if f.RST.Input == nil {
			t.Errorf("finding %d: rst.input missing", i+1)
		}
		if f.Flow.ClientIP == nil || f.Flow.ClientPort == nil || f.Flow.ServerIP == nil || f.Flow.ServerPort == nil {
			t.Errorf("finding %d: split endpoints missing: %+v", i+1, f.Flow)
			continue
		}
		if got := netip.AddrPortFrom(netip.MustParseAddr(*f.Flow.ServerIP), uint16(*f.Flow.ServerPort)).String(); got != f.Flow.Server {
			t.Errorf("finding %d: server_ip/server_port give %s, want %s", i+1, got, f.Flow.Server)
		}
		if got := netip.AddrPortFrom(netip.MustParseAddr(*f.Flow.ClientIP), uint16(*f.Flow.ClientPort)).String(); got != f.Flow.Client {
			t.Errorf("finding %d: client_ip/client_port give %s, want %s", i+1, got, f.Flow.Client)
		}
		if f.IdleGap != nil {
			gaps++
			d, err := time.ParseDuration(*f.IdleGap)
			if err != nil || f.IdleGapS == nil || *f.IdleGapS != d.Seconds() {
				t.Errorf("finding %d: idle_gap %v idle_gap_s %v, want the same seconds", i+1, *f.IdleGap, f.IdleGapS)
			}
			if d == 350200*time.Millisecond && *f.IdleGapS != 350.2 {
				t.Errorf("finding %d: idle_gap_s %v, want 350.2", i+1, *f.IdleGapS)
			}
		} else if f.IdleGapS != nil {
			t.Errorf("finding %d: idle_gap_s without idle_gap", i+1)
		}
	}
	if gaps != 2 {
		t.Errorf("findings with an idle gap: got %d, want 2 (the fixture's and the one set here)", gaps)
	}
}

// cards counts the finding cards (text) or sections (markdown) in out.
func cards(out, format string) int {
	if format == "markdown" {
		return strings.Count(out, "\n### ")
	}
	return strings.Count(out, "── #")
}

// TestGroups_foldSimilarFindings (issue 18.11): 3,000 browser closes to
// one server become one line and one card; the lone server reset and the
// middlebox reset keep their cards. Below GroupMin nothing folds.
func TestGroups_foldSimilarFindings(t *testing.T) {
	for _, format := range []string{"text", "markdown"} {
		out := render(t, format, Options{Width: 200}, browserCloses(3000), Summary{})
		if got := cards(out, format); got != 3 {
			t.Errorf("%s: got %d cards, want 3 (the group's first, the server reset, the middlebox reset)", format, got)
		}
		line := groupLine(format, 3000, "abortive_close", "client", "93.184.216.34:443",
			"frame 10 at "+at(t0).String(), "frame 3009 at "+at(t0.Add(2999*time.Second)).String())
		if !strings.Contains(out, line) {
			t.Errorf("%s: lacks the group line %q:\n%.3000s", format, line, out)
		}
		for _, want := range []string{"middlebox_injected", "server_reset_after_request"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the lone %s is buried", format, want)
			}
		}
		few := render(t, format, Options{Width: 200}, browserCloses(GroupMin-1), Summary{})
		if got := cards(few, format); got != GroupMin+1 || strings.Contains(few, "Repeated") {
			t.Errorf("%s: %d similar findings: got %d cards, want %d and no group", format, GroupMin-1, got, GroupMin+1)
		}
	}
	// Live text: the first GroupMin-1 cards of the group print as they
	// come, the rest fold, and the summary says so.
	out := render(t, "text", Options{Width: 200, Stream: true}, browserCloses(30), Summary{})
	if got := cards(out, "text"); got != GroupMin-1+2 {
		t.Errorf("stream: got %d cards, want %d", got, GroupMin-1+2)
	}
	if !strings.Contains(out, "30 × abortive_close") || !strings.Contains(out, fmt.Sprintf("the first %d cards of each are above", GroupMin-1)) {
		t.Errorf("stream: group line missing:\n%s", out[strings.Index(out, "Repeated"):])
	}
}

// portScan is n refused findings from n ports of 192.0.2.7 (a SYN scan
// the kernel answers with RST+ACK on each closed port), then extra on its
// port 22, and one lone middlebox reset elsewhere.
func portScan(n, extra int) []heuristics.Finding {
	var fs []heuristics.Finding
	refused := func(port, i int) heuristics.Finding {
		return heuristics.Finding{
			Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer, Confidence: heuristics.Medium,
			Flow: heuristics.FlowInfo{Client: ap(fmt.Sprintf("203.0.113.9:%d", 50000+i)), Server: ap(fmt.Sprintf("192.0.2.7:%d", port))},
			RST:  heuristics.RSTInfo{Time: at(t0.Add(time.Duration(i) * time.Millisecond)), Packet: uint64(2 + 2*i), From: heuristics.SideServer, Count: 1},
		}
	}
	for i := range n {
		fs = append(fs, refused(1000+i, i))
	}
	for i := range extra {
		fs = append(fs, refused(22, n+i))
	}
	return append(fs, heuristics.Finding{
		Cause: heuristics.CauseMiddleboxInjected, Origin: heuristics.OriginMiddlebox, Confidence: heuristics.High,
		Flow: heuristics.FlowInfo{Client: ap("10.0.0.3:50000"), Server: ap("198.51.100.7:80")},
		RST:  heuristics.RSTInfo{Time: at(t0), Packet: 1, From: heuristics.SideServer, Count: 1},
	})
}

// TestGroups_portScan: findings of one cause and origin from GroupMin or
// more ports of one server are one group over the host, whatever each
// port's count, with the card of its first finding; the port groups
// inside it (port 22's 12 findings) are not listed apart. Nine ports make
// no host group. (pcaps/lab's TestFixtures_portScanGroup: a kernel's.)
func TestGroups_portScan(t *testing.T) {
	for _, format := range []string{"text", "markdown"} {
		out := render(t, format, Options{Width: 200}, portScan(500, 12), Summary{})
		if got := cards(out, format); got != 2 {
			t.Errorf("%s: got %d cards, want 2 (the scan's first refused, the middlebox reset)", format, got)
		}
		line := groupLine(format, 512, "refused", "server", "192.0.2.7, 501 ports",
			"frame 2 at "+at(t0).String(), "frame 1024 at "+at(t0.Add(511*time.Millisecond)).String())
		if !strings.Contains(out, line) {
			t.Errorf("%s: lacks the host group line %q:\n%.3000s", format, line, out)
		}
		if strings.Contains(out, "× refused · origin server · server 192.0.2.7:22") || strings.Contains(out, "| `refused` | `server` | 192.0.2.7:22 |") {
			t.Errorf("%s: port 22's group is listed apart from its host's:\n%.3000s", format, out)
		}
		if !strings.Contains(out, "from 10 or more ports of one server") && !strings.Contains(out, "a server with a number of ports: 10 or more of its ports") {
			t.Errorf("%s: the summary does not say what a host group is", format)
		}
		// Nine ports, port 22's twelve among them: port 22 is a group of
		// its own, the other eight keep their cards.
		few := render(t, format, Options{Width: 200}, portScan(GroupMin-2, 12), Summary{})
		if got := cards(few, format); got != GroupMin-2+1+1 {
			t.Errorf("%s: 9 ports: got %d cards, want %d", format, got, GroupMin)
		}
		if strings.Contains(few, "ports ·") || strings.Contains(few, "ports |") || strings.Contains(few, "ports of one server") || strings.Contains(few, "a number of ports") {
			t.Errorf("%s: 9 ports made a host group:\n%.3000s", format, few)
		}
		if !strings.Contains(few, "12 × refused · origin server · server 192.0.2.7:22") && !strings.Contains(few, "| 12 | `refused` | `server` | 192.0.2.7:22 |") {
			t.Errorf("%s: 9 ports: port 22's group line is missing:\n%.3000s", format, few)
		}
	}
	// Live text: a card for each of the first GroupMin-1 ports, then the
	// host's findings fold, and the note says so.
	out := render(t, "text", Options{Width: 200, Stream: true}, portScan(300, 0), Summary{})
	if got := cards(out, "text"); got != GroupMin-1+1 {
		t.Errorf("stream: got %d cards, want %d", got, GroupMin)
	}
	if !strings.Contains(out, "300 × refused · origin server · server 192.0.2.7, 300 ports") || !strings.Contains(out, "until its server had 10 ports") {
		t.Errorf("stream: host group line or note missing:\n%s", out[strings.Index(out, "Repeated"):])
	}
}

// TestQuiet (issue 18.11, -q): the header and summary only.
func TestQuiet(t *testing.T) {
	fs := browserCloses(20)
	for _, format := range []string{"text", "markdown"} {
		for _, stream := range []bool{false, true} {
			if stream && format == "markdown" {
				continue
			}
			out := render(t, format, Options{Width: 100, Quiet: true, Stream: stream}, fs, Summary{})
			if got := cards(out, format); got != 0 {
				t.Errorf("%s (stream %v): got %d cards, want none", format, stream, got)
			}
			group := "20 × abortive_close"
			if format == "markdown" {
				group = "| 20 | `abortive_close` |"
			}
			if !strings.Contains(out, group) {
				t.Errorf("%s (stream %v): summary or group line missing:\n%s", format, stream, out)
			}
		}
	}
	js := render(t, "json", Options{Quiet: true}, fs, Summary{})
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d["findings"]; ok || !strings.Contains(js, `"findings": 22`) {
		t.Errorf("json -q: want stats.findings 22 and no findings list:\n%s", js)
	}
	nd := render(t, "ndjson", Options{Quiet: true}, fs, Summary{})
	if n := strings.Count(nd, "\n"); n != 1 || !strings.Contains(nd, `"findings":22`) {
		t.Errorf("ndjson -q: got %d lines, want the summary line only:\n%s", n, nd)
	}
}

// TestTally_topResettersExact: the top list kept as findings come equals
// the one computed from every count at the end, for findings in a
// shuffled order with many ties: hosts ranked by their RSTs over all
// their ports, each told with its port while it has one, else with how
// many.
func TestTally_topResettersExact(t *testing.T) {
	var fs []heuristics.Finding
	for i := range 3000 {
		k := (i * 7919) % 97 // 97 servers, uneven counts
		port := 80
		if k%3 == 0 {
			port += (i * 13) % 4 // a third of them on up to four ports
		}
		f := heuristics.Finding{Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer,
			Flow: heuristics.FlowInfo{Client: ap("10.0.0.1:1000"), Server: ap(fmt.Sprintf("10.9.%d.%d:%d", k%7, k, port))},
			RST:  heuristics.RSTInfo{Time: at(t0), Packet: uint64(i + 1), From: heuristics.SideServer, Count: 1 + (i*31)%3}}
		if i%5 == 0 {
			f.Origin = heuristics.OriginMiddlebox
		}
		fs = append(fs, f)
	}
	tl := tally{detail: true}
	exact := map[resetter]int{}
	ports := map[resetter]map[uint16]bool{}
	first := map[resetter]resetter{}
	for i := range fs {
		tl.add(&fs[i])
		r := resetterOf(&fs[i])
		h := r.hostKey()
		exact[h] += fs[i].RST.Count
		if ports[h] == nil {
			ports[h], first[h] = map[uint16]bool{}, r
		}
		ports[h][r.Addr.Port()] = true
	}
	var all []resetterCount
	multi := 0
	for h, n := range exact {
		all = append(all, resetterCount{resetter: first[h], RSTs: n, Ports: len(ports[h]), addr: h.addrOrUnknown()})
		if len(ports[h]) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatal("no host with several ports: the test does not test the fold")
	}
	slices.SortFunc(all, func(a, b resetterCount) int { return a.before(&b) })
	got := tl.topResetters(topResetterMax)
	if len(got) != topResetterMax {
		t.Fatalf("got %d resetters, want %d", len(got), topResetterMax)
	}
	folded := 0
	for i := range got {
		if got[i].label() != all[i].label() || got[i].Side() != all[i].Side() || got[i].RSTs != all[i].RSTs {
			t.Errorf("resetter %d: got %s %s %d, want %s %s %d", i, got[i].label(), got[i].Side(), got[i].RSTs, all[i].label(), all[i].Side(), all[i].RSTs)
		}
		if got[i].Ports > 1 {
			folded++
			ps := slices.Sorted(maps.Keys(ports[got[i].hostKey()]))
			want := fmt.Sprint(got[i].addr, " (ports ", strings.Trim(strings.ReplaceAll(fmt.Sprint(ps), " ", ", "), "[]"), ")")
			if len(ps) > portsListed {
				want = fmt.Sprintf("%s (%d ports)", got[i].addr, len(ps))
			}
			if got[i].label() != want {
				t.Errorf("resetter %d: label %q, want %q", i, got[i].label(), want)
			}
		} else if !strings.HasSuffix(got[i].label(), ":80") {
			t.Errorf("resetter %d: label %q, want the host's only endpoint", i, got[i].label())
		}
	}
	if folded == 0 {
		t.Errorf("no host of several ports in the top %d: %v", topResetterMax, got)
	}
}

// TestText_scanResetterIsOneHost: a server refusing a port scan is one
// line under Top resetters, with all its RSTs and its ports counted, not
// five of its ports with one RST each.
func TestText_scanResetterIsOneHost(t *testing.T) {
	var fs []heuristics.Finding
	for i := range 300 {
		fs = append(fs, heuristics.Finding{Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer, Confidence: heuristics.Medium,
			Flow: heuristics.FlowInfo{Client: ap("10.0.0.1:40000"), Server: ap(fmt.Sprintf("10.0.0.2:%d", 1+i%250))},
			RST:  heuristics.RSTInfo{Time: at(t0.Add(time.Duration(i) * time.Millisecond)), Packet: uint64(2 * (i + 1)), From: heuristics.SideServer, Count: 1}})
	}
	fs = append(fs, heuristics.Finding{Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer, Confidence: heuristics.Medium,
		Flow: heuristics.FlowInfo{Client: ap("10.0.0.1:40001"), Server: ap("10.0.0.3:22")},
		RST:  heuristics.RSTInfo{Time: at(t0.Add(time.Second)), Packet: 999, From: heuristics.SideServer, Count: 2}})
	out := render(t, "text", Options{Width: 100}, fs, Summary{})
	i := strings.Index(out, "Top resetters (who really sent the RSTs)")
	if i < 0 {
		t.Fatalf("no resetter heading:\n%s", out)
	}
	lines := strings.Split(out[i:], "\n")
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "10.0.0.2 (250 ports) server 300" {
		t.Errorf("first resetter: got %q, want 10.0.0.2 (250 ports) server 300", lines[1])
	}
	if f := strings.Fields(lines[2]); strings.Join(f, " ") != "10.0.0.3:22 server 2" {
		t.Errorf("second resetter: got %q, want 10.0.0.3:22 server 2", lines[2])
	}
	md := render(t, "markdown", Options{}, fs, Summary{})
	if !strings.Contains(md, "| 10.0.0.2 (250 ports) | server | 300 |\n| 10.0.0.3:22 | server | 2 |") {
		t.Errorf("markdown resetters lack the folded host:\n%s", md)
	}
}

// groupLine is a group's line under Repeated as text or markdown prints
// it: its findings' count, cause, origin, server (or server host and its
// ports), and its first and last findings.
func groupLine(format string, n int, cause, origin, server, first, last string) string {
	if format == "markdown" {
		return fmt.Sprintf("| %d | `%s` | `%s` | %s | %s | %s |", n, cause, origin, server, first, last)
	}
	return fmt.Sprintf("%d × %s · origin %s · server %s · first %s · last %s", n, cause, origin, server, first, last)
}
