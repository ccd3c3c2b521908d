package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// restamp copies pcaps/demo.pcap (nanosecond pcap, little-endian) with
// the seconds of frames from..to (1-based, inclusive) changed by set.
func restamp(t *testing.T, from, to int, set func(sec uint32) uint32) string {
	t.Helper()
	b, err := os.ReadFile("pcaps/demo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(b) != 0xa1b23c4d {
		t.Fatalf("demo.pcap: magic %#x, want a little-endian nanosecond pcap", binary.LittleEndian.Uint32(b))
	}
	for o, frame := 24, 1; o+16 <= len(b); frame++ {
		if frame >= from && frame <= to {
			binary.LittleEndian.PutUint32(b[o:], set(binary.LittleEndian.Uint32(b[o:])))
		}
		o += 16 + int(binary.LittleEndian.Uint32(b[o+8:]))
	}
	path := filepath.Join(t.TempDir(), "demo.pcap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTimeJumps_demo (issue 14 item 11): the demo capture with one record
// stamped in 2106, or with its clock stepping back 20 minutes halfway,
// still yields its nine findings as the expectation table has them
// (cause, origin, confidence, signals), and a warning names the frame.
func TestTimeJumps_demo(t *testing.T) {
	cases := []struct {
		name, warn string
		path       string
	}{
		{"record_in_2106", "frame 40: capture time 2106-02-07", restamp(t, 40, 40, func(uint32) uint32 { return 1<<32 - 1 })},
		{"clock_back_20min", "frame 54: capture time steps back by 19m57.006s", restamp(t, 54, 1<<30, func(s uint32) uint32 { return s - 1200 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := runJSON(t, "-r", tc.path)
			if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], tc.warn) {
				t.Errorf("warnings: got %q, want one containing %q", d.Warnings, tc.warn)
			}
			checkExpectations(t, d, expectations["demo.pcap"])
		})
	}
}
