package pcapgen

import (
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Endpoints are a scenario's client and server addresses.
type Endpoints struct {
	Client, Server netip.AddrPort
}

// Scenario is a named edge case that ends in one or more RSTs. Cause and
// Origin are what the scenario is built to show (DESIGN.md names); RSTs is
// the exact number of RST segments it writes (what
// `tshark -Y tcp.flags.reset==1` counts).
type Scenario struct {
	Name   string
	Doc    string
	Cause  string
	Origin string
	RSTs   int
	// Client and Server are the fixture addresses; Run accepts others.
	Client, Server netip.AddrPort
	Run            func(g *Generator, e Endpoints, t time.Time)
}

// Endpoints gives the scenario's fixture addresses.
func (s Scenario) Endpoints() Endpoints { return Endpoints{s.Client, s.Server} }

// Scenarios lists every named scenario in a fixed order.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "gfw_triple_rst", Cause: "middlebox_injected", Origin: "middlebox", RSTs: 3,
			Client: ap("10.0.0.2:51514"), Server: ap("203.0.113.10:80"), Run: GFWTripleRST,
			Doc: "HTTP GET, then 2 ms later three RSTs claiming the server (TTL 61 vs the server's 52, seq +0/+1460/+4380, random IP IDs, no DF); the real server's response (TTL 52) arrives 80 ms later"},
		{Name: "iptables_reject_tls", Cause: "middlebox_injected", Origin: "middlebox", RSTs: 1,
			Client: ap("10.0.0.2:40000"), Server: ap("198.51.100.20:443"), Run: IptablesRejectTLS,
			Doc: "TLS ClientHello (SNI blocked.example.com), 400 µs later an iptables REJECT-shaped RST claiming the server: IP ID 0, DF, TTL 63 (64 at 1 hop; server 52), window 0, no options, seq = ClientHello's ack"},
		{Name: "rst_out_of_window", Cause: "ignored_rst", Origin: "middlebox", RSTs: 1,
			Client: ap("10.0.0.2:40010"), Server: ap("203.0.113.11:80"), Run: RSTOutOfWindow,
			Doc: "HTTP GET, a forged RST claiming the server (TTL 52 but no timestamps, random IP ID) with seq 5,000,000 past the client's window (dropped); the exchange then completes with FINs"},
		{Name: "rst_in_window_challenge_ack", Cause: "ignored_rst", Origin: "middlebox", RSTs: 1,
			Client: ap("10.0.0.2:40020"), Server: ap("203.0.113.12:80"), Run: RSTInWindowChallengeACK,
			Doc: "HTTP GET, a forged RST claiming the server (TTL 52 but no timestamps, random IP ID) with seq 20,000 into the window (not exact): the client answers with a challenge ACK (seq SND.NXT, ack RCV.NXT) 60 µs later; the exchange completes"},
		{Name: "nlb_idle_timeout", Cause: "idle_timeout", Origin: "middlebox", RSTs: 1,
			Client: ap("10.0.0.2:40030"), Server: ap("198.51.100.30:443"), Run: NLBIdleTimeout,
			Doc: "TLS exchange, 350.5 s idle, the client sends a 120-byte app-data record, 600 µs later a RST claiming the server: TTL 62 (server 52), IP ID 0, no DF, no timestamps, seq = the record's ack"},
		{Name: "azure_idle_reset", Cause: "idle_timeout", Origin: "middlebox", RSTs: 2,
			Client: ap("10.0.0.2:40040"), Server: ap("198.51.100.40:443"), Run: AzureIdleReset,
			Doc: "TLS exchange, then exactly 240 s after the last packet two unsolicited RST/ACKs, one claiming each end (TTL 63, IP ID 0, exact seqs), 15 µs apart"},
		{Name: "stale_keepalive", Cause: "stale_keepalive", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40050"), Server: ap("203.0.113.13:80"), Run: StaleKeepalive,
			Doc: "HTTP GET and keep-alive response; server FIN 5 s after the response (client ACKs it); 800 ms later the client sends a new GET on the pooled connection; the server RSTs (flags R, seq = the GET's ack, TTL 52, IP ID continuing the server's per-socket counter)"},
		{Name: "tls_plaintext_alert", Cause: "tls_alert", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40060"), Server: ap("198.51.100.60:443"), Run: TLSPlaintextAlert,
			Doc: "TLS ClientHello (SNI legacy.example.com), the server answers with a plaintext fatal handshake_failure alert (15 03 03 00 02 02 28) then RST/ACK 150 µs later"},
		{Name: "tls13_encrypted_alert", Cause: "tls_alert", Origin: "client", RSTs: 1,
			Client: ap("10.0.0.2:40070"), Server: ap("198.51.100.70:443"), Run: TLS13EncryptedAlert,
			Doc: "TLS 1.3: ClientHello, ServerHello+CCS and a 2900-byte encrypted flight; the client sends one 19-byte application_data record (encrypted alert candidate) 1.5 ms later, then RST/ACK"},
		{Name: "client_abort", Cause: "client_abort", Origin: "client", RSTs: 1,
			Client: ap("10.0.0.2:40080"), Server: ap("203.0.113.14:80"), Run: ClientAbort,
			Doc: "HTTP GET of a 1 MB file; after 20 response segments (client ACKs every 2) the client RST/ACKs; 3 server segments already in flight arrive after the RST"},
		{Name: "refused", Cause: "refused", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40090"), Server: ap("203.0.113.15:8080"), Run: Refused,
			Doc: "SYN answered after one RTT by RST/ACK seq 0, ack ISN+1, window 0, IP ID 0, DF, TTL 52"},
		{Name: "midstream_rst", Cause: "server_reset_after_request", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40100"), Server: ap("198.51.100.100:443"), Run: MidstreamRST,
			Doc: "capture starts mid-connection (no handshake): app-data request, response, a second request, then the server RST/ACKs (roles only from ports)"},
		{Name: "ipv6_refused", Cause: "refused", Origin: "server", RSTs: 1,
			Client: ap("[2001:db8::2]:50000"), Server: ap("[2001:db8:1::80]:8080"), Run: Refused,
			Doc: "IPv6 SYN answered by RST/ACK seq 0, ack ISN+1, hop limit 52"},
		{Name: "tls_alert_split", Cause: "tls_alert", Origin: "client", RSTs: 1,
			Client: ap("10.0.0.2:40110"), Server: ap("198.51.100.110:443"), Run: TLSAlertSplit,
			Doc: "TLS 1.2: ClientHello, ServerHello + 3000-byte Certificate + ServerHelloDone; the client's plaintext fatal unknown_ca alert is split over two segments (3 + 4 bytes), then the client RST/ACKs"},
		{Name: "retransmissions", Cause: "server_reset_after_request", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40120"), Server: ap("203.0.113.16:80"), Run: Retransmissions,
			Doc: "HTTP GET retransmitted 3 times (200, 600, 1400 ms: same seq, new IP IDs) with no answer, then the server ACKs and RST/ACKs"},
		{Name: "tuple_reuse", Cause: "abortive_close", Origin: "client", RSTs: 2,
			Client: ap("10.0.0.2:40130"), Server: ap("203.0.113.17:80"), Run: TupleReuse,
			Doc: "first connection: HTTP exchange ended by the client's RST/ACK (SO_LINGER 0, abortive_close); 1 s later a new SYN on the same tuple (higher ISN): GET, then the server RST/ACKs (server_reset_after_request)"},
		{Name: "bsd_per_segment_rsts", Cause: "abortive_close", Origin: "client", RSTs: 3,
			Client: ap("10.0.0.2:40150"), Server: ap("203.0.113.19:80"), Run: BSDPerSegmentRSTs,
			Doc: "macOS client (TTL 64, random IP IDs) at the capture point: GET, response; the client closes (FIN) while three more server segments are in flight; they arrive back to back and the client's stack answers each with RST (flags R, seq = the segment's ack, so all three equal; new random IP ID each, no timestamps) 30-40 µs later"},
		{Name: "own_rst_too_fast", Cause: "client_abort", Origin: "client", RSTs: 1,
			Client: ap("10.0.0.2:40160"), Server: ap("203.0.113.20:80"), Run: OwnRSTTooFast,
			Doc: "Linux client at the capture point whose handshake ACK leaves 40 ms after the SYN/ACK (delayed while a write was pending), then GET of 1 MB; after 10 response segments the client RST/ACKs 60 µs after the last (its own RST: TTL 64, IP ID continuing, timestamps)"},
		{Name: "abortive_close", Cause: "abortive_close", Origin: "server", RSTs: 1,
			Client: ap("10.0.0.2:40140"), Server: ap("203.0.113.18:80"), Run: AbortiveClose,
			Doc: "two pipelined GETs in one segment; the server answers the first with Connection: close and closes with RST/ACK (unread data) instead of FIN"},
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// WriteScenario writes one named scenario at its fixture addresses,
// starting at Time(0), as a whole pcap file.
func WriteScenario(w io.Writer, name string, o Options) (Stats, error) {
	s, ok := Lookup(name)
	if !ok {
		return Stats{}, fmt.Errorf("pcapgen: unknown scenario %q", name)
	}
	g := New(w, o)
	s.Run(g, s.Endpoints(), Time(0))
	err := g.Close()
	return g.Stats(), err
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Hosts used by the scenarios: a Linux client at the capture point and a
// Linux server 12 hops away.
var (
	scenarioClient = Host{TTL: 64, DF: true, Timestamps: true, SACKPerm: true}
	scenarioServer = Host{TTL: 52, DF: true, Timestamps: true, SACKPerm: true}
)

const (
	us = time.Microsecond
	ms = time.Millisecond
)

func newScenarioConn(g *Generator, e Endpoints, rtt time.Duration) *Conn {
	c := g.Conn(e.Client, e.Server, scenarioClient, scenarioServer)
	c.RTT = rtt
	return c
}

// httpExchange: GET, the server's ACK-carrying response of body bytes, the
// client's ACK. It returns the time of the client's ACK.
func httpExchange(c *Conn, t time.Time, path string, body int, keepAlive bool) time.Time {
	req := HTTPRequest("GET", "www.example.com", path)
	t = c.Send(FromClient, req, t)
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, body, keepAlive)
	t = c.SendFill(FromServer, hdr, len(hdr)+body, t)
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	return t
}

