//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStop_readerNotReading (issue 14.8): the report's reader is alive but
// reads nothing (`rstscope ... | (sleep 1000)`); one SIGINT ends the run:
// the blocked write is given up after cli.StopGrace, with one clear line
// and exit 1, and -w is complete and closed first.
func TestStop_readerNotReading(t *testing.T) {
	in := manyRefused(t, 200) // a report far larger than a pipe buffer
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"text", []string{"--format", "text"}},     // blocked at the end, in the report's Close
		{"ndjson", []string{"--format", "ndjson"}}, // blocked while reading, streaming findings
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "x.pcap")
			// Half the pipe full: the report has begun, and what is left
			// of it cannot fit.
			stderr := interruptStalled(t, append([]string{"-r", in, "-w", pcap}, tc.args...), "reader",
				func(queued, _ int) bool { return queued >= 32<<10 })
			const want = "rstscope: report: write: the reader of the report has read nothing for 2s since the signal: gave up (the report is incomplete)\n"
			if !strings.HasSuffix(stderr, want) {
				t.Errorf("stderr: got %q, want it to end with %q", stderr, want)
			}
			packets, findings := pcapPackets(t, pcap)
			switch {
			case tc.name == "text":
				// The report is written after -w is complete: all of it.
				if packets != 400 || findings != 200 {
					t.Errorf("-w: got %d packets, %d findings; want all 400 packets and 200 refused connections", packets, findings)
				}
			case packets == 0 || packets%2 != 0 || findings != packets/2:
				// Stopped while streaming: the flows read so far, whole.
				t.Errorf("-w: got %d packets, %d findings; want some SYN+RST pairs, each a finding", packets, findings)
			default:
				t.Logf("-w: %d packets, %d findings when the signal stopped the run", packets, findings)
			}
		})
	}
}

// TestStop_pcapReaderNotReading: -w - with a reader that is alive but
// reads nothing (`rstscope -w - | (sleep 1000)`); one SIGINT ends the run:
// the blocked pcap write is given up after cli.StopGrace, the report (on
// stderr) is still written, and the run ends with one clear line, exit 1.
func TestStop_pcapReaderNotReading(t *testing.T) {
	in := manyRefused(t, 4000) // 8,000 packets: a pcap far larger than a pipe buffer
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"flows", nil},                         // blocked at the end, writing the flows with findings
		{"write-all", []string{"--write-all"}}, // blocked while reading, streaming every packet
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The pipe full, and still full a moment later: the pcap
			// writer is blocked (half full is not enough: with
			// --write-all the signal could stop the read before the
			// writer blocks, and the pcap so far then fits).
			full := 0
			out := interruptStalled(t, append([]string{"-r", in, "-w", "-", "--format", "ndjson"}, tc.args...), "pcap reader",
				func(queued, size int) bool {
					if queued < size {
						full = 0
						return false
					}
					full++
					return full >= 10
				})
			const want = "the reader of the pcap has read nothing for 2s since the signal: gave up (the pcap is incomplete)\n"
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if last := lines[len(lines)-1] + "\n"; !strings.HasPrefix(last, "rstscope: ") || !strings.HasSuffix(last, want) {
				t.Errorf("stderr's last line: got %q, want rstscope: ... %q", last, want)
			}
			// The report, on stderr, ends with its summary line.
			n, summary := strings.Count(out, `"cause":"refused"`), strings.Contains(out, "\n"+`{"tool":"rstscope"`)
			if n == 0 || !summary {
				t.Errorf("report on stderr: %d refused findings, summary line %v; want findings and the summary", n, summary)
			}
			t.Logf("%d findings reported; %s", n, lines[len(lines)-1])
		})
	}
}

// interruptStalled runs rstscope with args, its stdout a pipe that stays
// open but is never read, until ready(bytes queued in the pipe, the pipe's
// size) holds (asked every 10 ms), then sends one SIGINT: the run must end
// (within 2 minutes: a hang, not slowness) with exit 1. It gives stderr.
// reader names the stalled reader in failures.
func interruptStalled(t *testing.T, args []string, reader string, ready func(queued, size int) bool) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // alive until the end, never read
	cmd := childCmd("", args...)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	size, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	for {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if ready(n, size) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("rstscope ended (%v) before filling the pipe: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang, not slowness
		cmd.Process.Kill()
		<-done
		t.Fatalf("rstscope still running 2 minutes after one SIGINT, its %s not reading; stderr: %.500s", reader, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit: got %d, want 1 (the output is incomplete)", code)
	}
	return stderr.String()
}
