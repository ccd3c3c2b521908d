//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// gather is how long Read lets events gather after a wake-up before it
// reads on. The ring wakes its reader only for a record written while the
// reader has read everything (bpf_ringbuf_commit), and each wake-up is an
// IPI: reading at once after every wake-up, the reader keeps up with a flood
// and draws one per RST. Waiting after a wake-up leaves two per gather
// (the one that woke it and the next record) and none while idle; the
// first RST after a quiet spell is still returned at once.
const gather = 5 * time.Millisecond

// Options configures a Tracer.
type Options struct {
	// NetNS keeps only events of these network namespaces (inodes, as
	// CurrentNetNS gives them); empty keeps every namespace's events.
	NetNS []uint32
	// Tracefs is where tracefs is mounted; empty means /sys/kernel/tracing,
	// mounted there when absent.
	Tracefs string
	// RingSize is the ring buffer's size in bytes, a power of two and a
	// multiple of the page size; 0 means 2 MiB (about 20,000 events).
	RingSize int
}

// Tracer reads the kernel's reset events through a BPF program attached to
// the tracepoints. Read it from one goroutine; Close may be called from any.
type Tracer struct {
	session  Session
	decoders [4]*decoder // by Kind
	ring     *ringbuf.Reader
	rec      ringbuf.Record // reused by Read
	lost     *ebpf.Map
	objs     []interface{ Close() error } // programs and links
	maps     []*ebpf.Map
	release  sync.Once
	lostEnd  uint64 // Lost at Close
	clock    wallClock
	mu       sync.Mutex
	closed   bool
	woke     bool // the last ReadInto waited for a wake-up
	sync     syncState
	notRST   uint64
	// raw, when set (tests), sees each ring record before it is decoded.
	raw func(rec []byte)
}

// DefaultTracefs is tracefs's usual mount point.
const DefaultTracefs = "/sys/kernel/tracing"

// CurrentNetNS gives the inode of the calling thread's network namespace.
func CurrentNetNS() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("kernel: network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}

// mountTracefs mounts tracefs at dir unless it is there already.
func mountTracefs(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "events")); err == nil {
		return nil
	}
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("kernel: tracefs not mounted at %s and mounting it failed: %w", dir, err)
	}
	return nil
}

// ReadFormat reads the format file of group/event under tracefs dir.
func ReadFormat(dir, group, event string) (*Format, error) {
	p := filepath.Join(dir, "events", group, event, "format")
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	defer fh.Close()
	return ParseFormat(fh, p)
}

// Open loads the BPF program for each event this kernel has and starts
// tracing. It needs CAP_BPF and CAP_PERFMON (or root) and read access to
// tracefs; call it before dropping privileges. The error says in one line
// why the kernel's account is not available.
func Open(opts Options) (*Tracer, error) {
	t, err := open(opts)
	if err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM)) {
		return nil, fmt.Errorf("%w (needs root, or CAP_BPF and CAP_PERFMON with read access to tracefs)", err)
	}
	return t, err
}

