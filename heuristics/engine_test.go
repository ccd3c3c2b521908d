package heuristics

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// handshake with a 1 ms path to the server (too short for too_fast).
var handshake = []string{"C S", "S SA @1ms", "C A @1ms"}

// farHandshake with a 100 ms path to the server (SYN -> SYN/ACK).
var farHandshake = []string{"C S", "S SA @100ms", "C A @1ms"}

func lines(pre []string, more ...string) []string {
	return append(append([]string{}, pre...), more...)
}

func hostTTL(ttl uint8, n uint32) *flows.HostProfile {
	h := &flows.HostProfile{Known: true, Flows: 3, TTLFlows: 2}
	h.TTL = flows.TTLStats{Count: n, Min: ttl, Max: ttl, Mode: ttl}
	return h
}

func TestRefused(t *testing.T) {
	t.Run("linux_closed_port_is_not_a_middlebox", func(t *testing.T) {
		s := newScenario(t)
		s.server = netip.MustParseAddrPort("10.0.0.5:8080")
		s.host = hostTTL(64, 12)
		ev := s.event("C S", "S RA seq=0 ttl=64 id=0 @0.3ms")
		f := judge(ev)
		check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: High,
			signals: map[Signal][]uint64{SignalSYNAnswered: {1, 2}, SignalTTLConsistent: {2}},
			absent:  []Signal{SignalTTLMismatch, SignalFingerprint, SignalIPIDMismatch, SignalTimestampMismatch, SignalInjectorShape}})
		if f.Errno != "ECONNREFUSED" {
			t.Errorf("errno: got %q, want ECONNREFUSED", f.Errno)
		}
		for _, a := range f.Alternatives {
			if a == CauseMiddleboxInjected {
				t.Errorf("alternatives: got %v, want no middlebox_injected", f.Alternatives)
			}
		}
		if f.Stage != "post_syn" || f.RST.IPID == nil || *f.RST.IPID != 0 || f.RST.From != SideServer {
			t.Errorf("rst: got stage %s from %s ip_id %v, want post_syn from server ip_id 0", f.Stage, f.RST.From, f.RST.IPID)
		}
	})
	t.Run("no_host_profile", func(t *testing.T) {
		// Nothing else from the server: the origin is taken on trust, at
		// most medium, and the evidence says what could not be checked
		// (issue 13 class 5).
		ev := newScenario(t).event("C S", "S RA seq=0 ttl=52 id=0 @0.3ms")
		f := judge(ev)
		check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: Medium, maxConf: Medium,
			signals: map[Signal][]uint64{SignalSYNAnswered: {1, 2}}})
		if !hasDetail(f, "could not be checked") {
			t.Errorf("evidence: want a line saying the server could not be checked\n%s", dump(f))
		}
	})
	t.Run("lone_rst_from_the_clients_link", func(t *testing.T) {
		// TTL 64 at a capture on the client (its own packets leave with
		// 64): the RST was sent on the client's link, by the server only if
		// it is there, which its address outside the client's /24 makes
		// unlikely: a firewall 0 hops away, at low confidence.
		ev := newScenario(t).event("C S ttl=64", "S RA seq=0 ttl=64 id=0 @0.3ms")
		f := judge(ev)
		check(t, f, want{cause: CauseRefused, origin: OriginMiddlebox, minConf: Low, maxConf: Low,
			signals: map[Signal][]uint64{SignalSYNAnswered: {1, 2}, SignalTTLMismatch: {2}}})
		if !hasDetail(f, "0 hops") {
			t.Errorf("evidence: want the 0-hop note\n%s", dump(f))
		}
	})
	t.Run("lone_rst_from_a_server_on_the_same_subnet", func(t *testing.T) {
		// The server shares the client's /24: it may well be on the link
		// itself, so a 0-hop RST is not lowered (nor on loopback).
		for _, srv := range []string{"10.0.0.9:443", "127.0.0.1:443"} {
			s := newScenario(t)
			s.server = netip.MustParseAddrPort(srv)
			if strings.HasPrefix(srv, "127.") {
				s.client = netip.MustParseAddrPort("127.0.0.1:51514")
			}
			f := judge(s.event("C S ttl=64", "S RA seq=0 ttl=64 id=0 @0.3ms"))
			check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: Medium, maxConf: Medium})
			if hasDetail(f, "0 hops") {
				t.Errorf("%s: want no 0-hop note\n%s", srv, dump(f))
			}
		}
	})
	// A server whose TTL samples come from one flow (its GTSM socket's
	// 255): one socket's own TTL, not the host's, so its kernel's RST with
	// 64 is no middlebox (issue 13 class 4) - whether that is its only
	// other flow, or it also took part in flows where it only refused
	// (RSTs, no samples: a reordered capture made those "steady across 2
	// other flows").
	for _, hc := range []struct {
		name            string
		flows, ttlFlows uint32
	}{
		{"per_socket_ttl_is_no_host_baseline", 2, 1},
		{"rst_only_flows_are_no_baseline", 4, 1},
	} {
		t.Run(hc.name, func(t *testing.T) {
			s := newScenario(t)
			s.host = &flows.HostProfile{Known: true, Flows: hc.flows, TTLFlows: hc.ttlFlows, TTL: flows.TTLStats{Count: 9, Min: 252, Max: 252, Mode: 252}}
			f := judge(s.event("C S", "S RA seq=0 ttl=61 id=0 @0.3ms"))
			check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: Medium, maxConf: Medium})
			if !hasDetail(f, "one socket's own") {
				t.Errorf("evidence: want the per-socket TTL caveat\n%s", dump(f))
			}
		})
	}
	t.Run("host_baseline_across_flows_still_counts", func(t *testing.T) {
		s := newScenario(t)
		s.host = &flows.HostProfile{Known: true, Flows: 4, TTLFlows: 3, TTL: flows.TTLStats{Count: 30, Min: 52, Max: 52, Mode: 52}}
		f := judge(s.event("C S", "S RA seq=0 ttl=62 id=0 @0.3ms"))
		check(t, f, want{cause: CauseRefused, origin: OriginMiddlebox, minConf: Medium, maxConf: Medium,
			signals: map[Signal][]uint64{SignalTTLMismatch: {2}}})
	})
	t.Run("firewall_reject_at_a_nearer_hop", func(t *testing.T) {
		s := newScenario(t)
		s.host = hostTTL(52, 20)
		ev := s.event("C S", "S RA seq=0 ttl=62 id=0 @0.3ms")
		f := judge(ev)
		check(t, f, want{cause: CauseRefused, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalSYNAnswered: {1, 2}, SignalTTLMismatch: {2}, SignalFingerprint: {2}}})
		if !strings.Contains(f.Summary, "firewall") || !strings.Contains(f.Summary, "TTL 62") {
			t.Errorf("summary: got %q, want a firewall with TTL 62", f.Summary)
		}
	})
	t.Run("host_ttl_unstable_is_not_compared", func(t *testing.T) {
		s := newScenario(t)
		s.host = &flows.HostProfile{Known: true, TTL: flows.TTLStats{Count: 20, Min: 50, Max: 60, Mode: 52}}
		ev := s.event("C S", "S RA seq=0 ttl=62 id=0 @0.3ms")
		check(t, judge(ev), want{cause: CauseRefused, origin: OriginServer, minConf: Medium, maxConf: Medium,
			absent: []Signal{SignalTTLMismatch, SignalFingerprint}})
	})
	t.Run("syn_retries_each_refused", func(t *testing.T) {
		ev := newScenario(t).event("C S", "S RA seq=0 id=0", "C S @1s seq=1000", "S RA seq=0 id=0", "C S @1s seq=1000", "S RA seq=0 id=0")
		f := judge(ev)
		check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: Medium,
			signals: map[Signal][]uint64{SignalSYNAnswered: {2}}, absent: []Signal{SignalRSTBurst}})
		if f.RST.Count != 3 || len(f.RST.Frames) != 3 {
			t.Errorf("rst: got count %d frames %v, want 3 frames", f.RST.Count, f.RST.Frames)
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		s := newScenario(t)
		s.ipv6 = true
		f := judge(s.event("C S", "S RA seq=0 ttl=58"))
		check(t, f, want{cause: CauseRefused, origin: OriginServer, minConf: Medium})
		if f.RST.IPID != nil {
			t.Errorf("ipv6 rst ip_id: got %d, want none", *f.RST.IPID)
		}
		if f.Flow.Client.String() != "[2001:db8::2]:51514" || f.Flow.Server.String() != "[2001:db8::80]:443" {
			t.Errorf("flow: got %s -> %s, want [ip]:port", f.Flow.Client, f.Flow.Server)
		}
		for _, p := range f.Packets {
			if p.IPID != nil {
				t.Errorf("packet %d: ipv6 ip_id %d, want none", p.Packet, *p.IPID)
			}
		}
	})
}

