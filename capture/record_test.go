package capture

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

var (
	recClient  = netip.MustParseAddrPort("10.0.0.1:40000")
	recServer  = netip.MustParseAddrPort("10.0.0.2:80")
	recOther   = netip.MustParseAddrPort("10.0.0.3:443")
	recOtherC  = netip.MustParseAddrPort("10.0.0.1:40001")
	recSecond  = time.Second
	recNoFlags TCPFlags
)

// recFeed gives r packets numbered from first: from src to dst with flags,
// 10 ms apart from t.
type recFeed struct {
	t  *testing.T
	r  *Recorder
	n  int
	at time.Time
}

func (f *recFeed) send(src, dst netip.AddrPort, flags TCPFlags) int {
	f.t.Helper()
	f.n++
	f.at = f.at.Add(10 * time.Millisecond)
	p := rotPacket(f.n, f.at)
	p.Src, p.Dst, p.Flags = src, dst, flags
	if err := f.r.Packet(p); err != nil {
		f.t.Fatal(err)
	}
	return f.n
}

func newRecorder(t *testing.T, opts RecorderOptions) (*Recorder, string, *recFeed) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rst.pcap")
	r, err := NewRecorder(path, []int{1}, opts, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	return r, path, &recFeed{t: t, r: r, at: rotateT0}
}

// TestRecorder_flagWritesHeldFlow: a finding's flow is on disk when Flag
// returns (before Close), in capture order, with nothing of other flows;
// the flow's later packets follow.
func TestRecorder_flagWritesHeldFlow(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{})
	var want []int
	want = append(want, f.send(recClient, recServer, SYN))
	f.send(recOtherC, recOther, SYN)
	want = append(want, f.send(recServer, recClient, SYN|ACK))
	want = append(want, f.send(recClient, recServer, PSH|ACK))
	f.send(recOther, recOtherC, SYN|ACK)
	want = append(want, f.send(recServer, recClient, RST))
	want = append(want, f.send(recClient, recServer, ACK)) // look-ahead
	f.send(recOtherC, recOther, ACK)
	if got := readIndexes(t, path); len(got) != 0 {
		t.Fatalf("before Flag: got packets %v on disk, want none", got)
	}
	if err := r.Mark(recServer, recClient); err != nil {
		t.Fatal(err)
	}
	if got := readIndexes(t, path); !slices.Equal(got, want) {
		t.Fatalf("after Flag, before Close: got packets %v, want %v", got, want)
	}
	want = append(want, f.send(recClient, recServer, RST)) // followed
	f.send(recOther, recOtherC, ACK)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readIndexes(t, path); !slices.Equal(got, want) {
		t.Errorf("after Close: got packets %v, want %v", got, want)
	}
	if s := r.Stats(); s.Written != uint64(len(want)) || s.Marked != 1 {
		t.Errorf("stats: got %+v, want Written %d, Marked 1", s, len(want))
	}
}

// TestRecorder_contextBound: --context 4 keeps the last 4 packets before
// the RST and the first 4 from the RST on.
func TestRecorder_contextBound(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{Context: 4})
	for range 10 {
		f.send(recClient, recServer, PSH|ACK)
	}
	rst := f.send(recServer, recClient, RST)
	for range 6 {
		f.send(recClient, recServer, PSH|ACK)
	}
	if err := r.Mark(recClient, recServer); err != nil {
		t.Fatal(err)
	}
	r.Close()
	want := append(seq(rst-4, rst-1), seq(rst, rst+3)...)
	if got := readIndexes(t, path); !slices.Equal(got, want) {
		t.Errorf("got packets %v, want %v", got, want)
	}
}

// TestRecorder_unflaggedRSTExpires: a RST whose finding never comes (a
// filter left it out) stops pinning the flow after Hold: the next RST
// of the flow again gets the packets just before it.
func TestRecorder_unflaggedRSTExpires(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{Context: 3, Hold: recSecond})
	f.send(recClient, recServer, PSH|ACK)
	f.send(recServer, recClient, RST) // never flagged
	f.at = f.at.Add(2 * recSecond)
	var want []int
	for range 5 {
		want = append(want, f.send(recClient, recServer, PSH|ACK))
	}
	want = append(want[2:], f.send(recServer, recClient, RST))
	if err := r.Mark(recClient, recServer); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := readIndexes(t, path); !slices.Equal(got, want) {
		t.Errorf("got packets %v, want %v", got, want)
	}
}

