package cli

import (
	"io"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// sensorFeed plays connections to a flow table and -w, as the pipeline
// does for each packet: the table first (its events Mark, its ended flows
// reach FlowEnds), then the export.
type sensorFeed struct {
	t   *testing.T
	tb  *flows.Table
	exp Export
	at  time.Time
	n   uint64
}

var sensorFrame = make([]byte, 80) // what -w copies; its bytes do not matter here

func (f *sensorFeed) send(src, dst netip.AddrPort, flags capture.TCPFlags, seq, ack uint32, payload string) {
	f.t.Helper()
	f.n++
	f.at = f.at.Add(time.Millisecond)
	p := capture.Packet{Index: f.n, Time: f.at, Src: src, Dst: dst, TTL: 64, Flags: flags, Seq: seq, Ack: ack,
		Window: 64240, DataOffset: 20, Len: len(payload), Payload: []byte(payload),
		LinkType: 1, Frame: sensorFrame, CapLen: len(sensorFrame), WireLen: len(sensorFrame)}
	f.tb.Add(&p)
	if err := f.exp.Packet(&p); err != nil {
		f.t.Fatal(err)
	}
}

// conn plays connection i: a handshake and a request, then the server's
// RST (a finding, which Marks the flow), or for one in four a FIN close.
func (f *sensorFeed) conn(i int) {
	// 200 clients (the table's per-host profiles stay few), ports not reused.
	c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, 0, byte(i % 200)}), uint16(20000+i/200))
	s := netip.MustParseAddrPort("10.0.0.2:8080")
	const req = "GET /soak HTTP/1.1\r\nHost: soak.test\r\n\r\n"
	f.send(c, s, capture.SYN, 1000, 0, "")
	f.send(s, c, capture.SYN|capture.ACK, 5000, 1001, "")
	f.send(c, s, capture.ACK, 1001, 5001, "")
	f.send(c, s, capture.PSH|capture.ACK, 1001, 5001, req)
	end := uint32(1001 + len(req))
	if i%4 == 3 {
		f.send(s, c, capture.FIN|capture.ACK, 5001, end, "")
		f.send(c, s, capture.FIN|capture.ACK, end, 5002, "")
		f.send(s, c, capture.ACK, 5002, end+1, "")
	} else {
		f.send(s, c, capture.RST|capture.ACK, 5001, end, "")
	}
	f.at = f.at.Add(10 * time.Millisecond) // 100 connections a second
}

// TestSensor_recorderFollowsFlows is the soak's memory as a test: live -w
// holds packets for the flows the table still tracks, not for every flow
// since the start. 100,000 connections (three in four reset and marked)
// pass a flow table wired as the pipeline wires it; once the table is warm
// (20,000 connections), the Recorder holds no more flows than the table,
// and the live heap after 100,000 is where it was after 20,000. Before
// FlowEnds, every flow stayed held until the 65,536-flow cap: 20 MB more.
func TestSensor_recorderFollowsFlows(t *testing.T) {
	cfg, err := Parse([]string{"-i", "soak0", "-w", filepath.Join(t.TempDir(), "rst.pcap")}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := cfg.OpenExport(nil, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := exp.(*recorderExport).rec
	defer exp.Close()
	f := &sensorFeed{t: t, exp: exp, at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	marks := 0
	f.tb = flows.NewTable(flows.Options{LookAhead: cfg.LookAhead, OnFlowEnd: FlowEnds(exp),
		OnEvent: func(ev *flows.Event) { exp.Mark(ev.Flow.Client, ev.Flow.Server); marks++ }})
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	var warm int64
	for i := range 100_000 {
		if i == 20_000 {
			warm = heap()
		}
		f.conn(i)
	}
	end := heap()
	rs, ts := rec.Stats(), f.tb.Stats()
	t.Logf("live heap %d KiB warm, %d KiB after 100,000 connections; -w holds %d flows (%d KiB), the table %d; %d ended, %d findings marked",
		warm>>10, end>>10, rs.HeldFlows, rs.HeldBytes>>10, ts.Active, rs.Ended, marks)
	// The last look-ahead's RSTs are still pending.
	if marks < 74_000 || uint64(marks) != ts.Events || rs.Marked != uint64(marks) {
		t.Fatalf("findings: got %d events (table: %d), %d marked, want them equal and nearly 75,000 (the RSTs)", marks, ts.Events, rs.Marked)
	}
	if rs.HeldFlows > ts.Active {
		t.Errorf("-w holds %d flows, the table %d: want no more than the table", rs.HeldFlows, ts.Active)
	}
	if end > warm+2<<20 {
		t.Errorf("live heap grew from %d KiB (20,000 connections) to %d KiB (100,000), want flat", warm>>10, end>>10)
	}
	runtime.KeepAlive(f.tb)
}