// tls13Exchange: ClientHello, ServerHello+CCS and an encrypted flight, the
// client's Finished and a request record, a response record, client ACK.
func tls13Exchange(c *Conn, t time.Time, sni string) time.Time {
	t = c.Send(FromClient, TLSClientHello(sni, c.g.rng), t)
	t = t.Add(c.RTT)
	t = c.Send(FromServer, TLSServerHello(true, c.g.rng), t)
	t = c.SendFill(FromServer, TLSRecordHeader(TLSApplicationData, 2895), 2900, t.Add(c.Gap))
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 69), 74, t.Add(300*us))
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 180), 185, t.Add(20*us))
	t = t.Add(c.RTT)
	t = c.SendFill(FromServer, TLSRecordHeader(TLSApplicationData, 1195), 1200, t)
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	return t
}

// GFWTripleRST: see Scenarios.
func GFWTripleRST(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 80*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/search?q=falun"), t.Add(300*us))
	tr := t.Add(2 * ms)
	for i, d := range []int64{0, 1460, 4380} {
		c.Inject(FromServer, tr.Add(time.Duration(i)*20*us), TTL(61), SeqDelta(d), Window(uint16(2845+i*611)))
	}
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, 612, true)
	c.SendFill(FromServer, hdr, len(hdr)+612, t)
}

