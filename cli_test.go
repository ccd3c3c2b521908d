package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// Command-line behaviours a tcpdump user relies on: outputs that survive a
// reader going away or a signal, inputs that are pipes and FIFOs, and
// flags checked up front.

// syncBuffer is a bytes.Buffer safe for a run writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// manyRefused writes a capture of n refused connections, 1 ms apart.
func manyRefused(t *testing.T, n int) string {
	t.Helper()
	return writeCapture(t, "many.pcap", func(f io.Writer) error {
		w := pcapgen.NewRaw(f, 1, 65535)
		var k uint64
		for i := range n {
			// one server host per connection: similar findings from one
			// server, or from many ports of one, would fold into one line
			// of the text report (report.GroupMin)
			cl := netip.AddrPortFrom(hostCli.Addr(), uint16(10000+i))
			srv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), hostSrv.Port())
			refused(w, &k, pcapgen.Time(time.Duration(i)*time.Millisecond), cl, srv, pcapgen.RawTCP{})
		}
		return w.Close()
	})
}

// pcapPackets reads back a -w file: its packet and finding counts.
func pcapPackets(t *testing.T, path string) (packets, findings uint64) {
	t.Helper()
	d := runJSON(t, "-r", path)
	return d.Stats.Packets, uint64(len(d.Findings))
}

// TestReaderGone: the reader of stdout goes away (| head): rstscope dies
// quietly with 141 (what a shell shows for tcpdump killed by SIGPIPE), and the -w file is complete,
// with and without --write-all, for a report written at the end (text)
// and one streamed (ndjson).
func TestReaderGone(t *testing.T) {
	in := manyRefused(t, 200) // a text report far larger than a pipe buffer
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"text", []string{"--format", "text"}},
		{"text write-all", []string{"--format", "text", "--write-all"}},
		{"ndjson", []string{"--format", "ndjson"}},
		{"ndjson write-all", []string{"--format", "ndjson", "--write-all"}},
		// opened write-only, /dev/stdout (the pipe) sees its reader leave
		{"text -o /dev/stdout", []string{"--format", "text", "-o", "/dev/stdout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "x.pcap")
			cmd := childCmd("", append([]string{"-r", in, "-w", pcap}, tc.args...)...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			io.ReadFull(out, make([]byte, 10))
			out.Close() // head -c 10 exits
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if code := cmd.ProcessState.ExitCode(); code != exitReaderGone {
					t.Errorf("got %v, want exit %d (128+SIGPIPE)", err, exitReaderGone)
				}
			case <-time.After(2 * time.Minute): // a hang, not slowness (-race on a loaded machine)
				cmd.Process.Kill()
				<-done
				t.Fatal("rstscope still running 2 minutes after its reader went away")
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing (the reader went away, nothing failed)", stderr.String())
			}
			packets, findings := pcapPackets(t, pcap)
			switch {
			case strings.HasPrefix(tc.name, "text"):
				// The report is written after -w is complete: all of it.
				if packets != 400 || findings != 200 {
					t.Errorf("-w: got %d packets, %d findings; want all 400 packets and 200 refused connections", packets, findings)
				}
			case packets == 0 || packets%2 != 0 || findings != packets/2:
				// Streamed: the run stops when the reader is gone; what
				// was read is in the file, flows whole.
				t.Errorf("-w: got %d packets, %d findings; want some SYN+RST pairs, each a finding", packets, findings)
			}
		})
	}
}

