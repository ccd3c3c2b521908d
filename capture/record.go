package capture

import (
	"errors"
	"io"
	"math/bits"
	"net/netip"
	"time"
	"unsafe"
)

// RecorderOptions configures a Recorder.
type RecorderOptions struct {
	// All writes every packet as it comes (--write-all); nothing is held.
	All bool
	// Context is the number of a flow's packets held before its first
	// RST, and again after it (the look-ahead), and written after a
	// finding (--context; default 64).
	Context int
	// Hold is how long after a flow's first RST its packets wait for a
	// finding (the look-ahead plus a margin; default 3 s of packet time).
	// A flow whose RST got no finding by then (filtered out) goes back to
	// holding only its last Context packets.
	Hold time.Duration
	// MaxBytes bounds the memory held for all flows together, frames and
	// bookkeeping (default 64 MiB); past it the least recently active
	// flows are forgotten.
	MaxBytes int64
	// MaxFlows bounds the flows held (default 65536), as MaxBytes.
	MaxFlows int
	// Rotate bounds the files on disk.
	Rotate RotateOptions
	// Writer, when set, is written instead of a file named path: one
	// capture, streamed (live -w -); Rotate must then be zero. Close
	// does not close it.
	Writer io.Writer
}

// RecorderStats counts what a Recorder did.
type RecorderStats struct {
	Written   uint64 // packets written to disk
	Marked    uint64 // Mark calls that found held packets or a live flow
	Ended     uint64 // flows released by End
	Forgotten uint64 // flows whose held packets were dropped to stay in bounds
	HeldBytes int64  // frame bytes held now
	HeldFlows int    // flows held now
}

// Recorder is the live -w: it holds each flow's recent frames in memory
// and writes a flow's frames to disk as soon as Mark says the flow has a
// finding, then follows the flow for Context more packets. Memory is
// bounded by MaxBytes and MaxFlows (least recently active flows go
// first), disk by Rotate, so a run of any length stays in bounds. With
// All it streams every packet instead.
//
// The caller gives it every packet (Packet) in capture order, calls Mark
// from the finding callback, End when the flow tracker lets a flow go
// (so that what is held follows the flows alive, not every flow seen
// since the start until the bounds push it out), Flush when the link is
// quiet, and Close at the end. Output is flushed to the file at every Mark and, while packets
// stream, at least once a second of packet time.
// It is not safe for concurrent use.
type Recorder struct {
	opts  RecorderOptions
	rot   *Rotator
	flows map[flowPair]*heldFlow
	// LRU list of heldFlows, most recently active at head.
	head, tail *heldFlow
	free       [frameClasses][][]byte // released frame buffers by size class, reused
	nfree      int                    // buffers in free
	bytes      int64
	lastFlush  time.Time
	now        time.Time // the latest packet's time
	dirty      bool
	err        error
	stats      RecorderStats
}

// flowPair is a TCP flow's two ends in canonical order.
type flowPair struct{ a, b netip.AddrPort }

func pairOf(x, y netip.AddrPort) flowPair {
	if c := x.Addr().Compare(y.Addr()); c > 0 || (c == 0 && x.Port() > y.Port()) {
		x, y = y, x
	}
	return flowPair{x, y}
}

// heldPacket is a copy of a Packet's frame and record header.
type heldPacket struct {
	time     time.Time
	index    uint64
	wireLen  int
	linkType int
	frame    []byte
}

// heldFlow is one flow's held frames: a ring of the last Context packets
// before its first RST and, from that RST on, up to Context more.
type heldFlow struct {
	key        flowPair
	prev, next *heldFlow
	ring       []heldPacket // cap Context; ring[start] is the oldest when full
	start      int
	after      []heldPacket // since the first RST, cap Context
	rstAt      time.Time    // first RST's time; zero when none pending
	follow     int          // packets still to write directly after a Mark
	slots      int64        // bytes of ring's and after's arrays, counted in Recorder.bytes
}

// heldFlowSize and heldPacketSize are what a held flow costs besides its
// frames: the map entry and struct, and each slot of its arrays.
const (
	heldFlowSize   = int64(unsafe.Sizeof(heldFlow{})) + 64
	heldPacketSize = int64(unsafe.Sizeof(heldPacket{}))
)

// account brings r.bytes up to date with h's slot arrays.
func (r *Recorder) account(h *heldFlow) {
	n := int64(cap(h.ring)+cap(h.after))*heldPacketSize + heldFlowSize
	r.bytes += n - h.slots
	h.slots = n
}

