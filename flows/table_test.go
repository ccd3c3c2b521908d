package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

func TestSeq(t *testing.T) {
	tests := []struct {
		a, b Seq
		less bool
	}{
		{1, 2, true},
		{2, 1, false},
		{0xffffff00, 0x10, true}, // wraps
		{0x10, 0xffffff00, false},
		{0, 0x7fffffff, true},
		{5, 5, false},
	}
	for _, tt := range tests {
		if got := tt.a.LessThan(tt.b); got != tt.less {
			t.Errorf("%d.LessThan(%d): got %v, want %v", tt.a, tt.b, got, tt.less)
		}
	}
	if got := Seq(0xfffffff0).Add(0x20); got != 0x10 {
		t.Errorf("Add across wrap: got %#x, want 0x10", uint32(got))
	}
	if got := Seq(0x10).Sub(0xfffffff0); got != 0x20 {
		t.Errorf("Sub across wrap: got %d, want 32", got)
	}
	if !Seq(5).InWindow(0xfffffffe, 10) {
		t.Errorf("5 in [0xfffffffe, +10): got false, want true")
	}
	if Seq(9).InWindow(0xfffffffe, 10) {
		t.Errorf("9 in [0xfffffffe, +10): got true, want false")
	}
	if !Seq(7).LessThanEq(7) || Seq(8).LessThanEq(7) {
		t.Errorf("LessThanEq wrong at 7/8")
	}
}

func TestTable_roles(t *testing.T) {
	hi := netip.MustParseAddrPort("10.0.0.9:40000")
	tests := []struct {
		name       string
		a, b       netip.AddrPort // endpoints of the ladder (as C, S)
		lines      []string
		wantClient netip.AddrPort
		wantFrom   RolesFrom
	}{
		{"handshake", cliAddr, srvAddr, handshake, cliAddr, RolesHandshake},
		{"synack_first", cliAddr, srvAddr, []string{"S>C SA seq=300 ack=101", "C>S A seq=101 ack=301"}, cliAddr, RolesSYNACK},
		{"port_well_known", cliAddr, srvAddr, []string{"S>C PA seq=1 ack=1 len=5"}, cliAddr, RolesPort},
		{"port_lower_wins", netip.MustParseAddrPort("10.0.0.1:50000"), netip.MustParseAddrPort("10.0.0.2:8080"),
			[]string{"S>C A seq=1 ack=1"}, netip.MustParseAddrPort("10.0.0.1:50000"), RolesPort},
		{"port_below_1024_beats_lower", netip.MustParseAddrPort("10.0.0.1:80"), hi,
			[]string{"S>C A seq=1 ack=1"}, hi, RolesPort},
		{"upgrade_by_late_syn", srvAddr, cliAddr, // first packet would make srvAddr the server by port...
			[]string{"C>S A seq=1 ack=1", "S>C S seq=100"}, cliAddr, RolesHandshake}, // ...but cliAddr sent a SYN
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, Options{}, ladderAt(t, tt.a, tt.b, tt.lines...))
			if len(r.ended) != 1 {
				t.Fatalf("got %d flows, want 1", len(r.ended))
			}
			f := r.ended[0]
			if f.Client != tt.wantClient || f.RolesFrom != tt.wantFrom {
				t.Errorf("got client %v from %v, want %v from %v", f.Client, f.RolesFrom, tt.wantClient, tt.wantFrom)
			}
		})
	}
}

func TestTable_roleUpgradeSwapsProfiles(t *testing.T) {
	// Midstream ACK from the port-443 side, then that side turns out to be
	// the client (it sends the SYN): its packets must end in Dirs[0].
	a := netip.MustParseAddrPort("10.0.0.1:443")
	b := netip.MustParseAddrPort("10.0.0.2:50000")
	pk := ladderAt(t, a, b, "C>S A seq=1 ack=1", "C>S S seq=100", "S>C SA seq=300 ack=101")
	r := run(t, Options{}, pk)
	f := r.ended[0]
	if f.Client != a || f.RolesFrom != RolesHandshake {
		t.Fatalf("got client %v (%v), want %v (handshake)", f.Client, f.RolesFrom, a)
	}
	if got := f.Dirs[0].Packets; got != 2 {
		t.Errorf("client packets: got %d, want 2", got)
	}
	if got := f.Dirs[1].Packets; got != 1 {
		t.Errorf("server packets: got %d, want 1", got)
	}
	if got := f.History(); got != "ASh" {
		t.Errorf("history: got %q, want %q", got, "ASh")
	}
}

func TestTable_reusedTupleAfterClose(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"C>S FA seq=101 ack=301",
		"S>C FA seq=301 ack=102",
		"C>S A seq=102 ack=302",
		"C>S S seq=9000", // new ISN: new connection
		"S>C SA seq=7000 ack=9001",
	})...)
	r := run(t, Options{}, pk)
	if len(r.ended) != 2 {
		t.Fatalf("got %d flows, want 2", len(r.ended))
	}
	if r.ended[0].ID != 1 || r.ended[1].ID != 2 {
		t.Errorf("flow IDs: got %d, %d, want 1, 2", r.ended[0].ID, r.ended[1].ID)
	}
	if got := r.ended[0].ConnState(); got != "SF" {
		t.Errorf("first flow conn_state: got %s, want SF", got)
	}
	if got := r.ended[1].Dirs[0].ISN; got != 9000 {
		t.Errorf("second flow client ISN: got %d, want 9000", got)
	}
}

