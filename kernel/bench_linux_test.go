//go:build linux

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/rstscope/rstscope/internal/netnstest"
	"golang.org/x/sys/unix"
)

// The benchmarks measure the two ways to read the events without a C
// compiler, on the same provoked RSTs (run as root, -benchtime=1x):
//
//	go test ./kernel -run X -bench 'Flood|Latency' -benchtime=1x
//
// bpf is this package's Tracer; perfN reads tcp_send_reset through
// perf_event_open with per-CPU mmap rings of N pages (the layout from the
// same format file). Flood: one ns sends `floodN` SYNs from a raw socket to
// a closed port of the other, whose stack answers each with an RST
// (NO_SOCKET): events read, lost, and the process's CPU time. Latency: one
// RST at a time; from the event's timestamp to Read returning it.

const floodN = 40000

var (
	floodClosed = netip.MustParseAddrPort("10.231.78.2:9")
	floodFrom   = netip.MustParseAddr("10.231.78.1")
)

func benchPair(b *testing.B) (*netnstest.Pair, uint32) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (namespaces, BPF, tracefs): run as root")
	}
	p := netnstest.NewPair(b, "kfl", "10.231.78.1/30", "10.231.78.2/30")
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+p.B, &st); err != nil {
		b.Fatal(err)
	}
	return p, uint32(st.Ino)
}

// synFlood sends n SYNs (distinct source ports) from a raw socket in ns A.
func synFlood(b testing.TB, p *netnstest.Pair, n int) {
	netnstest.In(b, p.A, func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrInet4{Addr: floodClosed.Addr().As4()}
		hdr := make([]byte, 20)
		for i := 0; i < n; i++ {
			sport := uint16(10000 + i%50000)
			binary.BigEndian.PutUint16(hdr[0:], sport)
			binary.BigEndian.PutUint16(hdr[2:], floodClosed.Port())
			binary.BigEndian.PutUint32(hdr[4:], uint32(i)*7919)
			hdr[12], hdr[13] = 5<<4, 0x02
			binary.BigEndian.PutUint16(hdr[14:], 64240)
			hdr[16], hdr[17] = 0, 0
			binary.BigEndian.PutUint16(hdr[16:], tcpChecksum(floodFrom, floodClosed.Addr(), hdr))
			for {
				err := unix.Sendto(fd, hdr, 0, sa)
				if err == unix.ENOBUFS || err == unix.EAGAIN {
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				break
			}
		}
	})
}

