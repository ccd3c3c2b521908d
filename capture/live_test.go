//go:build cgo && linux

package capture

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireLab skips a test that needs root and iproute2, naming the make
// target that runs it as root.
func requireLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root: run `sudo make test` (the netns lab is root-only)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("live capture lab needs `ip` (iproute2); run `make test` as root on a host that has it")
	}
}

// lab is two network namespaces joined by a veth pair: vethA 10.231.7.1 in
// a, vethB 10.231.7.2 in b. Nothing listens in b, so a TCP connect from a
// to b is refused: SYN out, RST back, on vethA.
type lab struct {
	a, b string
}

const (
	labAddrA = "10.231.7.1"
	labAddrB = "10.231.7.2"
)

func newLab(t *testing.T) *lab {
	t.Helper()
	requireLab(t)
	base := fmt.Sprintf("rstscope-t%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	l := &lab{a: base + "a", b: base + "b"}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{l.a, l.b} {
		ip("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	ip("link", "add", "vethA", "netns", l.a, "type", "veth", "peer", "name", "vethB", "netns", l.b)
	ip("-n", l.a, "addr", "add", labAddrA+"/30", "dev", "vethA")
	ip("-n", l.b, "addr", "add", labAddrB+"/30", "dev", "vethB")
	for _, ns := range []string{l.a, l.b} {
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", l.a, "link", "set", "vethA", "up")
	ip("-n", l.b, "link", "set", "vethB", "up")
	return l
}

// in runs fn on a thread switched into namespace ns. Sockets and capture
// handles fn creates stay in ns after the thread switches back.
func (l *lab) in(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		fn()
		if err := setns(self); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// refusedConnect connects from a to a closed port in b, which answers RST.
func (l *lab) refusedConnect(t *testing.T, port int) {
	t.Helper()
	l.in(t, l.a, func() {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", labAddrB, port), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("connect to %s:%d succeeded, want refused", labAddrB, port)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("connect to %s:%d: %v, want connection refused", labAddrB, port, err)
		}
	})
}

// collect reads packets until want says it has them all or 3 s pass; it
// closes the Source at the end.
func collect(t *testing.T, s Source, done func([]Packet) bool) []Packet {
	t.Helper()
	var pkts []Packet
	finished := make(chan struct{})
	timer := time.AfterFunc(3*time.Second, func() { s.Close() })
	defer timer.Stop()
	go func() {
		defer close(finished)
		for {
			var p Packet
			if err := s.Next(&p); err != nil {
				if err != io.EOF {
					t.Errorf("Next: %v", err)
				}
				return
			}
			p.Frame, p.Payload = nil, nil
			pkts = append(pkts, p)
			if done(pkts) {
				s.Close()
			}
		}
	}()
	<-finished
	return pkts
}

// synAndRST reports whether pkts hold the SYN to port and the RST from it.
func synAndRST(port uint16) func([]Packet) bool {
	return func(pkts []Packet) bool {
		var syn, rst bool
		for _, p := range pkts {
			syn = syn || p.Flags == SYN && p.Dst.Port() == port && p.Dst.Addr().String() == labAddrB
			rst = rst || p.Flags.Has(RST) && p.Src.Port() == port && p.Src.Addr().String() == labAddrB
		}
		return syn && rst
	}
}

// TestOpenLive_refused captures a refused connect on a veth in a namespace
// of the test's own, on the interface and on "any" (SLL2), with and without
// a kernel BPF filter.
func TestOpenLive_refused(t *testing.T) {
	l := newLab(t)
	for _, tc := range []struct {
		name, iface, filter string
		linkType            int
		port                uint16
	}{
		{"veth", "vethA", "", 1, 9},
		{"any_sll2", "any", "", linkSLL2Type, 19},
		{"veth_filter", "vethA", "tcp port 29", 1, 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultLiveOptions()
			opts.Filter = tc.filter
			var s Source
			var err error
			l.in(t, l.a, func() { s, err = OpenLive(tc.iface, opts) })
			if err != nil {
				t.Fatalf("OpenLive(%s): %v", tc.iface, err)
			}
			defer s.Close()
			if lt := s.(LinkTyper).LinkTypes(); len(lt) != 1 || lt[0] != tc.linkType {
				t.Errorf("LinkTypes() = %v, want [%d]", lt, tc.linkType)
			}
			l.refusedConnect(t, int(tc.port))
			// A second connect to a port the filter drops.
			l.refusedConnect(t, int(tc.port)+1)
			pkts := collect(t, s, synAndRST(tc.port))
			if !synAndRST(tc.port)(pkts) {
				t.Fatalf("got %d packets %v, want the SYN to %s:%d and its RST", len(pkts), describe(pkts), labAddrB, tc.port)
			}
			st := s.Stats()
			if st.Packets < 2 || st.TCPPackets < 2 || st.FirstTime.IsZero() || st.FirstTime.After(st.LastTime) {
				t.Errorf("Stats: Packets %d TCPPackets %d FirstTime %v LastTime %v", st.Packets, st.TCPPackets, st.FirstTime, st.LastTime)
			}
			for i, p := range pkts {
				if p.Index != uint64(i+1) && tc.filter != "" || p.Time.Location() != time.UTC {
					t.Errorf("packet %d: Index %d, Time %v", i, p.Index, p.Time)
				}
				if tc.filter != "" && p.Src.Port() != tc.port && p.Dst.Port() != tc.port {
					t.Errorf("filter %q let through %s > %s", tc.filter, p.Src, p.Dst)
				}
			}
		})
	}
}

func describe(pkts []Packet) string {
	var b strings.Builder
	for _, p := range pkts {
		fmt.Fprintf(&b, "[%d %s>%s %s] ", p.Index, p.Src, p.Dst, p.Flags)
	}
	return b.String()
}

// TestOpenLive_closeUnblocksNext: Close from another goroutine makes a
// Next waiting on a silent interface return io.EOF promptly.
func TestOpenLive_closeUnblocksNext(t *testing.T) {
	l := newLab(t)
	var s Source
	var err error
	l.in(t, l.a, func() { s, err = OpenLive("vethA", LiveOptions{Filter: "tcp port 7"}) })
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		var p Packet
		errc <- s.Next(&p)
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if err != io.EOF {
			t.Errorf("Next after Close: got %v, want io.EOF", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Next returned %v after Close, want within 1s", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Next still blocked 3s after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_ = s.Stats() // after Close: the counters taken at Close
}

// TestOpenLive_errors: an unknown interface lists the available ones; a bad
// filter gives libpcap's message; a user without privilege is told how to
// get it.
func TestOpenLive_errors(t *testing.T) {
	_, err := OpenLive("nosuch0", DefaultLiveOptions())
	if err == nil || !errors.Is(err, ErrNoInterface) || !strings.HasPrefix(err.Error(), "capture: nosuch0: no such interface (available: ") ||
		!strings.Contains(err.Error(), "lo") {
		t.Errorf("unknown interface: got %v, want ErrNoInterface listing lo", err)
	}
	if os.Getenv("RSTSCOPE_TEST_LIVE_DENIED") != "" {
		_, err := OpenLive("lo", DefaultLiveOptions())
		want := "capture: lo: permission denied: run as root or grant CAP_NET_RAW and CAP_NET_ADMIN (sudo setcap cap_net_raw,cap_net_admin=eip bin/rstscope)"
		if err == nil || err.Error() != want || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("unprivileged: got %v, want %q", err, want)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Setenv("RSTSCOPE_TEST_LIVE_DENIED", "1")
		TestOpenLive_errors(t)
		return
	}
	l := newLab(t)
	l.in(t, l.a, func() {
		_, err = OpenLive("vethA", LiveOptions{Filter: "tcp prt 80"})
	})
	if want := `capture: bad filter "tcp prt 80": can't parse filter expression: syntax error`; err == nil || err.Error() != want {
		t.Errorf("bad filter: got %v, want %q", err, want)
	}
	runAsNobody(t, "TestOpenLive_errors", "RSTSCOPE_TEST_LIVE_DENIED=1")
}

// TestDropPrivileges runs itself as root in a child that drops to nobody.
func TestDropPrivileges(t *testing.T) {
	if os.Getenv("RSTSCOPE_TEST_DROP") != "" {
		if err := DropPrivileges("nobody"); err != nil {
			t.Fatal(err)
		}
		if uid, gid, euid := os.Getuid(), os.Getgid(), os.Geteuid(); uid != 65534 || euid != 65534 || gid != 65534 {
			t.Fatalf("after DropPrivileges: uid %d euid %d gid %d, want 65534", uid, euid, gid)
		}
		if _, err := os.ReadFile("/etc/shadow"); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("read /etc/shadow as nobody: %v, want permission denied", err)
		}
		return
	}
	err := DropPrivileges("no-such-user-rstscope")
	if err == nil || !strings.HasPrefix(err.Error(), "capture: drop privileges: user: unknown user no-such-user-rstscope") {
		t.Errorf("unknown user: got %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root: run `sudo make test`")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestDropPrivileges$", "-test.v")
	cmd.Env = append(os.Environ(), "RSTSCOPE_TEST_DROP=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDropPrivileges") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
