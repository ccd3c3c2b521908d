package kernel

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// refusedEvent is a SYN answered by an RST from the server, frame 2.
func refusedEvent(t0 time.Time, cli, srv netip.AddrPort) *flows.Event {
	ev := &flows.Event{Count: 1}
	ev.Flow.Client, ev.Flow.Server = cli, srv
	ev.RSTs[0] = flows.RSTPacket{Frame: 2, Time: t0, Dir: flows.FromServer, Flags: capture.RST | capture.ACK,
		TTL: 64, IsIPv4: true, DF: true}
	return ev
}

func signals(f *heuristics.Finding) []heuristics.Signal {
	var out []heuristics.Signal
	for _, e := range f.Evidence {
		out = append(out, e.Signal)
	}
	return out
}

// TestWitness: the engine, given the kernel's account, names this host's
// stack as the sender with the reason, or a local non-stack sender when the
// stack sent nothing, and says nothing on a kernel that cannot tell.
func TestWitness(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 10, 0, time.UTC)
	cli, srv := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:8080")
	session := Session{Start: t0.Add(-time.Minute), Stop: t0.Add(time.Minute), Reasons: true, AllResets: true,
		Local: []netip.Addr{srv.Addr()}}
	var e heuristics.Engine

	sent := NewIndex([]Event{{Kind: KindSendReset, Time: t0.Add(-31 * time.Microsecond), Sender: srv, Receiver: cli,
		State: "UNKNOWN", Reason: "NO_SOCKET", NetNS: 4026531840}}, []Session{session})
	f := e.Judge(refusedEvent(t0, cli, srv), NewWitness(sent))
	if f.Kernel == nil || *f.Kernel != (heuristics.KernelInfo{Event: "tcp_send_reset", Reason: "NO_SOCKET", State: "UNKNOWN", NetNS: 4026531840, DeltaUS: -31}) {
		t.Errorf("kernel object %+v, want tcp_send_reset NO_SOCKET -31 us", f.Kernel)
	}
	if f.Origin != heuristics.OriginServer || !slices.Contains(signals(&f), SignalReason) {
		t.Errorf("origin %s signals %v, want server with %s", f.Origin, signals(&f), SignalReason)
	}
	for _, ev := range f.Evidence {
		if ev.Signal == SignalReason && !strings.Contains(ev.Detail, "NO_SOCKET, 31 us before frame 2") {
			t.Errorf("detail %q", ev.Detail)
		}
	}

	f = e.Judge(refusedEvent(t0, cli, srv), NewWitness(NewIndex(nil, []Session{session})))
	if f.Origin != heuristics.OriginMiddlebox || !slices.Contains(signals(&f), SignalAbsent) || f.Kernel != nil {
		t.Errorf("no send event: origin %s signals %v kernel %+v, want middlebox with %s", f.Origin, signals(&f), f.Kernel, SignalAbsent)
	}

	old := session
	old.AllResets, old.Reasons = false, false
	f = e.Judge(refusedEvent(t0, cli, srv), NewWitness(NewIndex(nil, []Session{old})))
	if slices.Contains(signals(&f), SignalAbsent) || f.Origin == heuristics.OriginMiddlebox {
		t.Errorf("pre-6.10 kernel: origin %s signals %v, want no kernel_absent", f.Origin, signals(&f))
	}

	dropped := NewIndex([]Event{{Kind: KindDropped, Time: t0.Add(9 * time.Microsecond), Sender: srv, Receiver: cli,
		Reason: "TCP_INVALID_SEQUENCE"}}, []Session{{Start: session.Start, Stop: session.Stop, AllResets: true, Drops: true}})
	f = e.Judge(refusedEvent(t0, cli, srv), NewWitness(dropped))
	if f.Kernel == nil || f.Kernel.Event != "kfree_skb" || !slices.Contains(signals(&f), SignalDropped) || f.Cause != heuristics.CauseIgnoredRST {
		t.Errorf("dropped: %s kernel %+v signals %v, want ignored_rst by kfree_skb with %s", f.Cause, f.Kernel, signals(&f), SignalDropped)
	}
}

// BenchmarkJudge measures what the kernel's account adds to judging one
// RST: the engine alone, and with the Witness over an Index of 40,000
// events (a flood's worth) that joins it.
func BenchmarkJudge(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 10, 0, 10, 0, time.UTC)
	srv := netip.MustParseAddrPort("10.0.0.1:8080")
	var events []Event
	for i := range 40_000 {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 232, byte(i >> 8), byte(i)}), 10000)
		events = append(events, Event{Kind: KindSendReset, Time: t0.Add(time.Duration(i) * 100 * time.Microsecond),
			Sender: srv, Receiver: cli, State: "UNKNOWN", Reason: "NO_SOCKET"})
	}
	x := NewIndex(events, []Session{{Start: t0.Add(-time.Minute), Reasons: true, AllResets: true, Local: []netip.Addr{srv.Addr()}}})
	ev := refusedEvent(t0.Add(5000*100*time.Microsecond), events[5000].Receiver, srv)
	var e heuristics.Engine
	b.Run("packets_only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.Judge(ev)
		}
	})
	w := NewWitness(x)
	b.Run("with_kernel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f := e.Judge(ev, w); f.Kernel == nil {
				b.Fatal("not joined")
			}
		}
	})
	b.Run("index_add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			y := NewIndex(nil, nil)
			for i := range 1000 {
				y.Add(events[i])
			}
		}
	})
}
