package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on every wait of the lab.
const (
	cmdTimeout   = 20 * time.Second // one ip/iptables/sysctl command, one client run
	readyTimeout = 10 * time.Second // a server listening, a capture running
	stopTimeout  = 15 * time.Second // a capture writing its report after SIGINT
	flushPause   = 500 * time.Millisecond
)

// tools are the programs the lab runs, built once per test binary.
type tools struct {
	labpeer  string
	rstscope string
	topo     string
	// kernel: the lab's rstscope runs with --kernel-reasons (the kernel
	// can give its account here) and records --kernel-events.
	kernel bool
}

// labEnv is one scenario's topology: four namespaces PREFIX-{c,r1,r2,r3,s}.
type labEnv struct {
	t      *testing.T
	tools  *tools
	prefix string
	dir    string
}

func (l *labEnv) ns(role string) string { return l.prefix + "-" + role }

// newLab creates the topology and registers its removal.
func newLab(t *testing.T, tl *tools, prefix string) *labEnv {
	t.Helper()
	l := &labEnv{t: t, tools: tl, prefix: prefix, dir: t.TempDir()}
	if os.Getenv("RSTSCOPE_LAB_KEEP") == "1" {
		// keep the captures and reports for a look after the run
		dir, err := os.MkdirTemp("", "rstscope-lab-"+strings.ReplaceAll(t.Name(), "/", "-")+"-")
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		l.dir = dir
		t.Logf("lab: captures kept in %s", dir)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		if out, err := exec.CommandContext(ctx, tl.topo, "down", prefix).CombinedOutput(); err != nil {
			t.Errorf("lab: topo.sh down %s: %v: %s", prefix, err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, tl.topo, "up", prefix).CombinedOutput(); err != nil {
		t.Fatalf("lab: topo.sh up %s: %v: %s", prefix, err, out)
	}
	return l
}

// exec runs one bounded command inside namespace role and returns its stdout.
func (l *labEnv) exec(role string, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(role)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("lab: %s: %s: %v: %s", role, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// proc is a background process inside a namespace, ended by its pid.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer // stdout and stderr
	done chan struct{}
	err  error // valid after done
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs args inside namespace role in the background. `ip netns exec`
// execs the program in place, so the pid is the program's own. The process
// is killed (by pid) at cleanup if it is still running.
func (l *labEnv) start(name, role string, args ...string) *proc {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(role)}, args...)...)
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("lab: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			l.t.Errorf("lab: %s (pid %d) did not end after SIGKILL", name, cmd.Process.Pid)
		}
	})
	return p
}

// waitOutput waits until the process prints want.
func (p *proc) waitOutput(want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), want) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before printing %q: %v: %s", p.name, want, p.err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: no %q within %v: %s", p.name, want, timeout, p.out.String())
}

// stop sends sig to the process (by pid) and waits for it to end.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: kill: %w", p.name, err)
	}
	select {
	case <-p.done:
		return p.exitErr()
	case <-time.After(timeout):
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s: did not end within %v of %v: %s", p.name, timeout, sig, p.out.String())
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w: %s", p.name, p.err, p.out.String())
	}
	return nil
}

// capture is one live capture of an interface: the pcap it writes and, when
// rstscope is the capturer, its JSON report.
type capture struct {
	p      *proc
	pcap   string
	json   string
	events string // --kernel-events NDJSON, when the kernel is asked
}

// liveCapture starts the capturer of the lab. It is rstscope itself (libpcap,
// immediate mode). RSTSCOPE_LAB_CAPTURER=tcpdump captures with tcpdump instead
// and checks only the packets (to prove the topology without rstscope).
func liveCapture(l *labEnv, role, iface, name string) *capture {
	if l.tools.rstscope == "" {
		return tcpdumpCapture(l, role, iface, name)
	}
	return rstscopeCapture(l, role, iface, name)
}

