package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// Errors a run can meet: each ends with the right exit code and exactly
// one line on stderr, "rstscope: " and the cause, never a Go stack trace;
// no output file is left half-written.

const demoPcap = "pcaps/demo.pcap"

// checkErrLine: stderr is one line starting "rstscope: " that contains
// want, and the exit code is code.
func checkErrLine(t *testing.T, gotCode int, stderr string, code int, want string) {
	t.Helper()
	if gotCode != code {
		t.Errorf("exit: got %d, want %d (stderr %q)", gotCode, code, stderr)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Fatalf("stderr has a stack trace: %s", stderr)
	}
	line := strings.TrimSuffix(stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "rstscope: ") {
		t.Errorf("stderr: got %q, want one line starting \"rstscope: \"", stderr)
	}
	if !strings.Contains(line, want) {
		t.Errorf("stderr: got %q, want it to contain %q", line, want)
	}
}

// userPcap writes a classic pcap of link type lt (one frame).
func userPcap(t *testing.T, dir string, lt uint32) string {
	t.Helper()
	path := filepath.Join(dir, "linktype.pcap")
	var b bytes.Buffer
	w := pcapgen.NewRaw(&b, lt, 65535)
	w.Write(pcapgen.Time(0), []byte{1, 2, 3, 4}, 4)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// libpcapMessage returns what tcpdump (libpcap) says about a bad filter
// expression, or fallback when tcpdump is not installed.
func libpcapMessage(t *testing.T, expr, fallback string) string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", demoPcap, expr).CombinedOutput()
	if err == nil {
		t.Fatalf("tcpdump accepts %q", expr)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fallback // not installed
	}
	msg := strings.TrimSpace(string(out))
	msg = strings.TrimPrefix(msg[strings.LastIndex(msg, "\n")+1:], "tcpdump: ")
	if msg == "" {
		t.Fatalf("tcpdump %q: no message", expr)
	}
	return msg
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.pcap")
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, demo, 0o644); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hardlink.pcap")
	if err := os.Link(input, hard); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "symlink.pcap")
	if err := os.Symlink(input, sym); err != nil {
		t.Fatal(err)
	}
	// /dev/full behind a symlink: if rstscope removed what it failed to
	// write, only the link would go.
	full := filepath.Join(dir, "full")
	if err := os.Symlink("/dev/full", full); err != nil {
		t.Fatal(err)
	}
	user0 := userPcap(t, t.TempDir(), 147)
	odd := userPcap(t, t.TempDir(), 9999)
	ng := filepath.Join(dir, "user.pcapng")
	var b bytes.Buffer
	w := pcapgen.NewNG(&b)
	w.Packet(w.Interface(150, 65535), pcapgen.Time(0), []byte{1, 2, 3}, 3)
	w.Close()
	os.WriteFile(ng, b.Bytes(), 0o644)

	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unreadable file", []string{"-r", "/proc/self/mem"}, 1, "capture: /proc/self/mem: read /proc/self/mem: input/output error"},
		// -r of a directory reads its captures (in time order): this one
		// has none; the next, one that fails.
		{"directory without captures", []string{"-r", empty}, 1, "capture: " + empty + ": no capture files in the directory"},
		{"directory with a bad capture", []string{"-r", dir}, 1, "capture: " + ng + ": unsupported link type 150 (USER3)"},
		{"unsupported link type", []string{"-r", user0}, 1, "unsupported link type 147 (USER0)"},
		{"unknown link type", []string{"-r", odd}, 1, "unsupported link type 9999"},
		{"unsupported link type pcapng", []string{"-r", ng}, 1, "unsupported link type 150 (USER3)"},
		{"invalid BPF", []string{"-r", input, "tcp", "port"}, 1,
			`capture: bad filter "tcp port": ` + libpcapMessage(t, "tcp port", "can't parse filter expression: syntax error")},
		{"invalid BPF unknown host", []string{"-r", input, "host", "no.such.host.invalid"}, 1,
			`capture: bad filter "host no.such.host.invalid": `},
		{"-o in a missing directory", []string{"-r", input, "-o", filepath.Join(dir, "nope", "out.txt")}, 1,
			"output: open " + filepath.Join(dir, "nope", "out.txt") + ": no such file or directory"},
		{"-o a directory", []string{"-r", input, "-o", dir}, 1, "output: open " + dir + ": is a directory"},
		{"-o disk full", []string{"-r", input, "-o", full}, 1, "no space left on device"},
		{"-w in a missing directory", []string{"-r", input, "-w", filepath.Join(dir, "nope", "out.pcap")}, 1,
			"-w: open " + filepath.Join(dir, "nope", "out.pcap") + ": no such file or directory"},
		{"-w a directory", []string{"-r", input, "-w", dir}, 1, "-w: open " + dir + ": is a directory"},
		{"-w disk full", []string{"-r", input, "-w", full}, 1, "no space left on device"},
		{"-w disk full write-all", []string{"-r", input, "-w", full, "--write-all"}, 1, "no space left on device"},
		{"-w is the input", []string{"-r", input, "-w", input}, 1, "-w " + input + " is also an input: refusing to overwrite it"},
		{"-w is a hard link to the input", []string{"-r", input, "-w", hard}, 1, "is also an input: refusing to overwrite it"},
		{"-w is a symlink to the input", []string{"-r", input, "-w", sym}, 1, "is also an input: refusing to overwrite it"},
		{"-w --write-all is the input", []string{"-r", input, "-w", input, "--write-all"}, 1, "is also an input"},
		{"-o is the input", []string{"-r", input, "-o", input}, 1, "-o " + input + " is also an input: refusing to overwrite it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tt.args...)
			checkErrLine(t, code, stderr, tt.code, tt.want)
			if tt.code != 0 && strings.Contains(stdout, "findings") && strings.Contains(tt.want, "refusing") {
				t.Errorf("stdout: got a report %.200q, want none for a refused run", stdout)
			}
		})
	}
	after, err := os.ReadFile(input)
	if err != nil || !bytes.Equal(after, demo) {
		t.Errorf("the input changed (%d bytes, was %d; %v)", len(after), len(demo), err)
	}
	if fi, err := os.Stat("/dev/full"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("/dev/full: %v, %v: want the device left alone", fi, err)
	}
	if _, err := os.Lstat(full); err != nil {
		t.Errorf("-w to a device behind a symlink removed the link: %v", err)
	}
}