// IptablesRejectTLS: see Scenarios.
func IptablesRejectTLS(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, TLSClientHello("blocked.example.com", g.rng), t.Add(300*us))
	c.Inject(FromServer, t.Add(400*us), TTL(63), IPID(0), DF(true), Window(0))
}

// RSTOutOfWindow: see Scenarios.
func RSTOutOfWindow(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/"), t.Add(300*us))
	c.Inject(FromServer, t.Add(5*ms), TTL(52), SeqDelta(5000000))
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, 2000, false)
	t = c.SendFill(FromServer, hdr, len(hdr)+2000, t)
	closeClientFirst(c, t.Add(40*us))
}

// RSTInWindowChallengeACK: see Scenarios.
func RSTInWindowChallengeACK(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/"), t.Add(300*us))
	tr := t.Add(5 * ms)
	c.Inject(FromServer, tr, TTL(52), SeqDelta(20000))
	c.ACK(FromClient, tr.Add(60*us))
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, 2000, false)
	t = c.SendFill(FromServer, hdr, len(hdr)+2000, t)
	closeClientFirst(c, t.Add(40*us))
}

// closeClientFirst: client FIN, server FIN/ACK one RTT later, client ACK.
func closeClientFirst(c *Conn, t time.Time) time.Time {
	c.FIN(FromClient, t)
	t = t.Add(c.RTT)
	c.FIN(FromServer, t)
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	return t
}

