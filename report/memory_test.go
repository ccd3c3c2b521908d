package report

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// scanFinding is finding i of a port scan answered by RSTs, as the engine
// makes it: a 16-row ladder, four evidence lines with frames, summary and
// advice sentences (about the size issue 14.2 measured per finding).
func scanFinding(i int) heuristics.Finding {
	base := t0.Add(time.Duration(i) * time.Millisecond)
	frame := uint64(i*20 + 1)
	f := heuristics.Finding{
		Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer, Confidence: heuristics.High,
		Summary: fmt.Sprintf("RST from server 10.%d.%d.%d:%d: RST+ACK with ack 1308181499 = SYN seq + 1 answers the client's SYN (frame %d) 37 µs later; no SYN/ACK was seen (the client sees ECONNREFUSED)",
			i>>16&255, i>>8&255, i&255, 1+i%65000, frame),
		Flow: heuristics.FlowInfo{Client: ap("192.0.2.1:" + strconv.Itoa(1024+i%60000)),
			Server: ap(fmt.Sprintf("10.%d.%d.%d:%d", i>>16&255, i>>8&255, i&255, 1+i%65000)), RolesFrom: "handshake",
			Start: at(base), ClientPackets: 9, ServerPackets: 7, History: "ShADadR", ConnState: "RSTR"},
		RST: heuristics.RSTInfo{Time: at(base.Add(time.Millisecond)), Packet: frame + 15, From: heuristics.SideServer, Count: 1,
			Flags: "RA", Seq: 1, Ack: 1308181499, TTL: 62, IPID: u16(0), SeqCheck: "exact"},
		Stage: "post_syn", Errno: "ECONNREFUSED", Alternatives: []heuristics.Cause{heuristics.CauseMiddleboxInjected},
		Advice: "nothing listens on that port (or the host's own firewall rejects it): check the service is up and bound to this address",
	}
	for k := range 4 {
		f.Evidence = append(f.Evidence, heuristics.Evidence{Signal: heuristics.SignalTTLConsistent,
			Detail: fmt.Sprintf("RST TTL 62 matches the host's packets in other flows (TTL 62, %d samples)", k+7), Frames: []uint64{frame + uint64(k), frame + 15}})
	}
	for k := range 16 {
		f.Packets = append(f.Packets, heuristics.PacketRow{Packet: frame + uint64(k), TimeOffset: ms(float64(k-15) * 0.1),
			From: heuristics.Side(1 + k%2), Flags: "A", Seq: uint32(1000 + k), Ack: uint32(2000 + k), Len: 100 * k, TTL: 64, IPID: u16(uint16(k)), Window: 502,
			RST: k == 15})
	}
	return f
}

// heapProbe samples the live heap (after a GC) and keeps the peak.
type heapProbe struct{ peak uint64 }

func (h *heapProbe) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak = max(h.peak, m.HeapAlloc)
}

// probeWriter discards output and samples the heap every 64 MB written,
// so the peak includes what Close holds while it writes.
type probeWriter struct {
	h *heapProbe
	n int64
}

func (p *probeWriter) Write(b []byte) (int, error) {
	if p.n/(64<<20) != (p.n+int64(len(b)))/(64<<20) {
		p.h.sample()
	}
	p.n += int64(len(b))
	return len(b), nil
}