func tcpChecksum(src, dst netip.Addr, hdr []byte) uint16 {
	var ph []byte
	ph = append(ph, src.AsSlice()...)
	ph = append(ph, dst.AsSlice()...)
	ph = append(ph, 0, unix.IPPROTO_TCP, byte(len(hdr)>>8), byte(len(hdr)))
	sum := uint32(0)
	for _, b := range [][]byte{ph, hdr} {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reader is one of the two mechanisms under measurement.
type reader interface {
	read() (Event, time.Time, error) // the event and when it was read
	lost() uint64
	close()
}

type bpfReader struct{ t *Tracer }

func (r bpfReader) read() (Event, time.Time, error) {
	e, err := r.t.Read()
	return e, time.Now(), err
}
func (r bpfReader) lost() uint64 { return r.t.Lost() }
func (r bpfReader) close()       { r.t.Close() }

func openReader(b *testing.B, mech string, ns uint32) reader {
	switch mech {
	case "bpf":
		t, err := Open(Options{NetNS: []uint32{ns}})
		if err != nil {
			b.Fatal(err)
		}
		return bpfReader{t}
	case "perf8":
		return openPerf(b, 8)
	case "perf64":
		return openPerf(b, 64)
	}
	return nil
}

// consume counts NO_SOCKET events from floodClosed until want or quiet.
func consume(r reader, count *atomic.Int64, lat *[]time.Duration, mu *sync.Mutex) {
	for {
		e, at, err := r.read()
		if err != nil {
			return
		}
		if e.Kind != KindSendReset || e.Sender != floodClosed {
			continue // perf sees every namespace
		}
		count.Add(1)
		if lat != nil {
			mu.Lock()
			*lat = append(*lat, at.Sub(e.Time))
			mu.Unlock()
		}
	}
}

func BenchmarkFlood(b *testing.B) {
	for _, mech := range []string{"off", "bpf", "perf8", "perf64"} {
		b.Run(mech, func(b *testing.B) {
			p, ns := benchPair(b)
			for b.Loop() {
				var r reader
				var count atomic.Int64
				done := make(chan struct{})
				if mech == "bpf" {
					st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
					if err != nil {
						b.Fatal(err)
					}
					defer st.Close()
				}
				if mech != "off" {
					r = openReader(b, mech, ns)
					go func() { consume(r, &count, nil, nil); close(done) }()
				}
				c0, w0 := cpuTime(), time.Now()
				synFlood(b, p, floodN)
				if r != nil {
					// Drain: until every RST is read or lost, or no progress for 1 s.
					last, lastAt := int64(-1), time.Now()
					for count.Load()+int64(r.lost()) < floodN && time.Since(lastAt) < time.Second {
						if n := count.Load(); n != last {
							last, lastAt = n, time.Now()
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				cpu, wall := cpuTime()-c0, time.Since(w0)
				if br, ok := r.(bpfReader); ok {
					var runs, ns uint64
					for _, o := range br.t.objs {
						if p, ok := o.(*ebpf.Program); ok {
							if st, err := p.Stats(); err == nil {
								runs += st.RunCount
								ns += uint64(st.Runtime)
							}
						}
					}
					b.ReportMetric(float64(runs), "bpf-runs")
					b.ReportMetric(float64(ns)/float64(max(runs, 1)), "bpf-ns/run")
				}
				if r != nil {
					b.ReportMetric(float64(count.Load()), "events")
					b.ReportMetric(float64(r.lost()), "lost")
					r.close()
					<-done
				}
				b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms")
				b.ReportMetric(float64(wall.Microseconds())/1000, "wall-ms")
			}
		})
	}
}

func BenchmarkLatency(b *testing.B) {
	for _, mech := range []string{"bpf", "perf8"} {
		for _, gap := range []time.Duration{2 * time.Millisecond, 20 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/every_%v", mech, gap), func(b *testing.B) {
				p, ns := benchPair(b)
				for b.Loop() {
					r := openReader(b, mech, ns)
					var count atomic.Int64
					var lat []time.Duration
					var mu sync.Mutex
					done := make(chan struct{})
					go func() { consume(r, &count, &lat, &mu); close(done) }()
					const n = 100
					netnstest.In(b, p.A, func() {
						for i := 0; i < n; i++ {
							net.DialTimeout("tcp", floodClosed.String(), time.Second)
							time.Sleep(gap) // one RST at a time
						}
					})
					for end := time.Now().Add(2 * time.Second); count.Load() < n && time.Now().Before(end); {
						time.Sleep(5 * time.Millisecond)
					}
					r.close()
					<-done
					mu.Lock()
					slices.Sort(lat)
					if len(lat) == 0 {
						b.Fatal("no events")
					}
					b.ReportMetric(float64(len(lat)), "events")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
					mu.Unlock()
				}
			})
		}
	}
}

// perfReader reads tcp_send_reset through perf_event_open, one ring per
// CPU, for comparison only.
type perfReader struct {
	fds    []int
	rings  [][]byte
	epfd   int
	dec    *decoder
	nLost  atomic.Uint64
	pend   []Event
	offset time.Duration // realtime - monotonic
	closed atomic.Bool
}

func openPerf(b *testing.B, pages int) *perfReader {
	f, err := ReadFormat(DefaultTracefs, "tcp", "tcp_send_reset")
	if err != nil {
		b.Fatal(err)
	}
	d, err := newDecoder(KindSendReset, f)
	if err != nil {
		b.Fatal(err)
	}
	r := &perfReader{dec: d}
	r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	var mono, real unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	r.offset = time.Duration(real.Nano() - mono.Nano())
	pg := os.Getpagesize()
	for cpu := 0; cpu < numCPU(); cpu++ {
		attr := unix.PerfEventAttr{
			Type: unix.PERF_TYPE_TRACEPOINT, Config: uint64(f.ID),
			Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample_type: unix.PERF_SAMPLE_RAW | unix.PERF_SAMPLE_TIME,
			Sample:      1, Wakeup: 1,
			Bits:    unix.PerfBitUseClockID,
			Clockid: unix.CLOCK_MONOTONIC,
		}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			b.Fatalf("perf_event_open cpu %d: %v", cpu, err)
		}
		ring, err := unix.Mmap(fd, 0, (1+pages)*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			b.Fatal(err)
		}
		unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(len(r.fds))})
		r.fds = append(r.fds, fd)
		r.rings = append(r.rings, ring)
	}
	return r
}

func numCPU() int {
	var set unix.CPUSet
	unix.SchedGetaffinity(0, &set)
	n := 0
	b, _ := os.ReadFile("/sys/devices/system/cpu/possible")
	fmt.Sscanf(string(b), "0-%d", &n)
	return n + 1
}

