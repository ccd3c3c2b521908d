package correlate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// spanSource is a capture.Source whose Stats give the span of frames it
// read that were not TCP (ARP, ICMP, ...), besides the TCP packets it
// returns.
type spanSource struct {
	sliceSource
	frames      uint64
	first, last time.Time
}

func (s *spanSource) Stats() capture.Stats {
	return capture.Stats{Packets: s.frames, TCPPackets: uint64(len(s.pkts)), FirstTime: s.first, LastTime: s.last}
}

// refusedByFirewall is the main capture of a client whose SYN a firewall
// answers with RST+ACK (TTL 61, claiming the server): two frames.
func refusedByFirewall(t0 time.Time) []capture.Packet {
	cli, srv := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("192.0.2.10:80")
	return []capture.Packet{
		{Index: 1, Time: t0, Src: cli, Dst: srv, Flags: capture.SYN, Seq: 1000, TTL: 64, Window: 500},
		{Index: 2, Time: t0.Add(300 * time.Microsecond), Src: srv, Dst: cli, Flags: capture.RST | capture.ACK, Ack: 1001, TTL: 61},
	}
}

func judgeWithPeer(t *testing.T, main []capture.Packet, src capture.Source) heuristics.Finding {
	t.Helper()
	peer, err := LoadSource("server.pcap", src, Options{})
	if err != nil {
		t.Fatalf("load: %v (a peer without the flow, or without TCP, is no error)", err)
	}
	var out []heuristics.Finding
	engine := &heuristics.Engine{}
	table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) { out = append(out, engine.Judge(ev, peer)) }})
	for i := range main {
		peer.Observe(&main[i])
		table.Add(&main[i])
	}
	table.Close()
	if len(out) != 1 {
		t.Fatalf("got %d findings, want 1", len(out))
	}
	return out[0]
}

// TestAbsentFlow (issue 13 class 9): a server-side capture that ran
// through the time of the RST and holds no packet of the flow proves the
// SYN never reached the server: absent_at_sender, the SYN lost_in_path.
func TestAbsentFlow(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.10:80")
	other := netip.MustParseAddrPort("198.51.100.7:5555")
	// the server's own traffic with another host, TTL 64 as it leaves
	serverTraffic := func(from, to time.Duration) []capture.Packet {
		var pk []capture.Packet
		for d, i := from, uint64(1); d <= to; d, i = d+500*time.Millisecond, i+1 {
			pk = append(pk, capture.Packet{Index: i, Time: t0.Add(d), Src: srv, Dst: other, Flags: capture.PSH | capture.ACK, Seq: uint32(5000 + i*10), Ack: 1, Len: 10, Payload: make([]byte, 10), TTL: 64})
		}
		return pk
	}
	proved := func(t *testing.T, f heuristics.Finding) {
		t.Helper()
		if f.Cause != heuristics.CauseRefused || f.Origin != heuristics.OriginMiddlebox || f.Confidence != heuristics.High ||
			f.Correlation == nil || f.Correlation.RST != "absent_at_sender" {
			t.Fatalf("got %s/%s %s correlation %+v, want refused/middlebox high absent_at_sender", f.Cause, f.Origin, f.Confidence, f.Correlation)
		}
		lost := evidenceOf(&f, heuristics.SignalLostInPath)
		if len(lost) != 1 || len(lost[0].Frames) != 1 || lost[0].Frames[0] != 1 || !strings.Contains(f.Summary, "never reached the server") {
			t.Errorf("want the SYN (frame 1) lost in the path and the summary to say so: %q %+v", f.Summary, lost)
		}
	}
	t.Run("other_tcp_of_the_server", func(t *testing.T) {
		f := judgeWithPeer(t, refusedByFirewall(t0), &sliceSource{pkts: serverTraffic(-3*time.Second, 3*time.Second)})
		proved(t, f)
		if ev := evidenceOf(&f, heuristics.SignalAbsentAtSender); len(ev) != 1 || !strings.Contains(ev[0].Detail, "initial TTL there") {
			t.Errorf("absent_at_sender: got %+v, want it to say why the capture is at the server", ev)
		}
	})
	t.Run("no_tcp_at_all", func(t *testing.T) {
		// Only ARP and the like at the server, spanning the RST: the main
		// capture is on the client's host, so the peer is the other end.
		f := judgeWithPeer(t, refusedByFirewall(t0), &spanSource{frames: 12, first: t0.Add(-5 * time.Second), last: t0.Add(5 * time.Second)})
		proved(t, f)
	})
	t.Run("no_time_overlap_is_a_note", func(t *testing.T) {
		f := judgeWithPeer(t, refusedByFirewall(t0), &sliceSource{pkts: serverTraffic(-10*time.Minute, -9*time.Minute)})
		if f.Correlation == nil || f.Correlation.RST != "unknown" || f.Origin == heuristics.OriginMiddlebox {
			t.Fatalf("got %s/%s correlation %+v, want the capture's own verdict and rst unknown", f.Cause, f.Origin, f.Correlation)
		}
		if !hasNote(&f, "does not cover this flow") {
			t.Errorf("want a note that the peer does not cover the flow: %+v", f.Evidence)
		}
	})
	t.Run("empty_capture_is_a_note", func(t *testing.T) {
		f := judgeWithPeer(t, refusedByFirewall(t0), &sliceSource{})
		if f.Correlation == nil || f.Correlation.RST != "unknown" || f.Origin == heuristics.OriginMiddlebox {
			t.Fatalf("got %s/%s correlation %+v, want the capture's own verdict and rst unknown", f.Cause, f.Origin, f.Correlation)
		}
		if !hasNote(&f, "holds no packet at all") {
			t.Errorf("want a note that the peer is empty: %+v", f.Evidence)
		}
	})
}

func hasNote(f *heuristics.Finding, s string) bool {
	for _, e := range evidenceOf(f, heuristics.SignalNote) {
		if strings.Contains(e.Detail, s) {
			return true
		}
	}
	return false
}
