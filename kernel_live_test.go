//go:build linux && cgo

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rstscope/rstscope/internal/netnstest"
	"github.com/rstscope/rstscope/kernel"
)

// kernelDoc is the JSON document's kernel parts.
type kernelDoc struct {
	Stats struct {
		Kernel *struct {
			RSTs   uint64 `json:"rsts"`
			Joined uint64 `json:"joined"`
			Events uint64 `json:"events"`
			Lost   uint64 `json:"events_lost"`
		} `json:"kernel"`
	} `json:"stats"`
	Findings []kernelFinding `json:"findings"`
}

type kernelFinding struct {
	Cause      string `json:"cause"`
	Origin     string `json:"origin"`
	Confidence string `json:"confidence"`
	Advice     string `json:"advice"`
	Flow       struct {
		Client netip.AddrPort `json:"client"`
		Server netip.AddrPort `json:"server"`
	} `json:"flow"`
	RST struct {
		Packet uint64 `json:"packet"`
		From   string `json:"from"`
	} `json:"rst"`
	Evidence []struct {
		Signal string `json:"signal"`
		Detail string `json:"detail"`
	} `json:"evidence"`
	Kernel *struct {
		Event   string `json:"event"`
		Reason  string `json:"reason"`
		State   string `json:"state"`
		NetNS   uint32 `json:"netns"`
		DeltaUS int64  `json:"delta_us"`
	} `json:"kernel"`
}

func (f *kernelFinding) signal(s string) (string, bool) {
	for _, e := range f.Evidence {
		if e.Signal == s {
			return e.Detail, true
		}
	}
	return "", false
}

// kernelCase provokes one RST between a (the host rstscope watches, the
// server) and b (the peer, the client), on its own port.
type kernelCase struct {
	name string
	run  func(t *testing.T, l *kernelLab, srv netip.AddrPort)
	// event and reasons: the kernel object the finding must carry ("" none).
	event   string
	reasons []string
	// signal the finding must carry; cause and origin it must have ("" any).
	signal, cause, origin string
}