func open(opts Options) (*Tracer, error) {
	dir := opts.Tracefs
	if dir == "" {
		dir = DefaultTracefs
		if err := mountTracefs(dir); err != nil {
			return nil, err
		}
	}
	t := &Tracer{}
	ok := false
	defer func() {
		if !ok {
			t.Close()
		}
	}()
	// bpf_ktime_get_tai_ns arrived in 6.1; before, stamp with
	// CLOCK_MONOTONIC and convert with a measured offset.
	t.clock.tai = features.HaveProgramHelper(ebpf.TracePoint, asm.FnKtimeGetTaiNs) == nil
	offs, err := kernelOffsets()
	if err != nil {
		return nil, err
	}
	ring := opts.RingSize
	if ring == 0 {
		ring = ringSize
	}
	events, err := ebpf.NewMap(&ebpf.MapSpec{Name: "rst_events", Type: ebpf.RingBuf, MaxEntries: uint32(ring)})
	if err != nil {
		return nil, fmt.Errorf("kernel: ring buffer: %w", err)
	}
	t.maps = append(t.maps, events)
	t.lost, err = ebpf.NewMap(&ebpf.MapSpec{Name: "rst_lost", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("kernel: lost counter: %w", err)
	}
	t.maps = append(t.maps, t.lost)
	var uname unix.Utsname
	_ = unix.Uname(&uname)
	t.session = Session{Kernel: unix.ByteSliceToString(uname.Release[:]), NetNS: opts.NetNS}
	for _, tp := range []struct {
		kind         Kind
		group, event string
	}{
		{KindSendReset, "tcp", "tcp_send_reset"},
		{KindReceiveReset, "tcp", "tcp_receive_reset"},
		{KindDropped, "skb", "kfree_skb"},
	} {
		f, err := ReadFormat(dir, tp.group, tp.event)
		if err != nil {
			return nil, err
		}
		d, err := newDecoder(tp.kind, f)
		if err == nil && tp.kind == KindDropped && !hasDropReason(f) {
			err = fmt.Errorf("kernel: %s: none of the drop reasons %v in this kernel", f.Name, DropReasons)
		}
		if err != nil && tp.kind == KindDropped {
			// Before 5.17 kfree_skb has no reason, before 6.2 not these:
			// resets are still traced, dropped ones are not (Session.Drops).
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.Size() > rawMax {
			return nil, fmt.Errorf("kernel: %s: record of %d bytes exceeds %d", f.Name, f.Size(), rawMax)
		}
		t.decoders[tp.kind] = d
		ins, err := program(tp.kind, f, offs, opts.NetNS, events.FD(), t.lost.FD(), ring, t.clock.tai)
		if err != nil {
			return nil, err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "rst_" + tp.event, Type: ebpf.TracePoint, License: "GPL", Instructions: ins,
		})
		if err != nil {
			return nil, fmt.Errorf("kernel: load program for %s: %w", f.Name, err)
		}
		t.objs = append(t.objs, prog)
		l, err := link.Tracepoint(tp.group, tp.event, prog, nil)
		if err != nil {
			return nil, fmt.Errorf("kernel: attach %s:%s: %w", tp.group, tp.event, err)
		}
		t.objs = append(t.objs, l)
		t.session.Drops = t.session.Drops || tp.kind == KindDropped
		if tp.kind == KindSendReset {
			_, t.session.Reasons = f.Field("reason")
			// 6.10 made tcp_send_reset fire for every RST the stack
			// sends (NO_SOCKET, TIME_WAIT) when it added the reason and
			// the sockaddr layout; before, only for full sockets.
			t.session.AllResets = t.session.Reasons
		}
	}
	t.ring, err = ringbuf.NewReader(events)
	if err != nil {
		return nil, fmt.Errorf("kernel: ring buffer reader: %w", err)
	}
	if err := t.clock.measure(); err != nil {
		return nil, err
	}
	t.session.Start = time.Now().UTC()
	t.session.Local = localAddrs()
	ok = true
	return t, nil
}

// Session describes what the Tracer covers; Stop and Lost are filled by Close.
func (t *Tracer) Session() Session {
	t.mu.Lock()
	s := t.session
	t.mu.Unlock()
	s.Lost = t.Lost()
	return s
}

// Lost counts events the BPF program could not put into the full ring.
func (t *Tracer) Lost() uint64 {
	t.mu.Lock()
	closed, end := t.closed, t.lostEnd
	t.mu.Unlock()
	if closed {
		return end
	}
	return t.readLost()
}

func (t *Tracer) readLost() uint64 {
	if t.lost == nil {
		return 0
	}
	var v uint64
	if err := t.lost.Lookup(uint32(0), &v); err != nil {
		return 0
	}
	return v
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("kernel: tracer closed")

// Read blocks until the next event and returns it with its time on the wall
// clock. Dropped segments that are not RSTs are skipped.
func (t *Tracer) Read() (Event, error) {
	for {
		if t.woke {
			t.woke = false
			time.Sleep(gather)
		}
		empty := t.ring.AvailableBytes() == 0
		err := t.ring.ReadInto(&t.rec)
		t.woke = empty
		if errors.Is(err, ringbuf.ErrFlushed) {
			// Every record in the ring when this flush was seen has been
			// returned, and added (a Pump adds each before it reads on).
			t.sync.drained()
			t.woke = false    // a Sync waits: no gather after a flush
			if t.isClosed() { // drained after Close
				t.free()
				return Event{}, ErrClosed
			}
			continue
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) {
				return Event{}, ErrClosed
			}
			return Event{}, fmt.Errorf("kernel: ring buffer: %w", err)
		}
		b := t.rec.RawSample
		if t.raw != nil {
			t.raw(b)
		}
		e, tai, err := decodeRecord(&t.decoders, b)
		if errors.Is(err, errNotRST) {
			t.notRST++
			continue
		}
		if err != nil {
			return Event{}, err
		}
		e.Time = t.clock.wall(tai)
		return e, nil
	}
}

// syncState is Sync's bookkeeping: Syncs begun (asked), the count every
// finished drain covers (covered), and the count begun before the last one
// finished (pending).
type syncState struct {
	mu       sync.Mutex
	asked    uint64
	pending  uint64
	covered  uint64
	finished chan struct{} // closed and replaced at each drain's end
}

// drained records a drain's end (Read saw ErrFlushed). The drain began
// with a wait that came after the previous drain ended, so it covers the
// Syncs begun before that end: those whose events were already in the ring.
func (s *syncState) drained() {
	s.mu.Lock()
	s.covered, s.pending = s.pending, s.asked
	if s.finished != nil {
		close(s.finished)
		s.finished = nil
	}
	s.mu.Unlock()
}

// Sync returns true once every event the kernel put in the ring before the
// call has been returned by Read and Read has been called again (so Pump
// has added it to its Index), false after max or when the Tracer is
// closed. Live, the engine calls it before it judges an RST recent enough
// that its event may still be in the ring: a reader that fell behind (a
// loaded host) would otherwise leave the RST unjoined. Call it from any
// goroutine while another reads; it costs two ring flushes (eventfd
// writes) and two wake-ups of the reader (no gather after a flush).
func (t *Tracer) Sync(max time.Duration) bool {
	s := &t.sync
	s.mu.Lock()
	s.asked++
	gen := s.asked
	s.mu.Unlock()
	timeout := time.NewTimer(max)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		if s.covered >= gen {
			s.mu.Unlock()
			return true
		}
		if s.finished == nil {
			s.finished = make(chan struct{})
		}
		finished := s.finished
		s.mu.Unlock()
		if t.isClosed() || t.ring.Flush() != nil {
			return false
		}
		select {
		case <-finished:
		case <-timeout.C:
			return false
		}
	}
}