func TestServerResetAfterRequest(t *testing.T) {
	ev := newScenario(t).event(lines(farHandshake,
		"C PA len=517 req=tls:example.com",
		"S A @100ms",
		"S RA @59ms")...)
	f := judge(ev)
	check(t, f, want{cause: CauseServerResetAfterRequest, origin: OriginServer, minConf: High,
		signals: map[Signal][]uint64{SignalRequestNoReply: {4, 6}, SignalTTLConsistent: {6}},
		absent:  []Signal{SignalTooFast, SignalTTLMismatch}})
	if f.Request == nil || f.Request.Kind != "tls" || f.Request.SNI != "example.com" || f.Request.Frame != 4 {
		t.Errorf("request: got %+v, want tls SNI example.com frame 4", f.Request)
	}
	if !strings.Contains(f.Summary, "SNI example.com") || !strings.Contains(f.Summary, "ECONNRESET") {
		t.Errorf("summary: got %q, want the SNI and ECONNRESET", f.Summary)
	}
	if f.Errno != "ECONNRESET" || f.Stage != "post_psh" {
		t.Errorf("errno/stage: got %s/%s, want ECONNRESET/post_psh", f.Errno, f.Stage)
	}
}

func TestMiddleboxInjected(t *testing.T) {
	t.Run("sni_filter_races_the_server", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=517 req=tls:example.com",
			"S RA @3ms ttl=61 id=0x3c1f",
			"S A @97ms",
			"S PA len=1400 @1ms")...)
		f := judge(ev)
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: High,
			signals: map[Signal][]uint64{SignalDataAfterRST: {5, 6}, SignalTTLMismatch: {5}, SignalTooFast: {4, 5}}})
		wantSum := "RST claimed from server 93.184.216.34:443 arrived with TTL 61 (server's packets: 52) 3.0 ms after the client's TLS ClientHello (SNI example.com)"
		if !strings.HasPrefix(f.Summary, wantSum) {
			t.Errorf("summary:\n got %q\nwant %q...", f.Summary, wantSum)
		}
		if len(f.Alternatives) == 0 || f.Alternatives[0] != CauseServerResetAfterRequest {
			t.Errorf("alternatives: got %v, want server_reset_after_request first", f.Alternatives)
		}
		if f.Evidence[0].Signal == SignalNote {
			t.Errorf("evidence: got a note first, want the origin signals first")
		}
	})
	t.Run("gfw_triple", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=517 req=tls:blocked.example",
			"S RA @2ms ttl=110 id=0x1111 seq=5001",
			"S RA @0.1ms ttl=110 id=0x9a21 seq=6461",
			"S RA @0.1ms ttl=110 id=0x4e02 seq=9381")...)
		f := judge(ev)
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalRSTBurst: {5, 6, 7}, SignalTTLMismatch: {5}}})
		e, _ := findEvidence(f, SignalRSTBurst)
		if !strings.Contains(e.Detail, "+0/+1460/+4380") {
			t.Errorf("rst_burst detail: got %q, want the seq deltas +0/+1460/+4380", e.Detail)
		}
	})
	t.Run("rst_after_syn_with_copied_ip_id_and_reserved_bits", func(t *testing.T) {
		// Shaped after zeek's rst-inject-rae.pcap: the injected RST copies
		// the SYN's IP ID, sets reserved bits and has TTL 46; the real
		// server then answers the SYN with TTL 49.
		ev := newScenario(t).event(
			"C S id=0x1555",
			"S RA @0.5ms seq=0 ack=1001 ttl=46 id=0x1555 res=7",
			"S SA @233ms ttl=49 id=0x8013",
			"C A",
			"S PA len=100 ttl=49 id=0x8014")
		f := judge(ev)
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: High,
			signals: map[Signal][]uint64{SignalDataAfterRST: {2, 3}, SignalTTLMismatch: {2}, SignalInjectorShape: {1, 2}}})
	})
	t.Run("perftech_window_one_no_df", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"C PA len=300 req=http:GET:/x:example.com",
			"S RA @2ms ttl=58 win=1 nodf id=0x0101")...)
		f := judge(ev)
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalFingerprint: {5}, SignalTTLMismatch: {5}, SignalTooFast: {4}}})
	})
	t.Run("mac_and_timestamps", func(t *testing.T) {
		s := newScenario(t)
		s.useMAC, s.useTS = true, true
		ev := s.event(lines(farHandshake,
			"S A @1ms", "S A @1ms", "C PA len=300",
			"S RA @2ms mac=9 nots ttl=52 id=0x2b2b")...)
		f := judge(ev)
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox,
			signals: map[Signal][]uint64{SignalMACMismatch: {7}, SignalTimestampMismatch: {7}, SignalTooFast: {6, 7}}})
	})
}