// TestErrors_diskFullNoHalfFile writes -w and -o to a 16 KiB tmpfs
// mounted in a private mount namespace (needs root and unshare): each run
// reports "no space left on device", exits 1 and leaves no file behind.
func TestErrors_diskFullNoHalfFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1)")
	}
	input, err := filepath.Abs(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"write-all", []string{"-w", "MNT/out.pcap", "--write-all"}},
		{"flagged flows", []string{"-w", "MNT/out.pcap"}},
		{"flagged flows from stdin", []string{"-w", "MNT/out.pcap", "-r", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := t.TempDir()
			args := []string{"-r", input}
			if tc.args[len(tc.args)-1] == "-" {
				args = nil
			}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "MNT", mnt))
			}
			child := childCmd("", args...)
			script := `mount -t tmpfs -o size=16k tmpfs "$0" && "$@"; rc=$?; ls -A "$0"; exit $rc`
			cmd := exec.Command(unshare, append([]string{"-m", "--propagation", "private", "sh", "-c", script, mnt}, child.Args...)...)
			cmd.Env = child.Env
			if tc.args[len(tc.args)-1] == "-" {
				f, err := os.Open(input)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.Stdin = f
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(stderr.String(), "mount:") || strings.Contains(stderr.String(), "unshare:") {
				t.Skipf("cannot mount a tmpfs here: %s", stderr.String())
			}
			checkErrLine(t, code, stderr.String(), 1, "no space left on device")
			if ls := stdout.String(); strings.Contains(ls, "out.pcap") {
				t.Errorf("the tmpfs holds %q after the failed run, want nothing (no half-file)", ls)
			}
		})
	}
}

