package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
// listener that router1's firewall hides.
const (
	portOpen     = 8080
	portClosed   = 8081
	portFiltered = 8082
)

// Who really made a RST. It decides the TTL at each capture point: the
// server's packets arrive at the client with TTL 62 (two routers), the
// client's at the server with 62, router1's forged RSTs reach the client with
// TTL 64 (made one hop away, not forwarded) and never reach the server.
type maker string

const (
	byServer  maker = "server"
	byClient  maker = "client"
	byRouter1 maker = "router1"
)

// wantRST is one RST of a scenario and rstscope's expected finding for it.
type wantRST struct {
	by     maker
	cause  string
	origin string
}

// claimed is the side the RST claims to come from (its source address).
func (w wantRST) claimed() string {
	if w.by == byClient {
		return "client"
	}
	return "server"
}

// ttlAt is the RST's TTL (hop limit) in the capture at side, or 0 if the RST
// never passes there.
func (w wantRST) ttlAt(side string) uint8 {
	switch {
	case w.by == byRouter1 && side == "server":
		return 0
	case w.by == byRouter1, string(w.by) == side:
		return 64
	}
	return 62
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
	nat    bool       // router1 masquerades the client (IPv4): the server sees clientNAT
	why    string     // what makes the RST, for the README
	router [][]string // commands in router1 before the traffic
	server []string   // labpeer server flags besides -listen; nil: no server
	steps  []step
	rsts   []wantRST // every RST of the client capture, in order
}

// baseline is a complete exchange with the server before the scenario's
// reset, so that rstscope knows the server's TTL and IP ID from its other
// flows (a lone RST to a SYN has nothing else to compare with).
var baseline = step{port: portOpen, args: []string{"-mode", "get"}, outcome: "ok"}