func TestTable_retransmittedSYNStaysInFlow(t *testing.T) {
	// Refused, then the client re-sends the same SYN (Windows retries):
	// one flow, two events.
	pk := ladder(t, "C>S S seq=100", "S>C RA seq=0 ack=101", "C>S S seq=100 t=1s", "S>C RA seq=0 ack=101")
	r := run(t, Options{}, pk)
	if len(r.ended) != 1 {
		t.Errorf("got %d flows, want 1", len(r.ended))
	}
	if len(r.events) != 2 {
		t.Fatalf("got %d events, want 2", len(r.events))
	}
	if !r.events[0].After.NewSYN {
		t.Errorf("first event: After.NewSYN false, want true (frame 3 is a SYN)")
	}
}

func TestRefused(t *testing.T) {
	pk := ladder(t, "C>S S seq=100", "S>C RA seq=0 ack=101 win=0")
	r := run(t, Options{}, pk)
	e := r.one(t)
	if got := e.Sender(); got != FromServer {
		t.Errorf("sender: got %v, want server", got)
	}
	if got := e.First().SeqCheck; got != SeqExact {
		t.Errorf("seq_check: got %v, want exact", got)
	}
	if e.Stage != StagePostSYN {
		t.Errorf("stage: got %v, want post_syn", e.Stage)
	}
	if !e.HasTrigger || e.Trigger.Frame != 1 {
		t.Errorf("trigger: got frame %d (%v), want 1", e.Trigger.Frame, e.HasTrigger)
	}
	if e.Gap != time.Millisecond {
		t.Errorf("gap: got %v, want 1ms", e.Gap)
	}
	if !e.EndOfInput {
		t.Errorf("EndOfInput: got false, want true (input ended inside the look-ahead)")
	}
	if got := r.ended[0].ConnState(); got != "REJ" {
		t.Errorf("conn_state: got %s, want REJ", got)
	}
	if got := r.ended[0].History(); got != "Sr" {
		t.Errorf("history: got %q, want Sr", got)
	}
	// The wrong ack does not reset a SYN-SENT client.
	pk = ladder(t, "C>S S seq=100", "S>C RA seq=0 ack=555")
	if got := run(t, Options{}, pk).one(t).First().SeqCheck; got != SeqOutOfWindow {
		t.Errorf("RST with wrong ack: seq_check got %v, want out_of_window", got)
	}
}

func TestSeqCheck(t *testing.T) {
	base := lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=100 win=500",
		"S>C A seq=301 ack=201 win=1000",
	})
	tests := []struct {
		rst  string
		want SeqCheck
	}{
		{"S>C R seq=301", SeqExact},        // server's SND.NXT = client's RCV.NXT
		{"C>S R seq=201", SeqExact},        // client's SND.NXT = server's RCV.NXT
		{"C>S R seq=700", SeqInWindow},     // server window 1000 from 201
		{"C>S R seq=1202", SeqOutOfWindow}, // beyond 201+1000
		{"C>S R seq=150", SeqOutOfWindow},  // before RCV.NXT
		{"S>C R seq=801", SeqInWindow},     // client window 500 from 301
		{"S>C R seq=9999999", SeqOutOfWindow} /* far */}
	for _, tt := range tests {
		t.Run(tt.rst, func(t *testing.T) {
			e := run(t, Options{}, ladder(t, append(append([]string{}, base...), tt.rst)...)).one(t)
			if got := e.First().SeqCheck; got != tt.want {
				t.Errorf("frame %d: got %v, want %v", e.First().Frame, got, tt.want)
			}
			if e.Stage != StagePostPSH {
				t.Errorf("stage: got %v, want post_psh", e.Stage)
			}
		})
	}
}

func TestSeqCheck_midstreamScaleUnknown(t *testing.T) {
	// Without the SYNs the window scale is unknown: beyond the raw window
	// is not proof of out-of-window.
	base := []string{"C>S PA seq=101 ack=301 len=10", "S>C A seq=301 ack=111 win=100"}
	for _, tt := range []struct {
		rst  string
		want SeqCheck
	}{
		{"C>S R seq=150", SeqInWindow},
		{"C>S R seq=5000", SeqUnknown},
		{"C>S R seq=100", SeqOutOfWindow},
		{"C>S R seq=2000000", SeqOutOfWindow},
	} {
		e := run(t, Options{}, ladder(t, append(append([]string{}, base...), tt.rst)...)).one(t)
		if got := e.First().SeqCheck; got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.rst, got, tt.want)
		}
	}
}

func TestSeqCheck_afterFIN(t *testing.T) {
	// Server sent FIN (seq 301), client ACKed it; a server RST at the FIN's
	// own seq (RCV.NXT-1) is accepted by Linux.
	pk := ladder(t, lines(handshake, []string{
		"S>C FA seq=301 ack=101",
		"C>S A seq=101 ack=302",
		"S>C R seq=301",
	})...)
	if got := run(t, Options{}, pk).one(t).First().SeqCheck; got != SeqExact {
		t.Errorf("got %v, want exact", got)
	}
}

