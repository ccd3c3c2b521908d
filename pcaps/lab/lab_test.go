package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLab runs every scenario in its own topology, in parallel.
func TestLab(t *testing.T) {
	if why := labSupported(); why != "" {
		t.Skipf("network-namespace lab skipped (%s); run it with `sudo make lab`", why)
	}
	tl, err := buildTools(t.TempDir(), true)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	if err := sweepStale(tl); err != nil {
		t.Fatalf("lab: %v", err)
	}
	tl.kernel = kernelSupported(t)
	save := os.Getenv("RSTSCOPE_LAB_SAVE") == "1"
	var mu syncResults
	// The fixtures are saved when the kernel did what the scenario says (the
	// client's outcome and every RST's sender and TTL), even if rstscope's
	// judgement of them is wrong: they are the ground truth for its tests.
	t.Cleanup(func() {
		res := mu.sorted()
		complete := len(res) == len(scenarios)
		for _, r := range res {
			complete = complete && r.factsOK
		}
		if save && complete {
			if err := writeReadme(res); err != nil {
				t.Errorf("lab: README.md: %v", err)
			}
		}
	})
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			res := runScenario(t, tl, fmt.Sprintf("rsl-%d-%d", os.Getpid(), i), sc)
			if save && res.factsOK {
				for side, src := range map[string]string{"client": res.client.pcap, "server": res.server.pcap} {
					if err := copyFile(src, sc.name+"."+side+".pcap"); err != nil {
						t.Errorf("lab: save %s pcap: %v", side, err)
					}
					saveEvents(t, res, sc, side)
				}
			}
			mu.add(i, res)
		})
	}
}

// result is what one scenario captured.
type result struct {
	sc             scenario
	client, server sideResult
	factsOK        bool // the client's outcomes and the RSTs on the wire are as expected
}

type sideResult struct {
	pcap    string
	events  string // --kernel-events NDJSON ("" without)
	packets []tcpPacket
}