// TestOutputIsWrite: -o and -w naming one file (by the same path, another
// spelling, or a link) is a usage error, and nothing is written.
func TestOutputIsWrite(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x")
	link := filepath.Join(dir, "link")
	for _, tc := range []struct{ o, w string }{
		{x, x},
		{x, filepath.Join(dir, ".", "x")},
		{link, x}, // created below, before the run
	} {
		if tc.o == link {
			os.WriteFile(x, nil, 0o644)
			if err := os.Symlink(x, link); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := runCLI(t, nil, "-r", demoPcap, "-o", tc.o, "-w", tc.w)
		checkErrLine(t, code, stderr, 2, "-o and -w are the same file")
		if stdout != "" {
			t.Errorf("-o %s -w %s: stdout %q, want nothing", tc.o, tc.w, stdout)
		}
		if fi, err := os.Stat(x); err == nil && fi.Size() != 0 {
			t.Errorf("-o %s -w %s: %s has %d bytes, want it untouched", tc.o, tc.w, x, fi.Size())
		}
	}
}

// exportOf runs -r demo -w with the given input and returns the flagged
// packets and findings -w holds.
func exportOf(t *testing.T, stdin io.Reader, input string, extra ...string) (uint64, uint64) {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "w.pcap")
	code, _, stderr := runCLI(t, stdin, append([]string{"-r", input, "-w", pcap, "-o", os.DevNull}, extra...)...)
	if code != 0 {
		t.Fatalf("-r %s -w: exit %d: %s", input, code, stderr)
	}
	return pcapPackets(t, pcap)
}

// TestWrite_nonRegularInput: -w's second pass needs the input again; a
// FIFO, a /dev/fd pipe (bash's <(cmd)) and stdin are spooled during the
// first pass, so -w holds what it holds for the regular file.
func TestWrite_nonRegularInput(t *testing.T) {
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	wantP, wantF := exportOf(t, nil, demoPcap)
	if wantP == 0 || wantF == 0 {
		t.Fatalf("-w of %s: %d packets, %d findings, want some", demoPcap, wantP, wantF)
	}
	check := func(name string, p, f uint64) {
		if p != wantP || f != wantF {
			t.Errorf("%s: -w holds %d packets, %d findings; want %d, %d as from the file", name, p, f, wantP, wantF)
		}
	}
	p, f := exportOf(t, bytes.NewReader(demo), "-")
	check("stdin", p, f)

	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			f.Write(demo)
			f.Close()
		}
	}()
	p, f = exportOf(t, nil, fifo)
	check("fifo", p, f)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write(demo)
		w.Close()
	}()
	p, f = exportOf(t, nil, fmt.Sprintf("/dev/fd/%d", r.Fd()))
	check("/dev/fd", p, f)
}

// TestWrite_dropPrivileges: with -Z nobody, an input only root may read is
// still exported: everything is opened (and spooled) before root is
// dropped. Runs as root in a child process (dropping is for good).
func TestWrite_dropPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("-Z needs root: run `sudo make test`")
	}
	dir := t.TempDir() // 0700, root's
	secret := filepath.Join(dir, "secret.pcap")
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	wantP, wantF := exportOf(t, nil, demoPcap)
	pcap, report := filepath.Join(dir, "w.pcap"), filepath.Join(dir, "r.json")
	cmd := childCmd("", "-r", secret, "-w", pcap, "-o", report, "--format", "json", "-Z", "nobody")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("-Z nobody: %v\n%s", err, stderr.String())
	}
	if p, f := pcapPackets(t, pcap); p != wantP || f != wantF {
		t.Errorf("-Z nobody: -w holds %d packets, %d findings; want %d, %d", p, f, wantP, wantF)
	}
}

// TestStop_blockedOpen: a signal ends a run blocked opening a FIFO (-r or
// --peer with no writer, -w with no reader): one line, exit 1.
func TestStop_blockedOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"-r", []string{"-r", "FIFO"}},
		{"--peer", []string{"-r", demoPcap, "--peer", "FIFO"}},
		{"-w", []string{"-r", demoPcap, "-w", "FIFO", "-o", os.DevNull}},
	} {
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		args := slices.Clone(tc.args)
		args[slices.Index(args, "FIFO")] = fifo
		// The signal comes once the run waits on the FIFO: after its other
		// inputs opened (a longer wait if they had not yet).
		for _, wait := range []time.Duration{50 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second} {
			stop := make(chan struct{})
			var out, errb bytes.Buffer
			done := make(chan int)
			go func() { done <- run(args, strings.NewReader(""), &out, &errb, stop) }()
			time.Sleep(wait)
			close(stop)
			code := <-done
			if strings.Contains(errb.String(), demoPcap+": interrupted") {
				continue // signalled too early
			}
			t.Run(tc.name, func(t *testing.T) {
				checkErrLine(t, code, errb.String(), 1, fifo+": interrupted while waiting for it to open")
			})
			break
		}
		// The blocked opens still wait in their goroutines: let them end.
		if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	}
}