// Expected causes, from DESIGN.md section 3 and what the kernel does:
//
//   - A closed port: the server's kernel answers the SYN with RST+ACK: refused,
//     server. Router1's REJECT of the SYN forges the same answer one hop away:
//     refused, middlebox (TTL 64 against the server's 62 on the baseline flow).
//   - Close with unread data after a complete response: the server ended a
//     finished exchange with RST instead of FIN (RFC 2525 2.17): abortive_close,
//     server. SO_LINGER 0 right after reading the request, before any response:
//     the client sees its request answered by a reset, which is
//     server_reset_after_request, server (the mechanism, linger 0 or unread
//     data, is invisible on the wire; what the exchange had reached decides).
//   - Router1's string match REJECT on the request: middlebox_injected,
//     middlebox. Its conntrack forgetting an idle flow (established timeout
//     3 s, loose pickup off) makes the client's first packet after the gap
//     INVALID, and the REJECT answers it: idle_timeout, middlebox.
//   - The server closed an idle keep-alive connection (FIN), the client reused
//     it: stale_keepalive, server.
//   - A TLS alert from the server, then the reset (the server's FIN came first,
//     the client's next write draws the RST): tls_alert, server.
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
		rsts:   []wantRST{{byServer, "refused", "server"}},
	},
	{
		name:   "refused_firewall_reject",
		why:    "a complete GET to port 8080 (baseline), then a SYN to 8082 (the server listens) rejected by router1 `iptables -A FORWARD -p tcp --syn --dport 8082 -j REJECT --reject-with tcp-reset`",
		router: [][]string{{"iptables", "-A", "FORWARD", "-p", "tcp", "--syn", "--dport", "8082", "-j", "REJECT", "--reject-with", "tcp-reset"}},
		server: []string{"-mode", "respond"},
		steps:  []step{baseline, {port: portFiltered, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{byRouter1, "refused", "middlebox"}},
	},
	{
		name:   "abortive_close_unread_data",
		why:    "server reads 32 bytes of a 4 KB POST, sends a complete 413, close() with the rest unread",
		server: []string{"-mode", "unread"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "post", "-body", "4000"}, outcome: "response+ECONNRESET"}},
		rsts:   []wantRST{{byServer, "abortive_close", "server"}},
	},
	{
		name:   "server_reset_linger0",
		why:    "server reads the request, sets SO_LINGER 0 and closes without a response",
		server: []string{"-mode", "linger0"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{byServer, "server_reset_after_request", "server"}},
	},
	{
		name:   "middlebox_string_reject",
		why:    "GET /BLOCKME; router1 `iptables -A FORWARD -p tcp -m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset`",
		router: [][]string{{"iptables", "-A", "FORWARD", "-p", "tcp", "-m", "string", "--string", "BLOCKME", "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{byRouter1, "middlebox_injected", "middlebox"}},
	},
	{
		name: "idle_timeout_conntrack",
		why:  "router1 conntrack: established timeout 3 s, tcp_loose 0, `-m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset`; a complete GET, then the client's second request on the connection after 6 s",
		router: [][]string{
			{"sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_established=3", "net.netfilter.nf_conntrack_tcp_loose=0"},
			{"iptables", "-A", "FORWARD", "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID", "-j", "REJECT", "--reject-with", "tcp-reset"},
		},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "6s"}, outcome: "second:ECONNRESET"}},
		rsts:   []wantRST{{byRouter1, "idle_timeout", "middlebox"}},
	},
	{
		name:   "stale_keepalive",
		why:    "server closes an idle keep-alive connection after 1 s (FIN); the client reuses it after 2 s",
		server: []string{"-mode", "respond", "-keepalive", "1s"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "reuse", "-gap", "2s"}, outcome: "second:EOF"}},
		rsts:   []wantRST{{byServer, "stale_keepalive", "server"}},
	},
	{
		name:   "tls_alert_version",
		why:    "Go TLS server with TLS 1.3 only, client offers at most 1.2: alert protocol_version, FIN; the client writes again",
		server: []string{"-mode", "tls", "-tls-min", "1.3"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls", "-tls-max", "1.2"}, outcome: "tls:remote_error:_tls:_protocol_version_not_supported"}},
		rsts:   []wantRST{{byServer, "tls_alert", "server"}},
	},
	{
		name:   "tls_alert_missing_cert",
		why:    "Go TLS 1.2 server requiring a client certificate, client has none: alert handshake_failure (Go 1.26), FIN; the client writes again",
		server: []string{"-mode", "tls", "-tls-max", "1.2", "-client-cert"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "tls"}, outcome: "tls:remote_error:_tls:_handshake_failure"}},
		rsts:   []wantRST{{byServer, "tls_alert", "server"}},
	},
	{
		name:   "client_abort_mid_response",
		why:    "client reads 10000 bytes of a 1 MiB response (16 KiB every 50 ms), waits 25 ms and closes with the rest unread",
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "abort", "-path", "/big", "-read", "10000", "-pause", "25ms"}, outcome: "aborted"}},
		rsts:   []wantRST{{byClient, "client_abort", "client"}},
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
		rsts:   []wantRST{{byClient, "abortive_close", "client"}},
	},
	{
		name:   "refused_closed_port_v6",
		v6:     true,
		why:    "a complete GET to port 8080 (baseline), then a SYN to 8081 where nothing listens; the server's kernel answers RST+ACK",
		server: []string{"-mode", "respond"},
		steps:  []step{baseline, {port: portClosed, args: []string{"-mode", "connect"}, outcome: "ECONNREFUSED"}},
		rsts:   []wantRST{{byServer, "refused", "server"}},
	},
	{
		name:   "middlebox_string_reject_v6",
		v6:     true,
		why:    "GET /BLOCKME; router1 `ip6tables -A FORWARD -p tcp -m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset`",
		router: [][]string{{"ip6tables", "-A", "FORWARD", "-p", "tcp", "-m", "string", "--string", "BLOCKME", "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{byRouter1, "middlebox_injected", "middlebox"}},
	},
	{
		name:   "nat_middlebox_string_reject",
		nat:    true,
		why:    "router1 masquerades the client (`iptables -t nat -A POSTROUTING -o r1r -p tcp -j MASQUERADE --to-ports 40000-40999`: the server sees 10.77.2.1 and another port) and rejects GET /BLOCKME (`-m string --string BLOCKME --algo bm -j REJECT --reject-with tcp-reset`)",
		router: [][]string{masquerade, {"iptables", "-A", "FORWARD", "-p", "tcp", "-m", "string", "--string", "BLOCKME", "--algo", "bm", "-j", "REJECT", "--reject-with", "tcp-reset"}},
		server: []string{"-mode", "respond"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get", "-path", "/BLOCKME"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{byRouter1, "middlebox_injected", "middlebox"}},
	},
	{
		name:   "nat_server_reset_linger0",
		nat:    true,
		why:    "router1 masquerades the client (`iptables -t nat -A POSTROUTING -o r1r -p tcp -j MASQUERADE --to-ports 40000-40999`); the server reads the request, sets SO_LINGER 0 and closes without a response",
		router: [][]string{masquerade},
		server: []string{"-mode", "linger0"},
		steps:  []step{{port: portOpen, args: []string{"-mode", "get"}, outcome: "ECONNRESET"}},
		rsts:   []wantRST{{byServer, "server_reset_after_request", "server"}},
	},
}

// TestLab runs every scenario in its own topology, in parallel.
func TestLab(t *testing.T) {
	if why := labSupported(); why != "" {
		t.Skipf("network-namespace lab skipped (%s); run it with `sudo make lab`", why)
	}
	tl, err := buildTools(t.TempDir(), true)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	if err := sweepStale(tl); err != nil {
		t.Fatalf("lab: %v", err)
	}
	save := os.Getenv("RSTSCOPE_LAB_SAVE") == "1"
	var mu syncResults
	// The fixtures are saved when the kernel did what the scenario says (the
	// client's outcome and every RST's sender and TTL), even if rstscope's
	// judgement of them is wrong: they are the ground truth for its tests.
	t.Cleanup(func() {
		res := mu.sorted()
		complete := len(res) == len(scenarios)
		for _, r := range res {
			complete = complete && r.factsOK
		}
		if save && complete {
			if err := writeReadme(res); err != nil {
				t.Errorf("lab: README.md: %v", err)
			}
		}
	})
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			res := runScenario(t, tl, fmt.Sprintf("rsl-%d-%d", os.Getpid(), i), sc)
			if save && res.factsOK {
				for side, src := range map[string]string{"client": res.client.pcap, "server": res.server.pcap} {
					if err := copyFile(src, sc.name+"."+side+".pcap"); err != nil {
						t.Errorf("lab: save %s pcap: %v", side, err)
					}
				}
			}
			mu.add(i, res)
		})
	}
}