func TestStage(t *testing.T) {
	data := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, "C>S PA seq="+itoa(101+10*i)+" ack=301 len=10")
		}
		return out
	}
	tests := []struct {
		name  string
		lines []string
		want  Stage
	}{
		{"post_syn", []string{"C>S S seq=100", "S>C SA seq=300 ack=101", "S>C R seq=301"}, StagePostSYN},
		{"post_ack", lines(handshake, []string{"S>C R seq=301"}), StagePostACK},
		{"post_psh", lines(handshake, data(1), []string{"S>C R seq=301"}), StagePostPSH},
		{"later", lines(handshake, data(4), []string{"S>C R seq=301"}), StageLaterInFlow},
		{"midstream", []string{"C>S A seq=5 ack=9", "S>C R seq=9"}, StageLaterInFlow},
		{"lone_rst", []string{"S>C R seq=9"}, StageUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := run(t, Options{}, ladder(t, tt.lines...)).one(t)
			if e.Stage != tt.want {
				t.Errorf("got %v, want %v", e.Stage, tt.want)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestBurst(t *testing.T) {
	t.Run("three_rsts_one_event", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"S>C R seq=301",
			"S>C R seq=1761",
			"S>C R seq=4681",
		})...)
		e := run(t, Options{}, pk).one(t)
		if e.Count != 3 {
			t.Fatalf("count: got %d, want 3", e.Count)
		}
		for i, want := range []Seq{301, 1761, 4681} {
			if e.RSTs[i].Seq != want || e.RSTs[i].Frame != uint64(4+i) {
				t.Errorf("RSTs[%d]: got seq %d frame %d, want seq %d frame %d", i, e.RSTs[i].Seq, e.RSTs[i].Frame, want, 4+i)
			}
		}
		if e.RSTs[1].Dir != FromServer {
			t.Errorf("RSTs[1].Dir: got %v, want server", e.RSTs[1].Dir)
		}
	})
	t.Run("data_between_splits", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"S>C R seq=301",
			"S>C PA seq=301 ack=101 len=10",
			"S>C R seq=311",
		})...)
		r := run(t, Options{}, pk)
		if len(r.events) != 2 {
			t.Fatalf("got %d events, want 2", len(r.events))
		}
		if r.events[0].Count != 1 || r.events[1].Count != 1 {
			t.Errorf("counts: got %d, %d, want 1, 1", r.events[0].Count, r.events[1].Count)
		}
		a := r.events[0].After
		if a.SenderDataPackets != 1 || a.SenderFirstFrame != 5 || a.SenderMaxSeqEnd != 311 {
			t.Errorf("first event After: got data %d first frame %d max end %d, want 1, 5, 311",
				a.SenderDataPackets, a.SenderFirstFrame, a.SenderMaxSeqEnd)
		}
		if a.N != 2 || a.Packets[1].Frame != 6 {
			t.Errorf("first event After.Packets: got %d entries, want 2 ending with frame 6", a.N)
		}
	})
	// A middlebox's RSTs then the real peer's (suricata-verify debug-s13:
	// TTL 59, 59, then the server's 123): another TTL, another event. A
	// mirror copy one hop apart still joins.
	t.Run("other_ttl_is_own_event", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"S>C R seq=301 ttl=59", "S>C R seq=301 ttl=60", "S>C R seq=301 ttl=123",
		})...)
		r := run(t, Options{}, pk)
		if len(r.events) != 2 {
			t.Fatalf("got %d events, want 2", len(r.events))
		}
		if r.events[0].Count != 2 || r.events[1].Count != 1 || r.events[1].RSTs[0].Frame != 6 {
			t.Errorf("got counts %d, %d (second from frame %d), want 2, 1 (frame 6)",
				r.events[0].Count, r.events[1].Count, r.events[1].RSTs[0].Frame)
		}
	})
	t.Run("other_side_rst_is_own_event", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{"S>C R seq=301", "C>S R seq=101"})...)
		r := run(t, Options{}, pk)
		if len(r.events) != 2 {
			t.Fatalf("got %d events, want 2", len(r.events))
		}
		if r.events[0].After.RSTsBack != 1 {
			t.Errorf("RSTsBack: got %d, want 1", r.events[0].After.RSTsBack)
		}
	})
	t.Run("after_lookahead_new_event", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{"S>C R seq=301 t=1s", "S>C R seq=301 t=3.5s"})...)
		r := run(t, Options{}, pk)
		if len(r.events) != 2 {
			t.Fatalf("got %d events, want 2", len(r.events))
		}
		if r.events[0].EndOfInput || !r.events[1].EndOfInput {
			t.Errorf("EndOfInput: got %v, %v, want false, true", r.events[0].EndOfInput, r.events[1].EndOfInput)
		}
	})
}