// TestWrite_fifo: -w on a FIFO opens it write-only: rstscope waits for the
// reader, which then gets the whole capture.
func TestWrite_fifo(t *testing.T) {
	wantP, wantF := exportOf(t, nil, demoPcap)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	code, _, stderr := runCLI(t, nil, "-r", demoPcap, "-w", fifo, "-o", os.DevNull)
	if code != 0 {
		t.Fatalf("-w FIFO: exit %d: %s", code, stderr)
	}
	b := <-got
	path := filepath.Join(t.TempDir(), "read.pcap")
	os.WriteFile(path, b, 0o644)
	if p, f := pcapPackets(t, path); p != wantP || f != wantF {
		t.Errorf("-w FIFO: the reader got %d packets, %d findings; want %d, %d", p, f, wantP, wantF)
	}
}

// TestPipe_liveFeed: on a pipe carrying a live feed (tcpdump -w - -U |
// rstscope -r -), a finding is decided once its look-ahead has passed on
// the wall clock, while the writer is quiet, as in live mode; a signal
// then ends the quiet read and the summary follows (exit 0).
func TestPipe_liveFeed(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pw := pcapgen.NewRaw(w, 1, 65535)
	var n uint64
	refused(pw, &n, time.Now(), hostCli, hostSrv, pcapgen.RawTCP{})
	if err := pw.Close(); err != nil { // flushes; w stays open and quiet
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		done <- run([]string{"-r", "-", "--format", "ndjson", "--look-ahead", "200ms"}, r, &stdout, &stderr, stop)
	}()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stdout.String(), `"cause":"refused"`) {
		select {
		case code := <-done:
			t.Fatalf("rstscope ended (exit %d) before the pipe did: %s", code, stderr.String())
		case <-deadline:
			close(stop)
			t.Fatalf("no finding 10 s after a refused connection on a quiet live pipe (look-ahead 200ms): stdout %q", stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(stop)
	if code := <-done; code != 0 {
		t.Fatalf("after the signal on a quiet pipe: exit %d, want 0: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"findings":1`) {
		t.Errorf("stdout: got %q, want the finding then the summary line with 1 finding", lines)
	}
}

// TestPipe_recordedKeepsPacketTime: a recorded capture piped in slowly
// keeps packet time: its findings are decided as from the file, whatever
// the pace of the pipe.
func TestPipe_recordedKeepsPacketTime(t *testing.T) {
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	want := runJSON(t, "-r", demoPcap)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		for i := 0; i < len(demo); i += 512 {
			w.Write(demo[i:min(i+512, len(demo))])
			time.Sleep(time.Millisecond)
		}
		w.Close()
	}()
	code, out, stderr := runCLI(t, r, "-r", "-", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got doc
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) != len(want.Findings) {
		t.Fatalf("slow pipe: %d findings, want %d", len(got.Findings), len(want.Findings))
	}
	for i, f := range got.Findings {
		if w := want.Findings[i]; f.Cause != w.Cause || f.Origin != w.Origin || f.RST.Packet != w.RST.Packet {
			t.Errorf("finding %d: got %s/%s frame %d, want %s/%s frame %d", i+1, f.Cause, f.Origin, f.RST.Packet, w.Cause, w.Origin, w.RST.Packet)
		}
	}
}

// TestHelp: --help goes to stdout (rstscope --help | grep works), exit 0.
func TestHelp(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "--help")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "--format FORMAT") {
		t.Errorf("--help: exit %d, stderr %q, stdout %.80q...; want 0, nothing on stderr, the usage on stdout", code, stderr, stdout)
	}
}