func TestOriginNegative(t *testing.T) {
	t.Run("mirror_duplicate_is_not_a_burst", func(t *testing.T) {
		// suricata-verify bug-5437-02 stream 3: one server RST captured
		// twice through ERSPAN, TTL 64 then 63, same IP ID.
		s := newScenario(t)
		s.server = netip.MustParseAddrPort("126.203.57.64:80")
		ev := s.event(
			"C S", "S SA ttl=64 @40ms", "C A",
			"C PA len=100 req=http:GET:/:x", "S A ttl=64", "S PA len=200 ttl=64", "C A",
			"C FA @16s",
			"S RA @0.2ms ttl=64 id=0x8003", "S RA @0.01ms ttl=63 id=0x8003")
		f := judge(ev)
		if f.Origin != OriginServer {
			t.Errorf("origin: got %s, want server\n%s", f.Origin, dump(f))
		}
		check(t, f, want{cause: f.Cause, origin: OriginServer,
			signals: map[Signal][]uint64{SignalIPIDConsistent: {9}, SignalTTLConsistent: {9}, SignalNote: {10}},
			absent:  []Signal{SignalRSTBurst, SignalTTLMismatch, SignalIPIDMismatch}})
		if f.Cause == CauseMiddleboxInjected {
			t.Errorf("cause: got middlebox_injected for a mirrored duplicate")
		}
		if f.RST.Count != 2 || len(f.RST.Frames) != 2 {
			t.Errorf("rst: got count %d frames %v, want both copies listed", f.RST.Count, f.RST.Frames)
		}
	})
	t.Run("weak_signals_alone_never_a_middlebox", func(t *testing.T) {
		s := newScenario(t)
		s.useTS = true
		ev := s.event(lines(handshake,
			"S A", "S PA len=10", "C PA len=100",
			"S RA @80ms res=1 id=0x0042 nots")...)
		f := judge(ev)
		check(t, f, want{cause: CauseServerResetAfterRequest, origin: OriginServer,
			signals: map[Signal][]uint64{SignalInjectorShape: {7}, SignalIPIDMismatch: {7}, SignalTimestampMismatch: {7}}})
		for _, a := range f.Alternatives {
			if a == CauseMiddleboxInjected {
				t.Errorf("alternatives: got %v, want no middlebox_injected from weak signals", f.Alternatives)
			}
		}
	})
	t.Run("single_medium_signal_is_low", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S A @100ms", "S RA @50ms ttl=58")...)
		check(t, judge(ev), want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, maxConf: Low,
			signals: map[Signal][]uint64{SignalTTLMismatch: {6}}})
	})
	t.Run("single_strong_signal_is_not_high", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S A @100ms", "S RA @50ms id=0x4242", "S PA len=300 @20ms")...)
		check(t, judge(ev), want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, maxConf: Medium,
			signals: map[Signal][]uint64{SignalDataAfterRST: {6, 7}}})
	})
	t.Run("linux_rst_ip_id_zero_is_not_evidence", func(t *testing.T) {
		s := newScenario(t)
		s.useTS = true
		ev := s.event(lines(handshake,
			"C PA len=100", "S PA len=500", "C A", "C FA", "S PA len=20 @10ms", "C R id=0 nots")...)
		f := judge(ev)
		check(t, f, want{cause: CauseAbortiveClose, origin: OriginClient, minConf: Medium,
			absent: []Signal{SignalIPIDMismatch, SignalTimestampMismatch}})
	})
	t.Run("mixed_burst_keeps_the_genuine_rst_apart", func(t *testing.T) {
		// suricata-verify tls-fin-close-data-01: RSTs with TTL 59 and IP ID
		// 0 from a device, then the server's own RST with TTL 123.
		s := newScenario(t)
		ev := s.event(
			"C S", "S SA ttl=123 @20ms", "C A",
			"C PA len=200", "S PA len=900 ttl=123", "C A", "S FA ttl=123", "C FA", "S A ttl=123",
			"C PA len=31 seq=1201",
			"S RA @9ms ttl=59 id=0", "S RA @0.01ms ttl=123 id=0x8006 seq=5902")
		f := judge(ev)
		check(t, f, want{origin: OriginMiddlebox, cause: f.Cause,
			signals: map[Signal][]uint64{SignalTTLMismatch: {11}, SignalNote: {12}}})
	})
}