// TestRecorder_memoryBounded: many flows, never flagged, never hold more
// than MaxBytes (plus one frame) or MaxFlows.
func TestRecorder_memoryBounded(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{MaxBytes: 64 << 10, MaxFlows: 100})
	maxBytes, maxFlows := int64(0), 0
	for i := range 20000 {
		c := netip.AddrPortFrom(recClient.Addr(), uint16(1024+i%5000))
		f.send(c, recServer, recNoFlags)
		s := r.Stats()
		maxBytes, maxFlows = max(maxBytes, s.HeldBytes), max(maxFlows, s.HeldFlows)
	}
	if maxBytes > 64<<10+100 || maxFlows > 100 {
		t.Errorf("held at most %d bytes in %d flows, want at most %d bytes and 100 flows", maxBytes, maxFlows, 64<<10+100)
	}
	if s := r.Stats(); s.Forgotten == 0 {
		t.Errorf("Forgotten: got 0, want flows forgotten to stay in bounds")
	}
	// The most recent flow is still held and can be written.
	last := netip.AddrPortFrom(recClient.Addr(), uint16(1024+19999%5000))
	if err := r.Mark(last, recServer); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := readIndexes(t, path); len(got) == 0 || got[len(got)-1] != 20000 {
		t.Errorf("flagged the newest flow: got packets %v, want it to end with 20000", got)
	}
}

// TestRecorder_all streams every packet, rotating as asked.
func TestRecorder_all(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{All: true, Rotate: RotateOptions{Size: 1000}})
	for range 12 {
		f.send(recClient, recServer, ACK)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := append(readIndexes(t, path), readIndexes(t, path+"1")...); !slices.Equal(got, seq(1, 12)) {
		t.Errorf("got packets %v, want 1..12 over two files", got)
	}
}

// TestRecorder_allocs: holding a packet of a known flow whose ring is full
// allocates nothing (the dropped frame's buffer is reused).
func TestRecorder_allocs(t *testing.T) {
	r, _, f := newRecorder(t, RecorderOptions{Context: 8})
	defer r.Close()
	for range 20 {
		f.send(recClient, recServer, ACK)
	}
	p := rotPacket(99, f.at)
	p.Src, p.Dst, p.Flags = recClient, recServer, ACK
	if n := testing.AllocsPerRun(1000, func() { r.Packet(p) }); n != 0 {
		t.Errorf("Packet on a held flow: got %v allocations, want 0", n)
	}
}

// TestRecorder_heapBounded: what MaxBytes counts is what the heap holds.
// 100,000 flows of 8 packets each, never flagged, with MaxBytes 4 MiB, leave
// the live heap less than 8 MiB above where it started.
func TestRecorder_heapBounded(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	r, _, f := newRecorder(t, RecorderOptions{MaxBytes: 4 << 20, MaxFlows: 1 << 20})
	defer r.Close()
	before := heap()
	for i := range 100_000 {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
		for range 8 {
			f.send(c, recServer, ACK)
		}
	}
	after := heap()
	s := r.Stats()
	t.Logf("heap grew %d KiB; held %d KiB in %d flows, %d forgotten", (int64(after)-int64(before))>>10, s.HeldBytes>>10, s.HeldFlows, s.Forgotten)
	if after > before+8<<20 || s.HeldBytes > 4<<20+200 {
		t.Errorf("heap grew %d KiB (held %d KiB in %d flows), want under 8 MiB with MaxBytes 4 MiB",
			(int64(after)-int64(before))>>10, s.HeldBytes>>10, s.HeldFlows)
	}
	runtime.KeepAlive(r)
}