// result is what one scenario captured.
type result struct {
	sc             scenario
	client, server sideResult
	factsOK        bool // the client's outcomes and the RSTs on the wire are as expected
}

type sideResult struct {
	pcap    string
	packets []tcpPacket
}

func runScenario(t *testing.T, tl *tools, prefix string, sc scenario) result {
	l := newLab(t, tl, prefix)
	srv, cli := serverV4, clientV4
	if sc.v6 {
		srv, cli = serverV6, clientV6
	}
	for _, cmd := range sc.router {
		l.exec("r1", cmd...)
	}
	if sc.server != nil {
		listen := []string{}
		for _, p := range []int{portOpen, portFiltered} {
			listen = append(listen, netip.AddrPortFrom(srv, uint16(p)).String())
		}
		args := append([]string{tl.labpeer, "server", "-listen", strings.Join(listen, ",")}, sc.server...)
		p := l.start("labpeer server", "s", args...)
		if err := p.waitOutput("listening", readyTimeout); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	ccap := liveCapture(l, "c", "c0", "client")
	scap := liveCapture(l, "s", "s0", "server")
	for _, c := range []*capture{ccap, scap} {
		if err := c.waitCapturing(readyTimeout); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	res := result{sc: sc, client: sideResult{pcap: ccap.pcap}, server: sideResult{pcap: scap.pcap}, factsOK: true}
	for i, st := range sc.steps {
		addr := netip.AddrPortFrom(srv, uint16(st.port)).String()
		out := l.exec("c", append([]string{tl.labpeer, "client", "-connect", addr}, st.args...)...)
		got := strings.TrimPrefix(strings.TrimSpace(out), "outcome=")
		if got != st.outcome {
			res.factsOK = false
			t.Errorf("client step %d (%s): got outcome %q, want %q", i+1, strings.Join(st.args, " "), got, st.outcome)
		}
	}
	for _, c := range []*capture{ccap, scap} {
		if err := c.finish(); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	var err error
	for _, s := range []struct {
		side string
		r    *sideResult
		c    *capture
	}{{"client", &res.client, ccap}, {"server", &res.server, scap}} {
		if s.r.packets, _, err = readPcap(s.c.pcap); err != nil {
			t.Fatalf("lab: %s capture: %v", s.side, err)
		}
		if !checkPackets(t, s.side, sc, s.r.packets, cli, srv) {
			res.factsOK = false
		}
		if s.c.json != "" {
			checkFindings(t, s.side, "live", sc, s.c.json)
		}
		if tl.rstscope == "" {
			continue // tcpdump captured: packet facts only
		}
		// the file path must agree with the live path on the same packets
		fj := filepath.Join(l.dir, s.side+".file.json")
		if out, err := exec.Command(tl.rstscope, "-r", s.c.pcap, "--format", "json", "-o", fj).CombinedOutput(); err != nil {
			t.Errorf("lab: rstscope -r %s: %v: %s", s.c.pcap, err, out)
		} else {
			checkFindings(t, s.side, "file", sc, fj)
		}
	}
	return res
}

// checkPackets asserts what the kernel did, from the capture alone: every
// RST, who sent it (address and TTL), and that the controls had none.
func checkPackets(t *testing.T, side string, sc scenario, pkts []tcpPacket, cli, srv netip.Addr) bool {
	t.Helper()
	ok := true
	errorf := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}
	if sc.nat && side == "server" {
		// behind router1's NAT: the client is clientNAT, on a mapped port
		for _, p := range pkts {
			c := p.Src
			if c.Addr() == srv {
				c = p.Dst
			}
			if c.Addr() != clientNAT || c.Port() < natPortLo || c.Port() > natPortHi {
				errorf("%s capture frame %d: %s %v>%v: the client is not masqueraded to %v:%d-%d", side, p.Index, p.flagString(), p.Src, p.Dst, clientNAT, natPortLo, natPortHi)
			}
		}
		cli = clientNAT
	}
	var want []wantRST
	for _, w := range sc.rsts {
		if w.ttlAt(side) != 0 {
			want = append(want, w)
		}
	}
	var got []tcpPacket
	for _, p := range pkts {
		if p.has(tcpRST) {
			got = append(got, p)
		}
	}
	if len(got) != len(want) {
		errorf("%s capture: got %d RSTs (%s), want %d", side, len(got), describe(got), len(want))
		return false
	}
	for i, w := range want {
		p := got[i]
		from := cli
		if w.claimed() == "server" {
			from = srv
		}
		if p.Src.Addr() != from {
			errorf("%s capture frame %d: RST from %v, want from the %s (%v)", side, p.Index, p.Src, w.claimed(), from)
		}
		if p.TTL != w.ttlAt(side) {
			errorf("%s capture frame %d: RST TTL %d, want %d (made by %s)", side, p.Index, p.TTL, w.ttlAt(side), w.by)
		}
	}
	// the server's (and client's) other packets have the TTL of their distance
	for _, p := range pkts {
		if p.has(tcpRST) {
			continue
		}
		wantTTL := uint8(62)
		if (side == "client") == (p.Src.Addr() == cli) {
			wantTTL = 64
		}
		if p.TTL != wantTTL {
			errorf("%s capture frame %d: %s from %v TTL %d, want %d", side, p.Index, p.flagString(), p.Src, p.TTL, wantTTL)
		}
	}
	return ok
}

func describe(ps []tcpPacket) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("frame %d %s %v>%v ttl %d", p.Index, p.flagString(), p.Src, p.Dst, p.TTL))
	}
	return strings.Join(s, "; ")
}