func TestIdleTimeout(t *testing.T) {
	t.Run("genuine_rst_after_gap_stays_server", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"S A", "C PA len=100", "S PA len=300", "C A",
			"C PA len=100 @400s", "S RA @80ms")...)
		f := judge(ev)
		check(t, f, want{cause: CauseIdleTimeout, origin: OriginServer, minConf: Medium,
			signals: map[Signal][]uint64{SignalIdleGap: {8}, SignalIPIDConsistent: {9}, SignalTTLConsistent: {9}},
			absent:  []Signal{SignalIPIDMismatch, SignalTTLMismatch}})
		if f.Gap.String() != "400.0s" || !strings.Contains(f.KnownTimeout, "350") {
			t.Errorf("gap: got %q / %q, want 400.0s exceeding 350 s", f.Gap, f.KnownTimeout)
		}
	})
	t.Run("nlb_forgot_the_flow", func(t *testing.T) {
		ev := newScenario(t).event(lines(farHandshake,
			"S A", "C PA len=100", "S PA len=300", "C A",
			"C PA len=100 @360s", "S RA @2ms ttl=250 id=0 win=0")...)
		check(t, judge(ev), want{cause: CauseIdleTimeout, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalIdleGap: {8}, SignalKnownTimeout: {8}, SignalTTLMismatch: {9}, SignalTooFast: {8, 9}}})
	})
	t.Run("azure_lb_reset_at_the_timeout", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"S A", "C PA len=100", "S PA len=300", "C A",
			"S RA @240.2s ttl=60 id=0x1234")...)
		f := judge(ev)
		check(t, f, want{cause: CauseIdleTimeout, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalIdleGap: {7, 8}, SignalKnownTimeout: {8}, SignalTTLMismatch: {8}}})
		if !strings.Contains(f.KnownTimeout, "Azure") || f.Gap.String() != "240.2s" {
			t.Errorf("known timeout: got %q gap %q, want Azure 240.2s", f.KnownTimeout, f.Gap)
		}
	})
	// Azure LB with TCP reset on idle: RSTs to both ends at once, from one
	// device (same TTL and IP ID), 240 s after the last packet.
	bothEnds := lines(handshake, "S A", "C PA len=100", "S PA len=300", "C A",
		"S RA @240s ttl=63 id=0", "C RA @15us ttl=63 id=0")
	t.Run("azure_reset_to_both_ends/server_side", func(t *testing.T) {
		check(t, judge(newScenario(t).event(bothEnds...)), want{cause: CauseIdleTimeout, origin: OriginMiddlebox, minConf: High,
			signals: map[Signal][]uint64{SignalCrossedRST: {8, 9}, SignalTTLMismatch: {8}, SignalKnownTimeout: {8}}})
	})
	t.Run("azure_reset_to_both_ends/client_side", func(t *testing.T) {
		ends := append(append([]string(nil), bothEnds[:len(bothEnds)-1]...), bothEnds[len(bothEnds)-1]+" event")
		f := judge(newScenario(t).event(ends...))
		check(t, f, want{cause: CauseIdleTimeout, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalCrossedRST: {9, 8}, SignalKnownTimeout: {9}}})
		if !strings.Contains(f.Summary, "unprompted") {
			t.Errorf("summary: got %q, want the RST called unprompted (a RST is never answered)", f.Summary)
		}
	})
	t.Run("short_gap_is_not_idle", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=300", "C A", "S RA @2s")...)
		f := judge(ev)
		if f.Cause == CauseIdleTimeout {
			t.Errorf("cause: got idle_timeout after a 2 s gap (idle 5 s)\n%s", dump(f))
		}
	})
}

func TestStaleKeepalive(t *testing.T) {
	ev := newScenario(t).event(lines(handshake,
		"C PA len=100 req=http:GET:/a:example.com", "S PA len=500 @20ms", "C A",
		"S FA @5s", "C A",
		"C PA len=120 @20s", "S R id=0 @0.2ms")...)
	f := judge(ev)
	check(t, f, want{cause: CauseStaleKeepalive, origin: OriginServer, minConf: High,
		signals: map[Signal][]uint64{SignalFINThenData: {7, 9, 10}, SignalKnownTimeout: {7}},
		absent:  []Signal{SignalIPIDMismatch}})
	if !strings.Contains(f.Advice, "FIN seen 5.0 s after the last response") {
		t.Errorf("advice: got %q, want the keep-alive numbers", f.Advice)
	}
	if !slices.Contains(f.Alternatives, CauseIdleTimeout) {
		t.Errorf("alternatives: got %v, want idle_timeout among them", f.Alternatives)
	}
}