// TestRecorder_churnFlat: a long run is many flows passing through the
// flow cap; the live heap after a million flows is what it was after
// 200,000 (no map or free-list growth with churn).
func TestRecorder_churnFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a million flows")
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	r, _, f := newRecorder(t, RecorderOptions{MaxFlows: 20000})
	defer r.Close()
	var at200k int64
	for i := range 1_000_000 {
		if i == 200_000 {
			at200k = heap()
		}
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		for range 3 {
			f.send(c, recServer, ACK)
		}
	}
	end := heap()
	t.Logf("live heap after 200,000 flows %d KiB, after 1,000,000 %d KiB (held %d KiB)", at200k>>10, end>>10, r.Stats().HeldBytes>>10)
	if end > at200k+1<<20 {
		t.Errorf("live heap grew from %d KiB to %d KiB between 200,000 and 1,000,000 flows, want flat", at200k>>10, end>>10)
	}
	runtime.KeepAlive(r)
}

// TestRecorder_endReleases: End lets a finished flow's held packets go
// (a sensor's -w memory follows the flows alive), but keeps a flow whose
// RST still waits for its finding; a new connection on the tuple after
// End starts with nothing of the old one.
func TestRecorder_endReleases(t *testing.T) {
	r, path, f := newRecorder(t, RecorderOptions{Context: 8, Hold: recSecond})
	for range 5 {
		f.send(recClient, recServer, PSH|ACK)
	}
	f.send(recOtherC, recOther, SYN)
	r.End(recServer, recClient)
	if s := r.Stats(); s.HeldFlows != 1 || s.Ended != 1 {
		t.Fatalf("after End of one of two flows: got %d flows held, %d ended, want 1 and 1", s.HeldFlows, s.Ended)
	}
	r.End(recOther, recOtherC)
	// The 6 frames' buffers (100 bytes each) stay on the free list.
	if s := r.Stats(); s.HeldFlows != 0 || s.HeldBytes > 6*128 {
		t.Fatalf("after End of both: got %d flows, %d bytes held, want none (6 free frame buffers aside)", s.HeldFlows, s.HeldBytes)
	}

	// An RST whose finding is pending survives End, and Mark writes it.
	syn := f.send(recClient, recServer, SYN)
	rst := f.send(recServer, recClient, RST)
	r.End(recClient, recServer)
	if err := r.Mark(recClient, recServer); err != nil {
		t.Fatal(err)
	}
	// A new connection on the tuple, once the old one ended.
	r.End(recClient, recServer)
	next := f.send(recClient, recServer, SYN)
	f.send(recServer, recClient, RST)
	f.at = f.at.Add(2 * recSecond) // past Hold: no finding came
	f.send(recOtherC, recOther, SYN)
	r.End(recClient, recServer)
	if s := r.Stats(); s.HeldFlows != 1 || s.Ended != 4 {
		t.Errorf("after the unmarked RST's Hold: got %d flows held, %d ended, want 1 and 4", s.HeldFlows, s.Ended)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readIndexes(t, path), []int{syn, rst}; !slices.Equal(got, want) {
		t.Errorf("got packets %v on disk, want %v (not %d, a later connection)", got, want, next)
	}
}

// TestRecorder_markReleasesSlots: once a finding's packets are written,
// the flow holds no frames and no slot arrays until its next packets.
func TestRecorder_markReleasesSlots(t *testing.T) {
	r, _, f := newRecorder(t, RecorderOptions{Context: 8})
	defer r.Close()
	for range 20 {
		f.send(recClient, recServer, PSH|ACK)
	}
	f.send(recServer, recClient, RST)
	if err := r.Mark(recClient, recServer); err != nil {
		t.Fatal(err)
	}
	h := r.flows[pairOf(recClient, recServer)]
	if h == nil {
		t.Fatal("after Mark: the flow is gone, want it followed")
	}
	if h.ring != nil || h.after != nil || h.slots != heldFlowSize {
		t.Fatalf("after Mark: got ring %d/%d, after %d/%d, %d bytes of slots counted, want none and %d",
			len(h.ring), cap(h.ring), len(h.after), cap(h.after), h.slots, heldFlowSize)
	}
}

// TestFrameClass: every frame fits its class's buffers, with at most a
// quarter more (or 64 bytes), and a buffer's size maps back to its class.
func TestFrameClass(t *testing.T) {
	prev := 0
	for n := 1; n <= maxRecordLen; n++ {
		c, size := frameClass(n)
		switch {
		case c < prev || c >= frameClasses:
			t.Fatalf("frameClass(%d) = class %d after %d, want non-decreasing below %d", n, c, prev, frameClasses)
		case size < n || size > max(64, n+n/4+1):
			t.Fatalf("frameClass(%d): buffers of %d bytes, want room with at most a quarter more", n, size)
		}
		if c2, size2 := frameClass(size); c2 != c || size2 != size {
			t.Fatalf("frameClass(%d) = %d, %d; its size maps to %d, %d", n, c, size, c2, size2)
		}
		prev = c
	}
	if c, _ := frameClass(maxRecordLen + 1); c != -1 {
		t.Errorf("frameClass(%d): got class %d, want -1 (no class past the largest record)", maxRecordLen+1, c)
	}
}

// TestRecorder_noSizeDrift: the buffers of a bulk flow's large frames,
// once released, do not go on to hold small frames of other flows (with
// one free list, over a long run every held frame drifted to the largest
// size seen, and the flows held under MaxBytes fell with it).
func TestRecorder_noSizeDrift(t *testing.T) {
	r, _, f := newRecorder(t, RecorderOptions{Context: 8})
	defer r.Close()
	send := func(src, dst netip.AddrPort, size int) {
		f.n++
		f.at = f.at.Add(time.Millisecond)
		p := &Packet{Index: uint64(f.n), Time: f.at, LinkType: 1, Frame: make([]byte, size), CapLen: size, WireLen: size,
			Src: src, Dst: dst, Flags: ACK}
		if err := r.Packet(p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		bulk := netip.AddrPortFrom(recOther.Addr(), uint16(1000+i))
		for range 8 {
			send(bulk, recServer, 4000)
		}
		r.End(bulk, recServer)
		c := netip.AddrPortFrom(recClient.Addr(), uint16(1000+i))
		for range 8 {
			send(c, recServer, 66)
		}
	}
	for k, h := range r.flows {
		for _, hp := range h.ring {
			if cap(hp.frame) > 80 {
				t.Fatalf("flow %v-%v: a 66-byte frame held in a %d-byte buffer, want 80 (its class)", k.a, k.b, cap(hp.frame))
			}
		}
	}
	if s := r.Stats(); s.HeldFlows != 100 {
		t.Errorf("got %d flows held, want the 100 small ones", s.HeldFlows)
	}
}

// closeCounter is a stream that counts Close calls (there must be none).
type closeCounter struct {
	bytes.Buffer
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestRecorder_stream: with a Writer (live -w -) the Recorder writes one
// capture to it: the header at once, a finding's flow when Mark returns,
// the followed packets, and at Close the rest, without closing the
// stream; with rotation asked too it refuses to start.
func TestRecorder_stream(t *testing.T) {
	var w closeCounter
	r, err := NewRecorder("", []int{1}, RecorderOptions{Writer: &w}, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Len() != 24 {
		t.Fatalf("after NewRecorder: %d bytes on the stream, want the 24-byte pcap header", w.Len())
	}
	f := &recFeed{t: t, r: r, at: rotateT0}
	var want []int
	want = append(want, f.send(recClient, recServer, SYN))
	f.send(recOtherC, recOther, SYN)
	want = append(want, f.send(recServer, recClient, RST))
	if err := r.Mark(recServer, recClient); err != nil {
		t.Fatal(err)
	}
	if got := indexesIn(t, bytes.NewReader(w.Bytes()), "the stream"); !slices.Equal(got, want) {
		t.Fatalf("after Mark: got packets %v on the stream, want %v", got, want)
	}
	want = append(want, f.send(recClient, recServer, ACK)) // followed
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := indexesIn(t, bytes.NewReader(w.Bytes()), "the stream"); !slices.Equal(got, want) {
		t.Errorf("after Close: got packets %v, want %v", got, want)
	}
	if w.closed != 0 {
		t.Errorf("Close closed the stream %d times, want never (it is stdout)", w.closed)
	}
	if _, err := NewRecorder("", []int{1}, RecorderOptions{Writer: &w, Rotate: RotateOptions{Size: 1e6}}, rotateT0); err == nil {
		t.Error("a stream with rotation: got no error")
	}
}