// TestErrors_permissionDenied: an input and an output the user may not
// touch. As root, which may read anything, rstscope runs as nobody in a
// child process.
func TestErrors_permissionDenied(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.pcap")
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(dir, "open.pcap")
	if err := os.WriteFile(readable, demo, 0o644); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"input", []string{"-r", secret}, "capture: " + secret + ": permission denied"},
		{"-o", []string{"-r", readable, "-o", filepath.Join(locked, "r.txt")}, "output: open " + filepath.Join(locked, "r.txt") + ": permission denied"},
		{"-w", []string{"-r", readable, "-w", filepath.Join(locked, "w.pcap")}, "-w: open " + filepath.Join(locked, "w.pcap") + ": permission denied"},
	}
	if os.Geteuid() != 0 {
		for _, c := range cases {
			code, _, stderr := runCLI(t, nil, c.args...)
			checkErrLine(t, code, stderr, 1, c.want)
		}
		return
	}
	// nobody must be able to run a copy of this binary and reach dir.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	copyExe := filepath.Join(bin, "rstscope.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyExe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, bin} {
		for ; d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o711); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := childCmd(copyExe, c.args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			cmd.Dir = bin
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("as nobody: got %v, want exit 1", err)
			}
			checkErrLine(t, ee.ExitCode(), stderr.String(), 1, c.want)
		})
	}
}

// TestErrors_stdinClosedEarly: the process writing the capture into
// rstscope's stdin dies in the middle of a record. rstscope reports what it
// read, warns once that the input was cut, marks truncated_input, and
// exits 0.
func TestErrors_stdinClosedEarly(t *testing.T) {
	demo, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	whole := runJSON(t, "-r", demoPcap)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cut := len(demo)*2/3 + 5 // inside a record
	go func() {
		w.Write(demo[:cut/2])
		time.Sleep(20 * time.Millisecond) // the reader waits on the pipe
		w.Write(demo[cut/2 : cut])
		w.Close() // the writer dies
	}()
	code, out, stderr := runCLI(t, r, "-r", "-", "--format", "json")
	r.Close()
	if code != 0 {
		t.Fatalf("exit: got %d, want 0 (stderr %q)", code, stderr)
	}
	line := strings.TrimSuffix(stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "rstscope: warning: ") || !strings.Contains(line, "cut") {
		t.Errorf("stderr: got %q, want one warning line about the cut", stderr)
	}
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("bad JSON: %v", err)
	}
	if !d.Stats.TruncatedInput {
		t.Error("truncated_input: got false, want true")
	}
	if len(d.Findings) == 0 || len(d.Findings) >= len(whole.Findings) || d.Stats.Packets >= whole.Stats.Packets {
		t.Errorf("findings/packets: got %d/%d, want fewer than the whole file's %d/%d but some",
			len(d.Findings), d.Stats.Packets, len(whole.Findings), whole.Stats.Packets)
	}
}

// TestErrors_stdoutClosedEarly: the reader of rstscope's output goes away
// (rstscope -r x | head -1). rstscope ends quietly with 141, as a shell
// shows tcpdump killed by SIGPIPE, never hanging and never printing a
// stack trace.
func TestErrors_stdoutClosedEarly(t *testing.T) {
	// Refused connections to as many server hosts: a text report far
	// larger than a pipe buffer. (500 ports of one server folded into one
	// group line and one card, a report a pipe holds whole: then rstscope
	// could write it all before its reader left and exit 0, 1-3 times in
	// 20 runs.)
	path := manyRefused(t, 200)
	cmd := childCmd("", "-r", path, "--format", "text")
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
	out.Close() // the reader goes away
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("rstscope still running 30 s after its stdout closed")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitReaderGone {
		t.Errorf("got %v, want exit %d", err, exitReaderGone)
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr: got %q, want nothing", s)
	}
}