func TestTLSAlert(t *testing.T) {
	t.Run("alert_beats_stale_keepalive", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=517 req=tls:example.com",
			"S PA len=7 alert=2:40 @300ms", "S FA", "C A",
			"C PA len=50 @2s", "S R id=0")...)
		f := judge(ev)
		check(t, f, want{cause: CauseTLSAlert, origin: OriginServer, minConf: High,
			signals: map[Signal][]uint64{SignalTLSAlert: {5}}})
		if f.TLSAlert == nil || f.TLSAlert.Description != "handshake_failure" || f.TLSAlert.Code == nil || *f.TLSAlert.Code != 40 ||
			f.TLSAlert.Level != "fatal" || f.TLSAlert.From != SideServer || f.TLSAlert.Packet != 5 {
			t.Errorf("tls_alert: got %+v, want fatal handshake_failure(40) from server frame 5", f.TLSAlert)
		}
		if !slices.Contains(f.Alternatives, CauseStaleKeepalive) {
			t.Errorf("alternatives: got %v, want stale_keepalive", f.Alternatives)
		}
	})
	t.Run("fatal_alert_then_the_clients_close_notify", func(t *testing.T) {
		// Issue 13 class 1: the server's fatal alert and FIN; 0.1-2 s later
		// the client's own close_notify draws the server kernel's RST. The
		// fatal alert is the cause, the close_notify listed as context.
		for _, late := range []string{"@100ms", "@1s", "@2s"} {
			ev := newScenario(t).event(lines(handshake,
				"C PA len=517 req=tls:example.com",
				"S PA len=7 alert=2:70", "S FA", "C A",
				"C PA len=7 alert=1:0 "+late, "S R id=0")...)
			f := judge(ev)
			check(t, f, want{cause: CauseTLSAlert, origin: OriginServer, minConf: High,
				signals: map[Signal][]uint64{SignalTLSAlert: {5}}})
			if f.TLSAlert == nil || f.TLSAlert.Description != "protocol_version" || f.TLSAlert.From != SideServer {
				t.Errorf("%s: tls_alert: got %+v, want the server's protocol_version", late, f.TLSAlert)
			}
			if !hasDetail(f, "close_notify(0) (frame 8)") || !strings.Contains(f.Advice, "protocol_version") {
				t.Errorf("%s: want the client's close_notify in the evidence and protocol_version in the advice\n%s", late, dump(f))
			}
		}
	})
	t.Run("end_of_stream_alert_is_no_failure", func(t *testing.T) {
		// Issue 13 class 2: an encrypted alert after application data with
		// the alerting side's FIN is close_notify; the server's late data
		// reaching the client's closed socket is the close racing a write.
		ev := newScenario(t).event(lines(handshake,
			"C PA len=517 req=tls:example.com", "S PA len=3000", "C PA len=80", "C PA len=300", "S PA len=900", "C A",
			"C PA len=31 alert=enc @5s", "C FA", "S PA len=31 @20ms", "C R id=0")...)
		f := judge(ev)
		if f.Cause == CauseTLSAlert || strings.Contains(f.Advice, "certificate") {
			t.Errorf("got %s, advice %q: want no TLS failure\n%s", f.Cause, f.Advice, dump(f))
		}
		if !hasDetail(f, "end-of-stream close_notify") {
			t.Errorf("evidence: want the end-of-stream line\n%s", dump(f))
		}
	})
	t.Run("encrypted_alert", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=517 req=tls:example.com", "S PA len=3000", "C PA len=80", "S PA len=200",
			"C PA len=24 alert=enc @50ms", "S PA len=100", "C R id=0")...)
		f := judge(ev)
		check(t, f, want{cause: CauseTLSAlert, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalEncryptedAlert: {8}}})
		if f.TLSAlert == nil || !f.TLSAlert.Encrypted || f.TLSAlert.Code != nil {
			t.Errorf("tls_alert: got %+v, want encrypted without code", f.TLSAlert)
		}
	})
	t.Run("close_notify_after_idle_is_weak", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=300", "S PA len=900", "C A",
			"S PA len=24 alert=enc @75s", "S FA", "C A",
			"C PA len=120 @10s", "S R id=0")...)
		f := judge(ev)
		check(t, f, want{cause: CauseStaleKeepalive, origin: OriginServer, minConf: Medium,
			signals: map[Signal][]uint64{SignalFINThenData: {8, 10}, SignalEncryptedAlert: {7}}})
	})
}

func TestAbortiveClose(t *testing.T) {
	t.Run("rst_after_own_fin_when_data_arrives", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "C FA", "S A", "S PA len=800 @5ms", "C R id=0")...)
		check(t, judge(ev), want{cause: CauseAbortiveClose, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalRSTAfterFIN: {5, 7, 8}}})
	})
	t.Run("linger_zero_after_finished_exchange", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=500 @20ms", "C A @20ms", "S RA @1ms")...)
		check(t, judge(ev), want{cause: CauseAbortiveClose, origin: OriginServer, minConf: Medium,
			signals: map[Signal][]uint64{SignalFinishedExchange: {5, 7}}})
	})
	t.Run("late_fin_after_socket_gone", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=500", "C FA", "S A", "S FA @1s", "C R id=0")...)
		check(t, judge(ev), want{cause: CauseAbortiveClose, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalRSTAfterFIN: {6, 8}}})
	})
}

func TestClientAbort(t *testing.T) {
	t.Run("before_response", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100 req=http:GET:/slow:example.com", "S A", "C RA @30s")...)
		f := judge(ev)
		check(t, f, want{cause: CauseClientAbort, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalNoResponse: {4, 6}}})
		if !strings.Contains(f.Summary, "GET /slow") {
			t.Errorf("summary: got %q, want the request named", f.Summary)
		}
	})
	t.Run("mid_response", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=1400", "S PA len=1400", "C A", "S PA len=1400",
			"C RA @1ms", "S PA len=1400 @1ms")...)
		check(t, judge(ev), want{cause: CauseClientAbort, origin: OriginClient, minConf: High,
			signals: map[Signal][]uint64{SignalAbortMidResponse: {9, 10}}})
	})
	// The same ladder is a finished exchange unless the response's own
	// framing says it was not complete: Content-Length decides.
	shortResponse := lines(handshake,
		"C PA len=100 req=http:GET:/big:example.com", "S PA len=500", "C A", "C RA @30ms")
	t.Run("response_shorter_than_content_length", func(t *testing.T) {
		ev := newScenario(t).event(shortResponse...)
		sp := ev.Flow.Profile(flows.FromServer)
		sp.Request = flows.Request{Kind: flows.PayloadHTTPResponse, Frame: 5, Status: 200,
			StartSeq: sp.ISN.Add(1), BodyStart: 100, ContentLength: 1 << 20}
		f := judge(ev)
		check(t, f, want{cause: CauseClientAbort, origin: OriginClient, minConf: High,
			signals: map[Signal][]uint64{SignalAbortMidResponse: {5, 7}}})
		if !strings.Contains(f.Summary, "400 of the 1048576 body bytes") {
			t.Errorf("summary: got %q, want the body bytes sent vs announced", f.Summary)
		}
	})
	t.Run("complete_response_then_rst", func(t *testing.T) {
		ev := newScenario(t).event(shortResponse...)
		sp := ev.Flow.Profile(flows.FromServer)
		sp.Request = flows.Request{Kind: flows.PayloadHTTPResponse, Frame: 5, Status: 200,
			StartSeq: sp.ISN.Add(1), BodyStart: 100, ContentLength: 400}
		check(t, judge(ev), want{cause: CauseAbortiveClose, origin: OriginClient, minConf: Medium})
	})
	t.Run("rst_to_synack", func(t *testing.T) {
		ev := newScenario(t).event("C S", "S SA @50ms", "C R @0.1ms")
		f := judge(ev)
		check(t, f, want{cause: CauseClientAbort, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalHalfOpen: {2, 3}}})
		if f.Errno != "none" {
			t.Errorf("errno: got %q, want none (the server's listener drops it)", f.Errno)
		}
	})
	t.Run("connect_only_probe", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake, "C RA @1ms")...)
		check(t, judge(ev), want{cause: CauseClientAbort, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalConnectOnly: {4}}})
	})
}