func rstscopeCapture(l *labEnv, role, iface, name string) *capture {
	c := &capture{
		pcap: filepath.Join(l.dir, name+".pcap"),
		json: filepath.Join(l.dir, name+".json"),
	}
	args := []string{"-i", iface,
		"-s", "262144", "-w", c.pcap, "--write-all", "--format", "json", "-o", c.json,
		// a bound in case the test dies before its SIGINT
		"--duration", "3m"}
	if l.tools.kernel {
		c.events = filepath.Join(l.dir, name+".kernel.ndjson")
		args = append(args, "--kernel-reasons=on", "--kernel-events", c.events)
	}
	c.p = l.start("rstscope -i "+iface, role, append(append([]string{l.tools.rstscope}, args...), "tcp")...)
	return c
}

func tcpdumpCapture(l *labEnv, role, iface, name string) *capture {
	c := &capture{pcap: filepath.Join(l.dir, name+".pcap")}
	c.p = l.start("tcpdump -i "+iface, role, "tcpdump", "-i", iface, "-n", "-s", "0",
		"--immediate-mode", "-U", "-w", c.pcap, "tcp")
	return c
}

// waitCapturing waits until the capture's packet socket is bound to an
// interface (/proc/PID/net/packet lists the sockets of the pid's namespace,
// in which nothing else opens one), then a little longer for its filter.
func (c *capture) waitCapturing(timeout time.Duration) error {
	path := fmt.Sprintf("/proc/%d/net/packet", c.p.cmd.Process.Pid)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.p.done:
			return fmt.Errorf("%s exited: %v: %s", c.p.name, c.p.err, c.p.out.String())
		default:
		}
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				// sk RefCnt Type Proto Iface R Rmem User Inode
				if len(f) >= 6 && f[4] != "0" && f[5] == "1" {
					time.Sleep(200 * time.Millisecond)
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: no packet socket within %v: %s", c.p.name, timeout, c.p.out.String())
}

// finish lets the capture flush the last packets, stops it with SIGINT and
// waits for its report.
func (c *capture) finish() error {
	time.Sleep(flushPause)
	return c.p.stop(syscall.SIGINT, stopTimeout)
}

// buildTools builds rstscope (RSTSCOPE_BIN overrides it; with
// RSTSCOPE_LAB_CAPTURER=tcpdump there is none) and, with peer, labpeer into dir.
func buildTools(dir string, peer bool) (*tools, error) {
	tl := &tools{rstscope: os.Getenv("RSTSCOPE_BIN")}
	topo, err := filepath.Abs("topo.sh")
	if err != nil {
		return nil, err
	}
	tl.topo = topo
	var builds [][]string
	if peer {
		tl.labpeer = filepath.Join(dir, "labpeer")
		builds = append(builds, []string{"build", "-o", tl.labpeer, "./labpeer"})
	}
	switch {
	case os.Getenv("RSTSCOPE_LAB_CAPTURER") == "tcpdump":
		tl.rstscope = ""
	case tl.rstscope == "":
		tl.rstscope = filepath.Join(dir, "rstscope")
		builds = append(builds, []string{"build", "-o", tl.rstscope, "github.com/rstscope/rstscope"})
	default:
		if tl.rstscope, err = filepath.Abs(tl.rstscope); err != nil {
			return nil, err
		}
	}
	for _, args := range builds {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return tl, nil
}

// sweepStale removes the namespaces of earlier lab runs whose test process is
// gone (a run killed before its cleanup could run). Names are
// rsl-PID-N-ROLE; a live PID's namespaces are left alone.
func sweepStale(tl *tools) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		parts := strings.Split(f[0], "-")
		if len(parts) != 4 || parts[0] != "rsl" {
			continue
		}
		prefix := strings.Join(parts[:3], "-")
		if seen[prefix] {
			continue
		}
		seen[prefix] = true
		if _, err := os.Stat("/proc/" + parts[1]); err == nil {
			continue // that run is still going
		}
		if out, err := exec.CommandContext(ctx, tl.topo, "down", prefix).CombinedOutput(); err != nil {
			return fmt.Errorf("topo.sh down %s: %w: %s", prefix, err, out)
		}
	}
	return nil
}

// labSupported says why the lab cannot run here ("" when it can).
func labSupported() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, tool := range []string{"ip", "iptables", "ip6tables", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns unavailable: %v: %s", err, bytes.TrimSpace(out))
	}
	return ""
}