func TestAfter(t *testing.T) {
	// The "server" RST is forged: the real server keeps sending data
	// and ACKs after it; the client sends one more packet.
	pk := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=50",
		"S>C R seq=301 ttl=60",
		"S>C PA seq=301 ack=151 len=100",
		"C>S A seq=151 ack=401",
		"S>C A seq=401 ack=151 t=2.5s", // outside the look-ahead
	})...)
	e := run(t, Options{}, pk).one(t)
	a := e.After
	if a.SenderPackets != 1 || a.SenderDataPackets != 1 || a.SenderFirstFrame != 6 {
		t.Errorf("sender after: got %d packets %d data first %d, want 1, 1, 6", a.SenderPackets, a.SenderDataPackets, a.SenderFirstFrame)
	}
	if a.ReceiverPackets != 1 || a.ReceiverFirstFrame != 7 {
		t.Errorf("receiver after: got %d packets first %d, want 1, 7", a.ReceiverPackets, a.ReceiverFirstFrame)
	}
	if a.ChallengeACK {
		t.Errorf("ChallengeACK: got true, want false (the RST was exact)")
	}
	if a.N != 2 {
		t.Errorf("After.N: got %d, want 2", a.N)
	}
	if e.Flow.Ladder.Len() != 4 || e.Flow.Ladder.At(3).Frame != 4 {
		t.Errorf("snapshot ladder: got %d entries, want 4 ending at frame 4", e.Flow.Ladder.Len())
	}
	if e.Flow.Dirs[1].RSTs != 0 {
		t.Errorf("snapshot: server RSTs %d, want 0 (taken before the RST)", e.Flow.Dirs[1].RSTs)
	}
	if e.EndOfInput {
		t.Errorf("EndOfInput: got true, want false")
	}
}

func TestChallengeACK(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=50",
		"S>C A seq=301 ack=151",
		"S>C R seq=500",         // in window but not exact
		"C>S A seq=151 ack=301", // challenge ACK: client's SND.NXT, RCV.NXT
	})...)
	e := run(t, Options{}, pk).one(t)
	if e.First().SeqCheck != SeqInWindow {
		t.Fatalf("seq_check: got %v, want in_window", e.First().SeqCheck)
	}
	if !e.After.ChallengeACK || e.After.ChallengeACKFrame != 7 {
		t.Errorf("challenge ACK: got %v frame %d, want true frame 7", e.After.ChallengeACK, e.After.ChallengeACKFrame)
	}
}

func TestTable_gapAndMaxGap(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=10 t=100ms",
		"S>C A seq=301 ack=111 t=150ms",
		"C>S PA seq=111 ack=301 len=10 t=400s",
		"S>C R seq=301 t=400.001s",
	})...)
	e := run(t, Options{}, pk).one(t)
	if want := 400*time.Second - 150*time.Millisecond; e.Flow.MaxGap != want {
		t.Errorf("MaxGap: got %v, want %v", e.Flow.MaxGap, want)
	}
	if e.Gap != time.Millisecond {
		t.Errorf("Gap: got %v, want 1ms", e.Gap)
	}
	if e.Trigger.Frame != 6 {
		t.Errorf("trigger: got frame %d, want 6", e.Trigger.Frame)
	}
}

func TestTable_profile(t *testing.T) {
	pk := ladder(t,
		"C>S S seq=100 mss=1460 ws=7 ts=11",
		"S>C SA seq=300 ack=101 mss=1400 ws=8 ts=22",
		"C>S A seq=101 ack=301 win=100 ts=12",
		"C>S PA seq=101 ack=301 len=10 ts=13",
		"C>S PA seq=101 ack=301 len=10 ts=14", // retransmission
		"S>C A seq=301 ack=111 win=0",
		"C>S FA seq=111 ack=301",
		"S>C R seq=301",
	)
	e := run(t, Options{}, pk).one(t)
	f := &e.Flow
	c, s := &f.Dirs[0], &f.Dirs[1]
	if !f.Established || f.ClientRTT != time.Millisecond || f.ServerRTT != time.Millisecond || f.RTT != 2*time.Millisecond {
		t.Errorf("handshake: established %v RTT %v/%v/%v, want true 1ms/1ms/2ms", f.Established, f.ClientRTT, f.ServerRTT, f.RTT)
	}
	if c.MSS != 1460 || !c.HasWScale || c.WScale != 7 || s.MSS != 1400 || s.WScale != 8 {
		t.Errorf("options: got client %d/%d server %d/%d", c.MSS, c.WScale, s.MSS, s.WScale)
	}
	if c.Window != 1000<<7 {
		t.Errorf("client window: got %d, want %d (scaled by 7)", c.Window, 1000<<7)
	}
	if c.Retransmissions != 1 || c.DataPackets != 2 || c.Bytes != 20 {
		t.Errorf("client data: got retrans %d data %d bytes %d, want 1, 2, 20", c.Retransmissions, c.DataPackets, c.Bytes)
	}
	if c.NextSeq != 112 || !c.FINSeen || c.FINSeq != 111 || c.FINFrame != 7 {
		t.Errorf("client seq: got next %d FIN %v at %d frame %d, want 112, true, 111, 7", c.NextSeq, c.FINSeen, c.FINSeq, c.FINFrame)
	}
	if c.TSPackets != 4 || c.LastTSVal != 14 {
		t.Errorf("client TS: got %d packets last %d, want 4, 14", c.TSPackets, c.LastTSVal)
	}
	if s.ZeroWindows != 1 || s.LastAck != 111 {
		t.Errorf("server: got zero windows %d last ack %d, want 1, 111", s.ZeroWindows, s.LastAck)
	}
	if c.TTL.Mode != 64 || s.TTL.Mode != 52 || !c.TTL.Stable(3) {
		t.Errorf("TTL: got modes %d/%d, want 64/52 stable", c.TTL.Mode, s.TTL.Mode)
	}
	if c.IPID.Model != IPIDIncrementing || c.IPID.Step != 1 {
		t.Errorf("client IP ID: got %v step %d, want incrementing step 1", c.IPID.Model, c.IPID.Step)
	}
	// T: the client's retransmission; a, w: the server's zero-window ACK.
	if got, want := e.Flow.History(), "ShADTawF"; got != want {
		t.Errorf("history: got %q, want %q", got, want)
	}
	if e.SenderHost.TTL.Mode != 52 || e.ReceiverHost.TTL.Mode != 64 || e.SenderHost.Flows != 1 {
		t.Errorf("host profiles: got sender TTL %d flows %d, receiver TTL %d", e.SenderHost.TTL.Mode, e.SenderHost.Flows, e.ReceiverHost.TTL.Mode)
	}
}