// TestUsageErrors: values that would run forever or make no sense are
// usage errors (exit 2, one line), and an unknown --cause names the
// nearest valid one and lists them all.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", demoPcap, "-c", "0"}, "-c must be at least 1"},
		{[]string{"-r", demoPcap, "-c", "-1"}, `invalid argument "-1" for "-c, --count"`},
		{[]string{"-r", demoPcap, "--hot-flows", "0"}, "--hot-flows must be at least 1"},
		{[]string{"-i", "lo", "--duration", "0s"}, "--duration must be positive"},
		{[]string{"-i", "lo", "--duration", "-1s"}, "--duration must be positive"},
		{[]string{"-r", demoPcap, "--cause", "refsued"}, `--cause: unknown cause "refsued" (did you mean refused?); valid: refused, `},
		{[]string{"-r", demoPcap, "--cause", "idle-timeout,refused"}, "(did you mean idle_timeout?)"},
		{[]string{"-r", demoPcap, "--cause", "zzz"}, `unknown cause "zzz"; valid: refused, server_reset_after_request`},
		{[]string{"-r", demoPcap, "-w", "-", "-o", "-"}, "-w - and -o - both write to stdout"},
		// ECS has findings only: -q would silently write nothing.
		{[]string{"-r", demoPcap, "-q", "--format", "ecs"}, "-q and --format ecs: ECS writes one document per finding and no summary"},
	} {
		code, stdout, stderr := runCLI(t, nil, tc.args...)
		checkErrLine(t, code, stderr, 2, tc.want)
		if stdout != "" {
			t.Errorf("rstscope %s: stdout %.80q, want nothing", strings.Join(tc.args, " "), stdout)
		}
	}
}

// TestHostPrefix: --host takes a CIDR prefix: the demo's flows are all
// between 10.77.1.2 and 10.77.3.2.
func TestHostPrefix(t *testing.T) {
	all := runJSON(t, "-r", demoPcap)
	for _, tc := range []struct {
		prefix string
		want   int
	}{
		{"10.77.3.0/24", len(all.Findings)},
		{"10.77.0.0/16", len(all.Findings)},
		{"10.77.3.2/32", len(all.Findings)},
		{"10.77.2.0/24", 0},
		{"::ffff:10.77.1.0/120", len(all.Findings)},
		{"2001:db8::/32", 0},
	} {
		d := runJSON(t, "-r", demoPcap, "--host", tc.prefix)
		if len(d.Findings) != tc.want {
			t.Errorf("--host %s: %d findings, want %d", tc.prefix, len(d.Findings), tc.want)
		}
	}
}

