//go:build cgo

package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenFile_filter applies BPF expressions to corpus files and checks
// the count against the decoder's reading of the same condition and, where
// tcpdump is installed and reads the file, against tcpdump's count.
func TestOpenFile_filter(t *testing.T) {
	port80 := func(p *Packet) bool {
		return p.Tunnel == TunnelNone && p.VLAN == 0 && (p.Src.Port() == 80 || p.Dst.Port() == 80)
	}
	rst := func(p *Packet) bool { return p.Tunnel == TunnelNone && p.VLAN == 0 && p.Flags.Has(RST) }
	syn := func(p *Packet) bool { return p.Tunnel == TunnelNone && p.VLAN == 0 && p.Flags.Has(SYN) }
	ip6port80 := func(p *Packet) bool { return p.Src.Addr().Is6() && port80(p) }
	for _, tc := range []struct {
		file, expr string
		want       func(*Packet) bool
		tcpdump    bool // tcpdump reads this file
	}{
		{"ndpi/webex.pcap", "tcp port 80", port80, true},
		{"ndpi/alexa-app.pcapng", "tcp port 80", port80, true},
		{"suricata-verify/decode-sll2-02/input.pcap", "tcp[tcpflags] & tcp-syn != 0", syn, true},
		{"ndpi/dingtalk.pcap", "tcp[tcpflags] & tcp-syn != 0", syn, true},           // raw IP: LINKTYPE_RAW 101 is DLT_RAW 12
		{"zeek/Traces/zip/descriptor.pcap", "ip6 and tcp port 80", ip6port80, true}, // BSD null, Darwin's AF_INET6
		{"big-endian:zeek/Traces/zip/descriptor.pcap", "ip6 and tcp port 80", ip6port80, true},
		{"ndpi/anydesk.pcapng", "tcp[tcpflags] & tcp-rst != 0", rst, true},                                                 // several interfaces
		{"zeek/Traces/ldap/modify-request.pcapng", "vlan 81 and tcp", func(p *Packet) bool { return p.VLAN == 81 }, false}, // Ethernet, SLL and ETHERNET_MPACKET interfaces
	} {
		t.Run(tc.file+"/"+tc.expr, func(t *testing.T) {
			path := filepath.Join(corpusDir, tc.file)
			if name, ok := strings.CutPrefix(tc.file, "big-endian:"); ok {
				path = bigEndianCopy(t, name)
			}
			all, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i := range all {
				if tc.want(&all[i]) {
					want++
				}
			}
			s := openOrFatal(t, path, 0, FileOptions{Filter: tc.expr})
			got, err := readAll(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want {
				t.Errorf("filter %q returned %d TCP packets, want %d (decoder)", tc.expr, len(got), want)
			}
			st := s.Stats()
			if st.Packets-st.Filtered != st.TCPPackets+st.NonTCP+st.Undecodable {
				t.Errorf("Packets %d - Filtered %d != TCP %d + non-TCP %d + undecodable %d", st.Packets, st.Filtered, st.TCPPackets, st.NonTCP, st.Undecodable)
			}
			if want == 0 || st.Filtered == 0 {
				t.Errorf("matched %d, filtered %d: the case tests nothing", want, st.Filtered)
			}
			if _, err := exec.LookPath("tcpdump"); err != nil || !tc.tcpdump {
				return
			}
			out, err := exec.Command("tcpdump", "-nr", path, tc.expr).Output()
			if err != nil {
				t.Fatalf("tcpdump: %v", err)
			}
			n := strings.Count(string(out), "\n")
			// tcpdump prints every frame the filter takes, TCP or not.
			if uint64(n) != st.Packets-st.Filtered {
				t.Errorf("filter %q passed %d frames, tcpdump %d", tc.expr, st.Packets-st.Filtered, n)
			}
		})
	}
}

func TestOpenFile_badFilter(t *testing.T) {
	path := filepath.Join(corpusDir, "ndpi/webex.pcap")
	for _, tc := range []struct{ expr, want string }{
		{"tcp prt 80", `capture: bad filter "tcp prt 80": can't parse filter expression: syntax error`},
		{"tcp port 99999", `capture: bad filter "tcp port 99999": illegal port number 99999 > 65535`},
	} {
		_, err := OpenFile(path, 0, FileOptions{Filter: tc.expr})
		if err == nil || err.Error() != tc.want {
			t.Errorf("filter %q: got %v, want %q", tc.expr, err, tc.want)
		}
	}
	// OpenFiles reports it too, naming no file: the expression is wrong.
	_, err := OpenFiles([]string{path, path}, FileOptions{Filter: "bogus ("})
	if err == nil || !strings.HasPrefix(err.Error(), `capture: bad filter "bogus (": `) {
		t.Errorf("OpenFiles: got %v, want a bad filter error", err)
	}
}

// bigEndianCopy rewrites a little-endian BSD-loopback pcap as a big-endian
// machine would have written it: headers and the loopback family field in
// big-endian order.
func bigEndianCopy(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	le, be := binary.LittleEndian, binary.BigEndian
	if le.Uint32(raw) != magicPcapMicro || le.Uint32(raw[20:]) != 0 {
		t.Fatalf("%s: not a little-endian LINKTYPE_NULL pcap", name)
	}
	out := bytes.Clone(raw)
	swap32 := func(off int) { be.PutUint32(out[off:], le.Uint32(raw[off:])) }
	be.PutUint32(out[0:], magicPcapMicro)
	be.PutUint16(out[4:], le.Uint16(raw[4:]))
	be.PutUint16(out[6:], le.Uint16(raw[6:]))
	for _, off := range []int{8, 12, 16, 20} {
		swap32(off)
	}
	for off := 24; off+16 <= len(raw); {
		caplen := int(le.Uint32(raw[off+8:]))
		for i := 0; i < 16; i += 4 {
			swap32(off + i)
		}
		swap32(off + 16) // the loopback header's address family
		off += 16 + caplen
	}
	path := filepath.Join(t.TempDir(), "be.pcap")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
