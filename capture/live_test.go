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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/netnstest"
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
	p := netnstest.NewPair(t, "rstscope-t", labAddrA+"/30", labAddrB+"/30")
	return &lab{a: p.A, b: p.B}
}

// in runs fn on a thread switched into namespace ns. Sockets and capture
// handles fn creates stay in ns after the thread switches back.
func (l *lab) in(t *testing.T, ns string, fn func()) { netnstest.In(t, ns, fn) }

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
				if err == ErrTimeout {
					continue
				}
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
		{"any_sll2", "any", "", linkSLL2, 19},
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
		err := s.Next(&p)
		for err == ErrTimeout {
			err = s.Next(&p)
		}
		errc <- err
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
		exe, _ := os.Executable()
		want := "capture: lo: permission denied: capturing needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities: " +
			"run with sudo, or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip " + exe + "`"
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

// nextSkippingTimeouts calls Next until it returns a packet or something
// other than ErrTimeout, for at most 3 s.
func nextSkippingTimeouts(t *testing.T, s Source, p *Packet) error {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := s.Next(p)
		if err != ErrTimeout || time.Now().After(deadline) {
			return err
		}
	}
}

// TestOpenLive_timeoutClock: on a silent link Next returns ErrTimeout
// about every read timeout, and Now moves packet time on from the last
// frame with the wall clock, never past the timestamp of a later frame.
func TestOpenLive_timeoutClock(t *testing.T) {
	l := newLab(t)
	var s Source
	var err error
	l.in(t, l.a, func() { s, err = OpenLive("vethA", LiveOptions{Filter: "tcp port 39", Immediate: true}) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock, ok := s.(Clock)
	if !ok {
		t.Fatalf("live Source %T does not implement Clock", s)
	}
	var p Packet
	start := time.Now()
	if err := s.Next(&p); err != ErrTimeout {
		t.Fatalf("Next on a silent link: got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Errorf("ErrTimeout after %v, want about %v", d, liveReadTimeout)
	}
	if now := clock.Now(); !now.IsZero() {
		t.Errorf("Now before any frame: got %v, want the zero Time", now)
	}

	l.refusedConnect(t, 39)
	var last Packet
	for range 2 { // SYN, RST
		if err := nextSkippingTimeouts(t, s, &p); err != nil {
			t.Fatalf("Next: got %v, want the SYN and RST of port 39", err)
		}
		last = p
	}
	if !last.Flags.Has(RST) {
		t.Fatalf("second packet: got flags %s, want the RST", last.Flags)
	}
	readAt := time.Now()
	if now := clock.Now(); !now.Equal(last.Time) {
		t.Errorf("Now right after frame %d: got %v, want its time %v", last.Index, now, last.Time)
	}
	// Silence: each timeout moves Now on, by no more than the wall clock.
	var prev time.Time
	for i := range 4 {
		if err := s.Next(&p); err != ErrTimeout {
			t.Fatalf("Next %d after the RST on a silent link: got %v, want ErrTimeout", i, err)
		}
		now := clock.Now()
		if now.Before(prev) || now.Before(last.Time) {
			t.Errorf("timeout %d: Now %v went back (previous %v, last frame %v)", i, now, prev, last.Time)
		}
		if ahead := now.Sub(last.Time) - time.Since(readAt); ahead > 5*time.Millisecond {
			t.Errorf("timeout %d: Now is %v after the last frame, %v more than the wall clock elapsed", i, now.Sub(last.Time), ahead)
		}
		prev = now
	}
	if got := prev.Sub(last.Time); got < 2*liveReadTimeout {
		t.Errorf("after 4 read timeouts Now is %v after the last frame, want at least %v", got, 2*liveReadTimeout)
	}
	// A frame after the silence is stamped at or after the Now given
	// before it: flushing to Now never decides ahead of a later frame.
	l.refusedConnect(t, 39)
	if err := nextSkippingTimeouts(t, s, &p); err != nil {
		t.Fatal(err)
	}
	if p.Time.Before(prev) {
		t.Errorf("frame %d after the silence: time %v before the earlier Now %v", p.Index, p.Time, prev)
	}
	if now := clock.Now(); !now.Equal(p.Time) {
		t.Errorf("Now after frame %d: got %v, want its time %v", p.Index, now, p.Time)
	}
}

// TestOpenLive_timeoutSkippedFrames: a link busy with frames Next skips
// (UDP here) has no read timeout, yet Next returns ErrTimeout once the
// skipped frames span a read timeout, with Now at the last one.
func TestOpenLive_timeoutSkippedFrames(t *testing.T) {
	l := newLab(t)
	var s Source
	var err error
	l.in(t, l.a, func() { s, err = OpenLive("vethA", LiveOptions{Filter: "udp port 49", Immediate: true}) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c net.PacketConn
	l.in(t, l.b, func() { c, err = net.ListenPacket("udp", labAddrB+":0") }) // the socket stays in b
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		defer c.Close()
		for range 80 { // 800 ms, a frame every 10 ms
			if _, err := c.WriteTo([]byte("tick"), &net.UDPAddr{IP: net.ParseIP(labAddrA), Port: 49}); err != nil {
				sent <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		sent <- nil
	}()
	var p Packet
	timeouts, ticks := 0, uint64(0)
	for len(sent) == 0 {
		err := s.Next(&p)
		if err != ErrTimeout {
			t.Fatalf("Next on a link with only UDP: got %v (packet %d), want ErrTimeout", err, p.Index)
		}
		if st := s.Stats(); st.Packets > ticks {
			timeouts++
			ticks = st.Packets
			if now := s.(Clock).Now(); now.Before(st.LastTime) {
				t.Errorf("Now during UDP frames: got %v, before the last frame's time %v", now, st.LastTime)
			}
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// Frames still queued when the sender ended are read before the
	// count (a loaded machine reads behind the sender), for at most 3 s.
	for end := time.Now().Add(3 * time.Second); s.Stats().Packets < 80 && time.Now().Before(end); {
		if err := s.Next(&p); err != ErrTimeout {
			t.Fatalf("Next on a link with only UDP: got %v (packet %d), want ErrTimeout", err, p.Index)
		}
	}
	if st := s.Stats(); st.Packets < 40 || st.NonTCP < 40 {
		t.Errorf("Stats: Packets %d NonTCP %d, want the 80 UDP frames counted", st.Packets, st.NonTCP)
	}
	// 800 ms of frames 10 ms apart: a timeout per 150 ms of frames.
	if timeouts < 3 {
		t.Errorf("got %d ErrTimeouts while UDP frames came, want at least 3", timeouts)
	}
}

// TestOpenLive_kernelDrops: frames the kernel could not queue because
// nobody read them are counted in Stats, live and after Close (the
// counters are taken while the handle lives).
func TestOpenLive_kernelDrops(t *testing.T) {
	l := newLab(t)
	var s Source
	var err error
	opts := DefaultLiveOptions()
	opts.BufferSize = 1 << 20
	opts.Filter = "udp port 59"
	l.in(t, l.a, func() { s, err = OpenLive("vethA", opts) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c net.PacketConn
	l.in(t, l.b, func() { c, err = net.ListenPacket("udp", labAddrB+":0") })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 20000
	to := &net.UDPAddr{IP: net.ParseIP(labAddrA), Port: 59}
	for i := 0; i < sent; i++ {
		if _, err := c.WriteTo([]byte("flood"), to); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	live := s.Stats()
	if live.KernelDrops == 0 || live.KernelDrops >= sent {
		t.Errorf("Stats before reading: KernelDrops %d, want some of the %d frames sent to an unread 1 MiB buffer", live.KernelDrops, sent)
	}
	var p Packet
	for {
		if err := s.Next(&p); err == ErrTimeout {
			break
		} else if err != nil {
			t.Fatalf("Next: got %v, want ErrTimeout once the queued frames are read", err)
		}
	}
	read := s.Stats().Packets
	if read+live.KernelDrops != sent {
		t.Errorf("read %d frames + %d dropped, want the %d sent", read, live.KernelDrops, sent)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.KernelDrops != live.KernelDrops || st.Packets != read {
		t.Errorf("Stats after Close: KernelDrops %d Packets %d, want %d and %d as before Close", st.KernelDrops, st.Packets, live.KernelDrops, read)
	}
}