func TestTable_hostProfileAcrossFlows(t *testing.T) {
	// Two flows from the same server; the lone RST in the third flow is
	// compared with the host's TTL.
	c2 := netip.MustParseAddrPort("10.0.0.1:40001")
	var pk []capture.Packet
	pk = append(pk, ladderAt(t, cliAddr, srvAddr, handshake...)...)
	pk = append(pk, ladderAt(t, c2, srvAddr, handshake...)...)
	pk = append(pk, ladderAt(t, netip.MustParseAddrPort("10.0.0.1:40002"), srvAddr, "S>C R seq=5 ttl=61")...)
	for i := range pk {
		pk[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
	}
	e := run(t, Options{}, pk).one(t)
	if !e.SenderHost.Known || e.SenderHost.TTL.Mode != 52 || e.SenderHost.Flows != 3 || e.SenderHost.TTL.Count != 2 {
		t.Errorf("sender host: got known %v mode %d flows %d samples %d, want true 52 3 2",
			e.SenderHost.Known, e.SenderHost.TTL.Mode, e.SenderHost.Flows, e.SenderHost.TTL.Count)
	}
	// The samples came from the two handshakes, not from the RST's flow.
	if e.SenderHost.TTLFlows != 2 {
		t.Errorf("sender host: got TTLFlows %d, want 2 (the flows where it sent a non-RST packet)", e.SenderHost.TTLFlows)
	}
}

// TestTable_hostTTLFlows: a host's TTLFlows counts the flows where it
// sent a non-RST packet, in a Table and through Sharded alike: flows
// where it only sent RSTs (refusals) or only received add to Flows alone,
// so one socket's own TTL (BGP's 1, GTSM's 255) in one flow is never a
// baseline "steady across" several.
func TestTable_hostTTLFlows(t *testing.T) {
	var pk []capture.Packet
	pk = append(pk, ladderAt(t, cliAddr, srvAddr, handshake...)...) // the server sends in this flow
	for i := range 3 {                                              // refused three times: the server sends only RSTs
		c := netip.AddrPortFrom(cliAddr.Addr(), uint16(41000+i))
		pk = append(pk, ladderAt(t, c, srvAddr, "C>S S seq=100", "S>C RA seq=0 ack=101 ttl=64")...)
	}
	for i := range pk {
		pk[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
	}
	tb := NewTable(Options{})
	for i := range pk {
		tb.Add(&pk[i])
	}
	tb.Close()
	srv, cli := tb.hosts.get(srvAddr.Addr()), tb.hosts.get(cliAddr.Addr())
	if srv == nil || cli == nil {
		t.Fatal("no host profiles")
	}
	if srv.Flows != 4 || srv.TTLFlows != 1 || cli.Flows != 4 || cli.TTLFlows != 4 {
		t.Errorf("server flows %d TTLFlows %d, client flows %d TTLFlows %d; want 4 1 4 4",
			srv.Flows, srv.TTLFlows, cli.Flows, cli.TTLFlows)
	}
	for _, n := range []int{1, 3} {
		var last *Event
		sh := NewSharded(n, Options{OnEvent: func(ev *Event) { e := *ev; last = &e }})
		for i := range pk {
			p := pk[i]
			sh.Add(&p)
		}
		sh.Close()
		if last == nil || last.SenderHost.TTLFlows != 1 || last.SenderHost.Flows != 4 {
			t.Errorf("%d shards: last refusal's sender host %+v, want Flows 4 TTLFlows 1", n, last)
		}
	}
}

func TestTable_eviction(t *testing.T) {
	c2 := netip.MustParseAddrPort("10.0.0.1:40001")
	var ended []Flow
	tb := NewTable(Options{IdleEvict: 10 * time.Second, CloseEvict: time.Second, OnFlowEnd: func(f *Flow) { ended = append(ended, *f) }})
	for _, p := range ladderAt(t, cliAddr, srvAddr, lines(handshake, []string{"C>S FA seq=101 ack=301", "S>C FA seq=301 ack=102"})...) {
		tb.Add(&p)
	}
	for _, p := range ladderAt(t, c2, srvAddr, handshake...) {
		tb.Add(&p)
	}
	if got := tb.Stats().Active; got != 2 {
		t.Fatalf("active: got %d, want 2", got)
	}
	tb.Flush(t0.Add(2 * time.Second))
	if got := tb.Stats().Active; got != 1 || len(ended) != 1 || ended[0].Client != cliAddr {
		t.Fatalf("after 2 s: got %d active, %d ended, want the closed flow evicted", got, len(ended))
	}
	tb.Flush(t0.Add(5 * time.Second))
	if got := tb.Stats().Active; got != 1 {
		t.Errorf("after 5 s: got %d active, want 1 (idle 10 s not reached)", got)
	}
	tb.Flush(t0.Add(11 * time.Second))
	if got := tb.Stats(); got.Active != 0 || got.Evicted != 2 {
		t.Errorf("after 11 s: got %d active %d evicted, want 0, 2", got.Active, got.Evicted)
	}
}

func TestTable_maxFlows(t *testing.T) {
	// Two established, active flows fill the table: new flows are dropped
	// (they cannot make room), but a RST of a dropped flow still gets an
	// event with a minimal flow.
	var pk []capture.Packet
	for i := range 2 {
		c := netip.AddrPortFrom(cliAddr.Addr(), uint16(40000+i))
		pk = append(pk, ladderAt(t, c, srvAddr, "C>S S seq=100", "S>C SA seq=300 ack=101", "C>S A seq=101 ack=301")...)
	}
	for i := 2; i < 4; i++ {
		c := netip.AddrPortFrom(cliAddr.Addr(), uint16(40000+i))
		pk = append(pk, ladderAt(t, c, srvAddr, "C>S S seq=100")...)
	}
	refused := netip.AddrPortFrom(cliAddr.Addr(), 40003)
	pk = append(pk, ladderAt(t, refused, srvAddr, "S>C RA seq=0 ack=101")...)
	for i := range pk {
		pk[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
		pk[i].Index = uint64(i + 1)
	}
	r := run(t, Options{MaxFlows: 2}, pk)
	st := r.table.Stats()
	if st.Flows != 2 || st.PeakActive != 2 || st.Dropped != 3 || st.DroppedFlows != 2 || st.EndedEarly != 0 {
		t.Errorf("stats: got flows %d peak %d dropped %d dropped flows %d ended early %d, want 2, 2, 3, 2, 0",
			st.Flows, st.PeakActive, st.Dropped, st.DroppedFlows, st.EndedEarly)
	}
	e := r.one(t)
	if e.Flow.ID != 0 || e.Flow.RolesFrom != RolesPort || e.Flow.Server != srvAddr || e.Sender() != FromServer {
		t.Errorf("refused flow event: got ID %d roles %v server %v sender %v, want 0 port %v server", e.Flow.ID, e.Flow.RolesFrom, e.Flow.Server, e.Sender(), srvAddr)
	}
	if e.First().SeqCheck != SeqUnknown || e.First().Frame != 9 {
		t.Errorf("refused flow event: got seq_check %v frame %d, want unknown 9", e.First().SeqCheck, e.First().Frame)
	}
}

// TestTable_fullTableMakesRoom: a SYN flood fills the table with half-open
// flows; a real connection that comes next is still tracked (the oldest
// half-open flow makes room), and so is its refusal.
func TestTable_fullTableMakesRoom(t *testing.T) {
	var pk []capture.Packet
	for i := range 100 {
		c := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1000+i))
		pk = append(pk, ladderAt(t, c, srvAddr, "C>S S seq=7")...)
	}
	pk = append(pk, ladder(t, "C>S S seq=100", "S>C RA seq=0 ack=101")...)
	for i := range pk {
		pk[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
		pk[i].Index = uint64(i + 1)
	}
	r := run(t, Options{MaxFlows: 10}, pk)
	st := r.table.Stats()
	if st.DroppedFlows != 0 || st.EndedEarly != 91 || st.PeakActive != 10 {
		t.Errorf("stats: got dropped flows %d ended early %d peak %d, want 0, 91, 10", st.DroppedFlows, st.EndedEarly, st.PeakActive)
	}
	e := r.one(t)
	if e.Flow.ID == 0 || e.Flow.RolesFrom != RolesHandshake || e.First().SeqCheck != SeqExact {
		t.Errorf("refusal after the flood: got flow ID %d roles %v seq_check %v, want a tracked flow, handshake, exact",
			e.Flow.ID, e.Flow.RolesFrom, e.First().SeqCheck)
	}
}

func TestTable_eventsOrdered(t *testing.T) {
	c2 := netip.MustParseAddrPort("10.0.0.1:40001")
	a := ladderAt(t, cliAddr, srvAddr, lines(handshake, []string{"S>C R seq=301 t=10ms"})...)
	b := ladderAt(t, c2, srvAddr, lines(handshake, []string{"C>S R seq=101 t=20ms", "C>S R seq=101 t=5s"})...)
	pk := []capture.Packet{a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], b[4]}
	// a's RST comes after b's in the input but is older: out-of-order input.
	pk[6], pk[7] = pk[7], pk[6]
	for i := range pk {
		pk[i].Index = uint64(i + 1)
	}
	r := run(t, Options{}, pk)
	if len(r.events) != 3 {
		t.Fatalf("got %d events, want 3", len(r.events))
	}
	for i := 1; i < len(r.events); i++ {
		if r.events[i].First().Time.Before(r.events[i-1].First().Time) {
			t.Errorf("event %d (frame %d) before event %d (frame %d)", i, r.events[i].First().Frame, i-1, r.events[i-1].First().Frame)
		}
	}
	if r.events[0].First().Frame != 8 || r.events[1].First().Frame != 7 {
		t.Errorf("order: got frames %d, %d, want 8, 7", r.events[0].First().Frame, r.events[1].First().Frame)
	}
}

func TestHistoryConnState(t *testing.T) {
	tests := []struct {
		name, history, state string
		lines                []string
	}{
		{"S0", "S", "S0", []string{"C>S S seq=100"}},
		{"REJ", "Sr", "REJ", []string{"C>S S seq=100", "S>C RA seq=0 ack=101"}},
		{"RSTO", "ShADR", "RSTO", lines(handshake, []string{"C>S PA seq=101 ack=301 len=5", "C>S R seq=106"})},
		{"RSTR", "ShADdr", "RSTR", lines(handshake, []string{"C>S PA seq=101 ack=301 len=5", "S>C PA seq=301 ack=106 len=5", "C>S A seq=106 ack=306", "S>C R seq=306"})},
		{"SF", "ShADFaf", "SF", lines(handshake, []string{"C>S PA seq=101 ack=301 len=5", "C>S FA seq=106 ack=301", "S>C A seq=301 ack=107", "S>C FA seq=301 ack=107"})},
		{"S1", "ShA", "S1", handshake},
		{"RSTOS0", "SR", "RSTOS0", []string{"C>S S seq=100", "C>S R seq=101"}},
		{"OTH", "Da", "OTH", []string{"C>S PA seq=1 ack=1 len=3", "S>C A seq=1 ack=4"}},
		{"SH", "SF", "SH", []string{"C>S S seq=100", "C>S F seq=101"}},
		// Zeek corpus baselines: RST after both FINs, FIN then RST then the
		// peer's FIN (irc-starttls), and FIN then RST alone (ftp-auth-tls).
		{"SF_rst_after_fins", "ShAFfr", "SF", lines(handshake, []string{"C>S FA seq=101 ack=301", "S>C FA seq=301 ack=102", "S>C R seq=302"})},
		{"SF_fin_rst_fin", "ShAFRf", "SF", lines(handshake, []string{"C>S FA seq=101 ack=301", "C>S R seq=102", "S>C FA seq=301 ack=102"})},
		{"RSTR_after_own_fin", "ShAfr", "RSTR", lines(handshake, []string{"S>C FA seq=301 ack=101", "S>C R seq=302"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := run(t, Options{}, ladder(t, tt.lines...)).ended[0]
			if got := f.History(); got != tt.history {
				t.Errorf("history: got %q, want %q", got, tt.history)
			}
			if got := f.ConnState(); got != tt.state {
				t.Errorf("conn_state: got %s, want %s", got, tt.state)
			}
		})
	}
}

func TestHistory_repeatsOnNewSeq(t *testing.T) {
	f := run(t, Options{}, ladder(t, "C>S S seq=100", "C>S S seq=100", "C>S S seq=200")).ended[0]
	if got := f.History(); got != "SS" {
		t.Errorf("got %q, want SS", got)
	}
}

func TestAdd_noAllocs(t *testing.T) {
	tb := NewTable(Options{})
	pk := ladder(t, lines(handshake, []string{"C>S PA seq=101 ack=301 len=100", "S>C A seq=301 ack=201"})...)
	for i := range pk {
		tb.Add(&pk[i])
	}
	data := pk[3]
	ack := pk[4]
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		n++
		data.Seq = 101 + uint32(n)*100
		data.Time = data.Time.Add(time.Millisecond)
		ack.Ack = data.Seq + 100
		ack.Time = data.Time
		tb.Add(&data)
		tb.Add(&ack)
	})
	if allocs != 0 {
		t.Errorf("Add on an established flow: got %v allocs, want 0", allocs)
	}
}

