package capture

import (
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
}

// RecorderStats counts what a Recorder did.
type RecorderStats struct {
	Written   uint64 // packets written to disk
	Marked    uint64 // Mark calls that found held packets or a live flow
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
// from the finding callback, Flush when the link is quiet, and Close at
// the end. Output is flushed to the file at every Mark and, while packets
// stream, at least once a second of packet time.
// It is not safe for concurrent use.
type Recorder struct {
	opts  RecorderOptions
	rot   *Rotator
	flows map[flowPair]*heldFlow
	// LRU list of heldFlows, most recently active at head.
	head, tail *heldFlow
	free       [][]byte // frame buffers of forgotten flows, reused
	bytes      int64
	lastFlush  time.Time
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
	rot, err := NewRotator(path, linkTypes, opts.Rotate, now)
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

func (r *Recorder) copyFrame(b []byte) []byte {
	var buf []byte
	if n := len(r.free); n > 0 {
		buf = r.free[n-1][:0]
		r.free = r.free[:n-1]
		r.bytes -= int64(cap(buf))
	}
	buf = append(buf, b...)
	r.bytes += int64(cap(buf))
	return buf
}

// release returns a frame buffer to the free list (kept while small).
func (r *Recorder) release(b []byte) {
	if b == nil {
		return
	}
	if len(r.free) < 1024 {
		r.free = append(r.free, b) // still counted in bytes
		return
	}
	r.bytes -= int64(cap(b))
}

// bound forgets the least recently active flows past the limits.
func (r *Recorder) bound() {
	for (r.bytes > r.opts.MaxBytes || len(r.flows) > r.opts.MaxFlows) && r.tail != nil {
		h := r.tail
		r.unlink(h)
		delete(r.flows, h.key)
		r.bytes -= h.slots
		for _, hp := range h.ring {
			r.bytes -= int64(cap(hp.frame))
		}
		for _, hp := range h.after {
			r.bytes -= int64(cap(hp.frame))
		}
		if len(h.ring)+len(h.after) > 0 {
			r.stats.Forgotten++
		}
		if r.bytes > r.opts.MaxBytes {
			for _, b := range r.free {
				r.bytes -= int64(cap(b))
			}
			r.free = nil
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
	h.ring, h.start, h.after, h.rstAt = h.ring[:0], 0, h.after[:0], time.Time{}
	h.follow = r.opts.Context
	r.flush()
	return r.err
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
	r.flows, r.head, r.tail, r.free = nil, nil, nil, nil
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