func runScenario(t *testing.T, tl *tools, prefix string, sc scenario) result {
	l := newLab(t, tl, prefix)
	srv, cli := serverV4, clientV4
	if sc.v6 {
		srv, cli = serverV6, clientV6
	}
	for k := 1; k <= routers; k++ {
		for _, cmd := range sc.router[k] {
			l.exec(fmt.Sprintf("r%d", k), cmd...)
		}
	}
	if sc.server != nil {
		listen := []string{}
		for _, p := range []int{portOpen, portFiltered} {
			listen = append(listen, netip.AddrPortFrom(srv, uint16(p)).String())
		}
		args := []string{tl.labpeer, "server", "-listen", strings.Join(listen, ",")}
		if sc.gtsm {
			args = append(args, "-gtsm", netip.AddrPortFrom(srv, portGTSM).String())
		}
		args = append(args, sc.server...)
		p := l.start("labpeer server", "s", args...)
		if err := p.waitOutput("listening", readyTimeout); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	ccap := liveCapture(l, "c", "c0", "client")
	scap := liveCapture(l, "s", "s0", "server")
	for _, c := range []*capture{ccap, scap} {
		if err := c.waitCapturing(readyTimeout); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	res := result{sc: sc, client: sideResult{pcap: ccap.pcap, events: ccap.events},
		server: sideResult{pcap: scap.pcap, events: scap.events}, factsOK: true}
	for i, st := range sc.steps {
		addr := netip.AddrPortFrom(srv, uint16(st.port)).String()
		out := l.exec("c", append([]string{tl.labpeer, "client", "-connect", addr}, st.args...)...)
		got := strings.TrimPrefix(strings.TrimSpace(out), "outcome=")
		if got != st.outcome {
			res.factsOK = false
			t.Errorf("client step %d (%s): got outcome %q, want %q", i+1, strings.Join(st.args, " "), got, st.outcome)
		}
	}
	for _, c := range []*capture{ccap, scap} {
		if err := c.finish(); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	var err error
	for _, s := range []struct {
		side string
		r    *sideResult
		c    *capture
	}{{"client", &res.client, ccap}, {"server", &res.server, scap}} {
		if s.r.packets, _, err = readPcap(s.c.pcap); err != nil {
			t.Fatalf("lab: %s capture: %v", s.side, err)
		}
		if !checkPackets(t, s.side, sc, s.r.packets, cli, srv) {
			res.factsOK = false
		}
		switch {
		case s.c.events != "":
			// the kernel's word changes verdicts: checkKernel, below
			checkKernel(t, s.side, sc, s.c.json)
		case s.c.json != "":
			checkFindings(t, s.side, "live", sc, s.c.json)
		}
		if tl.rstscope == "" {
			continue // tcpdump captured: packet facts only
		}
		// the file path must agree with the live path on the same packets
		fj := filepath.Join(l.dir, s.side+".file.json")
		if out, err := exec.Command(tl.rstscope, "-r", s.c.pcap, "--format", "json", "-o", fj).CombinedOutput(); err != nil {
			t.Errorf("lab: rstscope -r %s: %v: %s", s.c.pcap, err, out)
		} else {
			checkFindings(t, s.side, "file", sc, fj)
		}
	}
	return res
}

// checkPackets asserts what the kernel did, from the capture alone: every
// RST, who sent it (address and TTL), and that the controls had none.
func checkPackets(t *testing.T, side string, sc scenario, pkts []tcpPacket, cli, srv netip.Addr) bool {
	t.Helper()
	ok := true
	errorf := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}
	if sc.nat && side == "server" {
		// behind router1's NAT: the client is clientNAT, on a mapped port
		for _, p := range pkts {
			c := p.Src
			if c.Addr() == srv {
				c = p.Dst
			}
			if c.Addr() != clientNAT || c.Port() < natPortLo || c.Port() > natPortHi {
				errorf("%s capture frame %d: %s %v>%v: the client is not masqueraded to %v:%d-%d", side, p.Index, p.flagString(), p.Src, p.Dst, clientNAT, natPortLo, natPortHi)
			}
		}
		cli = clientNAT
	}
	want := sc.seenAt(side)
	var got []tcpPacket
	for _, p := range pkts {
		if p.has(tcpRST) {
			got = append(got, p)
		}
	}
	// a burst is two or more RSTs in a row from one sender
	var groups [][]tcpPacket
	rest := got
	for _, w := range want {
		if len(rest) == 0 {
			break
		}
		n := 1
		if w.burst {
			for n < len(rest) && rest[n].Src == rest[0].Src {
				n++
			}
		}
		groups = append(groups, rest[:n])
		rest = rest[n:]
	}
	if len(groups) != len(want) || len(rest) != 0 {
		errorf("%s capture: got %d RSTs (%s), want %d", side, len(got), describe(got), len(want))
		return false
	}
	for i, w := range want {
		if w.burst && len(groups[i]) < 2 {
			errorf("%s capture frame %d: one RST, want a burst (made by %s)", side, groups[i][0].Index, w.by)
		}
		for _, p := range groups[i] {
			from := cli
			if w.claimed() == "server" {
				from = srv
			}
			if p.Src.Addr() != from {
				errorf("%s capture frame %d: RST from %v, want from the %s (%v)", side, p.Index, p.Src, w.claimed(), from)
			}
			if p.TTL != w.ttlAt(side) {
				errorf("%s capture frame %d: RST TTL %d, want %d (made by %s)", side, p.Index, p.TTL, w.ttlAt(side), w.by)
			}
		}
	}
	// the server's (and client's) other packets have the TTL of their distance
	for _, p := range pkts {
		if p.has(tcpRST) {
			continue
		}
		wantTTL := uint8(64 - routers)
		if (side == "client") == (p.Src.Addr() == cli) {
			wantTTL = 64
		}
		if sc.gtsm && p.Src.Port() == portGTSM {
			wantTTL += 255 - 64
		}
		if p.TTL != wantTTL {
			errorf("%s capture frame %d: %s from %v TTL %d, want %d", side, p.Index, p.flagString(), p.Src, p.TTL, wantTTL)
		}
	}
	return ok
}

func describe(ps []tcpPacket) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("frame %d %s %v>%v ttl %d", p.Index, p.flagString(), p.Src, p.Dst, p.TTL))
	}
	return strings.Join(s, "; ")
}

