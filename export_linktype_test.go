package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// mixedLinkPcapng writes a pcapng whose second interface (raw IP) is
// described only after the first packet (Ethernet): two refused
// connections, one on each link type.
func mixedLinkPcapng(w io.Writer) error {
	ng := pcapgen.NewNG(w)
	eth := ng.Interface(1, 65535)
	c2 := netip.AddrPortFrom(hostCli.Addr(), 40001)
	syn := pcapgen.RawTCP{Src: hostCli, Dst: hostSrv, Flags: pcapgen.SYN, Seq: 1000, TTL: 64}
	fr := ethTCP(syn)
	ng.Packet(eth, pcapgen.Time(0), fr, len(fr))
	fr = ethTCP(pcapgen.RawTCP{Src: hostSrv, Dst: hostCli, Flags: pcapgen.RST | pcapgen.ACK, Ack: 1001, TTL: 64})
	ng.Packet(eth, pcapgen.Time(time.Millisecond), fr, len(fr))
	raw := ng.Interface(101, 65535) // a new link type after the first packet
	fr = pcapgen.AppendTCP(nil, pcapgen.RawTCP{Src: c2, Dst: hostSrv, Flags: pcapgen.SYN, Seq: 5, TTL: 64})
	ng.Packet(raw, pcapgen.Time(2*time.Millisecond), fr, len(fr))
	fr = pcapgen.AppendTCP(nil, pcapgen.RawTCP{Src: hostSrv, Dst: c2, Flags: pcapgen.RST | pcapgen.ACK, Ack: 6, TTL: 64})
	ng.Packet(raw, pcapgen.Time(3*time.Millisecond), fr, len(fr))
	return ng.Close()
}

// TestWrite_linkTypeChanges (issue 14.7): a pcapng that brings a new link
// type after its first packet, read from a file and from stdin, with and
// without --write-all: -w is a pcapng holding all four frames (read back
// by rstscope, and by tshark when installed), and the JSON report has
// both findings.
func TestWrite_linkTypeChanges(t *testing.T) {
	var capBuf bytes.Buffer
	if err := mixedLinkPcapng(&capBuf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	if err := os.WriteFile(path, capBuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tshark, _ := exec.LookPath("tshark")
	for _, tc := range []struct {
		name  string
		stdin io.Reader
		input string
		extra []string
	}{
		{"file", nil, path, nil},
		{"stdin", bytes.NewReader(capBuf.Bytes()), "-", nil},
		{"file_write_all", nil, path, []string{"--write-all"}},
		{"stdin_write_all", bytes.NewReader(capBuf.Bytes()), "-", []string{"--write-all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "w.pcapng")
			code, stdout, stderr := runCLI(t, tc.stdin, append([]string{"-r", tc.input, "-w", out, "--format", "json"}, tc.extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			d := decodeHostile(t, stdout)
			if len(d.Findings) != 2 || d.Stats.Packets != 4 {
				t.Errorf("report: %d findings of %d packets, want 2 of 4 (stderr %q)", len(d.Findings), d.Stats.Packets, stderr)
			}
			head, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(head, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
				t.Errorf("-w starts % x, want a pcapng section header", head[:min(4, len(head))])
			}
			back := runJSON(t, "-r", out)
			if back.Stats.Packets != 4 || len(back.Findings) != 2 {
				t.Errorf("-w read back: %d packets, %d findings; want 4, 2", back.Stats.Packets, len(back.Findings))
			}
			if tshark == "" {
				t.Log("tshark not installed (make deps installs it): -w read back by rstscope only")
				return
			}
			res, err := exec.Command(tshark, "-n", "-r", out, "-T", "fields", "-e", "frame.interface_id", "-e", "tcp.flags.reset").CombinedOutput()
			if err != nil {
				t.Fatalf("tshark: %v: %s", err, res)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
				if !strings.HasPrefix(line, "Running as") {
					got = append(got, strings.Join(strings.Fields(line), " "))
				}
			}
			// The flag prints as True or 1 depending on tshark's version.
			if got, want := strings.ReplaceAll(strings.Join(got, ","), "True", "1"), "0 0,0 1,1 0,1 1"; got != want {
				t.Errorf("tshark reads interface and RST flag %q, want %q", got, want)
			}
		})
	}
}

// TestWrite_failureKeepsReport (issue 14.7): when -w cannot be written
// (here /dev/full, from stdin, as the packets come with --write-all and at
// the end without), the JSON report is still whole, and the run exits 1
// naming the -w error.
func TestWrite_failureKeepsReport(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var capBuf bytes.Buffer
	if err := mixedLinkPcapng(&capBuf); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--write-all"}} {
		t.Run(strings.Join(append([]string{"w"}, extra...), ""), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, bytes.NewReader(capBuf.Bytes()), append([]string{"-r", "-", "-w", "/dev/full", "--format", "json"}, extra...)...)
			if code != 1 || !strings.Contains(stderr, "no space left on device") {
				t.Errorf("exit %d, stderr %q: want 1 and the -w error", code, stderr)
			}
			d := decodeHostile(t, stdout)
			if len(d.Findings) != 2 || d.Stats.Packets != 4 {
				t.Errorf("report: %d findings of %d packets, want 2 of 4", len(d.Findings), d.Stats.Packets)
			}
		})
	}
}