var kernelCases = []kernelCase{
	{name: "no_socket", event: "tcp_send_reset", reasons: []string{"NO_SOCKET"},
		signal: string(kernel.SignalReason), cause: "refused", origin: "server",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			if _, err := l.dial(t, srv); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial a closed port: got %v, want connection refused", err)
			}
		}},
	{name: "abort_on_close", event: "tcp_send_reset", reasons: []string{"TCP_ABORT_ON_CLOSE"},
		signal: string(kernel.SignalReason), origin: "server",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			c, s := l.pair(t, srv)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: lab\r\n\r\n"))
			waitReadable(t, s)
			s.Close() // the request unread: RST
			io.Copy(io.Discard, c)
		}},
	{name: "linger_zero", event: "tcp_send_reset", reasons: []string{"TCP_STATE"},
		signal: string(kernel.SignalReason), cause: "abortive_close", origin: "server",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			c, s := l.pair(t, srv)
			s.SetLinger(0)
			s.Close()
			io.Copy(io.Discard, c)
		}},
	{name: "timewait_socket", event: "tcp_send_reset", reasons: []string{"TCP_TIMEWAIT_SOCKET"},
		signal: string(kernel.SignalReason), cause: "stale_keepalive", origin: "server",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			c, s := l.pair(t, srv)
			s.Close() // the server's FIN: its socket ends in FIN_WAIT2, a timewait socket
			if n, _ := c.Read(make([]byte, 1)); n != 0 {
				t.Fatal("data before the server's FIN")
			}
			time.Sleep(200 * time.Millisecond) // a pooled connection idles, then is reused
			c.Write([]byte("GET / HTTP/1.1\r\nHost: lab\r\n\r\n"))
			io.Copy(io.Discard, c)
		}},
	{name: "keepalive_timeout", event: "tcp_send_reset", reasons: []string{"TCP_KEEPALIVE_TIMEOUT"},
		signal: string(kernel.SignalReason), cause: "idle_timeout", origin: "server",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			c, s := l.pair(t, srv)
			defer c.Close()
			// The client vanishes: its namespace drops the server's probes
			// and sends nothing more, not even the FIN of the deferred
			// Close (which would reach the server after its socket is
			// gone and draw the listener's RST, a second finding whose
			// timing depends on the machine's load).
			ipt := "iptables"
			if srv.Addr().Is6() {
				ipt = "ip6tables"
			}
			runCmd(t, "ip", "netns", "exec", l.b, ipt, "-A", "INPUT", "-p", "tcp", "--sport", fmt.Sprint(srv.Port()), "-j", "DROP")
			runCmd(t, "ip", "netns", "exec", l.b, ipt, "-A", "OUTPUT", "-p", "tcp", "--dport", fmt.Sprint(srv.Port()), "-j", "DROP")
			s.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 1})
			// The kernel resets the server's socket after the probes.
			deadline := time.Now().Add(10 * time.Second)
			for {
				s.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := s.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("no keepalive timeout within 10 s")
				}
			}
		}},
	{name: "iptables_reject", signal: string(kernel.SignalAbsent), cause: "refused", origin: "middlebox",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			ipt := "iptables"
			if srv.Addr().Is6() {
				ipt = "ip6tables"
			}
			runCmd(t, "ip", "netns", "exec", l.a, ipt, "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprint(srv.Port()),
				"-j", "REJECT", "--reject-with", "tcp-reset")
			l.listen(t, srv) // the port is open: only the firewall resets
			if _, err := l.dial(t, srv); err == nil {
				t.Fatal("dial through REJECT succeeded")
			}
		}},
	{name: "forged_out_of_window", event: "kfree_skb", reasons: kernel.DropReasons,
		signal: string(kernel.SignalDropped), cause: "ignored_rst",
		run: func(t *testing.T, l *kernelLab, srv netip.AddrPort) {
			c, _ := l.pair(t, srv)
			defer c.Close()
			from := netip.MustParseAddrPort(c.LocalAddr().String())
			// Out of the server's window (64 KiB of 4 GiB): dropped.
			netnstest.In(t, l.b, func() { netnstest.ForgeRST(t, from, srv, 0x5eed) })
			time.Sleep(50 * time.Millisecond)
		}},
}

// kernelLab: rstscope watches namespace a (the host whose kernel explains
// its RSTs: the servers); b holds the clients.
type kernelLab struct {
	a, b string
	lns  []net.Listener
}

func (l *kernelLab) listen(t *testing.T, addr netip.AddrPort) net.Listener {
	var ln net.Listener
	var err error
	netnstest.In(t, l.a, func() { ln, err = net.Listen("tcp", addr.String()) })
	if err != nil {
		t.Fatal(err)
	}
	l.lns = append(l.lns, ln)
	return ln
}

func (l *kernelLab) dial(t *testing.T, addr netip.AddrPort) (*net.TCPConn, error) {
	var c net.Conn
	var err error
	netnstest.In(t, l.b, func() { c, err = net.DialTimeout("tcp", addr.String(), 2*time.Second) })
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// pair connects a client in b to a new server socket in a.
func (l *kernelLab) pair(t *testing.T, srv netip.AddrPort) (c, s *net.TCPConn) {
	ln := l.listen(t, srv)
	c, err := l.dial(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c, sc.(*net.TCPConn)
}

func runCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitReadable waits until c has data to read, without reading it.
func waitReadable(t *testing.T, c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return n > 0 || (err != nil && err != unix.EAGAIN)
	})
}