// Close detaches the programs: no event is traced after it returns. Read
// then returns the events still in the ring and, at the end, ErrClosed,
// which releases the ring: keep reading until then.
func (t *Tracer) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	var first error
	for i := len(t.objs) - 1; i >= 0; i-- {
		if err := t.objs[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	t.closed = true
	t.session.Stop = time.Now().UTC()
	t.lostEnd = t.readLost()
	t.mu.Unlock()
	if t.ring == nil {
		t.free() // Open failed: no reader
	} else {
		_ = t.ring.Flush() // wakes a Read blocked in the ring
	}
	return first
}

func (t *Tracer) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// free releases the ring and the maps, once.
func (t *Tracer) free() {
	t.release.Do(func() {
		if t.ring != nil {
			t.ring.Close()
		}
		for _, m := range t.maps {
			m.Close()
		}
	})
}

// offsets are the kernel struct member offsets the program follows to find
// an event's network namespace and a dropped segment's headers, read from
// the kernel's BTF (no C compiler, no CO-RE: the numbers go into the
// instructions as constants).
type offsets struct {
	skcNet                      int // sock.__sk_common.skc_net.net
	skbDev                      int // sk_buff.dev
	skbHead, skbNetwork, skbTCP int // sk_buff.head, .network_header, .transport_header
	devNet                      int // net_device.nd_net.net
	nsInum                      int // net.ns.inum
}

func kernelOffsets() (offsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return offsets{}, fmt.Errorf("kernel: BTF: %w", err)
	}
	var o offsets
	for _, m := range []struct {
		dst  *int
		typ  string
		path []string
	}{
		{&o.skcNet, "sock_common", []string{"skc_net", "net"}},
		{&o.skbDev, "sk_buff", []string{"dev"}},
		{&o.skbHead, "sk_buff", []string{"head"}},
		{&o.skbNetwork, "sk_buff", []string{"network_header"}},
		{&o.skbTCP, "sk_buff", []string{"transport_header"}},
		{&o.devNet, "net_device", []string{"nd_net", "net"}},
		{&o.nsInum, "net", []string{"ns", "inum"}},
	} {
		var st *btf.Struct
		if err := spec.TypeByName(m.typ, &st); err != nil {
			return o, fmt.Errorf("kernel: BTF: struct %s: %w", m.typ, err)
		}
		off, err := memberOffset(st, m.path)
		if err != nil {
			return o, fmt.Errorf("kernel: BTF: %s.%v: %w", m.typ, m.path, err)
		}
		*m.dst = off
	}
	return o, nil
}