// NewRecorder opens the output (see NewRotator) for a Source with
// linkTypes. now names a -G first file.
func NewRecorder(path string, linkTypes []int, opts RecorderOptions, now time.Time) (*Recorder, error) {
	if opts.Context <= 0 {
		opts.Context = 64
	}
	if opts.Hold <= 0 {
		opts.Hold = 3 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxFlows <= 0 {
		opts.MaxFlows = 65536
	}
	var rot *Rotator
	var err error
	switch {
	case opts.Writer != nil && opts.Rotate != (RotateOptions{}):
		return nil, errors.New("capture: recorder: rotation needs files, not a stream")
	case opts.Writer != nil:
		rot, err = NewStreamRotator(opts.Writer, linkTypes)
	default:
		rot, err = NewRotator(path, linkTypes, opts.Rotate, now)
	}
	if err != nil {
		return nil, err
	}
	return &Recorder{opts: opts, rot: rot, flows: map[flowPair]*heldFlow{}}, nil
}

// Packet sees every packet read, in capture order. It returns the first
// write error (then and afterwards).
func (r *Recorder) Packet(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	if r.opts.All {
		r.write(p)
		r.tick(p.Time)
		return r.err
	}
	if p.Time.After(r.now) {
		r.now = p.Time
	}
	k := pairOf(p.Src, p.Dst)
	h := r.flows[k]
	if h == nil {
		h = &heldFlow{key: k}
		r.flows[k] = h
	} else {
		r.unlink(h)
	}
	r.pushFront(h)
	switch {
	case h.follow > 0:
		h.follow--
		r.write(p)
		r.tick(p.Time)
	default:
		r.hold(h, p)
	}
	r.account(h)
	r.bound()
	return r.err
}

// hold copies p into h.
func (r *Recorder) hold(h *heldFlow, p *Packet) {
	if !h.rstAt.IsZero() && p.Time.Sub(h.rstAt) > r.opts.Hold {
		// No finding came for that RST: back to the plain ring.
		for i := range h.after {
			r.ringPush(h, &h.after[i])
		}
		clear(h.after) // the frames are the ring's now
		h.after = h.after[:0]
		h.rstAt = time.Time{}
	}
	if h.rstAt.IsZero() && p.Flags&RST != 0 {
		h.rstAt = p.Time
	}
	hp := heldPacket{time: p.Time, index: p.Index, wireLen: p.WireLen, linkType: p.LinkType}
	if h.rstAt.IsZero() {
		hp.frame = r.copyFrame(p.Frame)
		r.ringPush(h, &hp)
		return
	}
	if len(h.after) < r.opts.Context {
		hp.frame = r.copyFrame(p.Frame)
		h.after = append(h.after, hp)
	}
}

// ringPush moves hp (and its frame) into h's ring, dropping the oldest
// when full.
func (r *Recorder) ringPush(h *heldFlow, hp *heldPacket) {
	if len(h.ring) < r.opts.Context {
		h.ring = append(h.ring, *hp)
		return
	}
	r.release(h.ring[h.start].frame)
	h.ring[h.start] = *hp
	h.start = (h.start + 1) % len(h.ring)
}

// Frame buffers come in size classes (64 bytes, then four per doubling,
// as the Go allocator's: 80, 96, 112, 128, 160, ...) up to the largest
// record, and a released buffer is reused only for a frame of its class.
// With one free list for all sizes, the large buffers of bulk flows went
// on to hold small frames, and over a long run every held frame drifted
// towards the largest size seen.
const (
	frameClasses = 49 // up to 262144 bytes, the largest record
	maxFree      = 1024
)

// frameClass gives the class of a frame of n bytes, the smallest with
// room, and its buffers' size; -1 past the largest record.
func frameClass(n int) (class, size int) {
	if n <= 64 {
		return 0, 64
	}
	k := bits.Len(uint(n - 1)) // 1<<(k-1) < n <= 1<<k, k >= 7
	base, step := 1<<(k-1), 1<<(k-3)
	j := (n - base + step - 1) / step // 1..4
	if class = 1 + (k-7)*4 + j - 1; class >= frameClasses {
		return -1, n
	}
	return class, base + j*step
}

func (r *Recorder) copyFrame(b []byte) []byte {
	c, size := frameClass(len(b))
	var buf []byte
	if c >= 0 && len(r.free[c]) > 0 {
		n := len(r.free[c])
		buf = r.free[c][n-1][:0]
		r.free[c] = r.free[c][:n-1]
		r.nfree--
	} else {
		buf = make([]byte, 0, size)
		r.bytes += int64(cap(buf))
	}
	return append(buf, b...)
}

// release returns a frame buffer to its class's free list (kept while
// the lists are short; counted in bytes while there).
func (r *Recorder) release(b []byte) {
	if b == nil {
		return
	}
	if c, size := frameClass(cap(b)); c >= 0 && cap(b) == size && r.nfree < maxFree {
		r.free[c] = append(r.free[c], b)
		r.nfree++
		return
	}
	r.bytes -= int64(cap(b))
}

// dropFree lets the free buffers go.
func (r *Recorder) dropFree() {
	for c := range r.free {
		for _, b := range r.free[c] {
			r.bytes -= int64(cap(b))
		}
		clear(r.free[c])
		r.free[c] = r.free[c][:0]
	}
	r.nfree = 0
}

// bound forgets the least recently active flows past the limits.
func (r *Recorder) bound() {
	for (r.bytes > r.opts.MaxBytes || len(r.flows) > r.opts.MaxFlows) && r.tail != nil {
		h := r.tail
		if len(h.ring)+len(h.after) > 0 {
			r.stats.Forgotten++
		}
		r.forget(h)
		if r.bytes > r.opts.MaxBytes {
			r.dropFree()
		}
	}
}

// Mark writes the held packets of the flow between a and b now (the
// finding's flow), in capture order, and the flow's next Context packets
// as they come. The file is flushed before Mark returns.
func (r *Recorder) Mark(a, b netip.AddrPort) error {
	if r.err != nil || r.opts.All {
		return r.err
	}
	h := r.flows[pairOf(a, b)]
	if h == nil {
		return nil
	}
	r.stats.Marked++
	n := len(h.ring)
	for i := range n {
		hp := &h.ring[(h.start+i)%n]
		r.writeHeld(hp)
		r.release(hp.frame)
	}
	for i := range h.after {
		r.writeHeld(&h.after[i])
		r.release(h.after[i].frame)
	}
	// The slot arrays go too: they still point at the released frames,
	// which the heap would keep past the free list's reach, and a flow
	// with a finding is usually at its end.
	h.ring, h.start, h.after, h.rstAt = nil, 0, nil, time.Time{}
	r.account(h)
	h.follow = r.opts.Context
	r.flush()
	return r.err
}

// End releases what is held for the flow between a and b: the flow
// tracker has let it go (closed, idle, or replaced by a new connection on
// its tuple). A flow whose RST is still waiting for its finding (within
// Hold of the latest packet) is kept for Mark; the next connection on the
// tuple, or the bounds, release it.
func (r *Recorder) End(a, b netip.AddrPort) {
	if r.opts.All {
		return
	}
	h := r.flows[pairOf(a, b)]
	if h == nil || (!h.rstAt.IsZero() && r.now.Sub(h.rstAt) <= r.opts.Hold) {
		return
	}
	r.forget(h)
	r.stats.Ended++
}

// forget drops h and what it holds.
func (r *Recorder) forget(h *heldFlow) {
	r.unlink(h)
	delete(r.flows, h.key)
	r.bytes -= h.slots
	for _, hp := range h.ring {
		r.release(hp.frame)
	}
	for _, hp := range h.after {
		r.release(hp.frame)
	}
}

func (r *Recorder) writeHeld(hp *heldPacket) {
	p := Packet{Index: hp.index, Time: hp.time, WireLen: hp.wireLen, CapLen: len(hp.frame), LinkType: hp.linkType, Frame: hp.frame}
	r.write(&p)
}

func (r *Recorder) write(p *Packet) {
	if r.err != nil {
		return
	}
	if r.err = r.rot.WritePacket(p); r.err == nil {
		r.stats.Written++
		r.dirty = true
	}
}

// tick flushes streamed packets once a second of packet time.
func (r *Recorder) tick(t time.Time) {
	if r.dirty && t.Sub(r.lastFlush) >= time.Second {
		r.flush()
		r.lastFlush = t
	}
}

func (r *Recorder) flush() {
	if r.err == nil && r.dirty {
		r.err = r.rot.Flush()
		r.dirty = false
	}
}

// Flush writes buffered packets to the file (call it when the link is
// quiet). It returns the first error.
func (r *Recorder) Flush() error {
	r.flush()
	return r.err
}

// Close flushes and closes the output and drops what is held.
func (r *Recorder) Close() error {
	r.flush()
	cerr := r.rot.Close()
	if r.err == nil {
		r.err = cerr
	}
	r.dropFree()
	r.flows, r.head, r.tail = nil, nil, nil
	return r.err
}

// Stats reports counts and what is held now.
func (r *Recorder) Stats() RecorderStats {
	s := r.stats
	s.HeldBytes, s.HeldFlows = r.bytes, len(r.flows)
	return s
}

// Files lists the output files kept (see Rotator.Files).
func (r *Recorder) Files() []string { return r.rot.Files() }

func (r *Recorder) pushFront(h *heldFlow) {
	h.prev, h.next = nil, r.head
	if r.head != nil {
		r.head.prev = h
	}
	r.head = h
	if r.tail == nil {
		r.tail = h
	}
}

func (r *Recorder) unlink(h *heldFlow) {
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		r.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		r.tail = h.prev
	}
	h.prev, h.next = nil, nil
}