// TestKernelReasons is issue 15's proof: rstscope -i with --kernel-reasons
// on a host (namespace a) that serves, refuses, aborts and firewalls, IPv4
// and IPv6, live and again from its -w capture and --kernel-events file
// (-r --kernel-events). Each RST a's TCP stack sent carries the kernel's
// reason and the cause ReasonCauses gives it at high confidence; the
// firewall's REJECT is kernel_absent (not a's TCP stack); a forged
// out-of-window RST is kernel_dropped (ignored_rst). In the IPv6 run
// rstscope drops root (-Z nobody) after opening the tracer.
func TestKernelReasons(t *testing.T) {
	requireLive(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("needs iptables: run `sudo make test` on a host that has it (make deps)")
	}
	tr, err := kernel.Open(kernel.Options{NetNS: []uint32{1}})
	if err != nil {
		t.Skipf("the kernel cannot give its account here (%v): needs Linux 6.12+ with BPF, run `sudo make test`", err)
	}
	s := tr.Session()
	tr.Close()
	if !s.Reasons || !s.AllResets || !s.Drops {
		t.Skipf("kernel %s: no reset reasons, full send_reset or drop reasons (Linux 6.12+): run `sudo make test` on a newer kernel", s.Kernel)
	}
	bin := filepath.Join(t.TempDir(), "rstscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	for _, fam := range []string{"ipv4", "ipv6"} {
		t.Run(fam, func(t *testing.T) { testKernelReasons(t, bin, fam) })
	}
}

func testKernelReasons(t *testing.T, bin, fam string) {
	p := netnstest.NewPair(t, "rstk", "10.231.9.1/24", "10.231.9.2/24")
	l := &kernelLab{a: p.A, b: p.B}
	defer func() {
		for _, ln := range l.lns {
			ln.Close()
		}
	}()
	server := netip.MustParseAddr("10.231.9.1")
	if fam == "ipv6" {
		runCmd(t, "ip", "-n", p.A, "addr", "add", "fd99::1/64", "dev", "vethA", "nodad")
		runCmd(t, "ip", "-n", p.B, "addr", "add", "fd99::2/64", "dev", "vethB", "nodad")
		server = netip.MustParseAddr("fd99::1")
	}
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o1777)
	os.Chmod(tmp, 0o1777)
	live, replay := filepath.Join(dir, "live.json"), filepath.Join(dir, "replay.json")
	pcap, events := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "a.kernel.ndjson")
	args := []string{"-i", "vethA", "--kernel-reasons=on", "--kernel-events", events, "-w", pcap, "--write-all",
		"--format", "json", "-o", live, "--look-ahead", "300ms", "tcp"}
	if fam == "ipv6" {
		args = append(args, "-Z", "nobody")
	}
	rs := startIn(t, p.A, bin, func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "TMPDIR="+tmp)
		c.Stdout = io.Discard
	}, args...)
	ports := map[uint16]kernelCase{}
	for i, kc := range kernelCases {
		port := uint16(7001 + i)
		ports[port] = kc
		kc.run(t, l, netip.AddrPortFrom(server, port))
	}
	time.Sleep(100 * time.Millisecond)
	if code := rs.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("rstscope -i: exit %d\n%s", code, rs.stderr)
	}
	out, err := exec.Command(bin, "-r", pcap, "--kernel-events", events, "--format", "json", "-o", replay, "--look-ahead", "300ms").CombinedOutput()
	if err != nil {
		t.Fatalf("rstscope -r --kernel-events: %v\n%s", err, out)
	}
	if keep := os.Getenv("RSTSCOPE_KEEP"); keep != "" { // for a look after the run
		for _, f := range []string{live, replay, pcap, events} {
			exec.Command("cp", f, filepath.Join(keep, fam+"."+filepath.Base(f))).Run()
		}
	}
	for _, run := range []struct{ name, path string }{{"live", live}, {"replay", replay}} {
		t.Run(run.name, func(t *testing.T) {
			b, err := os.ReadFile(run.path)
			if err != nil {
				t.Fatal(err)
			}
			var d kernelDoc
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			checkKernelDoc(t, d, ports, server)
		})
	}
}