func TestTable_rstPerEventInvariant(t *testing.T) {
	// A storm of RSTs from both sides, with data in between: every RST
	// packet is in exactly one event.
	var ls []string
	ls = append(ls, handshake...)
	for i := range 40 {
		switch i % 5 {
		case 0, 1:
			ls = append(ls, "S>C R seq=301")
		case 2:
			ls = append(ls, "C>S R seq=101")
		case 3:
			ls = append(ls, "C>S PA seq=101 ack=301 len=1")
		case 4:
			ls = append(ls, "S>C R seq=301 t="+itoa(10+i*100)+"ms")
		}
	}
	pk := ladder(t, ls...)
	r := run(t, Options{}, pk)
	checkOneEventPerRST(t, pk, r.events)
}

// checkOneEventPerRST asserts that the events' counts add up to the RST
// packets, that no stored RST frame appears twice and, when the packets'
// times never go backwards, that events came in order.
func checkOneEventPerRST(t testing.TB, pk []capture.Packet, events []Event) {
	t.Helper()
	rsts := 0
	ordered := true
	for i := range pk {
		if pk[i].Flags&capture.RST != 0 {
			rsts++
		}
		if i > 0 && pk[i].Time.Before(pk[i-1].Time) {
			ordered = false
		}
	}
	total := 0
	seen := map[[2]uint64]bool{}
	for i := range events {
		e := &events[i]
		total += e.Count
		for j := range min(e.Count, len(e.RSTs)) {
			k := [2]uint64{uint64(e.RSTs[j].Input), e.RSTs[j].Frame}
			if seen[k] {
				t.Errorf("RST frame %d in two events", e.RSTs[j].Frame)
			}
			seen[k] = true
		}
		if ordered && i > 0 && eventBeforeEv(e, &events[i-1]) {
			t.Errorf("event %d (frame %d) emitted after a later one (frame %d)", i, e.First().Frame, events[i-1].First().Frame)
		}
	}
	if total != rsts {
		t.Errorf("RSTs in events: got %d, want %d", total, rsts)
	}
}