// heldHeap writes n scan findings through a document Writer and returns
// the peak live heap of the process while it does (sampled after a GC
// eight times during Write, every 64 MB of output and after Close), and
// the bytes written.
func heldHeap(t testing.TB, format string, n int, gen func(int) heuristics.Finding) (peak uint64, out int64) {
	var h heapProbe
	pw := &probeWriter{h: &h}
	w, err := New(format, pw, Options{Width: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f := gen(i)
		if err := w.Write(&f); err != nil {
			t.Fatal(err)
		}
		if (i+1)%(n/8) == 0 {
			h.sample()
		}
	}
	if err := w.Close(Summary{Tool: "rstscope"}); err != nil {
		t.Fatal(err)
	}
	h.sample()
	return h.peak, pw.n
}

// TestDocument_memoryBounded (issue 14.2): whole-document formats must not
// hold every finding in memory until Close. For each of json, markdown
// and text it writes n and then 2n scan findings (n = 10,000;
// RSTSCOPE_MEM_FINDINGS sets n and
// RSTSCOPE_MEM_FORMATS the formats, e.g. 100000 and json for the figures
// of the commit message),
// samples the live heap during Write and Close, and extrapolates the
// growth between the two runs to 1,000,000 findings: under 1 GB.
func TestDocument_memoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes tens of thousands of findings; run without -short")
	}
	formats := []string{"json", "markdown", "text"}
	if v := os.Getenv("RSTSCOPE_MEM_FORMATS"); v != "" {
		formats = strings.Split(v, ",")
	}
	for _, format := range formats {
		n := 10_000
		gen := scanFinding
		if format == "text" {
			// Text lays a card out in about 3 ms: findings to 100 servers
			// fold into 100 groups, so only their first cards are drawn.
			// Markdown, with the same counts, measures a server each.
			gen = func(i int) heuristics.Finding {
				f := scanFinding(i)
				f.Flow.Server = ap(fmt.Sprintf("10.0.0.%d:443", i%100))
				return f
			}
		}
		if v := os.Getenv("RSTSCOPE_MEM_FINDINGS"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				t.Fatal(err)
			}
		}
		p1, _ := heldHeap(t, format, n, gen)
		p2, out := heldHeap(t, format, 2*n, gen)
		per := max(0, float64(p2)-float64(p1)) / float64(n)
		at1M := float64(p2) + per*float64(1_000_000-2*n)
		t.Logf("%s: %d findings: peak live heap %.1f MB; %d findings (%.1f MB written): %.1f MB; growth %.0f B/finding: 1 M findings ≈ %.0f MB",
			format, n, float64(p1)/1e6, 2*n, float64(out)/1e6, float64(p2)/1e6, per, at1M/1e6)
		if at1M > 1e9 {
			t.Errorf("%s: 1 M findings would take %.2f GB of heap, want under 1 GB", format, at1M/1e9)
		}
	}
}

// TestStore_spilledOutputIdentical: findings spilled to the temporary
// file come back byte for byte as the ones kept in memory, in every
// document format (odd values included: a binary RST payload, a
// far-future time, nanosecond offsets).
func TestStore_spilledOutputIdentical(t *testing.T) {
	fs := testFindings()
	fs = append(fs, browserCloses(12)...)
	for i := range 30 {
		fs = append(fs, scanFinding(i*7919))
	}
	fs[len(fs)-1].RST.Payload, fs[len(fs)-1].RST.PayloadLen = "\xff\x00bin\x1b[2J\xc3", 99
	fs[len(fs)-2].RST.Time = at(time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))
	fs[len(fs)-3].Packets[0].TimeOffset = heuristics.Millis{Duration: 1000001} // 1.000001 ms: truncating the float would give 1.000000
	fs[len(fs)-3].GapSeconds = heuristics.Seconds{Duration: 350234567891}
	fs[len(fs)-3].Gap = heuristics.Gap{Duration: 350234567891}
	// An echo of the middlebox reset (frame 107), which only the
	// spill's own fields carry, and an advice instant shown in --tz.
	echo := scanFinding(99)
	echo.Cause, echo.RST.Time = heuristics.CauseAfterReset, at(t0.Add(4*time.Second))
	echo.Echoes = &heuristics.RSTRef{Input: 0, Packet: 107}
	echo.AdviceTime = t0.Add(3*time.Second + 123456789)
	fs = append(fs, echo)
	opts := Options{Width: 100, Location: time.FixedZone("CET", 3600)}
	defer func(n int) { spillAfter = n }(spillAfter)
	for _, format := range []string{"json", "markdown", "text"} {
		spillAfter = 1 << 30
		mem := render(t, format, opts, fs, testSummary())
		if format == "json" && !strings.Contains(mem, `"consequence_of": `) {
			t.Fatalf("json: the echo has no consequence_of: the test does not exercise it")
		}
		spillAfter = 3
		spilled := render(t, format, opts, fs, testSummary())
		if mem != spilled {
			ml, sl := strings.Split(mem, "\n"), strings.Split(spilled, "\n")
			for i := range min(len(ml), len(sl)) {
				if ml[i] != sl[i] {
					t.Errorf("%s: spilled output differs at line %d:\nmemory  %q\nspilled %q", format, i+1, ml[i], sl[i])
					break
				}
			}
			if len(ml) != len(sl) {
				t.Errorf("%s: %d lines in memory, %d spilled", format, len(ml), len(sl))
			}
		}
	}
}