func TestIgnoredRST(t *testing.T) {
	t.Run("out_of_window_and_the_flow_goes_on", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=300", "S R seq=99999999 @5ms", "C A @1ms", "C PA len=50")...)
		f := judge(ev)
		check(t, f, want{cause: CauseIgnoredRST, origin: OriginServer, minConf: High,
			signals: map[Signal][]uint64{SignalOutOfWindow: {6, 7}}})
		if f.Errno != "none" || f.RST.SeqCheck != "out_of_window" {
			t.Errorf("errno/seq_check: got %s/%s, want none/out_of_window", f.Errno, f.RST.SeqCheck)
		}
	})
	t.Run("in_window_with_challenge_ack", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=300", "S R seq=5101 @5ms", "C A @0.1ms challenge")...)
		check(t, judge(ev), want{cause: CauseIgnoredRST, origin: OriginServer, minConf: High,
			signals: map[Signal][]uint64{SignalChallengeACK: {6, 7}}})
	})
	t.Run("in_window_without_challenge_is_only_noted", func(t *testing.T) {
		ev := newScenario(t).event(lines(handshake,
			"C PA len=100", "S PA len=300", "C A", "S R seq=5400 @5ms")...)
		f := judge(ev)
		if f.Cause == CauseIgnoredRST {
			t.Errorf("cause: got ignored_rst without a challenge ACK\n%s", dump(f))
		}
		check(t, f, want{cause: f.Cause, origin: OriginServer, signals: map[Signal][]uint64{SignalInWindow: {7}}})
		if !slices.Contains(f.Alternatives, CauseIgnoredRST) {
			t.Errorf("alternatives: got %v, want ignored_rst", f.Alternatives)
		}
	})
}

func TestJudge_zeroValues(t *testing.T) {
	f := judge(&flows.Event{})
	if f.Cause != CauseUnknown || f.Origin != OriginUnknown || f.Confidence != Low {
		t.Errorf("zero event: got %s/%s/%s, want unknown/unknown/low", f.Cause, f.Origin, f.Confidence)
	}
	if f.Summary == "" || f.Advice == "" || f.Alternatives == nil || f.Errno == "" {
		t.Errorf("zero event: got summary %q advice %q alternatives %v errno %q, want all set", f.Summary, f.Advice, f.Alternatives, f.Errno)
	}
	// A lone RST from a known side with no other packets.
	ev := &flows.Event{Count: 1}
	ev.Flow.Client = netip.MustParseAddrPort("10.0.0.1:40000")
	ev.Flow.Server = netip.MustParseAddrPort("10.0.0.2:80")
	ev.Flow.RolesFrom = flows.RolesPort
	ev.RSTs[0] = flows.RSTPacket{Frame: 1, Dir: flows.FromServer, IsIPv4: true, TTL: 64}
	f = judge(ev)
	if f.Origin != OriginServer || f.Cause != CauseUnknown || f.RST.Packet != 1 || f.Flow.RolesFrom != "port" {
		t.Errorf("lone rst: got %s/%s frame %d roles %s, want unknown/server frame 1 roles port\n%s",
			f.Cause, f.Origin, f.RST.Packet, f.Flow.RolesFrom, dump(f))
	}
	if _, ok := findEvidence(f, SignalMidstream); !ok {
		t.Errorf("lone rst: want a midstream note\n%s", dump(f))
	}
}

func TestPackets_ladder(t *testing.T) {
	ev := newScenario(t).event(lines(handshake,
		"C PA len=517", "S RA @3ms ttl=61", "S PA len=10 @5ms")...)
	f := judge(ev)
	if len(f.Packets) != 6 {
		t.Fatalf("packets: got %d rows, want 6", len(f.Packets))
	}
	var rst PacketRow
	for _, p := range f.Packets {
		if p.RST {
			rst = p
		}
	}
	if rst.Packet != 5 || rst.TimeOffset.MS() != 0 || rst.From != SideServer || rst.Flags != "RA" {
		t.Errorf("rst row: got %+v, want frame 5 at 0 ms from server RA", rst)
	}
	last := f.Packets[5]
	if last.Packet != 6 || !last.After || last.TimeOffset.MS() != 5 {
		t.Errorf("last row: got %+v, want frame 6 after at +5 ms", last)
	}
	if first := f.Packets[0]; first.Packet != 1 || first.TimeOffset.MS() >= 0 {
		t.Errorf("first row: got %+v, want frame 1 before the RST", first)
	}
}