func eventBeforeEv(a, b *Event) bool {
	return eventBefore(&openEvent{first: a.RSTs[0]}, &openEvent{first: b.RSTs[0]})
}

func TestTable_flushDecidesAfterLookAhead(t *testing.T) {
	var got []Event
	tb := NewTable(Options{OnEvent: func(e *Event) { got = append(got, *e) }})
	pk := ladder(t, lines(handshake, []string{"S>C R seq=301 t=1s"})...)
	for i := range pk {
		tb.Add(&pk[i])
	}
	tb.Flush(t0.Add(2 * time.Second))
	if len(got) != 0 {
		t.Fatalf("1 s after the RST: got %d events, want 0 (look-ahead 2 s)", len(got))
	}
	tb.Flush(t0.Add(3*time.Second + time.Millisecond))
	if len(got) != 1 || got[0].EndOfInput {
		t.Fatalf("after the look-ahead: got %d events, want 1 not at end of input", len(got))
	}
	tb.Close()
	if len(got) != 1 {
		t.Errorf("after Close: got %d events, want 1", len(got))
	}
}

func TestTable_macAndIPv6(t *testing.T) {
	c := netip.MustParseAddrPort("[2001:db8::1]:40000")
	s := netip.MustParseAddrPort("[2001:db8::2]:443")
	pk := ladderAt(t, c, s, lines(handshake, []string{"S>C A seq=301 ack=101", "S>C R seq=301"})...)
	for i := range pk {
		pk[i].IPID = 0
		pk[i].HasMAC = true
		pk[i].SrcMAC = [6]byte{2, 0, 0, 0, 0, byte(pk[i].Src.Port() % 7)}
	}
	pk[3].SrcMAC[0] = 0x0a // the server's second packet from another MAC
	e := run(t, Options{}, pk).one(t)
	srv := &e.Flow.Dirs[1]
	if !srv.HasMAC || srv.MAC != pk[1].SrcMAC || !srv.MACChanged {
		t.Errorf("server MAC: got %v %x changed %v, want %x changed", srv.HasMAC, srv.MAC, srv.MACChanged, pk[1].SrcMAC)
	}
	if srv.IPID.Samples != 0 || srv.IPID.Model != IPIDUnknown || e.First().IsIPv4 {
		t.Errorf("IPv6: got %d IP ID samples model %v, want none", srv.IPID.Samples, srv.IPID.Model)
	}
	if e.First().SeqCheck != SeqExact {
		t.Errorf("seq_check: got %v, want exact", e.First().SeqCheck)
	}
}