// TestWriteStdout: -w - writes the pcap to stdout (the report goes to
// stderr): it holds what -w FILE holds.
func TestWriteStdout(t *testing.T) {
	wantP, wantF := exportOf(t, nil, demoPcap)
	for _, extra := range [][]string{nil, {"--write-all"}} {
		code, stdout, stderr := runCLI(t, nil, append([]string{"-r", demoPcap, "-w", "-"}, extra...)...)
		if code != 0 {
			t.Fatalf("-w -: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "middlebox_injected") {
			t.Errorf("-w -: the report should be on stderr, got %.200q", stderr)
		}
		path := filepath.Join(t.TempDir(), "stdout.pcap")
		os.WriteFile(path, []byte(stdout), 0o644)
		p, f := pcapPackets(t, path)
		if extra == nil && (p != wantP || f != wantF) {
			t.Errorf("-w -: stdout holds %d packets, %d findings; want %d, %d as -w FILE", p, f, wantP, wantF)
		}
		if all := runJSON(t, "-r", demoPcap); extra != nil && (p != all.Stats.Packets || f != uint64(len(all.Findings))) {
			t.Errorf("-w - --write-all: stdout holds %d packets, %d findings; want %d, %d", p, f, all.Stats.Packets, len(all.Findings))
		}
	}
}

// TestAllFiltered: when RSTs were found but every finding was filtered
// out, text and markdown say so and by which flags, not "No RST found".
func TestAllFiltered(t *testing.T) {
	all := runJSON(t, "-r", demoPcap)
	want := fmt.Sprintf("%d RSTs · all %d findings filtered out by --cause refused --origin client.", all.Stats.RSTPackets, len(all.Findings))
	for _, format := range []string{"text", "markdown"} {
		code, out, stderr := runCLI(t, nil, "-r", demoPcap, "--cause", "refused", "--origin", "client", "--format", format, "--no-color")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(out, want) || strings.Contains(out, "No RST found") {
			t.Errorf("%s: got\n%s\nwant %q and no \"No RST found\"", format, out, want)
		}
	}
	code, out, _ := runCLI(t, nil, "-r", demoPcap, "--cause", "refused", "-c", "4", "--no-color")
	if code != 0 || !strings.Contains(out, "No RST found.") {
		t.Errorf("no RST in the first 4 packets: got exit %d\n%s\nwant \"No RST found.\"", code, out)
	}
}

// TestTimeZone: --tz shows text and markdown times in a zone, with its
// offset and name, the advice's time too (issue 18.6: the Finding keeps
// the instant, the report renders it); JSON, its advice included, stays
// UTC whatever --tz says.
func TestTimeZone(t *testing.T) {
	_, plain, _ := runCLI(t, nil, "-r", demoPcap, "--format", "json")
	for _, format := range []string{"text", "markdown"} {
		code, out, stderr := runCLI(t, nil, "-r", demoPcap, "--format", format, "--no-color", "--tz", "Europe/Paris")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		// The demo's first packet is at 03:08:11.712992 UTC on 22 Nov 2026.
		for _, want := range []string{"2026-11-22T04:08:11.712992+01:00 CET", "logs at 04:08:34.826 CET for the"} {
			if !strings.Contains(out, want) {
				t.Errorf("--tz Europe/Paris --format %s: no %q in\n%.1500s", format, want, out)
			}
		}
		if strings.Contains(out, "03:08:11.712992Z") || strings.Contains(out, " UTC") {
			t.Errorf("--tz Europe/Paris --format %s: a UTC time is left", format)
		}
	}
	code, out, _ := runCLI(t, nil, "-r", demoPcap, "--format", "json", "--tz", "Europe/Paris")
	if code != 0 || out != plain || !strings.Contains(out, "logs at 03:08:34.826 UTC for the") {
		t.Errorf("--tz changed the JSON document, or its advice is not in UTC (exit %d)", code)
	}
	code, out, _ = runCLI(t, nil, "-r", demoPcap, "--no-color")
	if code != 0 || !strings.Contains(out, "2026-11-22T03:08:11.712992Z") || !strings.Contains(out, "logs at 03:08:34.826 UTC for the") {
		t.Errorf("default: want UTC times (…Z), got exit %d\n%.600s", code, out)
	}
	code, _, stderr := runCLI(t, nil, "-r", demoPcap, "--tz", "Mars/Olympus")
	checkErrLine(t, code, stderr, 2, `--tz: unknown zone "Mars/Olympus"`)
}

// TestStop_quietStdinSignal: SIGTERM ends a run whose stdin is open but
// quiet (the writer sent the file header, then nothing): the report is
// written, exit 0, as for a live capture.
func TestStop_quietStdinSignal(t *testing.T) {
	// The signal must come once the child reads: retry with a longer wait
	// when it came before (killed before its handler, or during the open).
	for _, wait := range []time.Duration{300 * time.Millisecond, 2 * time.Second, 10 * time.Second} {
		out, errs, err := quietStdinRun(t, wait)
		if err != nil && (strings.Contains(errs, "interrupted while waiting") || !strings.Contains(errs, "rstscope")) {
			continue
		}
		if err != nil {
			t.Fatalf("after SIGTERM on a quiet stdin: %v\n%s", err, errs)
		}
		var d doc
		if err := json.Unmarshal([]byte(out), &d); err != nil || d.Tool != "rstscope" || d.Stats.Packets != 0 {
			t.Errorf("report after SIGTERM: %v\n%s", err, out)
		}
		return
	}
	t.Fatal("the child never got to wait on its stdin")
}

// quietStdinRun starts rstscope -r - in a child, writes a pcap file header
// on its stdin and nothing else, sends SIGTERM after wait, and returns its
// stdout, stderr and exit.
func quietStdinRun(t *testing.T, wait time.Duration) (string, string, error) {
	cmd := childCmd("", "-r", "-", "--format", "json")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := pcapgen.NewRaw(in, 1, 65535).Close(); err != nil { // the header only
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(wait)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("SIGTERM did not end a run waiting on a quiet stdin")
	}
	return stdout.String(), stderr.String(), err
}
