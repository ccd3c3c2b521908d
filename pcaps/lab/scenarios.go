package lab

import (
	"net/netip"
	"slices"
	"strconv"
)

// Addresses inside the lab (topo.sh).
var (
	clientV4 = netip.MustParseAddr("10.77.1.2")
	serverV4 = netip.MustParseAddr("10.77.3.2")
	clientV6 = netip.MustParseAddr("fd00:77:1::2")
	serverV6 = netip.MustParseAddr("fd00:77:3::2")
	// clientNAT is the client's address as the server sees it when router1
	// masquerades (scenario.nat): router1's address towards router2.
	clientNAT = netip.MustParseAddr("10.77.2.1")
)

// natPorts is the source port range router1's MASQUERADE maps the client's
// ports into, so that the server sees another port as well as another address.
const natPortLo, natPortHi = 40000, 40999

// masquerade is router1's source NAT of a nat scenario.
var masquerade = []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "r1r", "-p", "tcp", "-j", "MASQUERADE", "--to-ports", "40000-40999"}

// Ports of the lab server: 8080 answers, 8081 has no listener, 8082 has a
// listener that a router's firewall hides, 8083 (scenario.gtsm) answers with
// TTL 255 on its sockets, as a BGP speaker with GTSM (RFC 5082) does.
const (
	portOpen     = 8080
	portClosed   = 8081
	portFiltered = 8082
	portGTSM     = 8083
)

// routers is the number of routers between the client and the server
// (topo.sh): every packet crossing the lab arrives with TTL 64-routers.
const routers = 3

// Who really made a RST. With the direction of a router's RST it decides the
// TTL at each capture point: an endpoint's packets arrive at the other end
// with TTL 61 (three routers), a router's RST with 64 minus the routers
// between it and the capture point; a router's RST towards one end never
// reaches the other.
type maker string

const (
	byServer  maker = "server"
	byClient  maker = "client"
	byRouter1 maker = "router1"
	byRouter2 maker = "router2"
	byRouter3 maker = "router3"
)

// router is the router's position from the client (1..3), 0 for an endpoint.
func (m maker) router() int {
	switch m {
	case byRouter1:
		return 1
	case byRouter2:
		return 2
	case byRouter3:
		return 3
	}
	return 0
}

// Verdict is the correct finding for one RST (issue 13 says what correct
// is): cause and origin, the highest confidence the evidence in that capture
// allows ("" for any), evidence signals the finding must carry, and the
// request path the finding must name. KnownWrong names the issue 13 class
// ("issue 13 class N") whose bug gives another verdict today: the suite then
// logs the wrong verdict instead of failing, and fails when it becomes right
// so that the mark is removed.
type Verdict struct {
	Cause         string
	Origin        string
	MaxConfidence string
	Signals       []string
	Request       string
	// NotSaid are phrases no evidence line may contain (a claim the
	// capture disproves)
	NotSaid    []string
	KnownWrong string
}

// wantRST is one RST of a scenario and the correct finding for it.
type wantRST struct {
	by       maker
	toServer bool // a router's RST sent towards the server (claiming the client)
	burst    bool // two or more RSTs in a row, one finding
	v        Verdict
	// atServer, when set, is the correct finding in the server's capture,
	// which sees other packets than the client's
	atServer *Verdict
}

// claimed is the side the RST claims to come from (its source address).
func (w wantRST) claimed() string {
	if w.by == byClient || (w.by.router() > 0 && w.toServer) {
		return "client"
	}
	return "server"
}

// ttlAt is the RST's TTL (hop limit) in the capture at side, or 0 if the RST
// never passes there.
func (w wantRST) ttlAt(side string) uint8 {
	k := w.by.router()
	switch {
	case k == 0 && string(w.by) == side:
		return 64
	case k == 0:
		return 64 - routers
	case w.toServer && side == "server":
		return uint8(64 - (routers - k))
	case !w.toServer && side == "client":
		return uint8(64 - (k - 1))
	}
	return 0
}

// at is the correct finding in the capture at side.
func (w wantRST) at(side string) Verdict {
	if side == "server" && w.atServer != nil {
		return *w.atServer
	}
	return w.v
}

// step is one run of the lab client: its flags (-connect is added) and what
// the application must see.
type step struct {
	port    int
	args    []string
	outcome string
}

