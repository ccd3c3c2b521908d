package main

import (
	"io"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// TestSpoofedRSTThenSYN (issue 14 item 9): after a request, an attacker
// forges an out-of-window RST and then a SYN with a new ISN as the client;
// the server then really resets. The forged RST is ignored_rst; the
// server's real RST is judged in its live connection (exact), not as an
// answer to the forged SYN (which read ignored_rst before).
func TestSpoofedRSTThenSYN(t *testing.T) {
	req := []byte("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n")
	end := 1001 + uint32(len(req))
	frames := []pcapgen.RawTCP{
		{Src: hostCli, Dst: hostSrv, Flags: pcapgen.SYN, Seq: 1000},
		{Src: hostSrv, Dst: hostCli, Flags: pcapgen.SYN | pcapgen.ACK, Seq: 5000, Ack: 1001},
		{Src: hostCli, Dst: hostSrv, Flags: pcapgen.ACK, Seq: 1001, Ack: 5001},
		{Src: hostCli, Dst: hostSrv, Flags: pcapgen.PSH | pcapgen.ACK, Seq: 1001, Ack: 5001, Payload: req},
		{Src: hostSrv, Dst: hostCli, Flags: pcapgen.ACK, Seq: 5001, Ack: end},
		{Src: hostCli, Dst: hostSrv, Flags: pcapgen.RST, Seq: end + 900000, TTL: 50}, // forged, out of window
		{Src: hostCli, Dst: hostSrv, Flags: pcapgen.SYN, Seq: 777777, TTL: 50},       // forged, a new ISN
		{Src: hostSrv, Dst: hostCli, Flags: pcapgen.RST, Seq: 5001},                  // the server's real reset
	}
	path := writeCapture(t, "spoof.pcap", func(f io.Writer) error {
		w := pcapgen.NewRaw(f, 1, 65535)
		at := pcapgen.Time(0)
		for _, p := range frames {
			at = at.Add(time.Millisecond)
			b := ethTCP(p)
			w.Write(at, b, len(b))
		}
		return w.Close()
	})
	d := runJSON(t, "-r", path)
	forged, real := findingWithFrame(d.Findings, 6), findingWithFrame(d.Findings, 8)
	if forged == nil || real == nil {
		t.Fatalf("got %d findings, want the forged RST's (frame 6) and the server's (frame 8)", len(d.Findings))
	}
	if forged.Cause != "ignored_rst" || forged.RST.SeqCheck != "out_of_window" {
		t.Errorf("frame 6: got %s (%s), want ignored_rst (out_of_window)", forged.Cause, forged.RST.SeqCheck)
	}
	if real.Cause == "ignored_rst" || real.RST.SeqCheck != "exact" || real.Flow.RolesFrom != "handshake" {
		t.Errorf("frame 8: got %s (%s), want a reset judged exact in its live connection: %s", real.Cause, real.RST.SeqCheck, real.Summary)
	}
}
