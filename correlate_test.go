package main

import (
	"encoding/json"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corrFinding is a finding with the correlation object (--peer).
type corrFinding struct {
	Cause      string `json:"cause"`
	Origin     string `json:"origin"`
	Confidence string `json:"confidence"`
	Flow       struct {
		Client string `json:"client"`
	} `json:"flow"`
	RST struct {
		Packet uint64 `json:"packet"`
		From   string `json:"from"`
	} `json:"rst"`
	Evidence []struct {
		Signal string   `json:"signal"`
		Detail string   `json:"detail"`
		Frames []uint64 `json:"frames"`
	} `json:"evidence"`
	Correlation *struct {
		Peer       string   `json:"peer"`
		MatchedBy  string   `json:"matched_by"`
		PeerClient string   `json:"peer_client"`
		PeerServer string   `json:"peer_server"`
		RST        string   `json:"rst"`
		PeerFrames []uint64 `json:"peer_frames"`
		Clock      string   `json:"clock"`
		OffsetMS   float64  `json:"offset_ms"`
		OneWayMS   float64  `json:"one_way_ms"`
		Samples    int      `json:"samples"`
		Lost       int      `json:"lost"`
	} `json:"correlation"`
}

func (f *corrFinding) evidence(sig string) (frames []uint64, n int) {
	for _, e := range f.Evidence {
		if e.Signal == sig {
			frames = append(frames, e.Frames...)
			n++
		}
	}
	return frames, n
}

// labCorr is what the two captures of one lab run (pcaps/lab, client veth
// and server veth) must say about its RST, from the lab's ground truth: who
// made the RST, its frame in the client capture, and for a forged one the
// client's packet that the middlebox stopped.
var labCorr = []struct {
	name      string
	by        string // server, client, router1 (a middlebox: never at the server)
	cause     string // the finding's cause with the peer
	frame     uint64 // the RST's frame in the client capture
	lost      uint64 // router1's: the client's frame that never reached the server
	nat       bool   // router1 masquerades the client
	matchedBy string
}{
	{"refused_closed_port", "server", "refused", 12, 0, false, "isn"},
	{"refused_firewall_reject", "router1", "refused", 12, 11, false, "none"},
	{"abortive_close_unread_data", "server", "abortive_close", 12, 0, false, "isn"},
	{"server_reset_linger0", "server", "server_reset_after_request", 6, 0, false, "isn"},
	{"middlebox_string_reject", "router1", "middlebox_injected", 5, 4, false, "isn"},
	{"idle_timeout_conntrack", "router1", "idle_timeout", 9, 8, false, "isn"},
	{"stale_keepalive", "server", "stale_keepalive", 11, 0, false, "isn"},
	{"tls_alert_version", "server", "tls_alert", 11, 0, false, "isn"},
	{"tls_alert_missing_cert", "server", "tls_alert", 16, 0, false, "isn"},
	{"client_abort_mid_response", "client", "client_abort", 32, 0, false, "isn"},
	{"control_fin_close", "", "", 0, 0, false, ""},
	{"control_client_rst_after_response", "client", "abortive_close", 8, 0, false, "isn"},
	{"refused_closed_port_v6", "server", "refused", 12, 0, false, "isn"},
	{"middlebox_string_reject_v6", "router1", "middlebox_injected", 5, 4, false, "isn"},
	{"nat_middlebox_string_reject", "router1", "middlebox_injected", 5, 4, true, "isn"},
	{"nat_server_reset_linger0", "server", "server_reset_after_request", 6, 0, true, "isn"},
}

func runCorr(t *testing.T, args ...string) []corrFinding {
	t.Helper()
	code, out, errs := runCLI(t, nil, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("rstscope %v: exit %d, stderr: %s", args, code, errs)
	}
	var d struct {
		Findings []corrFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("rstscope %v: bad JSON: %v", args, err)
	}
	return d.Findings
}

// TestCorrelate_lab runs every lab scenario with the other side's capture
// as --peer, both ways round. A RST router1 forged never left the server:
// absent_at_sender, middlebox, high, and the client's packet it answered
// never reached the server (lost_in_path). A RST an endpoint made is in
// both captures: present_at_sender and that endpoint as origin. Behind
// router1's NAT the flow is still matched by its ISNs.
func TestCorrelate_lab(t *testing.T) {
	for _, sc := range labCorr {
		for _, side := range []string{"client", "server"} {
			other := map[string]string{"client": "server", "server": "client"}[side]
			t.Run(sc.name+"/"+side, func(t *testing.T) {
				main := filepath.Join("pcaps", "lab", sc.name+"."+side+".pcap")
				peer := filepath.Join("pcaps", "lab", sc.name+"."+other+".pcap")
				fs := runCorr(t, "-r", main, "--peer", peer)
				want := 1
				if sc.by == "" || (sc.by == "router1" && side == "server") {
					want = 0 // no RST, or router1's never reached the server
				}
				if len(fs) != want {
					t.Fatalf("%s: got %d findings, want %d", main, len(fs), want)
				}
				if want == 0 {
					return
				}
				f := &fs[0]
				c := f.Correlation
				if c == nil {
					t.Fatalf("%s frame %d: no correlation", main, f.RST.Packet)
				}
				if c.Peer != filepath.Base(peer) || c.MatchedBy != sc.matchedBy {
					t.Errorf("%s frame %d: got peer %s matched_by %s, want %s %s", main, f.RST.Packet, c.Peer, c.MatchedBy, filepath.Base(peer), sc.matchedBy)
				}
				// one clock for both namespaces: the offset is within the
				// path's asymmetry, the delay a fraction of a millisecond
				if c.Clock != "two_way" || math.Abs(c.OffsetMS) > 1 || c.OneWayMS <= 0 || c.OneWayMS > 5 || c.Samples < 2 {
					t.Errorf("%s frame %d: got clock %s offset %.4f ms one-way %.4f ms (%d samples), want two_way, |offset| <= 1 ms, 0 < one-way <= 5 ms",
						main, f.RST.Packet, c.Clock, c.OffsetMS, c.OneWayMS, c.Samples)
				}
				if sc.nat {
					// the server capture shows the client as router1's
					// mapping, the client capture as itself
					atServer, atClient := f.Flow.Client, c.PeerClient
					if side == "client" {
						atServer, atClient = c.PeerClient, f.Flow.Client
					}
					pc, err := netip.ParseAddrPort(atServer)
					if err != nil || pc.Addr() != netip.MustParseAddr("10.77.2.1") || pc.Port() < 40000 || pc.Port() > 40999 {
						t.Errorf("%s frame %d: got the client at the server %q, want 10.77.2.1:40000-40999 (router1's NAT)", main, f.RST.Packet, atServer)
					}
					if ap, err := netip.ParseAddrPort(atClient); err != nil || ap.Addr() != netip.MustParseAddr("10.77.1.2") {
						t.Errorf("%s frame %d: got the client at the client %q, want 10.77.1.2", main, f.RST.Packet, atClient)
					}
				}
				if f.Cause != sc.cause {
					t.Errorf("%s frame %d: got cause %s, want %s", main, f.RST.Packet, f.Cause, sc.cause)
				}
				absent, nAbsent := f.evidence("absent_at_sender")
				_, nPresent := f.evidence("present_at_sender")
				lost, _ := f.evidence("lost_in_path")
				if sc.by == "router1" {
					if f.Origin != "middlebox" || f.Confidence != "high" || c.RST != "absent_at_sender" || nAbsent != 1 || nPresent != 0 {
						t.Errorf("%s frame %d: got %s %s rst %s (absent %d, present %d), want middlebox high absent_at_sender",
							main, f.RST.Packet, f.Origin, f.Confidence, c.RST, nAbsent, nPresent)
					}
					if f.RST.Packet != sc.frame || !slices.Equal(absent, []uint64{sc.frame}) {
						t.Errorf("%s: got RST frame %d, absent_at_sender frames %v, want %d", main, f.RST.Packet, absent, sc.frame)
					}
					if c.Lost != 1 || !slices.Equal(lost, []uint64{sc.lost}) {
						t.Errorf("%s frame %d: got lost %d frames %v, want 1 [%d] (the client's packet router1 stopped)", main, f.RST.Packet, c.Lost, lost, sc.lost)
					}
					return
				}
				if f.Origin != sc.by || f.RST.From != sc.by || c.RST != "present_at_sender" || nPresent != 1 || nAbsent != 0 || len(c.PeerFrames) == 0 {
					t.Errorf("%s frame %d: got origin %s (rst.from %s) rst %s (present %d, absent %d, peer frames %v), want %s present_at_sender",
						main, f.RST.Packet, f.Origin, f.RST.From, c.RST, nPresent, nAbsent, c.PeerFrames, sc.by)
				}
				if f.Confidence != "medium" && f.Confidence != "high" {
					t.Errorf("%s frame %d: got confidence %s, want at least medium", main, f.RST.Packet, f.Confidence)
				}
				if side == "client" && f.RST.Packet != sc.frame {
					t.Errorf("%s: got RST frame %d, want %d", main, f.RST.Packet, sc.frame)
				}
				if c.Lost != 0 {
					t.Errorf("%s frame %d: got lost %d (frames %v), want 0", main, f.RST.Packet, c.Lost, lost)
				}
			})
		}
	}
}

// TestCorrelate_flag: two -r with --correlate are -r with --peer; the
// flags' misuse is a usage error.
func TestCorrelate_flag(t *testing.T) {
	dir := filepath.Join("pcaps", "lab")
	cli := filepath.Join(dir, "nat_middlebox_string_reject.client.pcap")
	srv := filepath.Join(dir, "nat_middlebox_string_reject.server.pcap")
	a := runCorr(t, "-r", cli, "--peer", srv)
	b := runCorr(t, "-r", cli, "-r", srv, "--correlate")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("--correlate: got %s, want the --peer result %s", jb, ja)
	}
	for _, args := range [][]string{
		{"-r", cli, "--correlate"},
		{"-r", cli, "-r", srv, "--correlate", "--peer", srv},
		{"-r", cli, "--peer", "-"},
	} {
		if code, _, errs := runCLI(t, nil, args...); code != 2 {
			t.Errorf("rstscope %v: got exit %d (%s), want 2", args, code, strings.TrimSpace(errs))
		}
	}
	if code, _, errs := runCLI(t, nil, "-r", cli, "--peer", filepath.Join(dir, "no_such.pcap")); code != 1 || !strings.Contains(errs, "peer:") {
		t.Errorf("missing peer: got exit %d %q, want 1 and a peer: error", code, errs)
	}
	// the text report shows the new evidence
	code, out, errs := runCLI(t, nil, "-r", cli, "--peer", srv, "--no-color")
	if code != 0 || !strings.Contains(out, "absent_at_sender") {
		t.Errorf("text: got exit %d (%s), want absent_at_sender in:\n%s", code, errs, out)
	}
}
