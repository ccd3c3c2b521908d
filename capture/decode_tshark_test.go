package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDecode_tshark is a differential test against tshark, which decodes
// every tunnel and link type Decode reads (gopacket lacks several): every
// test frame of decodeCases is an RST, written to one pcapng (an interface
// per link type); tshark must find an RST in each frame, with the ports and
// sequence number Decode reads.
func TestDecode_tshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (make deps installs it)")
	}
	cases := decodeCases(t)
	var buf bytes.Buffer
	w := NewPcapngWriter(&buf)
	for i, c := range cases {
		p := Packet{Index: uint64(i + 1), Time: time.Unix(1700000000, int64(i)*1000).UTC(), LinkType: c.linkType,
			Frame: c.frame, WireLen: len(c.frame)}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cases.pcapng")
	if p := os.Getenv("RSTSCOPE_KEEP"); p != "" {
		path = p
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-d", "udp.port==8472,vxlan", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-Y", "tcp.flags.reset==1",
		"-T", "fields", "-E", "occurrence=l", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.seq_raw").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	found := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		found[n] = strings.Join(f[1:], " ")
	}
	// Frames tshark leaves undecoded with its default preferences.
	tsharkMisses := map[string]string{
		"mpls_pseudowire_ethernet":            "needs a pseudowire decode-as",
		"mpls_ethernet_no_control_word":       "needs a pseudowire decode-as",
		"nflog_ipv6_big_endian":               "reads NFLOG TLVs in its own byte order only",
		"ethernet_mpacket":                    "needs mPacket preamble handling",
		"l2tpv3_udp_cookie_ethernet":          "decodes L2TPv3 data only after the session's control messages",
		"l2tpv3_ip_cookie8_sublayer_ethernet": "decodes L2TPv3 data only after the session's control messages",
		"l2tpv3_ip_raw_ipv6":                  "decodes L2TPv3 data only after the session's control messages",
	}
	d := NewDecoder()
	for i, c := range cases {
		if why, ok := tsharkMisses[c.name]; ok {
			if _, found := found[i+1]; !found {
				t.Logf("%s: tshark %s", c.name, why)
				continue
			}
		}
		var p Packet
		if err := d.Decode(c.linkType, c.frame, &p); err != nil {
			t.Errorf("%s: got error %v", c.name, err)
			continue
		}
		want := strconv.Itoa(int(p.Src.Port())) + " " + strconv.Itoa(int(p.Dst.Port())) + " " + strconv.FormatUint(uint64(p.Seq), 10)
		if got, ok := found[i+1]; !ok {
			t.Errorf("%s (frame %d, link type %d): tshark finds no RST, Decode finds %s", c.name, i+1, c.linkType, want)
		} else if got != want {
			t.Errorf("%s (frame %d): tshark reads ports and seq %s, Decode %s", c.name, i+1, got, want)
		}
	}
	t.Logf("tshark found %d RSTs in %d test frames", len(found), len(cases))
}

// tunnelCaptures are real captures of the tunnels of issue 18 (testdata/
// tunnels/README.md gives their sources): tshark's counts of TCP frames and
// RSTs (tshark -Y tcp, -Y tcp.flags.reset==1), recorded here and checked
// again when tshark is installed, and how many of the TCP frames came out
// of the tunnel and how many frames Stats counts as hidden.
var tunnelCaptures = []struct {
	file      string
	tcp, rst  int
	tunnel    Tunnel
	tunnelled int
	hidden    string // Stats.Hidden as "count reason; ..."
}{
	{"zeek_ayiya3.pcap", 21, 0, TunnelAYIYA, 21, ""},
	{"zeek_gtp_ext_header.pcap", 1, 0, TunnelGTPU, 1, ""},
	{"zeek_gtp6_gtp_0x32.pcap", 31, 0, TunnelGTPU, 31, ""},
	{"zeek_gtp9_unknown_or_too_short_payload.pcap", 11, 0, TunnelGTPU, 11, "1 UDP/2152 (GTP-U)"},
	{"zeek_gtp3_false_gtp.pcap", 0, 0, TunnelGTPU, 0, "1 UDP/2152 (GTP-U)"},
	{"zeek_gre-over-udp-4754.pcap", 10, 0, TunnelGRE, 10, ""},
	{"zeek_pppoe-over-qinq.pcap", 86, 0, TunnelNone, 86, ""},
	{"suricata_pppoe-session-http.pcap", 30, 0, TunnelNone, 30, ""},
	{"zeek_Teredo.pcap", 33, 5, TunnelNone, 33, ""},
	{"tcpdump_nsh-over-vxlan-gpe.pcap", 0, 0, TunnelVXLANGPE, 0, ""},
	{"tcpdump_l2tp-avp-overflow.pcap", 0, 0, TunnelL2TP, 0, ""},
}

// TestDecode_tunnelCaptures reads each tunnel capture through OpenFile and
// compares TCP frames and RSTs with tshark's.
func TestDecode_tunnelCaptures(t *testing.T) {
	tshark, _ := exec.LookPath("tshark")
	// count returns tshark's TCP frames and RSTs of path.
	count := func(path string) (tcp, rst int) {
		out, err := exec.Command(tshark, "-n", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "occurrence=l", "-e", "tcp.flags.reset").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", path, err)
		}
		for _, f := range strings.Fields(string(out)) {
			tcp++
			if f == "1" || f == "True" {
				rst++
			}
		}
		return tcp, rst
	}
	for _, c := range tunnelCaptures {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "tunnels", c.file)
			pkts, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			rst, tunnelled := 0, 0
			for _, p := range pkts {
				if p.Flags.Has(RST) {
					rst++
				}
				if p.Tunnel == c.tunnel {
					tunnelled++
				}
			}
			if len(pkts) != c.tcp || rst != c.rst || tunnelled != c.tunnelled {
				t.Errorf("got %d tcp, %d rst, %d via %q; want %d, %d, %d", len(pkts), rst, tunnelled, c.tunnel, c.tcp, c.rst, c.tunnelled)
			}
			s := openOrFatal(t, path, 0, FileOptions{})
			var p Packet
			for s.Next(&p) == nil {
			}
			var hidden []string
			for _, h := range s.Stats().Hidden {
				hidden = append(hidden, strconv.FormatUint(h.Count, 10)+" "+h.Reason.String())
			}
			if got := strings.Join(hidden, "; "); got != c.hidden {
				t.Errorf("hidden got %q, want %q", got, c.hidden)
			}
			if tshark != "" {
				if tcp, rst := count(path); tcp != c.tcp || rst != c.rst {
					t.Errorf("tshark counts %d tcp frames and %d RSTs, the table %d and %d", tcp, rst, c.tcp, c.rst)
				}
			}
		})
	}
}
