package report

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// Fixed findings for the golden and hand-written tests. They are given in
// write order, which is not time order: sorted, they come as refused (t0),
// tls_alert (t0+1s, frame 30, input 0), stale_keepalive (t0+1s, frame 30,
// input 1), middlebox_injected (t0+3s), server_reset (t0+3s, frame 200).

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func u16(v uint16) *uint16 { return &v }
func u8(v uint8) *uint8    { return &v }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func at(t time.Time) heuristics.Instant { return heuristics.Instant{Time: t} }

func ms(v float64) heuristics.Millis {
	return heuristics.Millis{Duration: time.Duration(v * float64(time.Millisecond))}
}

func testSummary() Summary {
	return Summary{
		Tool: "rstscope", Version: "0.1.0",
		Inputs: []string{"capture.pcap", "other capture.pcapng"},
		Stats: Stats{Packets: 1234, TCPPackets: 1200, TCPFlows: 40, RSTPackets: 9,
			Undecodable: 2, Filtered: 1},
		First:    t0.Add(-10 * time.Second),
		Last:     t0.Add(5*time.Minute + 250*time.Millisecond),
		Warnings: []string{"other capture.pcapng: capture cut mid-record after frame 812"},
	}
}

func testFindings() []heuristics.Finding {
	mb := heuristics.Finding{
		Cause: heuristics.CauseMiddleboxInjected, Origin: heuristics.OriginMiddlebox, Confidence: heuristics.High,
		Summary: "RST claimed from 93.184.216.34:443 arrived with TTL 61 (server's packets: 52) 3 ms after the client's TLS ClientHello (SNI example.com)",
		Flow: heuristics.FlowInfo{Client: ap("10.0.0.2:51514"), Server: ap("93.184.216.34:443"), RolesFrom: "handshake",
			Start: at(t0.Add(3*time.Second - 40*time.Millisecond)), ClientBytes: 517, ClientPackets: 4, ServerPackets: 1,
			History: "ShADr", ConnState: "RSTR"},
		RST: heuristics.RSTInfo{Time: at(t0.Add(3 * time.Second)), Packet: 107, From: heuristics.SideServer, Count: 3, Flags: "RA",
			Seq: 2000001, Ack: 1000518, Window: 0, TTL: 61, IPID: u16(0), SeqCheck: "exact", Frames: []uint64{107, 108, 109}},
		Stage: "post_psh", Errno: "ECONNRESET",
		Alternatives: []heuristics.Cause{heuristics.CauseServerResetAfterRequest},
		Advice:       "the reset came from the path, not the server: compare with a capture taken at the server",
		Request:      &heuristics.RequestInfo{Kind: "tls", SNI: "example.com", ALPN: "h2", Frame: 104},
		Evidence: []heuristics.Evidence{
			{Signal: heuristics.SignalTTLMismatch, Detail: "RST TTL 61 vs server TTL 52 (3 vs 12 hops)", Frames: []uint64{102, 107}},
			{Signal: heuristics.SignalRSTBurst, Detail: "3 RSTs within 1 ms with seq +0/+1460/+4380", Frames: []uint64{107, 108, 109}},
			{Signal: heuristics.SignalDataAfterRST, Detail: "the server sent 1448 bytes 21.4 ms after its RST", Frames: []uint64{111}},
		},
	}
	rows := []struct {
		n    uint64
		ms   float64
		from string
		fl   string
		seq  uint32
		ack  uint32
		ln   int
		ttl  uint8
		rst  bool
	}{
		{101, -40.125, "client", "S", 1000000, 0, 0, 64, false},
		{102, -28.5, "server", "SA", 2000000, 1000001, 0, 52, false},
		{103, -28.25, "client", "A", 1000001, 2000001, 0, 64, false},
		{104, -3.0, "client", "PA", 1000001, 2000001, 517, 64, false},
		{105, -2.5, "client", "PA", 1000518, 2000001, 0, 64, false},
		{106, -1.0, "client", "A", 1000518, 2000001, 0, 64, false},
		{107, 0, "server", "RA", 2000001, 1000518, 0, 61, true},
		{108, 0.25, "server", "RA", 2001461, 1000518, 0, 61, true},
		{109, 0.5, "server", "RA", 2004381, 1000518, 0, 61, true},
		{110, 20.0, "client", "A", 1000518, 2000001, 0, 64, false},
		{111, 21.4, "server", "A", 2000001, 1000518, 1448, 52, false},
		{112, 22.0, "client", "A", 1000518, 2001449, 0, 64, false},
		{113, 25.0, "server", "PA", 2001449, 1000518, 1200, 52, false},
	}
	for i, r := range rows {
		from := heuristics.SideServer
		if r.from == "client" {
			from = heuristics.SideClient
		}
		p := heuristics.PacketRow{Packet: r.n, TimeOffset: ms(r.ms), From: from, Flags: r.fl, Seq: r.seq,
			Ack: r.ack, Len: r.ln, TTL: r.ttl, Window: 64240, RST: r.rst, After: r.ms > 0}
		if r.from == "client" {
			p.IPID = u16(uint16(4000 + i))
		} else if !r.rst {
			p.IPID = u16(uint16(9000 + i))
		} else {
			p.IPID = u16(0)
		}
		mb.Packets = append(mb.Packets, p)
	}

	refused := heuristics.Finding{
		Cause: heuristics.CauseRefused, Origin: heuristics.OriginServer, Confidence: heuristics.High,
		Summary: "the server answered the SYN to port 8080 with RST/ACK: nothing listens there",
		Flow: heuristics.FlowInfo{Client: ap("[2001:db8::2]:40000"), Server: ap("[2001:db8::1]:8080"), RolesFrom: "syn",
			Start: at(t0.Add(-500 * time.Microsecond)), ClientPackets: 1, ServerPackets: 1},
		RST: heuristics.RSTInfo{Time: at(t0), Packet: 12, From: heuristics.SideServer, Count: 1, Flags: "RA", Seq: 0, Ack: 555001,
			TTL: 64, SeqCheck: "exact"},
		Stage: "post_syn", Errno: "ECONNREFUSED",
		Advice: "nothing listens on [2001:db8::1]:8080, or a firewall rejects it: check the service and the rules",
		Evidence: []heuristics.Evidence{
			{Signal: heuristics.SignalSYNAnswered, Detail: "RST/ACK with ack = SYN seq + 1 after 0.5 ms", Frames: []uint64{11, 12}},
			{Signal: heuristics.SignalTTLConsistent, Detail: "hop limit 64 as in the host's other packets"},
		},
		Packets: []heuristics.PacketRow{
			{Packet: 11, TimeOffset: ms(-0.5), From: heuristics.SideClient, Flags: "S", Seq: 555000, Len: 0, TTL: 64, Window: 64800},
			{Packet: 12, TimeOffset: ms(0), From: heuristics.SideServer, Flags: "RA", Seq: 0, Ack: 555001, TTL: 64, RST: true},
		},
	}

	stale := heuristics.Finding{
		Cause: heuristics.CauseStaleKeepalive, Origin: heuristics.OriginServer, Confidence: heuristics.Medium,
		Summary: "the client reused a pooled connection 5.0 s after the server's FIN; the server answered its request with RST",
		Flow: heuristics.FlowInfo{Client: ap("192.168.1.10:50000"), Server: ap("192.168.1.20:80"), RolesFrom: "handshake",
			Start: at(t0.Add(-9 * time.Second)), ClientBytes: 300, ServerBytes: 900, ClientPackets: 7, ServerPackets: 6,
			VLAN: 100},
		RST: heuristics.RSTInfo{Time: at(t0.Add(time.Second)), Packet: 30, Input: 1, From: heuristics.SideServer, Count: 1, Flags: "R",
			Seq: 7001, TTL: 64, IPID: u16(0), SeqCheck: "exact"},
		Stage: "later_in_flow", Errno: "ECONNRESET",
		Alternatives: []heuristics.Cause{heuristics.CauseAbortiveClose, heuristics.CauseIdleTimeout},
		Advice:       "client pool idle timeout must be shorter than the server's keep-alive timeout (FIN seen 5.0 s after the last response)",
		Gap:          heuristics.Gap{Duration: 5 * time.Second},
		Request:      &heuristics.RequestInfo{Kind: "http", Method: "GET", Path: "/api/v1/items?page=2&sort=name", Host: "api.internal", Frame: 29},
		Evidence: []heuristics.Evidence{
			{Signal: heuristics.SignalFINThenData, Detail: "server FIN at frame 27, client data 5.0 s later", Frames: []uint64{27, 29}},
		},
		Packets: []heuristics.PacketRow{
			{Packet: 26, TimeOffset: ms(-5002.0), From: heuristics.SideServer, Flags: "PA", Seq: 6100, Ack: 301, Len: 900, TTL: 64, IPID: u16(17)},
			{Packet: 27, TimeOffset: ms(-5000.5), From: heuristics.SideServer, Flags: "FA", Seq: 7000, Ack: 301, TTL: 64, IPID: u16(18)},
			{Packet: 28, TimeOffset: ms(-4999.9), From: heuristics.SideClient, Flags: "A", Seq: 301, Ack: 7001, TTL: 64, IPID: u16(900)},
			{Packet: 29, TimeOffset: ms(-0.2), From: heuristics.SideClient, Flags: "PA", Seq: 301, Ack: 7001, Len: 120, TTL: 64, IPID: u16(901)},
			{Packet: 30, TimeOffset: ms(0), From: heuristics.SideServer, Flags: "R", Seq: 7001, TTL: 64, IPID: u16(0), RST: true},
		},
	}

	alert := heuristics.Finding{
		Cause: heuristics.CauseTLSAlert, Origin: heuristics.OriginServer, Confidence: heuristics.High,
		Summary: "the server sent a fatal TLS alert (handshake_failure) then reset the connection",
		Flow: heuristics.FlowInfo{Client: ap("10.1.1.1:41000"), Server: ap("10.2.2.2:443"), RolesFrom: "handshake",
			Start: at(t0.Add(900 * time.Millisecond)), ClientBytes: 250, ServerBytes: 7, ClientPackets: 4, ServerPackets: 3},
		RST: heuristics.RSTInfo{Time: at(t0.Add(time.Second)), Packet: 30, From: heuristics.SideServer, Count: 1, Flags: "RA",
			Seq: 88, Ack: 251, TTL: 63, IPID: u16(2), SeqCheck: "exact"},
		Stage: "post_psh", Errno: "ECONNRESET",
		Advice:   "the server rejected the handshake: compare the client's TLS versions and ciphers with the server's",
		Request:  &heuristics.RequestInfo{Kind: "tls", SNI: "shop.example.org", Frame: 27},
		TLSAlert: &heuristics.TLSAlertJSON{From: heuristics.SideServer, Packet: 29, Level: "fatal", Description: "handshake_failure", Code: u8(40)},
		Evidence: []heuristics.Evidence{
			{Signal: heuristics.SignalTLSAlert, Detail: "fatal handshake_failure (40) from the server", Frames: []uint64{29}},
			{Signal: heuristics.SignalTTLConsistent, Detail: "TTL 63 as in the server's other packets", Frames: []uint64{28, 30}},
		},
		Packets: []heuristics.PacketRow{
			{Packet: 27, TimeOffset: ms(-1.5), From: heuristics.SideClient, Flags: "PA", Seq: 1, Ack: 81, Len: 250, TTL: 64, IPID: u16(10)},
			{Packet: 28, TimeOffset: ms(-1.0), From: heuristics.SideServer, Flags: "A", Seq: 81, Ack: 251, TTL: 63, IPID: u16(1)},
			{Packet: 29, TimeOffset: ms(-0.9), From: heuristics.SideServer, Flags: "PA", Seq: 81, Ack: 251, Len: 7, TTL: 63, IPID: u16(1)},
			{Packet: 30, TimeOffset: ms(0), From: heuristics.SideServer, Flags: "RA", Seq: 88, Ack: 251, TTL: 63, IPID: u16(2), RST: true},
		},
	}

	srvReset := heuristics.Finding{
		Cause: heuristics.CauseServerResetAfterRequest, Origin: heuristics.OriginUnknown, Confidence: heuristics.Low,
		Summary: "the server reset right after the client's request, with no response",
		Flow:    heuristics.FlowInfo{Client: ap("10.0.0.3:51600"), Server: ap("93.184.216.34:443"), RolesFrom: "port"},
		RST: heuristics.RSTInfo{Time: at(t0.Add(3 * time.Second)), Packet: 200, From: heuristics.SideServer, Count: 1, Flags: "R",
			Seq: 5, TTL: 52, SeqCheck: "in_window"},
		Stage: "post_psh", Errno: "ECONNRESET",
		// Evidence, Packets and Alternatives left nil: JSON must give [].
	}

	// Write order: not sorted.
	return []heuristics.Finding{mb, stale, srvReset, refused, alert}
}

// wantOrder is the sorted order of testFindings, by cause.
var wantOrder = []heuristics.Cause{
	heuristics.CauseRefused, heuristics.CauseTLSAlert, heuristics.CauseStaleKeepalive,
	heuristics.CauseMiddleboxInjected, heuristics.CauseServerResetAfterRequest,
}
