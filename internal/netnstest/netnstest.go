//go:build linux

// Package netnstest gives tests (as root) two network namespaces joined by
// a veth pair, removed when the test ends, and a way to run code inside a
// namespace. Traffic between them never leaves the machine. Only tests
// import it.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Pair is two namespaces, A and B, joined by vethA (in A) and vethB (in B).
type Pair struct {
	A, B string
}

var seq struct {
	sync.Mutex
	n int
}

// NewPair creates the namespaces (named from prefix, the pid and a counter,
// so parallel and leftover runs never clash), the veth pair with addrA and
// addrB (CIDR, e.g. "10.231.7.1/30") and brings everything up. t.Cleanup
// deletes both namespaces, which removes the veth pair too.
func NewPair(t testing.TB, prefix, addrA, addrB string) *Pair {
	t.Helper()
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	base := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), n)
	p := &Pair{A: base + "a", B: base + "b"}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{p.A, p.B} {
		ip("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	ip("link", "add", "vethA", "netns", p.A, "type", "veth", "peer", "name", "vethB", "netns", p.B)
	ip("-n", p.A, "addr", "add", addrA, "dev", "vethA")
	ip("-n", p.B, "addr", "add", addrB, "dev", "vethB")
	for _, ns := range []string{p.A, p.B} {
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", p.A, "link", "set", "vethA", "up")
	ip("-n", p.B, "link", "set", "vethB", "up")
	return p
}

// In runs fn on an OS thread switched into namespace ns. Sockets and
// capture handles fn opens stay in ns after the thread switches back.
func In(t testing.TB, ns string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
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
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err) // the thread dies locked
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
