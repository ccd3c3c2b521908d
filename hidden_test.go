package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// udpFrame is a raw IPv4 frame (LINKTYPE_RAW) of a UDP datagram from
// port 5000 to dport carrying payload.
func udpFrame(dport uint16, payload []byte) []byte {
	b := make([]byte, 28, 28+len(payload))
	b[0], b[8], b[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(payload)))
	copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(b[20:], 5000)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	return append(b, payload...)
}

// TestSummary_tcpMayBeHidden (issue 18.2): 27 datagrams to the GTP-U port
// whose header is not GTP-U v1: no TCP was read, and the summary says
// that TCP may hide in what was not decoded instead of "No RST found", in
// text, markdown and JSON (stats.not_decoded).
func TestSummary_tcpMayBeHidden(t *testing.T) {
	path := writeCapture(t, "gtp.pcap", func(f io.Writer) error {
		w := pcapgen.NewRaw(f, 101, 65535)
		for i := range 27 {
			fr := udpFrame(2152, make([]byte, 16)) // version 0: not GTP-U v1
			w.Write(pcapgen.Time(time.Duration(i)*time.Millisecond), fr, len(fr))
		}
		return w.Close()
	})
	const want = "0 of 27 packets were TCP; 27 UDP/2152 (GTP-U) not decoded."
	for _, format := range []string{"text", "markdown"} {
		code, out, stderr := runCLI(t, nil, "-r", path, "--format", format, "--no-color")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, stderr)
		}
		if !strings.Contains(out, want) || strings.Contains(out, "No RST found") {
			t.Errorf("%s: want %q, not \"No RST found\", in:\n%s", format, want, out)
		}
	}
	code, out, stderr := runCLI(t, nil, "-r", path, "--format", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, stderr)
	}
	var d struct {
		Stats struct {
			NotDecoded []struct {
				Reason  string `json:"reason"`
				Packets uint64 `json:"packets"`
			} `json:"not_decoded"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if nd := d.Stats.NotDecoded; len(nd) != 1 || nd[0].Reason != "UDP/2152 (GTP-U)" || nd[0].Packets != 27 {
		t.Errorf("stats.not_decoded: got %+v, want [{UDP/2152 (GTP-U) 27}]", nd)
	}

	// A capture with nothing that may hide TCP keeps the plain line, and
	// its JSON has no not_decoded.
	plain := manyRefused(t, 0)
	if _, out, _ := runCLI(t, nil, "-r", plain, "--no-color"); !strings.Contains(out, "No RST found.") {
		t.Errorf("empty capture: want \"No RST found.\", got:\n%s", out)
	}
	if _, out, _ := runCLI(t, nil, "-r", plain, "--format", "json"); strings.Contains(out, "not_decoded") {
		t.Errorf("empty capture: JSON has not_decoded:\n%s", out)
	}
}