// report is the part of rstscope's JSON document (DESIGN.md section 4) the
// lab asserts.
type report struct {
	Stats struct {
		RSTPackets int `json:"rst_packets"`
	} `json:"stats"`
	Findings []struct {
		Cause      string `json:"cause"`
		Origin     string `json:"origin"`
		Confidence string `json:"confidence"`
		Summary    string `json:"summary"`
		RST        struct {
			From   string `json:"from"`
			Packet int    `json:"packet"`
			TTL    int    `json:"ttl"`
		} `json:"rst"`
		Evidence []struct {
			Signal string `json:"signal"`
			Detail string `json:"detail"`
		} `json:"evidence"`
	} `json:"findings"`
}

// checkFindings asserts rstscope's cause and origin for every RST the side saw.
func checkFindings(t *testing.T, side, mode string, sc scenario, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s capture (%s): %v", side, mode, err)
		return
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Errorf("%s capture (%s): %s: %v", side, mode, path, err)
		return
	}
	var want []wantRST
	for _, w := range sc.rsts {
		if w.ttlAt(side) != 0 {
			want = append(want, w)
		}
	}
	if len(r.Findings) != len(want) {
		var got []string
		for _, f := range r.Findings {
			got = append(got, fmt.Sprintf("frame %d %s/%s (%s)", f.RST.Packet, f.Cause, f.Origin, f.Summary))
		}
		t.Errorf("%s capture (%s): got %d findings [%s], want %d", side, mode, len(r.Findings), strings.Join(got, "; "), len(want))
		return
	}
	for i, w := range want {
		f := r.Findings[i]
		if f.Cause != w.cause || f.Origin != w.origin || f.RST.From != w.claimed() {
			var sig []string
			for _, e := range f.Evidence {
				sig = append(sig, e.Signal+": "+e.Detail)
			}
			t.Errorf("%s capture (%s) frame %d: got %s/%s (rst.from %s, %s), want %s/%s (rst.from %s); evidence: %s",
				side, mode, f.RST.Packet, f.Cause, f.Origin, f.RST.From, f.Confidence,
				w.cause, w.origin, w.claimed(), strings.Join(sig, "; "))
		}
		if f.Origin == "middlebox" && w.by != byRouter1 {
			t.Errorf("%s capture (%s) frame %d: false middlebox: the RST was made by the %s", side, mode, f.RST.Packet, w.by)
		}
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
