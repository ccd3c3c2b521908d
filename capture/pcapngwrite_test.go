package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPcapngWriter_linkTypeChanges (issue 14.7): frames whose link type
// changes after the first packet are written whole, one interface per link
// type; our reader and tshark read every frame back with its link type.
func TestPcapngWriter_linkTypeChanges(t *testing.T) {
	frames := []struct {
		lt    int
		frame []byte
	}{
		{linkEthernet, joinBytes(macB, macA, u16(0x0800), inner4(t))},
		{linkSLL, joinBytes(sllHeader(0x0800), inner4(t))},
		{linkEthernet, joinBytes(macB, macA, u16(0x86dd), inner6(t))},
		{linkSLL2, joinBytes(sll2Header(0x86dd), inner6(t))},
		{linkRaw, inner4(t)},
	}
	var buf bytes.Buffer
	w := NewPcapngWriter(&buf)
	for i, f := range frames {
		p := Packet{Index: uint64(i + 1), Time: time.Date(2026, 1, 2, 3, 4, 5, i*1001, time.UTC), LinkType: f.lt, Frame: f.frame, WireLen: len(f.frame) + 4}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := w.LinkTypes(); !slices.Equal(got, []int{linkEthernet, linkSLL, linkSLL2, linkRaw}) {
		t.Errorf("interfaces got link types %v, want 1 113 276 101", got)
	}
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pkts, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != len(frames) {
		t.Fatalf("read back %d packets, want %d", len(pkts), len(frames))
	}
	for i, p := range pkts {
		f := frames[i]
		if p.LinkType != f.lt || !bytes.Equal(p.Frame, f.frame) || p.WireLen != len(f.frame)+4 ||
			!p.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, i*1001, time.UTC)) || !p.Flags.Has(RST) {
			t.Errorf("packet %d: got link type %d, %d bytes, wire %d, %v, %v; want %d, %d, %d", i+1, p.LinkType, len(p.Frame), p.WireLen, p.Time, p.Flags, f.lt, len(f.frame), len(f.frame)+4)
		}
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (make deps installs it): read back by rstscope only")
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-e", "frame.interface_id", "-e", "tcp.flags.reset").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "Running as") {
			continue
		}
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	// The flag prints as True or 1 depending on tshark's version.
	if got, want := strings.ReplaceAll(strings.Join(got, ","), "True", "1"), "0 1,1 1,0 1,2 1,3 1"; got != want {
		t.Errorf("tshark reads interface and RST flag %q, want %q", got, want)
	}
}

// TestPcapngWriter_empty: a writer that got no packet still writes a valid
// capture, which tshark reads as empty.
func TestPcapngWriter_empty(t *testing.T) {
	var buf bytes.Buffer
	if err := NewPcapngWriter(&buf).Flush(); err != nil {
		t.Fatal(err)
	}
	s, err := newFileSource(bytes.NewReader(buf.Bytes()), nil, "empty.pcapng", 0, FileOptions{})
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if pkts, err := readAll(t, s); err != nil || len(pkts) != 0 {
		t.Errorf("read back %d packets, %v; want none", len(pkts), err)
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		path := filepath.Join(t.TempDir(), "empty.pcapng")
		os.WriteFile(path, buf.Bytes(), 0o644)
		if out, err := exec.Command(tshark, "-n", "-r", path).CombinedOutput(); err != nil {
			t.Errorf("tshark: %v: %s", err, out)
		}
	}
}

// TestMayAddLinkTypes: a classic pcap file's link type is fixed by its
// header, a pcapng file may add one at any block; the wrappers the command
// puts around a file (Prefetch, Follow, OpenFiles' merge) say the same.
func TestMayAddLinkTypes(t *testing.T) {
	pcap := filepath.Join(corpusDir, "ndpi/webex.pcap")
	var buf bytes.Buffer
	w := NewPcapngWriter(&buf)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	ng := filepath.Join(t.TempDir(), "empty.pcapng")
	if err := os.WriteFile(ng, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	for _, tc := range []struct {
		name  string
		paths []string
		want  bool
	}{
		{"pcap", []string{pcap}, false},
		{"pcapng", []string{ng}, true},
		{"pcap and pcapng", []string{pcap, ng}, true},
		{"two pcap", []string{pcap, pcap}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := OpenFiles(tc.paths, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src = Follow(Prefetch(src), stop, nil)
			defer src.Close()
			if got := MayAddLinkTypes(src); got != tc.want {
				t.Errorf("MayAddLinkTypes: got %v, want %v", got, tc.want)
			}
		})
	}
}