// NLBIdleTimeout: see Scenarios.
func NLBIdleTimeout(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 25*ms)
	t = c.Handshake(t)
	t = tls13Exchange(c, t.Add(300*us), "api.example.com")
	t = t.Add(350*time.Second + 500*ms)
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 115), 120, t)
	c.Inject(FromServer, t.Add(600*us), TTL(62), IPID(0))
}

// AzureIdleReset: see Scenarios.
func AzureIdleReset(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 25*ms)
	t = c.Handshake(t)
	t = tls13Exchange(c, t.Add(300*us), "db.example.net")
	t = t.Add(240 * time.Second)
	c.Inject(FromServer, t, TTL(63), IPID(0), Ack(c.Next(FromClient)))
	c.Inject(FromClient, t.Add(15*us), TTL(63), IPID(0), Ack(c.Next(FromServer)))
}

// StaleKeepalive: see Scenarios.
func StaleKeepalive(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = httpExchange(c, t.Add(300*us), "/a", 1200, true)
	t = t.Add(5 * time.Second)
	c.FIN(FromServer, t)
	c.ACK(FromClient, t.Add(40*us))
	t = t.Add(800 * ms)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/b"), t)
	c.RST(FromServer, t.Add(c.RTT), SetFlags(RST))
}

// TLSPlaintextAlert: see Scenarios.
func TLSPlaintextAlert(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, TLSClientHello("legacy.example.com", g.rng), t.Add(300*us))
	t = t.Add(c.RTT)
	c.Send(FromServer, TLSAlert(AlertFatal, AlertHandshakeFailure), t)
	c.RST(FromServer, t.Add(150*us))
}

// TLS13EncryptedAlert: see Scenarios.
func TLS13EncryptedAlert(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, TLSClientHello("self-signed.example.org", g.rng), t.Add(300*us))
	t = t.Add(c.RTT)
	t = c.Send(FromServer, TLSServerHello(true, g.rng), t)
	t = c.SendFill(FromServer, TLSRecordHeader(TLSApplicationData, 2895), 2900, t.Add(c.Gap))
	c.ACK(FromClient, t.Add(40*us))
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 19), TLSEncryptedAlertLen, t.Add(1500*us))
	c.RST(FromClient, t.Add(50*us))
}

// ClientAbort: see Scenarios.
func ClientAbort(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/big.iso"), t.Add(300*us))
	t = t.Add(c.RTT)
	body := 1 << 20
	hdr := HTTPResponseHeader(200, body, true)
	mss := c.SegmentSize(FromServer)
	c.Data(FromServer, hdr, mss-len(hdr), t, SetFlags(ACK))
	for i := 1; i < 20; i++ {
		t = t.Add(100 * us)
		c.Data(FromServer, nil, mss, t, SetFlags(ACK))
		if i%2 == 1 {
			c.ACK(FromClient, t.Add(40*us))
		}
	}
	t = t.Add(300 * us)
	c.RST(FromClient, t)
	for range 3 {
		t = t.Add(100 * us)
		c.Data(FromServer, nil, mss, t, SetFlags(ACK))
	}
}

// Refused: see Scenarios. IPv4 or IPv6 by the endpoints.
func Refused(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	c.SYN(t)
	c.RST(FromServer, t.Add(c.RTT), Seq(0), IPID(0), NoTS())
}

// MidstreamRST: see Scenarios.
func MidstreamRST(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 295), 300, t)
	t = t.Add(c.RTT)
	t = c.SendFill(FromServer, TLSRecordHeader(TLSApplicationData, 2395), 2400, t)
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	t = c.SendFill(FromClient, TLSRecordHeader(TLSApplicationData, 295), 300, t.Add(2*time.Second))
	c.RST(FromServer, t.Add(c.RTT))
}

// TLSAlertSplit: see Scenarios.
func TLSAlertSplit(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = c.Send(FromClient, TLSClientHello("intranet.example.com", g.rng), t.Add(300*us))
	t = t.Add(c.RTT)
	t = c.Send(FromServer, TLSServerHello(false, g.rng), t)
	t = c.SendFill(FromServer, TLSCertificateHeader(3000), 3000, t.Add(c.Gap))
	t = c.Send(FromServer, TLSServerHelloDone(), t.Add(c.Gap))
	t = t.Add(40 * us)
	c.ACK(FromClient, t)
	alert := TLSAlert(AlertFatal, AlertUnknownCA)
	t = t.Add(2 * ms)
	c.Data(FromClient, alert[:3], 0, t)
	t = t.Add(200 * us)
	c.Data(FromClient, alert[3:], 0, t)
	c.RST(FromClient, t.Add(100*us))
}

