package kernel

import (
	"net/netip"
	"testing"
	"time"
)

func TestIndex_Lookup(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	srv, cli := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:5000")
	ev := func(k Kind, d time.Duration, s, r netip.AddrPort, reason string) Event {
		return Event{Kind: k, Time: t0.Add(d), Sender: s, Receiver: r, Reason: reason}
	}
	x := NewIndex([]Event{
		ev(KindSendReset, 30*time.Millisecond, srv, cli, "TCP_STATE"), // a later RST of the same tuple
		ev(KindSendReset, -31*time.Microsecond, srv, cli, "NO_SOCKET"),
		ev(KindSendReset, 2*time.Millisecond, srv, cli, "TCP_ABORT_ON_CLOSE"),
		ev(KindReceiveReset, 8*time.Microsecond, srv, cli, ""),
		ev(KindSendReset, 0, cli, srv, "TCP_STATE"), // the other direction
	}, nil)
	ms := x.Lookup(srv, cli, t0)
	if len(ms) != 2 || ms[0].Kind != KindSendReset || ms[0].Reason != "NO_SOCKET" || ms[0].Delta != -31*time.Microsecond ||
		ms[1].Kind != KindReceiveReset || ms[1].Delta != 8*time.Microsecond {
		t.Errorf("got %+v, want NO_SOCKET at -31us and receive_reset at +8us", ms)
	}
	// IPv4-mapped addresses join their IPv4 events.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(srv.Addr().As16()), srv.Port())
	if ms := x.Lookup(mapped, cli, t0); len(ms) != 2 {
		t.Errorf("v4-mapped sender: got %d matches, want 2", len(ms))
	}
	if ms := x.Lookup(srv, cli, t0.Add(20*time.Millisecond)); len(ms) != 0 {
		t.Errorf("20 ms from any event: got %+v, want none", ms)
	}
	x.Tolerance = 10 * time.Microsecond
	if ms := x.Lookup(srv, cli, t0); len(ms) != 1 || ms[0].Kind != KindReceiveReset {
		t.Errorf("10 us tolerance: got %+v, want only the receive_reset", ms)
	}
}