// TestTable_spoofedRSTAndSYNKeepFlow (issue 14 item 9): an out-of-window
// RST and then a SYN with a new ISN, both forged as the client's, do not
// replace the live flow: the server's real RST is still judged against the
// client's real state (exact), in the original flow. An exact RST does make
// the tuple reusable.
func TestTable_spoofedRSTAndSYNKeepFlow(t *testing.T) {
	t.Run("forged_rst_then_syn", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"C>S PA seq=101 ack=301 len=20",
			"S>C PA seq=301 ack=121 len=50",
			"C>S A seq=121 ack=351",
			"C>S R seq=900000",  // forged: far out of the server's window
			"C>S S seq=4444444", // forged: a new ISN on the tuple
			"S>C R seq=351",     // the server's real reset
		})...)
		r := run(t, Options{}, pk)
		if len(r.events) != 2 {
			t.Fatalf("got %d events, want 2", len(r.events))
		}
		if got := r.events[0].First().SeqCheck; got != SeqOutOfWindow {
			t.Errorf("forged RST (frame 7): got %v, want out_of_window", got)
		}
		e := &r.events[1]
		if got := e.First().SeqCheck; got != SeqExact {
			t.Errorf("server RST (frame 9): got %v, want exact", got)
		}
		if e.Flow.ID != 1 || !e.Flow.Established || e.Flow.Dirs[0].DataPackets != 1 {
			t.Errorf("server RST's flow: got ID %d established %v client data %d, want the original flow (1, true, 1)",
				e.Flow.ID, e.Flow.Established, e.Flow.Dirs[0].DataPackets)
		}
		if len(r.ended) != 1 {
			t.Errorf("got %d flows, want 1", len(r.ended))
		}
	})
	t.Run("exact_rst_then_syn", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"C>S PA seq=101 ack=301 len=20",
			"S>C A seq=301 ack=121",
			"C>S R seq=121",
			"C>S S seq=4444444",
		})...)
		r := run(t, Options{}, pk)
		if len(r.ended) != 2 || r.ended[1].Dirs[0].ISN != 4444444 {
			t.Fatalf("got %d flows, want 2, the second with client ISN 4444444", len(r.ended))
		}
	})
}