func TestExplain(t *testing.T) {
	for _, c := range AllCauses {
		s := Explain(c)
		if len(s) < 80 || strings.HasPrefix(s, "unknown cause") || !strings.Contains(s, "What to do") {
			t.Errorf("Explain(%s): got %q, want a text with what to do", c, s)
		}
	}
	if !strings.HasPrefix(Explain("nope"), "unknown cause") {
		t.Errorf("Explain(nope): got %q", Explain("nope"))
	}
	all := ExplainAll()
	for _, c := range AllCauses {
		if !strings.Contains(all, string(c)+"\n") {
			t.Errorf("ExplainAll: missing %s", c)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range AllCauses {
		if got, err := ParseCause(string(c)); err != nil || got != c {
			t.Errorf("ParseCause(%s): got %s, %v", c, got, err)
		}
	}
	for _, k := range []string{"gcp", "AWS NLB", "Azure"} {
		if !slices.ContainsFunc(knownTimeouts, func(kt knownTimeout) bool {
			return strings.Contains(strings.ToLower(kt.name), strings.ToLower(k))
		}) {
			t.Errorf("known timeouts: missing %s", k)
		}
	}
	if k, ok := matchTimeout(351e9, pathTimeout); !ok || !strings.Contains(k.name, "NLB") {
		t.Errorf("matchTimeout(351s): got %v %v, want AWS NLB", k, ok)
	}
	if _, ok := matchTimeout(30e9, pathTimeout|serverTimeout|clientTimeout); ok {
		t.Errorf("matchTimeout(30s): got a match, want none")
	}
	if k, ok := exceededTimeout(6e9, answeredKinds); ok {
		t.Errorf("exceededTimeout(6s, path): got %v, want none (5 s is a server keep-alive, not a path timeout)", k)
	}
	for ttl, want := range map[uint8]int{64: 0, 61: 3, 52: 12, 123: 5, 250: 5, 30: 2} {
		if got := hops(ttl); got != want {
			t.Errorf("hops(%d): got %d, want %d", ttl, got, want)
		}
	}
}

// The lab's topology seen from the client: router1 one hop away (TTL 64 at
// the client), the server two hops (TTL 62), RTTs far below a millisecond.
func TestLabShapes(t *testing.T) {
	t.Run("string_match_reject_v4", func(t *testing.T) {
		s := newScenario(t)
		s.serverTTL = 62
		f := judge(s.event(lines(handshake,
			"C PA len=90 req=http:GET:/BLOCKME:10.77.3.2", "S RA @0.05ms ttl=64 id=0 win=0")...))
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalTTLMismatch: {5}, SignalFingerprint: {5}},
			absent:  []Signal{SignalTooFast}})
		if !slices.Contains(f.Alternatives, CauseServerResetAfterRequest) {
			t.Errorf("alternatives: got %v, want server_reset_after_request", f.Alternatives)
		}
	})
	t.Run("string_match_reject_v6", func(t *testing.T) {
		s := newScenario(t)
		s.serverTTL, s.ipv6 = 62, true
		f := judge(s.event(lines(handshake,
			"C PA len=90 req=http:GET:/BLOCKME:x", "S RA @0.05ms ttl=64 win=0")...))
		check(t, f, want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalTTLMismatch: {5}, SignalFingerprint: {5}}})
	})
	t.Run("conntrack_forgot_idle_flow", func(t *testing.T) {
		s := newScenario(t)
		s.serverTTL = 62
		f := judge(s.event(lines(handshake,
			"C PA len=90", "S PA len=200", "C A",
			"C PA len=90 @6s", "S RA @0.05ms ttl=64 id=0 win=0")...))
		check(t, f, want{cause: CauseIdleTimeout, origin: OriginMiddlebox, minConf: Medium,
			signals: map[Signal][]uint64{SignalIdleGap: {6, 7}, SignalTTLMismatch: {8}}})
		if f.KnownTimeout != "" {
			t.Errorf("known timeout: got %q, want none for a 6 s gap", f.KnownTimeout)
		}
	})
	t.Run("client_abort_with_response_unread", func(t *testing.T) {
		f := judge(newScenario(t).event(lines(handshake,
			"C PA len=80 req=http:GET:/big:x", "S PA len=1448", "S PA len=1448", "C A win=20000",
			"S PA len=1448", "C A win=0", "C RA @50ms")...))
		check(t, f, want{cause: CauseClientAbort, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalAbortMidResponse: {8, 10}},
			absent:  []Signal{SignalFinishedExchange}})
	})
	t.Run("client_linger0_after_complete_response", func(t *testing.T) {
		f := judge(newScenario(t).event(lines(handshake,
			"C PA len=80 req=http:GET:/:x", "S PA len=300", "C A", "C RA @1ms")...))
		check(t, f, want{cause: CauseAbortiveClose, origin: OriginClient, minConf: Medium,
			signals: map[Signal][]uint64{SignalFinishedExchange: {5, 7}},
			absent:  []Signal{SignalTTLMismatch, SignalIPIDMismatch, SignalDataAfterRST}})
	})
	t.Run("timestamps_consistent", func(t *testing.T) {
		s := newScenario(t)
		s.useTS = true
		f := judge(s.event(lines(handshake,
			"S A", "C PA len=100", "S A @20ms", "S RA @5ms")...))
		check(t, f, want{cause: CauseServerResetAfterRequest, origin: OriginServer, minConf: High,
			signals: map[Signal][]uint64{SignalTSConsistent: {7}, SignalIPIDConsistent: {7}},
			absent:  []Signal{SignalTimestampMismatch}})
	})
}

