package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// TestRSTPayload_shown builds a capture whose server resets with
// diagnostic text in the RST (RFC 9293 3.5.3), a terminal escape
// included, and one whose RST carries more than flows keeps (issue
// 18.10). JSON, text and markdown show the text sanitised; payload_len
// agrees with tshark's tcp.len.
func TestRSTPayload_shown(t *testing.T) {
	diag := "connection rejected by policy \x1b[31mred\x1b[0m"
	long := strings.Repeat("0123456789", 10) // 100 bytes: kept 64
	cases := []struct {
		name, payload string
		wantText      string // sanitised, as text and JSON print it
	}{
		{"diagnostic", diag, `connection rejected by policy \x1b[31mred\x1b[0m`},
		{"long", long, long[:64]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rst_payload.pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			g := pcapgen.New(f, pcapgen.Options{Seed: 7})
			conn := g.Conn(netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.9:80"),
				pcapgen.Host{TTL: 64}, pcapgen.Host{TTL: 60})
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			at := conn.Handshake(t0)
			at = conn.Send(pcapgen.FromClient, []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), at.Add(time.Millisecond))
			conn.RST(pcapgen.FromServer, at.Add(time.Millisecond), pcapgen.Payload([]byte(c.payload)))
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()

			code, out, errs := runCLI(t, nil, "-r", path, "--format", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var d struct {
				Findings []struct {
					RST struct {
						Packet     uint64 `json:"packet"`
						PayloadLen int    `json:"payload_len"`
						Payload    string `json:"payload"`
					} `json:"rst"`
				} `json:"findings"`
			}
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Findings) != 1 {
				t.Fatalf("findings: got %d, want 1", len(d.Findings))
			}
			r := d.Findings[0].RST
			if r.PayloadLen != len(c.payload) || r.Payload != c.wantText {
				t.Errorf("json rst: got payload_len %d payload %q, want %d %q", r.PayloadLen, r.Payload, len(c.payload), c.wantText)
			}
			if strings.Contains(out, "\\u001b") {
				t.Errorf("json carries a raw ESC: %s", out)
			}
			if tshark, err := exec.LookPath("tshark"); err == nil {
				b, err := exec.Command(tshark, "-r", path, "-Y", "tcp.flags.reset==1", "-T", "fields", "-e", "frame.number", "-e", "tcp.len").Output()
				if err != nil {
					t.Fatalf("tshark: %v", err)
				}
				fl := strings.Fields(string(b))
				if len(fl) != 2 || fl[0] != strconv.FormatUint(r.Packet, 10) || fl[1] != strconv.Itoa(r.PayloadLen) {
					t.Errorf("tshark says frame/tcp.len %q, rstscope frame %d payload_len %d", fl, r.Packet, r.PayloadLen)
				}
			} else {
				t.Logf("tshark not installed (make deps installs it): length not compared")
			}
			for _, format := range []string{"text", "markdown"} {
				code, out, errs := runCLI(t, nil, "-r", path, "--format", format, "--no-color")
				if code != 0 {
					t.Fatalf("%s: exit %d: %s", format, code, errs)
				}
				want := "payload " + strconv.Itoa(len(c.payload)) + " bytes"
				if format == "text" {
					want += ` "` + c.wantText + `"`
				}
				if !strings.Contains(out, c.wantText[:20]) {
					t.Errorf("%s lacks the payload text %q", format, c.wantText[:20])
				}
				if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
					t.Errorf("%s lacks %q:\n%s", format, want, out)
				}
				if strings.ContainsRune(out, 0x1b) {
					t.Errorf("%s: a raw ESC reached the output", format)
				}
			}
		})
	}
}

// TestRSTPayload_corpus: the F5 BIG-IP reset of the tcpdump corpus names
// its reason in the RST payload; rstscope shows it with tshark's length.
func TestRSTPayload_corpus(t *testing.T) {
	code, out, errs := runCLI(t, nil, "-r", filepath.Join(corpusDir, "tcpdump/tcp_rst_data.pcap"), "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p struct {
		Findings []struct {
			RST struct {
				PayloadLen int    `json:"payload_len"`
				Payload    string `json:"payload"`
			} `json:"rst"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Findings) == 0 {
		t.Fatalf("findings: %v (%d)", err, len(p.Findings))
	}
	r := p.Findings[0].RST
	const want = "BIG-IP: [0x11c5672:3045] {peer} TCP RST from remote system"
	if r.PayloadLen != 58 || !strings.HasPrefix(want, r.Payload) || len(r.Payload) < 50 {
		t.Errorf("got payload_len %d payload %q, want 58 (tshark: frame 1, tcp.len 58) and %q", r.PayloadLen, r.Payload, want)
	}
}