// report is the part of rstscope's JSON document (DESIGN.md section 4) the
// lab asserts.
type report struct {
	Stats struct {
		RSTPackets int `json:"rst_packets"`
	} `json:"stats"`
	Findings []struct {
		Cause      string `json:"cause"`
		Origin     string `json:"origin"`
		Confidence string `json:"confidence"`
		Summary    string `json:"summary"`
		Request    *struct {
			Path string `json:"path"`
		} `json:"request"`
		RST struct {
			From   string `json:"from"`
			Packet int    `json:"packet"`
			TTL    int    `json:"ttl"`
		} `json:"rst"`
		Evidence []evidence `json:"evidence"`
	} `json:"findings"`
}

type evidence struct {
	Signal string `json:"signal"`
	Detail string `json:"detail"`
}

// checkFindings asserts rstscope's verdict on every RST the side saw: the
// correct one (Verdict), or for a verdict marked known-wrong, the wrong one
// is logged, and a right one fails until the mark is removed.
func checkFindings(t *testing.T, side, mode string, sc scenario, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s capture (%s): %v", side, mode, err)
		return
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Errorf("%s capture (%s): %s: %v", side, mode, path, err)
		return
	}
	want := sc.seenAt(side)
	if len(r.Findings) != len(want) {
		var got []string
		for _, f := range r.Findings {
			got = append(got, fmt.Sprintf("frame %d %s/%s (%s)", f.RST.Packet, f.Cause, f.Origin, f.Summary))
		}
		t.Errorf("%s capture (%s): got %d findings [%s], want %d", side, mode, len(r.Findings), strings.Join(got, "; "), len(want))
		return
	}
	for i, w := range want {
		f := r.Findings[i]
		if f.RST.From != w.claimed() {
			t.Errorf("%s capture (%s) frame %d: rst.from %s, want %s", side, mode, f.RST.Packet, f.RST.From, w.claimed())
		}
		vd := w.at(side)
		var sig []string
		for _, e := range f.Evidence {
			sig = append(sig, e.Signal+": "+e.Detail)
		}
		got := fmt.Sprintf("%s/%s %s", f.Cause, f.Origin, f.Confidence)
		reqPath := ""
		if f.Request != nil {
			reqPath = f.Request.Path
		}
		problems := verdictProblems(vd, f.Cause, f.Origin, f.Confidence, reqPath, f.Evidence)
		if f.Origin == "middlebox" && w.by.router() == 0 {
			problems = append(problems, fmt.Sprintf("false middlebox: the RST was made by the %s", w.by))
		}
		switch {
		case len(problems) > 0 && vd.KnownWrong != "":
			t.Logf("known wrong (%s): %s capture (%s) frame %d: got %s: %s; evidence: %s",
				vd.KnownWrong, side, mode, f.RST.Packet, got, strings.Join(problems, "; "), strings.Join(sig, "; "))
		case len(problems) > 0:
			t.Errorf("%s capture (%s) frame %d: got %s: %s; evidence: %s",
				side, mode, f.RST.Packet, got, strings.Join(problems, "; "), strings.Join(sig, "; "))
		case vd.KnownWrong != "":
			t.Errorf("%s capture (%s) frame %d: got %s, right now: remove the mark %q", side, mode, f.RST.Packet, got, vd.KnownWrong)
		}
	}
}

// verdictProblems lists how a finding differs from the correct verdict.
func verdictProblems(vd Verdict, cause, origin, conf, reqPath string, ev []evidence) []string {
	var p []string
	if cause != vd.Cause || origin != vd.Origin {
		p = append(p, fmt.Sprintf("want %s/%s", vd.Cause, vd.Origin))
	}
	if vd.MaxConfidence != "" && confRank[conf] > confRank[vd.MaxConfidence] {
		p = append(p, fmt.Sprintf("confidence %s, at most %s allowed", conf, vd.MaxConfidence))
	}
	for _, s := range vd.Signals {
		found := false
		for _, e := range ev {
			found = found || e.Signal == s
		}
		if !found {
			p = append(p, "evidence lacks "+s)
		}
	}
	for _, n := range vd.NotSaid {
		for _, e := range ev {
			if strings.Contains(e.Detail, n) {
				p = append(p, fmt.Sprintf("evidence says %q: %s", n, e.Detail))
			}
		}
	}
	if vd.Request != "" && reqPath != vd.Request {
		p = append(p, fmt.Sprintf("request %q, want %q", reqPath, vd.Request))
	}
	return p
}

var confRank = map[string]int{"low": 1, "medium": 2, "high": 3}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