type scenario struct {
	name   string
	v6     bool
	nat    bool               // router1 masquerades the client (IPv4): the server sees clientNAT
	gtsm   bool               // the server also listens on portGTSM with socket TTL 255
	why    string             // what makes the RST, for the README
	router map[int][][]string // commands in router 1..3 before the traffic
	server []string           // labpeer server flags besides -listen; nil: no server
	steps  []step
	rsts   []wantRST // every RST of the run, in the order the client (then the server) sees them
	// peerKnownWrong marks (issue 13 class) a run whose two captures
	// rstscope cannot yet read together (-r client --peer server)
	peerKnownWrong string
}

// scanSteps connects to n closed ports from first on, one after the
// other (a port scan's SYNs).
func scanSteps(first, n int) []step {
	var st []step
	for p := first; p < first+n; p++ {
		st = append(st, step{port: p, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"})
	}
	return st
}

// baseline is a complete exchange with the server before the scenario's
// reset, so that rstscope knows the server's TTL and IP ID from its other
// flows (a lone RST to a SYN has nothing else to compare with).
var baseline = step{port: portOpen, args: []string{"-mode", "get"}, outcome: "ok"}

// Router rules, each with the router's name in the README.
func stringReject(text string, extra ...string) []string {
	r := append([]string{"iptables", "-A", "FORWARD", "-p", "tcp"}, extra...)
	return append(r, "-m", "string", "--string", text, "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset")
}

var (
	rejectRequest  = stringReject("BLOCKME")
	rejectResponse = stringReject("SECRET", "--sport", strconv.Itoa(portOpen))
	conntrackIdle  = [][]string{
		{"sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_established=3", "net.netfilter.nf_conntrack_tcp_loose=0"},
		{"iptables", "-A", "FORWARD", "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID", "-j", "REJECT", "--reject-with", "tcp-reset"},
	}
)

func v(cause, origin string, signals ...string) Verdict {
	return Verdict{Cause: cause, Origin: origin, Signals: signals}
}

// with returns the verdict with a confidence cap, request or known-wrong mark.
func (v Verdict) capped(c string) Verdict     { v.MaxConfidence = c; return v }
func (v Verdict) request(p string) Verdict    { v.Request = p; return v }
func (v Verdict) knownWrong(c string) Verdict { v.KnownWrong = "issue 13 class " + c; return v }

// Expected verdicts, from DESIGN.md section 3, issue 13 and what the kernel does:
//
//   - A closed port: the server's kernel answers the SYN with RST+ACK: refused,
//     server. A router's REJECT of the SYN forges the same answer nearer:
//     refused, middlebox (TTL 64 against the server's 61 on the baseline
//     flow). Without a baseline flow from the server (a lone RST to a SYN)
//     nothing checks the claimed sender: the origin is at most medium
//     (issue 13 class 5), and router1's lone RST is still a middlebox's.
//   - Close with unread data after a complete response: the server ended a
//     finished exchange with RST instead of FIN (RFC 2525 2.17): abortive_close,
//     server. SO_LINGER 0 right after reading the request, before any response:
//     the client sees its request answered by a reset, which is
//     server_reset_after_request, server (the mechanism, linger 0 or unread
//     data, is invisible on the wire; what the exchange had reached decides).
//     On a keep-alive connection the finding names the request the reset
//     answered, not the first (class 6).
//   - A router's string match REJECT: middlebox_injected, middlebox, at every
//     distance from the capture (1, 2 or 3 hops nearer than the real sender:
//     a one-hop TTL difference is evidence too, class 3), towards the client
//     (matching the request) or towards the server (matching the response).
//     Its conntrack forgetting an idle flow (established timeout 3 s, loose
//     pickup off) makes the first packet after the gap INVALID, and the
//     REJECT answers it: idle_timeout, middlebox.
//   - An endpoint's RST answering a packet for a connection a forged RST has
//     already closed is the echo of that reset: after_reset (class 8).
//   - The server closed an idle keep-alive connection (FIN), the client reused
//     it: stale_keepalive, server; the same with TLS, where the FIN follows
//     the server's close_notify: an end-of-stream alert is no TLS failure
//     (class 2).
//   - A fatal TLS alert from the server, then the reset (the server's FIN came
//     first, the client's next write draws the RST, whether data or its own
//     close_notify, 0.1 to 2 s later): tls_alert, server (class 1).
//   - The client closing with most of a 1 MiB response unread: client_abort,
//     client.
//   - Controls: a FIN close has no RST and no finding; a client's SO_LINGER 0
//     close after a complete response is abortive_close, client, and never a
//     middlebox.
var scenarios = []scenario{
	{
		name:   "refused_closed_port",
		why:    "a complete GET to port 8080 (baseline), then a SYN to 8081 where nothing listens; the server's kernel answers RST+ACK",
		server: []string{"-mode", "respond"},
		steps:  []step{baseline, {port: portClosed, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{by: byServer, v: v("refused", "server")}},
	},
	{
		name:   "refused_firewall_reject",
		why:    "a complete GET to port 8080 (baseline), then a SYN to 8082 (the server listens) rejected by router1 `iptables -A FORWARD -p tcp --syn --dport 8082 -j REJECT --reject-with tcp-reset`",
		router: map[int][][]string{1: {{"iptables", "-A", "FORWARD", "-p", "tcp", "--syn", "--dport", "8082", "-j", "REJECT", "--reject-with", "tcp-reset"}}},
		server: []string{"-mode", "respond"},
		steps:  []step{baseline, {port: portFiltered, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{by: byRouter1, v: v("refused", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "refused_lone_closed_port",
		why:    "no other traffic: a SYN to 8081 where nothing listens; the server's kernel answers RST+ACK, and the capture holds no other packet from the server to check it against",
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portClosed, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{by: byServer, v: v("refused", "server").capped("medium")}},
	},
	{
		name:   "refused_lone_firewall",
		why:    "no other traffic: a SYN to 8082 rejected by router1 (`iptables -A FORWARD -p tcp --syn --dport 8082 -j REJECT --reject-with tcp-reset`), three hops nearer than the server; a lone RST+ACK with TTL 64",
		router: map[int][][]string{1: {{"iptables", "-A", "FORWARD", "-p", "tcp", "--syn", "--dport", "8082", "-j", "REJECT", "--reject-with", "tcp-reset"}}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portFiltered, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{by: byRouter1, v: v("refused", "middlebox").capped("medium")}},
		// the server's capture holds no packet at all (nothing reached it):
		// no time span to prove anything, a note, not a failure (class 9)
	},
	{
		name:   "refused_per_socket_ttl",
		why:    "the server's only other traffic is a keep-alive connection to 8083, whose socket sends with TTL 255 (GTSM, as BGP speakers do: 252 at the client); then a SYN to 8081 where nothing listens: the server's kernel answers RST+ACK with its default TTL (61 at the client)",
		gtsm:   true,
		server: []string{"-mode", "respond"},
		steps: []step{
			{port: portGTSM, args: []string{"-mode", "keepalive", "-paths", "/a,/b,/c", "-gap", "50ms"}, outcome: "ok"},
			{port: portClosed, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"},
		},
		rsts: []wantRST{{by: byServer, v: v("refused", "server").capped("medium")}},
	},
	{
		// A port scan: the kernel refuses each closed port with its own
		// RST+ACK, one finding a port. Text and markdown fold them into
		// one group over the server host (report.GroupMin ports or more):
		// TestFixtures_portScanGroup.
		name:   "refused_port_scan",
		why:    "a complete GET to port 8080 (baseline), then SYNs to the closed ports 9001-9012 one after the other; the server's kernel answers each with RST+ACK",
		server: []string{"-mode", "respond"},
		steps:  append([]step{baseline}, scanSteps(9001, 12)...),
		rsts:   slices.Repeat([]wantRST{{by: byServer, v: v("refused", "server")}}, 12),
	},
	{
		name:   "abortive_close_unread_data",
		why:    "server reads 32 bytes of a 4 KB POST, sends a complete 413, close() with the rest unread",
		server: []string{"-mode", "unread"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "post", "-body", "4000"}, outcome: "response+ECONNRESET"}},
		rsts:   []wantRST{{by: byServer, v: v("abortive_close", "server")}},
	},
	{
		name:   "server_reset_linger0",
		why:    "server reads the request, sets SO_LINGER 0 and closes without a response",
		server: []string{"-mode", "linger0"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byServer, v: v("server_reset_after_request", "server")}},
	},
	{
		name:   "keepalive_second_request_reset",
		why:    "keep-alive: GET /index.html answered, then GET /forbidden/secret.html on the same connection 100 ms later, which the server answers with SO_LINGER 0 close",
		server: []string{"-mode", "respond", "-reset-path", "/forbidden"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "keepalive", "-paths", "/index.html,/forbidden/secret.html", "-gap", "100ms"}, outcome: "2:ECONNRESET"}},
		rsts:   []wantRST{{by: byServer, v: v("server_reset_after_request", "server").request("/forbidden/secret.html")}},
	},
	{
		name:   "keepalive_third_request_injected",
		why:    "keep-alive: GET /index.html and GET /about.html answered, then GET /BLOCKME/secret.html on the same connection, rejected by router2 `iptables -A FORWARD -p tcp -m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset` (TTL 63 at the client against the server's 61)",
		router: map[int][][]string{2: {rejectRequest}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "keepalive", "-paths", "/index.html,/about.html,/BLOCKME/secret.html", "-gap", "100ms"}, outcome: "3:ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter2, v: v("middlebox_injected", "middlebox", "ttl_mismatch").request("/BLOCKME/secret.html")}},
	},
	{
		name:   "middlebox_string_reject",
		why:    "GET /BLOCKME; router1 `iptables -A FORWARD -p tcp -m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset` (TTL 64 at the client, three hops nearer than the server)",
		router: map[int][][]string{1: {rejectRequest}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter1, v: v("middlebox_injected", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "middlebox_string_reject_r2",
		why:    "GET /BLOCKME; router2 (mid-path) rejects it as router1 does in middlebox_string_reject: TTL 63 at the client, two hops nearer than the server",
		router: map[int][][]string{2: {rejectRequest}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter2, v: v("middlebox_injected", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "middlebox_string_reject_r3",
		why:    "GET /BLOCKME; router3, right in front of the server, rejects it: TTL 62 at the client, one hop nearer than the server's 61",
		router: map[int][][]string{3: {rejectRequest}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter3, v: v("middlebox_injected", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "middlebox_response_reject_r1",
		why:    "GET /secret; router1 rejects the server's response (`iptables -A FORWARD -p tcp --sport 8080 -m string --string SECRET --algo bm -j REJECT --reject-with tcp-reset`): a RST claiming the client reaches the server with TTL 62, one hop nearer than the client's 61; the client, without a response, closes after 1 s and the server's kernel answers its FIN",
		router: map[int][][]string{1: {rejectResponse}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/secret", "-timeout", "1s"}, outcome: "timeout"}},
		rsts:   responseReject(byRouter1, ""),
	},
	{
		name:   "middlebox_response_reject_r2",
		why:    "GET /secret; router2 rejects the server's response as in middlebox_response_reject_r1: TTL 63 at the server, two hops nearer than the client",
		router: map[int][][]string{2: {rejectResponse}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/secret", "-timeout", "1s"}, outcome: "timeout"}},
		rsts:   responseReject(byRouter2, ""),
	},
	{
		name:   "middlebox_response_reject_r3",
		why:    "GET /secret; router3, next to the server, rejects the server's response as in middlebox_response_reject_r1: TTL 64 at the server, three hops nearer than the client",
		router: map[int][][]string{3: {rejectResponse}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/secret", "-timeout", "1s"}, outcome: "timeout"}},
		rsts:   responseReject(byRouter3, ""),
	},
	{
		name:   "forged_rst_echo",
		why:    "the client pipelines GET /index.html and GET /BLOCKME 10 ms apart; router1 (`-m string --string BLOCKME ... REJECT --reject-with tcp-reset`) drops the second and resets the client; the server answers the first 100 ms later and the client's kernel, its socket gone, answers with RST",
		router: map[int][][]string{1: {rejectRequest}},
		server: []string{"-mode", "respond", "-delay", "100ms"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "pipeline", "-paths", "/index.html,/BLOCKME"}, outcome: "1:ECONNRESET"}},
		rsts: []wantRST{
			{by: byRouter1, v: v("middlebox_injected", "middlebox", "ttl_mismatch")},
			{by: byClient, v: v("after_reset", "client"),
				// the server never sees the forged RST: to it the client reset
				// while it was answering
				atServer: &Verdict{Cause: "client_abort", Origin: "client"}},
		},
	},
	{
		name:   "idle_timeout_conntrack",
		why:    "router1 conntrack: established timeout 3 s, tcp_loose 0, `-m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset`; a complete GET, then the client's second request on the connection after 6 s",
		router: map[int][][]string{1: conntrackIdle},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "6s"}, outcome: "second:ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter1, v: v("idle_timeout", "middlebox", "idle_gap", "ttl_mismatch")}},
	},
	{
		name:   "idle_timeout_conntrack_r3",
		why:    "as idle_timeout_conntrack, on router3 right in front of the server, after an 8 s gap: the RST reaches the client with TTL 62, one hop nearer than the server's 61",
		router: map[int][][]string{3: conntrackIdle},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "8s"}, outcome: "second:ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter3, v: v("idle_timeout", "middlebox", "idle_gap", "ttl_mismatch")}},
	},
	{
		name:   "idle_timeout_conntrack_both_ways",
		why:    "router1 conntrack as in idle_timeout_conntrack; the server closes the idle keep-alive connection after 5 s (FIN): router1 rejects the FIN and resets the server (TTL 62 at the server, one hop nearer than the client); the client's second request at 7 s is rejected too (TTL 64 at the client)",
		router: map[int][][]string{1: conntrackIdle},
		server: []string{"-mode", "respond", "-keepalive", "5s"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "7s"}, outcome: "second:ECONNRESET"}},
		rsts: []wantRST{
			{by: byRouter1, v: v("idle_timeout", "middlebox", "idle_gap", "ttl_mismatch")},
			{by: byRouter1, toServer: true, v: v("idle_timeout", "middlebox", "idle_gap", "ttl_mismatch")},
		},
	},
	{
		name:   "stale_keepalive",
		why:    "server closes an idle keep-alive connection after 1 s (FIN); the client reuses it after 2 s",
		server: []string{"-mode", "respond", "-keepalive", "1s"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "2s"}, outcome: "second:EOF"}},
		rsts:   []wantRST{{by: byServer, v: v("stale_keepalive", "server")}},
	},
	{
		name:   "tls_close_notify_late_write",
		why:    "Go TLS 1.3: GET / answered; the server closes the idle connection after 300 ms (close_notify, FIN); the client writes its second request 1 s after the first, drawing the server kernel's RST",
		server: []string{"-mode", "tls", "-keepalive", "300ms"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls", "-second", "-gap", "1s"}, outcome: "second:EOF"}},
		rsts:   []wantRST{{by: byServer, v: v("stale_keepalive", "server")}},
	},
	{
		name:   "tls_alert_version",
		why:    "Go TLS server with TLS 1.3 only, client offers at most 1.2: alert protocol_version, FIN; the client writes again",
		server: []string{"-mode", "tls", "-tls-min", "1.3"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls", "-tls-max", "1.2"}, outcome: "tls:remote_error:_tls:_protocol_version_not_supported"}},
		rsts:   []wantRST{{by: byServer, v: v("tls_alert", "server", "tls_alert")}},
	},
	{
		name:   "tls_alert_version_close_notify",
		why:    "as tls_alert_version, but 1 s after the fatal alert the client sends its own close_notify (a plaintext warning alert), drawing the server kernel's RST",
		server: []string{"-mode", "tls", "-tls-min", "1.3"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls", "-tls-max", "1.2", "-late", "1s", "-late-write", "close_notify"}, outcome: "tls:remote_error:_tls:_protocol_version_not_supported"}},
		rsts:   []wantRST{{by: byServer, v: v("tls_alert", "server", "tls_alert")}},
	},
	{
		name:   "tls_alert_version_late_write",
		why:    "as tls_alert_version, the client's write coming 2 s after the fatal alert",
		server: []string{"-mode", "tls", "-tls-min", "1.3"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls", "-tls-max", "1.2", "-late", "2s"}, outcome: "tls:remote_error:_tls:_protocol_version_not_supported"}},
		rsts:   []wantRST{{by: byServer, v: v("tls_alert", "server", "tls_alert")}},
	},
	{
		name:   "tls_alert_missing_cert",
		why:    "Go TLS 1.2 server requiring a client certificate, client has none: alert handshake_failure (Go 1.26), FIN; the client writes again",
		server: []string{"-mode", "tls", "-tls-max", "1.2", "-client-cert"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls"}, outcome: "tls:remote_error:_tls:_handshake_failure"}},
		rsts:   []wantRST{{by: byServer, v: v("tls_alert", "server", "tls_alert")}},
	},
	{
		name:   "client_abort_mid_response",
		why:    "client reads 10000 bytes of a 1 MiB response (16 KiB every 50 ms), waits 25 ms and closes with the rest unread",
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "abort", "-path", "/big", "-read", "10000", "-pause", "25ms"}, outcome: "aborted"}},
		rsts:   []wantRST{{by: byClient, v: v("client_abort", "client")}},
	},
	{
		name:   "per_segment_rsts",
		why:    "the client writes GET /burst and closes at once (FIN); the server answers 100 ms later with 16 KiB in one write: the client's kernel answers the first segment with RST and each later one, its socket gone, with another (IP ID 0, the same seq, each answering another segment)",
		server: []string{"-mode", "respond", "-delay", "100ms"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "fire", "-path", "/burst"}, outcome: "ok"}},
		rsts: []wantRST{{by: byClient, burst: true, v: Verdict{Cause: "abortive_close", Origin: "client",
			NotSaid: []string{"captured twice"}}}},
	},
	{
		name:   "control_fin_close",
		why:    "control: GET, complete response, both sides close with FIN",
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get"}, outcome: "ok"}},
	},
	{
		name:   "control_client_rst_after_response",
		why:    "control: the client closes with SO_LINGER 0 after a complete response",
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-linger0"}, outcome: "ok"}},
		rsts:   []wantRST{{by: byClient, v: v("abortive_close", "client")}},
	},
	{
		name:   "refused_closed_port_v6",
		v6:     true,
		why:    "a complete GET to port 8080 (baseline), then a SYN to 8081 where nothing listens; the server's kernel answers RST+ACK",
		server: []string{"-mode", "respond"},
		steps:  []step{baseline, {port: portClosed, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{by: byServer, v: v("refused", "server")}},
	},
	{
		name:   "middlebox_string_reject_v6",
		v6:     true,
		why:    "GET /BLOCKME; router1 `ip6tables -A FORWARD -p tcp -m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset`",
		router: map[int][][]string{1: {{"ip6tables", "-A", "FORWARD", "-p", "tcp", "-m", "string", "--string", "BLOCKME", "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"}}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter1, v: v("middlebox_injected", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "nat_middlebox_string_reject",
		nat:    true,
		why:    "router1 masquerades the client (`iptables -t nat -A POSTROUTING -o r1r -p tcp -j MASQUERADE --to-ports 40000-40999`: the server sees 10.77.2.1 and another port) and rejects GET /BLOCKME (`-m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset`)",
		router: map[int][][]string{1: {masquerade, rejectRequest}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byRouter1, v: v("middlebox_injected", "middlebox", "ttl_mismatch")}},
	},
	{
		name:   "nat_server_reset_linger0",
		nat:    true,
		why:    "router1 masquerades the client (`iptables -t nat -A POSTROUTING -o r1r -p tcp -j MASQUERADE --to-ports 40000-40999`); the server reads the request, sets SO_LINGER 0 and closes without a response",
		router: map[int][][]string{1: {masquerade}},
		server: []string{"-mode", "linger0"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{by: byServer, v: v("server_reset_after_request", "server")}},
	},
}

// responseReject is the RSTs of a middlebox_response_reject run: the router's
// RST to the server (claiming the client), then the server's kernel answering
// the client's FIN for the connection that RST closed. The client never sees
// the forged RST: to it the server reset a request it had not answered.
func responseReject(by maker, class string) []wantRST {
	forged := v("middlebox_injected", "middlebox", "ttl_mismatch")
	if class != "" {
		forged = forged.knownWrong(class)
	}
	return []wantRST{
		{by: by, toServer: true, v: forged},
		{by: byServer, v: v("server_reset_after_request", "server"),
			atServer: &Verdict{Cause: "after_reset", Origin: "server"}},
	}
}

// Truth is the correct findings of one lab capture, in RST order.
type Truth struct {
	Capture  string // file name in pcaps/lab
	Findings []Verdict
}

// Truths lists every lab capture with the correct finding of each of its
// RSTs: the lab's ground truth, for the calibration of confidence levels.
func Truths() []Truth {
	var out []Truth
	for _, sc := range scenarios {
		for _, side := range []string{"client", "server"} {
			t := Truth{Capture: sc.name + "." + side + ".pcap"}
			for _, w := range sc.seenAt(side) {
				t.Findings = append(t.Findings, w.at(side))
			}
			out = append(out, t)
		}
	}
	return out
}

// seenAt is the scenario's RSTs that pass the capture point at side, in the
// order they appear there.
func (sc scenario) seenAt(side string) []wantRST {
	var out []wantRST
	for _, w := range sc.rsts {
		if w.ttlAt(side) != 0 {
			out = append(out, w)
		}
	}
	return out
}