// TestJudge_robust feeds events with arbitrary field values: Judge must
// not panic and must give valid names.
func TestJudge_robust(t *testing.T) {
	seed := uint64(1)
	next := func() uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed
	}
	dirs := []flows.Dir{flows.DirUnknown, flows.FromClient, flows.FromServer}
	base := newScenario(t).event(lines(handshake, "C PA len=10 req=tls:x", "S PA len=7 alert=2:40", "S FA", "C PA len=5", "S RA")...)
	for i := range 2000 {
		ev := *base
		ev.Count = int(next() % 12)
		for j := range ev.RSTs {
			r := &ev.RSTs[j]
			r.Dir = dirs[next()%3]
			r.Frame = next() % 50
			r.Seq, r.Ack = flows.Seq(next()), flows.Seq(next())
			r.TTL, r.IPID, r.IsIPv4, r.DF = uint8(next()), uint16(next()), next()%2 == 0, next()%2 == 0
			r.SeqCheck = flows.SeqCheck(next() % 4)
			r.Time = base.RSTs[0].Time.Add(time.Duration(int64(next()%2000)-1000) * time.Millisecond)
		}
		ev.RSTs[1].Dir = ev.RSTs[0].Dir
		ev.After.N = int(next() % 20)
		for j := range ev.After.Packets {
			ev.After.Packets[j].Dir = dirs[next()%3]
			ev.After.Packets[j].Len = int(next() % 3)
		}
		ev.Gap = time.Duration(next() % uint64(500*time.Second))
		ev.HasTrigger = next()%2 == 0
		ev.Flow.Dirs[0].IPID.Model = flows.IPIDModel(next() % 4)
		ev.Flow.Dirs[1].TSPackets = next() % 10
		ev.Flow.ClientRTT = time.Duration(next() % uint64(time.Second))
		ev.SenderHost.Known = next()%2 == 0
		ev.SenderHost.TTL = flows.TTLStats{Count: uint32(next() % 10), Min: uint8(next()), Max: uint8(next()), Mode: uint8(next())}
		f := (&Engine{Idle: time.Duration(next() % uint64(10*time.Second))}).Judge(&ev)
		if _, err := ParseCause(string(f.Cause)); err != nil {
			t.Fatalf("case %d: cause %q: %v", i, f.Cause, err)
		}
		if _, err := ParseOrigin(string(f.Origin)); err != nil {
			t.Fatalf("case %d: origin %q: %v", i, f.Origin, err)
		}
		if f.Confidence < Low || f.Summary == "" || f.Advice == "" {
			t.Fatalf("case %d: got confidence %s summary %q advice %q", i, f.Confidence, f.Summary, f.Advice)
		}
		if ev.RSTs[0].Dir == flows.DirUnknown && f.Origin != OriginUnknown && f.Origin != OriginMiddlebox {
			t.Fatalf("case %d: unknown direction gave origin %s", i, f.Origin)
		}
	}
}

// TestTTL_oneHopAndClass (issue 13 class 3): a RST one hop off a TTL that
// never varied in the flow is evidence (weaker than two hops, never
// dropped), at every distance and from either side; a RST from another
// initial-TTL class differs even when the sender's TTL varies.
func TestTTL_oneHopAndClass(t *testing.T) {
	t.Run("one_hop_either_side", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			rst  string
		}{
			{"server_side_nearer", "S R ttl=53 id=0 win=0"},
			{"server_side_farther", "S R ttl=51 id=0 win=0"},
			{"client_side", "C R ttl=63 id=0 win=0"},
		} {
			ev := newScenario(t).event(lines(handshake, "C PA len=80 req=http:GET:/x:h", "S PA len=300", "C A", "C PA len=80 @8s", tc.rst)...)
			f := judge(ev)
			ttl := evidenceOf(f, SignalTTLMismatch)
			if len(ttl) != 1 || !strings.Contains(ttl[0].Detail, "never varied") {
				t.Errorf("%s: want a one-hop ttl_mismatch line\n%s", tc.name, dump(f))
			}
			if f.Confidence > Medium {
				t.Errorf("%s: confidence %s, want at most medium with a TTL that differs", tc.name, f.Confidence)
			}
		}
	})
	t.Run("one_hop_linux_reject_is_a_middlebox", func(t *testing.T) {
		// iptables REJECT right in front of the server: IP ID 0, DF,
		// window 0, no options, one hop nearer than the server's steady 52.
		ev := newScenario(t).event(lines(handshake, "C PA len=80 req=http:GET:/BLOCKME:h", "S R ttl=53 id=0 win=0")...)
		check(t, judge(ev), want{cause: CauseMiddleboxInjected, origin: OriginMiddlebox, minConf: Medium, maxConf: Medium,
			signals: map[Signal][]uint64{SignalTTLMismatch: {5}, SignalFingerprint: {5}}})
	})
	t.Run("another_class_despite_a_varying_ttl", func(t *testing.T) {
		ev := newScenario(t).event("C S", "S SA ttl=230 @1ms", "C A", "C PA len=80", "S PA len=300 ttl=232", "S PA len=300 ttl=229", "C A",
			"C PA len=80", "S R ttl=59 id=0 win=0")
		f := judge(ev)
		ttl := evidenceOf(f, SignalTTLMismatch)
		if len(ttl) != 1 || !strings.Contains(ttl[0].Detail, "initial TTL 64 and 255") {
			t.Errorf("want a ttl_mismatch across initial-TTL classes\n%s", dump(f))
		}
	})
	t.Run("same_class_varying_ttl_is_not_compared", func(t *testing.T) {
		ev := newScenario(t).event("C S", "S SA ttl=230 @1ms", "C A", "C PA len=80", "S PA len=300 ttl=232", "S PA len=300 ttl=229", "C A",
			"C PA len=80", "S R ttl=227 id=0 win=0")
		if f := judge(ev); len(evidenceOf(f, SignalTTLMismatch)) != 0 {
			t.Errorf("want no ttl_mismatch within the sender's own varying class\n%s", dump(f))
		}
	})
}

func evidenceOf(f Finding, s Signal) []Evidence {
	var out []Evidence
	for _, e := range f.Evidence {
		if e.Signal == s {
			out = append(out, e)
		}
	}
	return out
}