// Retransmissions: see Scenarios.
func Retransmissions(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	req := HTTPRequest("GET", "www.example.com", "/slow")
	t0 := t.Add(300 * us)
	c.Send(FromClient, req, t0)
	seq := c.ISN(FromClient) + 1
	for _, d := range []time.Duration{200 * ms, 600 * ms, 1400 * ms} {
		t = t0.Add(d)
		c.Retransmit(FromClient, seq, req, 0, t)
	}
	t = t.Add(c.RTT)
	c.ACK(FromServer, t)
	c.RST(FromServer, t.Add(2*ms))
}

// TupleReuse: see Scenarios.
func TupleReuse(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	t = httpExchange(c, t.Add(300*us), "/first", 800, true)
	t = t.Add(500 * us)
	c.RST(FromClient, t)
	h := scenarioClient
	h.ISN = c.Next(FromClient) + 100000
	c2 := g.Conn(e.Client, e.Server, h, scenarioServer)
	c2.RTT = c.RTT
	t = c2.Handshake(t.Add(time.Second))
	t = c2.Send(FromClient, HTTPRequest("GET", "www.example.com", "/second"), t.Add(300*us))
	c2.RST(FromServer, t.Add(c2.RTT+3*ms))
}

// AbortiveClose: see Scenarios.
func AbortiveClose(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	t = c.Handshake(t)
	req := append(HTTPRequest("GET", "www.example.com", "/one"), HTTPRequest("GET", "www.example.com", "/two")...)
	t = c.Send(FromClient, req, t.Add(300*us))
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, 900, false)
	t = c.SendFill(FromServer, hdr, len(hdr)+900, t)
	c.RST(FromServer, t.Add(200*us))
}

// macOSClient is a BSD stack: random IP IDs, RSTs without timestamps.
var macOSClient = Host{TTL: 64, DF: true, IPID: IPIDRandom, Timestamps: true, SACKPerm: true}

// BSDPerSegmentRSTs: see Scenarios. A closed BSD socket answers every
// arriving segment with its own RST (tcp_dropwithreset: seq = th_ack).
func BSDPerSegmentRSTs(g *Generator, e Endpoints, t time.Time) {
	c := g.Conn(e.Client, e.Server, macOSClient, scenarioServer)
	c.RTT = 30 * ms
	t = c.Handshake(t)
	t = httpExchange(c, t.Add(300*us), "/events", 800, true)
	t = t.Add(2 * time.Second)
	c.FIN(FromClient, t)
	t = t.Add(c.RTT / 2)
	// sent before the server saw the FIN: they ack the FIN's seq, and
	// each RST takes its seq from that ack
	fin := c.Next(FromClient) - 1
	mss := c.SegmentSize(FromServer)
	var at [3]time.Time
	for i := range at {
		at[i] = t.Add(time.Duration(i) * 6 * us)
		c.Data(FromServer, nil, mss, at[i], SetFlags(ACK), Ack(fin))
	}
	for i := range at {
		c.RST(FromClient, at[i].Add(30*us+time.Duration(i)*5*us), SetFlags(RST), NoAck(), NoTS(), Seq(fin))
	}
}

// OwnRSTTooFast: see Scenarios.
func OwnRSTTooFast(g *Generator, e Endpoints, t time.Time) {
	c := newScenarioConn(g, e, 30*ms)
	c.AckDelay = 40 * ms
	t = c.Handshake(t)
	t = c.Send(FromClient, HTTPRequest("GET", "www.example.com", "/video.mp4"), t.Add(200*us))
	t = t.Add(c.RTT)
	hdr := HTTPResponseHeader(200, 1<<20, true)
	mss := c.SegmentSize(FromServer)
	c.Data(FromServer, hdr, mss-len(hdr), t, SetFlags(ACK))
	for i := 1; i < 10; i++ {
		t = t.Add(100 * us)
		c.Data(FromServer, nil, mss, t, SetFlags(ACK))
		if i%2 == 1 {
			c.ACK(FromClient, t.Add(40*us))
		}
	}
	c.RST(FromClient, t.Add(60*us))
}
