package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// count reads a pcap and returns its packets and snaplen.
func count(t *testing.T, path string) (int, uint32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		_, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, r.Snaplen()
		}
		if err != nil {
			t.Fatalf("%s: packet %d: %v", path, n+1, err)
		}
		n++
	}
}

func TestRun_scenario(t *testing.T) {
	out := filepath.Join(t.TempDir(), "gfw.pcap")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-o", out, "-scenario", "gfw_triple_rst", "-link", "sll2"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	n, snap := count(t, out)
	if !strings.Contains(stdout.String(), " 3 RSTs") || n < 8 || snap != 65535 {
		t.Errorf("got %d packets, snaplen %d, output %q; want >= 8 packets, snaplen 65535, 3 RSTs", n, snap, stdout.String())
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestRun_mix(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mix.pcap")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-o", out, "-packets", "30000", "-seed", "4"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	n, snap := count(t, out)
	if n < 28500 || n > 31500 || snap != 128 {
		t.Errorf("got %d packets snaplen %d, want 30000 ±5%% at snaplen 128 (output %q)", n, snap, stdout.String())
	}
	if !strings.Contains(stdout.String(), "scenario flows:") {
		t.Errorf("output %q: want the scenario flow counts", stdout.String())
	}
}

func TestRun_scan(t *testing.T) {
	out := filepath.Join(t.TempDir(), "scan.pcap")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-o", out, "-scan", "1000"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	n, snap := count(t, out)
	if n != 2000 || snap != 128 || !strings.Contains(stdout.String(), " 1000 RSTs") || strings.Contains(stdout.String(), "scenario flows:") {
		t.Errorf("got %d packets snaplen %d, output %q; want 2000 packets at snaplen 128, 1000 RSTs, no mix counts", n, snap, stdout.String())
	}
}

func TestRun_usageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-o", "x.pcap", "-scenario", "nope"},
		{"-o", "x.pcap", "-link", "token-ring"},
		{"-o", "x.pcap", "extra"},
		{"-o", "x.pcap", "-scan", "-1"},
		{"-o", "x.pcap", "-scan", "10", "-scenario", "refused"},
	} {
		err := run(args, io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("run(%q): got %v, want a usage error", args, err)
		}
	}
}
