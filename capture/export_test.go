package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPcapWriter_roundTrip writes every TCP packet of a corpus file (one
// with a snaplen-cut frame among them) and reads the result back: the same
// frames, times to the nanosecond, wire lengths; tshark reads the file too.
func TestPcapWriter_roundTrip(t *testing.T) {
	for _, name := range []string{"ndpi/webex.pcap", "tcpdump/tcp_rst_data-trunc.pcap", "zeek/Traces/http/get-to-ssh-server.pcap"} {
		t.Run(name, func(t *testing.T) {
			src := openOrFatal(t, filepath.Join(corpusDir, name), 0, FileOptions{})
			want, err := readAll(t, src)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w, err := NewPcapWriter(&buf, want[0].LinkType, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if err := w.WritePacket(&want[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "out.pcap")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read back %d packets, wrote %d", len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if !bytes.Equal(g.Frame, w.Frame) || !g.Time.Equal(w.Time) || g.WireLen != w.WireLen || g.LinkType != w.LinkType {
					t.Fatalf("packet %d (frame %d): read back time %v wire %d lt %d len %d, wrote %v wire %d lt %d len %d",
						i, w.Index, g.Time, g.WireLen, g.LinkType, len(g.Frame), w.Time, w.WireLen, w.LinkType, len(w.Frame))
				}
			}
			tsharkCount(t, path, len(want))
		})
	}
}

// tsharkCount checks that tshark, where installed, reads n frames from path.
func tsharkCount(t *testing.T, path string, n int) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		return
	}
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.number").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", path, err, out)
	}
	lines := strings.Fields(strings.ReplaceAll(string(out), "Running as user \"root\" and group \"root\". This could be dangerous.", ""))
	if len(lines) != n || lines[len(lines)-1] != strconv.Itoa(n) {
		t.Errorf("tshark reads %d frames, want %d", len(lines), n)
	}
}

// TestExportWriter_mixed writes Ethernet and SLL2 frames: one link type
// gives pcap, two give pcapng with an interface each; reading back gives
// the same frames with their link types, a BPF filter applies per
// interface, and tshark reads it.
func TestExportWriter_mixed(t *testing.T) {
	eth, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, "ndpi/webex.pcap"), 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	sll2, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, "suricata-verify/decode-sll2-02/input.pcap"), 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var single bytes.Buffer
	e, err := NewExportWriter(&single, []int{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if e.Pcapng() {
		t.Error("one link type: got pcapng, want pcap")
	}
	if err := e.WritePacket(&sll2[0]); err == nil {
		t.Error("pcap export took an SLL2 frame into an Ethernet file")
	}

	var buf bytes.Buffer
	e, err = NewExportWriter(&buf, []int{1, 276})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Pcapng() {
		t.Fatal("two link types: got pcap, want pcapng")
	}
	var want []Packet
	for i := 0; i < 40; i++ { // alternate the link types
		want = append(want, eth[i], sll2[i])
	}
	for i := range want {
		if err := e.WritePacket(&want[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openOrFatal(t, path, 0, FileOptions{})
	got, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read back %d packets, wrote %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Frame, want[i].Frame) || !got[i].Time.Equal(want[i].Time) || got[i].LinkType != want[i].LinkType || got[i].Index != uint64(i+1) {
			t.Fatalf("packet %d: read back frame %d lt %d %v, wrote lt %d %v", i, got[i].Index, got[i].LinkType, got[i].Time, want[i].LinkType, want[i].Time)
		}
	}
	if lt := s.(LinkTyper).LinkTypes(); len(lt) != 2 || lt[0] != 1 || lt[1] != 276 {
		t.Errorf("LinkTypes() = %v, want [1 276]", lt)
	}
	tsharkCount(t, path, len(want))
	testFilterMixed(t, path, want)
}