func TestIndex_Absent(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	local, peer := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:5000")
	good := Session{Start: t0, Stop: t0.Add(time.Minute), AllResets: true, Reasons: true,
		Local: []netip.Addr{local.Addr()}}
	sent := Event{Kind: KindSendReset, Time: t0.Add(10 * time.Second), Sender: local, Receiver: peer, Reason: "NO_SOCKET"}
	at := t0.Add(10 * time.Second)
	for _, tc := range []struct {
		name   string
		s      Session
		events []Event
		sender netip.AddrPort
		t      time.Time
		want   bool
	}{
		{"no_event_local_sender", good, nil, local, at, true},
		{"stack_sent_it", good, []Event{sent}, local, at, false},
		{"remote_sender", good, nil, peer, at, false},
		{"before_session", good, nil, local, t0.Add(-time.Second), false},
		{"at_session_end", good, nil, local, t0.Add(time.Minute - time.Millisecond), false},
		{"pre_6_10_kernel", func() Session { s := good; s.AllResets = false; return s }(), nil, local, at, false},
		{"events_lost", func() Session { s := good; s.Lost = 1; return s }(), nil, local, at, false},
		{"still_tracing", func() Session { s := good; s.Stop = time.Time{}; return s }(), nil, local, at, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := NewIndex(tc.events, []Session{tc.s})
			recv := peer
			if tc.sender == peer {
				recv = local
			}
			if got := x.Absent(tc.sender, recv, tc.t); got != tc.want {
				t.Errorf("Absent = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestIndex_live: events added out of order, a session replaced when
// tracing stops, and pruning, as a live run does.
func TestIndex_live(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:5000")
	x := NewIndex(nil, nil)
	x.SetSession(Session{Start: t0, AllResets: true, Local: []netip.Addr{a.Addr()}})
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		x.Add(Event{Kind: KindSendReset, Time: t0.Add(d), Sender: a, Receiver: b, Reason: d.String()})
	}
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		if ms := x.Lookup(a, b, t0.Add(d)); len(ms) != 1 || ms[0].Reason != d.String() {
			t.Errorf("at %v: got %+v, want the event added for %v", d, ms, d)
		}
	}
	if !x.Absent(a, b, t0.Add(10*time.Second)) {
		t.Error("while tracing, no event at 10 s: want Absent")
	}
	x.SetSession(Session{Start: t0, Stop: t0.Add(5 * time.Second), AllResets: true, Local: []netip.Addr{a.Addr()}})
	if len(x.Sessions()) != 1 || x.Absent(a, b, t0.Add(10*time.Second)) {
		t.Errorf("after stop at 5 s: sessions %+v, want one and no Absent at 10 s", x.Sessions())
	}
	x.Prune(t0.Add(2500 * time.Millisecond))
	if x.Len() != 1 || len(x.Lookup(a, b, t0.Add(time.Second))) != 0 || len(x.Lookup(a, b, t0.Add(3*time.Second))) != 1 {
		t.Errorf("after pruning before 2.5 s: %d events, want the one at 3 s", x.Len())
	}
	x.Add(Event{Kind: KindReceiveReset, Time: t0.Add(4 * time.Second), Sender: b, Receiver: a})
	// The totals (rstscope_kernel_events_total) count pruned events too.
	if got := [...]int{x.Total(), x.TotalOf(KindSendReset), x.TotalOf(KindReceiveReset), x.TotalOf(KindDropped)}; got != [...]int{4, 3, 1, 0} {
		t.Errorf("totals (all, send_reset, receive_reset, dropped): got %v, want [4 3 1 0]", got)
	}
}

// TestIndex_listener: a listening socket's RST is traced with the
// listener's tuple (no receiver; no sender address when it listens on all
// of them, as the lab's middlebox_response_reject runs showed on 6.18): it
// joins RSTs from its port that its address allows, and an event with the
// exact tuple wins over it.
func TestIndex_listener(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	srv, cli := netip.MustParseAddrPort("10.77.3.2:8080"), netip.MustParseAddrPort("10.77.1.2:33750")
	other := netip.MustParseAddrPort("10.77.3.9:8080")
	for _, tc := range []struct {
		name     string
		listener netip.AddrPort
		from     netip.AddrPort
		join     bool
	}{
		{"bound_address", srv, srv, true},
		{"any_address", netip.MustParseAddrPort("0.0.0.0:8080"), srv, true},
		{"any_address_v6", netip.MustParseAddrPort("[::]:8080"), srv, true},
		{"other_address", other, srv, false},
		{"other_port", netip.MustParseAddrPort("10.77.3.2:8081"), srv, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, recv := range []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:0"), netip.MustParseAddrPort("[::]:0")} {
				x := NewIndex([]Event{{Kind: KindSendReset, Time: t0.Add(35 * time.Microsecond), Sender: tc.listener, Receiver: recv,
					State: "TCP_LISTEN", Reason: "TCP_FLAGS"}}, nil)
				ms := x.Lookup(tc.from, cli, t0)
				if got := len(ms) == 1 && ms[0].Reason == "TCP_FLAGS"; got != tc.join {
					t.Errorf("receiver %s: got %+v, want joined %v", recv, ms, tc.join)
				}
			}
		})
	}
	x := NewIndex([]Event{
		{Kind: KindSendReset, Time: t0, Sender: srv, Receiver: netip.MustParseAddrPort("0.0.0.0:0"), Reason: "TCP_FLAGS"},
		{Kind: KindSendReset, Time: t0.Add(time.Millisecond), Sender: srv, Receiver: cli, Reason: "TCP_STATE"},
	}, nil)
	if ms := x.Lookup(srv, cli, t0); len(ms) != 1 || ms[0].Reason != "TCP_STATE" {
		t.Errorf("exact and listener events: got %+v, want the exact TCP_STATE", ms)
	}
}