func checkKernelDoc(t *testing.T, d kernelDoc, ports map[uint16]kernelCase, server netip.Addr) {
	seen := map[string]int{}
	joined := uint64(0)
	for _, f := range d.Findings {
		if f.Kernel != nil {
			joined++
		}
		kc, ok := ports[f.Flow.Server.Port()]
		if !ok || f.Flow.Server.Addr() != server {
			t.Errorf("finding for %s (frame %d): no such case", f.Flow.Server, f.RST.Packet)
			continue
		}
		seen[kc.name]++
		name := fmt.Sprintf("%s frame %d", kc.name, f.RST.Packet)
		if f.Kernel != nil {
			t.Logf("%-22s %-18s %-22s %6d us  %s/%s %s", kc.name, f.Kernel.Event, f.Kernel.Reason, f.Kernel.DeltaUS, f.Cause, f.Origin, f.Confidence)
		} else {
			t.Logf("%-22s %-18s %-22s %9s  %s/%s %s", kc.name, "(none)", "", "", f.Cause, f.Origin, f.Confidence)
		}
		if _, ok := f.signal(kc.signal); !ok {
			t.Errorf("%s: no %s evidence: %+v", name, kc.signal, f.Evidence)
		}
		if kc.origin != "" && f.Origin != kc.origin || kc.cause != "" && f.Cause != kc.cause {
			t.Errorf("%s: got %s/%s, want %s/%s", name, f.Cause, f.Origin, or(kc.cause, "any"), or(kc.origin, "any"))
		}
		if kc.signal == string(kernel.SignalAbsent) && !strings.Contains(f.Advice, "this host's own firewall") {
			t.Errorf("%s: advice %q, want this host's own firewall named", name, f.Advice)
		}
		if kc.event == "" {
			if f.Kernel != nil {
				t.Errorf("%s: kernel %+v, want none", name, *f.Kernel)
			}
			continue
		}
		if f.Kernel == nil || f.Kernel.Event != kc.event || !slices.Contains(kc.reasons, f.Kernel.Reason) || f.Kernel.NetNS == 0 {
			t.Errorf("%s: kernel %+v, want %s %v in a namespace", name, f.Kernel, kc.event, kc.reasons)
			continue
		}
		if kc.event == "tcp_send_reset" {
			rc, _ := kernel.CauseFor(f.Kernel.Reason)
			if f.Cause != rc.Cause && !slices.Contains(rc.Alternatives, f.Cause) && !(rc.SYN == f.Cause) || f.Confidence != "high" {
				t.Errorf("%s: got %s %s, want %s (or %v) high", name, f.Cause, f.Confidence, rc.Cause, rc.Alternatives)
			}
			d, _ := f.signal(string(kernel.SignalReason))
			if want := fmt.Sprintf("this host's TCP stack sent it: %s", f.Kernel.Reason); !strings.HasPrefix(d, want) ||
				!strings.Contains(d, fmt.Sprintf("frame %d", f.RST.Packet)) {
				t.Errorf("%s: kernel_reason %q, want %q ... frame %d", name, d, want, f.RST.Packet)
			}
		}
	}
	for _, kc := range kernelCases {
		if seen[kc.name] != 1 {
			t.Errorf("%s: %d findings, want 1", kc.name, seen[kc.name])
		}
	}
	k := d.Stats.Kernel
	if k == nil || k.RSTs != uint64(len(d.Findings)) || k.Joined != joined || k.Lost != 0 || k.Events < joined {
		t.Errorf("stats.kernel %+v, want %d RSTs, %d joined, none lost", k, len(d.Findings), joined)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestKernelFlood: under a flood of RSTs (SYNs from 40,000 sources to a
// closed port of the host rstscope watches, 10,000 a second) every RST finding is joined
// with its NO_SOCKET event or the kernel's loss is counted; the run is
// repeated with --kernel-reasons=off and the CPU of both is logged (the
// cost of having it on). RSTSCOPE_KERNEL_FLOOD=N changes the count.
func TestKernelFlood(t *testing.T) {
	requireLive(t)
	tr, err := kernel.Open(kernel.Options{NetNS: []uint32{1}})
	if err != nil {
		t.Skipf("the kernel cannot give its account here (%v): run `sudo make test` on Linux 6.10+", err)
	}
	s := tr.Session()
	tr.Close()
	if !s.AllResets {
		t.Skipf("kernel %s traces no RST without a socket (Linux 6.10+): run `sudo make test` on a newer kernel", s.Kernel)
	}
	n := 40_000
	if v := os.Getenv("RSTSCOPE_KERNEL_FLOOD"); v != "" {
		fmt.Sscan(v, &n)
	}
	bin := filepath.Join(t.TempDir(), "rstscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []string{"on", "off"} {
		l := newNetLab(t)
		// a answers each SYN with an RST to 10.232.x.y, routed back through b.
		runCmd(t, "ip", "-n", l.a, "route", "add", "10.232.0.0/16", "via", liveB)
		f := newFlooder(t, l)
		f.to = liveA
		out := filepath.Join(t.TempDir(), "flood.json")
		// --cause keeps the document small; every finding is still judged.
		p := startIn(t, l.a, bin, func(c *exec.Cmd) { c.Stdout = io.Discard },
			"-i", "vethA", "--format", "json", "-o", out, "--max-flows", "1000", "--cause", "ignored_rst",
			"--kernel-reasons="+mode, "--look-ahead", "200ms", "tcp")
		sent, took := pacedFlood(t, f, n)
		time.Sleep(time.Second)
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Fatalf("exit %d\n%s", code, p.stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Stats struct {
				RSTPackets      uint64 `json:"rst_packets"`
				Filtered        uint64 `json:"filtered_out"`
				DroppedByKernel uint64 `json:"dropped_by_kernel"`
				Kernel          *struct {
					RSTs   uint64 `json:"rsts"`
					Joined uint64 `json:"joined"`
					Events uint64 `json:"events"`
					Lost   uint64 `json:"events_lost"`
				} `json:"kernel"`
			} `json:"stats"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		ps := p.cmd.ProcessState
		cpu := ps.UserTime() + ps.SystemTime()
		st := d.Stats
		if mode == "off" {
			if st.Kernel != nil {
				t.Errorf("--kernel-reasons=off: stats.kernel %+v, want none", *st.Kernel)
			}
			t.Logf("off: %d SYNs in %v, %d RSTs captured (%d frames dropped by the capture), rstscope CPU %v",
				sent, took.Round(time.Millisecond), st.RSTPackets, st.DroppedByKernel, cpu.Round(time.Millisecond))
			continue
		}
		k := st.Kernel
		if k == nil || k.RSTs != st.Filtered || k.Joined+k.Lost < k.RSTs || k.Events < k.Joined {
			t.Errorf("flood of %d: stats.kernel %+v with %d findings judged: want every finding joined or a loss counted", sent, k, st.Filtered)
			continue
		}
		t.Logf("on: %d SYNs in %v, %d RSTs captured (%d frames dropped by the capture), kernel: %d of %d RSTs joined, %d events, %d lost; rstscope CPU %v",
			sent, took.Round(time.Millisecond), st.RSTPackets, st.DroppedByKernel, k.Joined, k.RSTs, k.Events, k.Lost, cpu.Round(time.Millisecond))
	}
}

// pacedFlood sends n SYN frames at about 10,000 a second, a rate the
// capture keeps up with, so that both runs read the same packets.
func pacedFlood(t *testing.T, f *flooder, n int) (int, time.Duration) {
	buf := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		if i%100 == 99 {
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * 100 * time.Microsecond)))
		}
		if _, err := unix.Write(f.fd, f.synFrame(buf, i)); err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				i--
				continue
			}
			t.Fatalf("send frame %d: %v", i, err)
		}
	}
	return n, time.Since(start)
}