func (r *perfReader) drain(i int) {
	ring := r.rings[i]
	pg := os.Getpagesize()
	data := ring[pg:]
	head := atomic.LoadUint64((*uint64)(unsafe.Pointer(&ring[1024])))
	tailp := (*uint64)(unsafe.Pointer(&ring[1032]))
	tail := *tailp
	size := uint64(len(data))
	for tail < head {
		rec := func(off, n uint64) []byte {
			out := make([]byte, n)
			for k := uint64(0); k < n; k++ {
				out[k] = data[(off+k)%size]
			}
			return out
		}
		h := rec(tail, 8)
		typ, sz := binary.NativeEndian.Uint32(h[0:]), uint64(binary.NativeEndian.Uint16(h[6:]))
		body := rec(tail+8, sz-8)
		switch typ {
		case unix.PERF_RECORD_SAMPLE:
			ts := binary.NativeEndian.Uint64(body[0:])
			n := binary.NativeEndian.Uint32(body[8:])
			raw := body[12 : 12+n]
			if e, err := r.dec.decode(raw, nil); err == nil {
				e.Time = time.Unix(0, int64(ts)+int64(r.offset))
				r.pend = append(r.pend, e)
			}
		case unix.PERF_RECORD_LOST:
			r.nLost.Add(binary.NativeEndian.Uint64(body[8:]))
		}
		tail += sz
	}
	atomic.StoreUint64(tailp, tail)
}

func (r *perfReader) read() (Event, time.Time, error) {
	evs := make([]unix.EpollEvent, len(r.fds))
	for len(r.pend) == 0 {
		if r.closed.Load() {
			r.release()
			return Event{}, time.Time{}, ErrClosed
		}
		n, err := unix.EpollWait(r.epfd, evs, 100)
		if err != nil && err != unix.EINTR {
			return Event{}, time.Time{}, err
		}
		for _, ev := range evs[:max(n, 0)] {
			r.drain(int(ev.Fd))
		}
	}
	e := r.pend[0]
	r.pend = r.pend[1:]
	return e, time.Now(), nil
}

func (r *perfReader) lost() uint64 { return r.nLost.Load() }

// close makes read release the rings (the reading goroutine owns them).
func (r *perfReader) close() { r.closed.Store(true) }

func (r *perfReader) release() {
	for i, fd := range r.fds {
		unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
		unix.Munmap(r.rings[i])
		unix.Close(fd)
	}
	unix.Close(r.epfd)
}

// TestLost floods a ring of one page through Pump: what does not fit is
// counted lost, every RST is either read or counted, and the recording's
// last session line says how many were lost.
func TestLost(t *testing.T) {
	needRoot(t)
	p := netnstest.NewPair(t, "kls", "10.231.78.1/30", "10.231.78.2/30")
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+p.B, &st); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(Options{NetNS: []uint32{uint32(st.Ino)}, RingSize: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	x := NewIndex(nil, nil)
	done := make(chan error, 1)
	go func() { done <- Pump(tr, NewWriter(&buf), x) }()
	const n = 2000
	synFlood(t, p, n)
	for last, lastAt := -1, time.Now(); x.Len()+int(tr.Lost()) < n && time.Since(lastAt) < time.Second; time.Sleep(5 * time.Millisecond) {
		if c := x.Len(); c != last {
			last, lastAt = c, time.Now()
		}
	}
	tr.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, lost := x.Len(), tr.Lost()
	if lost == 0 || got+int(lost) != n {
		t.Errorf("read %d + lost %d, want lost > 0 and a sum of %d", got, lost, n)
	}
	rec, err := ReadIndex(&buf, "pump.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	ss := rec.Sessions()
	if rec.Len() != got || len(ss) != 1 || ss[0].Lost != lost || ss[0].Stop.IsZero() {
		t.Errorf("recording: %d events, sessions %+v; want %d events and one stopped session with %d lost", rec.Len(), ss, got, lost)
	}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, BPF, tracefs): run `make test` as root")
	}
}

// BenchmarkIdle: the CPU an open Tracer costs with no RST, per second (its
// 10 ms poll).
func BenchmarkIdle(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (BPF, tracefs): run as root")
	}
	for b.Loop() {
		tr, err := Open(Options{NetNS: []uint32{1}}) // no such namespace: no event
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Pump(tr, nil, nil) }()
		c0 := cpuTime()
		time.Sleep(2 * time.Second)
		cpu := cpuTime() - c0
		tr.Close()
		<-done
		b.ReportMetric(float64(cpu.Microseconds())/2000, "cpu-ms/s")
	}
}