// memberOffset finds the byte offset of the member path in st, looking
// through anonymous structs and unions and typedefs.
func memberOffset(t btf.Type, path []string) (int, error) {
	if len(path) == 0 {
		return 0, nil
	}
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	default:
		return 0, fmt.Errorf("%s is not a struct", t)
	}
	for _, m := range members {
		if m.Name == path[0] {
			off, err := memberOffset(m.Type, path[1:])
			return int(m.Offset.Bytes()) + off, err
		}
	}
	for _, m := range members {
		if m.Name == "" {
			if off, err := memberOffset(m.Type, path); err == nil {
				return int(m.Offset.Bytes()) + off, nil
			}
		}
	}
	return 0, fmt.Errorf("no member %s", path[0])
}

// program builds the BPF program for one tracepoint. In order: for
// kfree_skb, keep only TCP_OLD_SEQUENCE and TCP_INVALID_SEQUENCE drops
// (their numbers from the format file); find the network namespace from the
// socket (skc_net) or else the skb's device (nd_net); keep only opts.NetNS;
// reserve a ring record (count it lost when the ring is full), stamp it
// with CLOCK_TAI, copy the trace record and, for drops, the segment's IP and
// TCP headers.
func program(kind Kind, f *Format, o offsets, netns []uint32, ringFD, lostFD, ring int, tai bool) (asm.Instructions, error) {
	field := func(name string) int16 {
		fl, ok := f.Field(name)
		if !ok {
			return -1
		}
		return int16(fl.Offset)
	}
	skOff, skbOff := field("skaddr"), field("skbaddr")
	if kind == KindDropped {
		skOff = field("rx_sk")
	}
	// read copies size bytes at r3 to fp-8 and loads them into dst;
	// jumps to fail when the read faults.
	read := func(dst asm.Register, size asm.Size, fail string) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -8),
			asm.Mov.Imm(asm.R2, int32(size.Sizeof())),
			asm.FnProbeReadKernel.Call(),
			asm.JNE.Imm(asm.R0, 0, fail),
			asm.LoadMem(dst, asm.RFP, -8, size),
		}
	}
	clockFn := asm.FnKtimeGetNs
	if tai {
		clockFn = asm.FnKtimeGetTaiNs
	}
	var ins asm.Instructions
	ins = append(ins, asm.Mov.Reg(asm.R6, asm.R1))
	if kind == KindDropped {
		rf, ok := f.Field("reason")
		if !ok || rf.Size != 4 {
			return nil, fmt.Errorf("kernel: %s: no 4-byte reason field", f.Name)
		}
		ins = append(ins, asm.LoadMem(asm.R0, asm.R6, int16(rf.Offset), asm.Word))
		if !hasDropReason(f) {
			return nil, fmt.Errorf("kernel: %s: none of the drop reasons %v in this kernel", f.Name, DropReasons)
		}
		for _, name := range DropReasons {
			if n, ok := f.Number("reason", name); ok {
				ins = append(ins, asm.JEq.Imm(asm.R0, int32(n), "keep"))
			}
		}
		ins = append(ins, asm.Mov.Imm(asm.R0, 0), asm.Return(), asm.Mov.Imm(asm.R0, 0).WithSymbol("keep"))
	}
	// R9 = netns inode, R8 = struct net *.
	ins = append(ins, asm.Mov.Imm(asm.R9, 0), asm.Mov.Imm(asm.R8, 0))
	if skOff >= 0 {
		ins = append(ins,
			asm.LoadMem(asm.R3, asm.R6, skOff, asm.DWord),
			asm.JEq.Imm(asm.R3, 0, "nosk"),
			asm.Add.Imm(asm.R3, int32(o.skcNet)))
		ins = append(ins, read(asm.R8, asm.DWord, "nsdone")...)
		ins = append(ins, asm.Ja.Label("inum"))
	}
	ins = append(ins, asm.Mov.Imm(asm.R0, 0).WithSymbol("nosk"))
	if skbOff >= 0 {
		ins = append(ins,
			asm.LoadMem(asm.R3, asm.R6, skbOff, asm.DWord),
			asm.JEq.Imm(asm.R3, 0, "nsdone"),
			asm.Add.Imm(asm.R3, int32(o.skbDev)))
		ins = append(ins, read(asm.R3, asm.DWord, "nsdone")...)
		ins = append(ins, asm.JEq.Imm(asm.R3, 0, "nsdone"), asm.Add.Imm(asm.R3, int32(o.devNet)))
		ins = append(ins, read(asm.R8, asm.DWord, "nsdone")...)
	}
	ins = append(ins,
		asm.JEq.Imm(asm.R8, 0, "nsdone").WithSymbol("inum"),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Add.Imm(asm.R3, int32(o.nsInum)))
	ins = append(ins, read(asm.R9, asm.Word, "nsdone")...)
	ins = append(ins, asm.Mov.Imm(asm.R0, 0).WithSymbol("nsdone"))
	if len(netns) > 0 {
		for _, n := range netns {
			ins = append(ins, asm.LoadImm(asm.R1, int64(n), asm.DWord), asm.JEq.Reg(asm.R9, asm.R1, "reserve"))
		}
		ins = append(ins, asm.Return())
	}
	ins = append(ins,
		asm.LoadMapPtr(asm.R1, ringFD).WithSymbol("reserve"),
		asm.Mov.Imm(asm.R2, int32(recordSize(kind, f))),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(asm.R7, asm.R0),
		clockFn.Call(),
		asm.StoreMem(asm.R7, 0, asm.R0, asm.DWord),
		asm.StoreImm(asm.R7, 8, int64(kind), asm.Word),
		asm.StoreMem(asm.R7, 12, asm.R9, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, 16),
		asm.Mov.Imm(asm.R2, int32(f.Size())),
		asm.Mov.Reg(asm.R3, asm.R6),
		asm.FnProbeReadKernel.Call(),
	)
	if kind == KindDropped && skbOff >= 0 {
		// R8 = skb, then head; R9 = head + network_header; R3 = head + transport_header.
		ins = append(ins,
			asm.LoadMem(asm.R8, asm.R6, skbOff, asm.DWord),
			asm.Mov.Reg(asm.R3, asm.R8),
			asm.Add.Imm(asm.R3, int32(o.skbNetwork)))
		ins = append(ins, read(asm.R9, asm.Half, "submit")...)
		ins = append(ins, asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, int32(o.skbTCP)))
		ins = append(ins, read(asm.R4, asm.Half, "submit")...)
		ins = append(ins, asm.StoreMem(asm.RFP, -16, asm.R4, asm.DWord))
		ins = append(ins, asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Imm(asm.R3, int32(o.skbHead)))
		ins = append(ins, read(asm.R8, asm.DWord, "submit")...)
		ins = append(ins,
			asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, pktOff),
			asm.Mov.Imm(asm.R2, 40),
			asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Reg(asm.R3, asm.R9),
			asm.FnProbeReadKernel.Call(),
			asm.LoadMem(asm.R4, asm.RFP, -16, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R7), asm.Add.Imm(asm.R1, pktOff+40),
			asm.Mov.Imm(asm.R2, 20),
			asm.Mov.Reg(asm.R3, asm.R8), asm.Add.Reg(asm.R3, asm.R4),
			asm.FnProbeReadKernel.Call(),
		)
	}
	ins = append(ins,
		// The ring's own wake-up policy; see gather for the reader's side.
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("submit"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		// The ring is full: count the event as lost.
		asm.StoreImm(asm.RFP, -4, 0, asm.Word).WithSymbol("lost"),
		asm.LoadMapPtr(asm.R1, lostFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return ins, nil
}

func hasDropReason(f *Format) bool {
	for _, name := range DropReasons {
		if _, ok := f.Number("reason", name); ok {
			return true
		}
	}
	return false
}

// Release names the running kernel ("Linux 6.18.44"), for messages.
func Release() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "this kernel"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}
