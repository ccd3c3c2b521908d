//go:build linux && cgo

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// The sensor's live tests run rstscope -i in the namespaces of live_test.go
// (newNetLab, startIn): -w written as findings come, SIGUSR1, and the
// metrics as a real Prometheus server scrapes them.

func TestSensorLive(t *testing.T) {
	requireLive(t)
	bin := filepath.Join(t.TempDir(), "rstscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("write_before_stop", func(t *testing.T) { testWriteBeforeStop(t, bin) })
	t.Run("write_stdout_streams", func(t *testing.T) { testWriteStdoutStreams(t, bin) })
	t.Run("sigusr1_summary", func(t *testing.T) { testSIGUSR1(t, bin) })
	t.Run("rotate_by_size_and_count", func(t *testing.T) { testRotateSize(t, bin) })
	t.Run("rotate_by_time", func(t *testing.T) { testRotateTime(t, bin) })
	t.Run("prometheus", func(t *testing.T) { testPrometheus(t, bin) })
}

// pcapPorts counts the packets of a capture file per server port (the
// port on liveB's side).
func pcapPorts(t *testing.T, path string) map[uint16]int {
	t.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return portsOf(src)
}

// portsOf counts src's packets per server port (the port on liveB's side),
// up to its end or a record cut short.
func portsOf(src capture.Source) map[uint16]int {
	perPort := map[uint16]int{}
	var pk capture.Packet
	for src.Next(&pk) == nil {
		port := pk.Dst.Port()
		if pk.Src.Addr().String() == liveB {
			port = pk.Src.Port()
		}
		perPort[port]++
	}
	return perPort
}

// testWriteBeforeStop: in live mode -w has a finding's flow on disk about
// a second after the reset, while rstscope is still running, and nothing
// of the flows without findings.
func testWriteBeforeStop(t *testing.T, bin string) {
	l := newNetLab(t)
	pcap := filepath.Join(t.TempDir(), "resets.pcap")
	p := startIn(t, l.a, bin, func(c *exec.Cmd) { c.Stdout = io.Discard },
		"-i", "vethA", "--format", "ndjson", "-w", pcap, "--look-ahead", "300ms", "tcp")
	l.exchange(t, 81, false) // no finding
	l.refused(t, 9)
	l.exchange(t, 80, true)
	checkWrittenWhileRunning(t, p, "-w", func() map[uint16]int { return pcapPorts(t, pcap) })
}

// checkWrittenWhileRunning checks what -w wrote (ports gives its packets
// per server port) after testWriteBeforeStop's exchanges: within 3 s, while
// rstscope runs, the refused port's 2 packets and all (at least 5) of port
// 80's, nothing of port 81's flow, which had no finding; then it stops
// rstscope and checks nothing more came of port 9 or 81.
func checkWrittenWhileRunning(t *testing.T, p *proc, what string, ports func() map[uint16]int) {
	t.Helper()
	var got map[uint16]int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = ports()
		if got[9] == 2 && got[80] >= 5 || time.Now().After(deadline) {
			break
		}
	}
	select {
	case <-p.done:
		t.Fatalf("rstscope exited early: %v\n%s", p.err, p.stderr)
	default:
	}
	if got[9] != 2 || got[80] < 5 || len(got) != 2 {
		t.Fatalf("%s while running, 3 s after the resets: packets per server port %v, want 2 of port 9 and all (at least 5) of port 80, nothing else", what, got)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	if after := ports(); after[81] != 0 || after[9] != 2 {
		t.Errorf("%s after the run: %v, want port 81 absent and port 9 unchanged", what, after)
	}
}

// testWriteStdoutStreams: live, -w - streams each finding's flow to stdout
// about a second after the reset, as -w FILE does, while rstscope runs
// (a pipe to wireshark -k -i - or tcpdump -r - shows the resets as they
// come), and nothing of the flows without findings. It once spooled every
// packet of the capture to TMPDIR and wrote the pcap at the end.
func testWriteStdoutStreams(t *testing.T, bin string) {
	l := newNetLab(t)
	out := filepath.Join(t.TempDir(), "report.json")
	p := startIn(t, l.a, bin, nil,
		"-i", "vethA", "--format", "json", "-o", out, "-w", "-", "--look-ahead", "300ms", "tcp")
	var mu sync.Mutex
	var stream []byte
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := p.stdout.Read(b)
			mu.Lock()
			stream = append(stream, b[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// ports counts the packets per server port in the stream so far (a
	// record cut at its end is left for the next look).
	ports := func() map[uint16]int {
		mu.Lock()
		b := bytes.Clone(stream)
		mu.Unlock()
		if len(b) < 24 {
			return map[uint16]int{}
		}
		src, err := capture.OpenFile("-", 0, capture.FileOptions{Stdin: bytes.NewReader(b)})
		if err != nil {
			t.Fatalf("-w - stream: %v", err)
		}
		defer src.Close()
		return portsOf(src)
	}
	l.exchange(t, 81, false) // no finding
	l.refused(t, 9)
	l.exchange(t, 80, true)
	checkWrittenWhileRunning(t, p, "-w -", ports)
	d, b := readDoc(t, out)
	if want := []string{"refused " + liveB + ":9", "server_reset_after_request " + liveB + ":80"}; !reflect.DeepEqual(d.causes(), want) {
		t.Errorf("findings: got %q, want %q\n%s", d.causes(), want, b)
	}
}

// testRotateSize: --write-all -C 1 -W 3 on a 40 MB transfer leaves
// exactly rst.pcap0..2, each past 1,000,000 bytes but the current one, all
// readable.
func testRotateSize(t *testing.T, bin string) {
	l := newNetLab(t)
	dir := t.TempDir()
	p := startIn(t, l.a, bin, func(c *exec.Cmd) { c.Stdout = io.Discard },
		"-i", "vethA", "--format", "ndjson", "-w", filepath.Join(dir, "rst.pcap"), "--write-all", "-C", "1", "-W", "3", "tcp")
	l.bulk(t, 8080, 40<<20)
	time.Sleep(300 * time.Millisecond)
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	full := 0
	for _, e := range ents {
		names = append(names, e.Name())
		fi, _ := e.Info()
		if fi.Size() > 1_000_000 {
			full++
		}
		if len(pcapPorts(t, filepath.Join(dir, e.Name()))) == 0 {
			t.Errorf("%s: no packets", e.Name())
		}
	}
	if strings.Join(names, " ") != "rst.pcap0 rst.pcap1 rst.pcap2" || full < 2 {
		t.Fatalf("-C 1 -W 3: files %q (%d past 1 MB), want rst.pcap0..2, at least two past 1 MB", names, full)
	}
}

// testRotateTime: --write-all -G 1 -W 2 over about 3.5 s of traffic keeps
// two files, named by strftime, the newest with the last connection.
func testRotateTime(t *testing.T, bin string) {
	l := newNetLab(t)
	dir := t.TempDir()
	p := startIn(t, l.a, bin, func(c *exec.Cmd) { c.Stdout = io.Discard },
		"-i", "vethA", "--format", "ndjson", "-w", filepath.Join(dir, "rst-%Y%m%d-%H%M%S.pcap"), "--write-all", "-G", "1", "-W", "2", "tcp")
	for port := 9; port < 13; port++ {
		l.refused(t, port)
		time.Sleep(1100 * time.Millisecond)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("-G 1 -W 2: got %d files %v, want 2", len(ents), ents)
	}
	for _, e := range ents {
		if _, err := time.Parse("rst-20060102-150405.pcap", e.Name()); err != nil {
			t.Errorf("file %q: not named by strftime %%Y%%m%%d-%%H%%M%%S: %v", e.Name(), err)
		}
	}
	if got := pcapPorts(t, filepath.Join(dir, ents[1].Name())); got[12] != 2 || got[9] != 0 {
		t.Errorf("newest file %s: packets per port %v, want the last refused connection (port 12) only", ents[1].Name(), got)
	}
}

// bulk sends n bytes from a to a server in b that reads them all.
func (l *netLab) bulk(t *testing.T, port, n int) {
	t.Helper()
	var ln net.Listener
	var err error
	l.in(t, l.b, func() { ln, err = net.Listen("tcp", fmt.Sprintf("%s:%d", liveB, port)) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, c)
		done <- got
	}()
	var c net.Conn
	l.in(t, l.a, func() { c, err = net.DialTimeout("tcp", fmt.Sprintf("%s:%d", liveB, port), 2*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if got := <-done; got < int64(n) {
		t.Fatalf("bulk: server read %d bytes, want %d", got, n)
	}
}

// testSIGUSR1: SIGUSR1 prints the running counts to stderr and the
// capture goes on (a later reset is still found).
func testSIGUSR1(t *testing.T, bin string) {
	l := newNetLab(t)
	p := startIn(t, l.a, bin, nil, "-i", "vethA", "--format", "ndjson", "--look-ahead", "300ms", "tcp")
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(p.stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	l.refused(t, 9)
	l.refused(t, 10)
	waitFindings(t, lines, 2)
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	want := "2 findings (refused 2)"
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr after SIGUSR1: no %q\n%s", want, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.refused(t, 11)
	waitFindings(t, lines, 1) // still capturing
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

// waitFindings reads n finding lines (ndjson) within 5 s.
func waitFindings(t *testing.T, lines <-chan string, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for n > 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("stdout closed before the findings came")
			}
			if strings.Contains(line, `"cause"`) {
				n--
			}
		case <-timeout:
			t.Fatalf("%d findings still missing after 5 s", n)
		}
	}
}

// testPrometheus: a real Prometheus server (Debian's package), run in the
// capture's namespace with a scrape config for rstscope's --metrics,
// reports rstscope_resets_total{cause="refused"} = N after N refused
// connections.
func testPrometheus(t *testing.T, bin string) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed: run `make deps` (Debian package prometheus), then `sudo make test`")
	}
	const n = 5
	const metricsAddr, promAddr = "127.0.0.1:9471", "127.0.0.1:9090"
	l := newNetLab(t)
	p := startIn(t, l.a, bin, func(c *exec.Cmd) { c.Stdout = io.Discard },
		"-i", "vethA", "--format", "ndjson", "--look-ahead", "300ms", "--metrics", metricsAddr, "--kernel-reasons=auto", "tcp")
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
  - job_name: rstscope
    static_configs:
      - targets: ["%s"]
`, metricsAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	plog := &lockedBuffer{}
	cmd := exec.Command("ip", "netns", "exec", l.a, prom, "--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = plog, plog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for port := 9; port < 9+n; port++ {
		l.refused(t, port)
	}
	query := `sum(rstscope_resets_total{cause="refused"})`
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, raw, err := promQuery(t, l, promAddr, query)
		last = raw
		if err == nil && v == n {
			t.Logf("Prometheus %s = %v (%s)", query, v, raw)
			break
		}
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus query %s: want %d within 30 s, last answer: %s\nprometheus log:\n%s\nrstscope stderr:\n%s", query, n, last, plog, p.stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The pipeline's counters arrive too: one RST per refused connection.
	for {
		v, raw, err := promQuery(t, l, promAddr, "rstscope_rst_packets_total")
		if err == nil && v == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rstscope_rst_packets_total: want %d, last answer %s (%v)", n, raw, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The series Prometheus holds carry only bounded labels.
	_, raw, err := promQuery(t, l, promAddr, `rstscope_resets_total{cause="refused"} > 0`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Prometheus rstscope_resets_total{cause=\"refused\"} > 0: %s", raw)
	if !strings.Contains(raw, `"origin"`) || strings.Contains(raw, liveB) {
		t.Errorf("refused series: got %s, want origin/confidence labels and no address", raw)
	}
	// The kernel's account: each refused connect's RST was received by a's
	// stack (tcp_receive_reset) and joined to its finding.
	testKernelMetrics(t, l, metricsAddr, p, n, deadline)
	// promtool lints the live binary's exposition too.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		expo, err := getIn(t, l, "http://"+metricsAddr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(expo)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics on rstscope's /metrics: %v\n%s", err, out)
		} else {
			t.Logf("promtool check metrics on rstscope's /metrics (%d bytes): exit 0, no complaints", len(expo))
		}
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
}

// testKernelMetrics: with --kernel-reasons=auto, rstscope's /metrics
// counts n RSTs judged with the kernel's account, n joined, at least n
// tcp_receive_reset events (loopback resets of the namespace, as the scrapes
// make, count too) and none lost; where the kernel cannot give its account
// the kernel series are absent.
func testKernelMetrics(t *testing.T, l *netLab, addr string, p *proc, n int, deadline time.Time) {
	t.Helper()
	want := []string{
		fmt.Sprintf("rstscope_kernel_rsts_total %d\n", n), fmt.Sprintf("rstscope_kernel_rsts_joined_total %d\n", n),
		"rstscope_kernel_events_lost_total 0\n",
	}
	const received = `rstscope_kernel_events_total{event="tcp_receive_reset"} `
	for {
		expo, err := getIn(t, l, "http://"+addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.stderr.String(), "kernel reset reasons off") {
			if bytes.Contains(expo, []byte("rstscope_kernel_")) {
				t.Errorf("kernel reset reasons off, yet /metrics has kernel series")
			}
			t.Logf("kernel series absent as they should be: %s", p.stderr)
			return
		}
		missing := ""
		if v, err := strconv.Atoi(strings.TrimPrefix(grepLines(expo, received), received)); err != nil || v < n {
			missing = fmt.Sprintf("%s>= %d", received, n)
		}
		for _, w := range want {
			if !bytes.Contains(expo, []byte(w)) {
				missing = w
				break
			}
		}
		if missing == "" {
			t.Logf("kernel metrics:\n%s", grepLines(expo, "rstscope_kernel_"))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, grepLines(expo, "rstscope_kernel_"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func grepLines(b []byte, prefix string) string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// promQuery runs an instant query against Prometheus's HTTP API from inside
// the lab's namespace a and returns the first sample's value.
func promQuery(t *testing.T, l *netLab, addr, query string) (float64, string, error) {
	t.Helper()
	body, err := getIn(t, l, "http://"+addr+"/api/v1/query?query="+urlQuery(query))
	if err != nil {
		return 0, "", err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, string(body), err
	}
	if r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, string(body), fmt.Errorf("no result: %s", body)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, string(body), err
}

// getIn fetches url from inside the lab's namespace a (where rstscope and
// Prometheus listen on loopback).
func getIn(t *testing.T, l *netLab, url string) ([]byte, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	var conn net.Conn
	l.in(t, l.a, func() { conn, err = net.DialTimeout("tcp", req.URL.Host, 2*time.Second) })
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func urlQuery(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
