package flows

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Sharded spreads the flows of a capture over n Tables, each run by its
// own goroutine, so that flow tracking uses more than one core; the
// caller's goroutine (the reader) admits packets (time jumps, see
// clock.go), keeps the host profiles, and routes each packet by its
// symmetric flow hash (capture.FlowHash) to the shard that owns its flow,
// in batches with preallocated buffers.
//
// Output is the same for any n: OnEvent receives the events on the
// caller's goroutine, in order of first RST (time, input, frame), with
// the same content a single Table gives, because
//   - each shard's clock follows the reader's (every packet carries the
//     reader's clock, and a batch ends with a flush to it), so a shard
//     decides an event and evicts a flow before the same packet of the
//     flow as one table would, and its flows see only their own packets;
//   - host profiles are the reader's, snapshotted for each RST when the
//     reader's clock passes its look-ahead, as a table would when it
//     decides the event;
//   - events come back at the end of each batch (the shard keeps them, no
//     copy) and are delivered sorted.
//
// Where it differs from a Table: MaxFlows and the pending-event cap apply
// per shard (MaxFlows/n and 32768/n each), so the flows ended or refused under that
// pressure may differ; host profiles are created at a host's first non-RST
// packet (or pure SYN) rather than at its first flow, which only matters
// past MaxHosts hosts; HostProfile.Flows counts pure SYNs sent or
// received; Flow.ID is unique but numbered per shard. OnFlowEnd is called on the shards' goroutines, concurrently.
// Sharded is not safe for concurrent use.
type Sharded struct {
	router *Table // admits packets and keeps the host profiles; tracks no flows
	shards []*shard
	n      uint64
	cur    int  // batch being filled (0 or 1)
	busy   bool // the other batch is with the shards
	items  int  // items in the batch being filled, all shards
	now    time.Time
	look   time.Duration
	// reqs are the RSTs routed whose host snapshot is not yet taken,
	// sorted by first RST (time, input, frame); reqs[rhead:] are live.
	reqs  []hostReq
	rhead int
	// snaps are the snapshots taken, in the same order, until their
	// event comes back; snaps[shead:] are live.
	snaps  []hostSnap
	shead  int
	events []*Event // events of the last batch, all shards, to sort
	onEv   func(*Event)
	closed bool
	// hostCache remembers recent hosts' profiles by address, in front of
	// the router's host map (a map lookup per packet was a third of the
	// reader's routing time).
	hostCache [hostCacheSize]hostCached
}

const hostCacheSize = 4096

type hostCached struct {
	addr netip.Addr
	h    *HostProfile
}

// host is router.host(a) through the cache.
func (s *Sharded) host(a netip.Addr) *HostProfile {
	b := a.As16()
	x := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])
	c := &s.hostCache[(x*0x9e3779b97f4a7c15)>>52]
	if c.h != nil && c.addr == a {
		return c.h
	}
	h := s.router.host(a)
	if h != nil {
		c.addr, c.h = a, h
	}
	return h
}

// hostReq is an RST routed to a shard: its key and endpoints.
type hostReq struct {
	key      rstKey
	sender   netip.Addr
	receiver netip.Addr
}

type hostSnap struct {
	key              rstKey
	sender, receiver HostProfile
}

// rstKey orders events: first RST time (Unix ns), input, frame.
type rstKey struct {
	ns    int64
	input int
	frame uint64
}

func (a rstKey) less(b rstKey) bool {
	if a.ns != b.ns {
		return a.ns < b.ns
	}
	if a.input != b.input {
		return a.input < b.input
	}
	return a.frame < b.frame
}

func keyOf(r *RSTPacket) rstKey { return rstKey{unixNano(r.Time), r.Input, r.Frame} }

// Batch limits: a shard's batch is sent when it holds shardBatch packets
// or more than shardBytes of payload. Tests make shardBatch small to cross
// many batch ends.
var shardBatch = 1024

const shardBytes = 1 << 20

// shard is one Table with its goroutine and double-buffered batches.
type shard struct {
	t     *Table
	batch [2]shardBatchBuf
	in    chan int // index of the batch to process
	done  chan struct{}
}

type itemKind uint8

const (
	itemPacket itemKind = iota
	itemFlush           // advance the clock to now
	itemClose           // Close the table
)

type shardItem struct {
	p    capture.Packet // Payload is set by the shard from off, n
	now  time.Time
	off  int // p's payload: buf[off:off+n]
	n    int
	kind itemKind
}

// shardBatchBuf is one batch for one shard: it grows to what the capture
// needs (at most shardBatch items, about shardBytes of payload) and is
// reused.
type shardBatchBuf struct {
	items []shardItem
	buf   []byte
}

// NewSharded returns n shards (n >= 1) of tables with opts (MaxFlows is
// split between them). OnEvent is called on the caller's goroutine, from
// Add, Flush and Close.
func NewSharded(n int, opts Options) *Sharded {
	n = max(n, 1)
	s := &Sharded{onEv: opts.OnEvent, n: uint64(n)}
	ropts := opts
	ropts.OnEvent, ropts.OnFlowEnd = nil, nil
	s.router = NewTable(ropts)
	s.router.router = s
	s.look = s.router.opts.LookAhead
	sopts := opts
	sopts.OnWarning = nil
	if opts.MaxFlows > 0 {
		sopts.MaxFlows = max(opts.MaxFlows/n, 1)
	} else {
		sopts.MaxFlows = max(DefaultMaxFlows/n, 1)
	}
	for range n {
		sh := &shard{in: make(chan int, 1), done: make(chan struct{}, 1)}
		o := sopts
		o.OnEvent = nil
		sh.t = NewTable(o)
		sh.t.noHosts, sh.t.keepEmitted = true, true
		sh.t.pendingCap = max(maxPending/n, 1)
		sh.t.nextID, sh.t.idStep = uint64(len(s.shards)), uint64(n)
		s.shards = append(s.shards, sh)
		go sh.run()
	}
	return s
}

func (sh *shard) run() {
	for b := range sh.in {
		t := sh.t
		bb := &sh.batch[b]
		for i := range bb.items {
			it := &bb.items[i]
			it.p.Payload = bb.buf[it.off : it.off+it.n : it.off+it.n]
			if it.now.After(t.now) {
				t.now = it.now
			}
			switch it.kind {
			case itemPacket:
				t.add(&it.p)
			case itemFlush:
				t.advance()
			case itemClose:
				t.Close()
			}
		}
		sh.done <- struct{}{}
	}
}

// Add routes one packet (p is not kept).
func (s *Sharded) Add(p *capture.Packet) {
	if p = s.router.admit(p); p != nil {
		s.router.add(p) // calls route
	}
}

// route is the router table's add: the reader's clock, host profiles and
// RST requests, then the packet to its shard.
func (s *Sharded) route(p *capture.Packet) {
	if t := s.router; p.Time.After(t.now) {
		t.now = p.Time
	}
	s.now = s.router.now
	s.snapshotDue(false)
	rst := p.Flags&capture.RST != 0
	if !rst {
		s.hostPacket(p)
	}
	h := p.FlowHash
	if h == 0 {
		h = capture.FlowHash(p.Src, p.Dst)
	}
	sh := s.shards[h%s.n]
	b := &sh.batch[s.cur]
	if len(b.items) >= shardBatch || len(b.buf) > shardBytes {
		s.dispatch()
		b = &sh.batch[s.cur]
	}
	b.items = append(b.items, shardItem{p: *p, now: s.now, off: len(b.buf), n: len(p.Payload)})
	it := &b.items[len(b.items)-1]
	it.p.FlowHash = h
	it.p.Frame, it.p.Payload = nil, nil
	b.buf = append(b.buf, p.Payload...)
	s.items++
	if rst {
		s.request(p)
	}
}

// hostPacket updates the host profiles with a non-RST packet.
func (s *Sharded) hostPacket(p *capture.Packet) {
	hp := s.host(p.Src.Addr())
	if p.Flags&(capture.SYN|capture.ACK) == capture.SYN {
		if hp != nil {
			hp.Flows++
		}
		if hd := s.host(p.Dst.Addr()); hd != nil {
			hd.Flows++
		}
	}
	if hp == nil {
		return
	}
	hp.TTL.Add(p.TTL)
	if p.Src.Addr().Is4() {
		hp.IPID.Add(p.IPID)
	}
}

// request queues the host snapshot of the RST p, sorted by key.
func (s *Sharded) request(p *capture.Packet) {
	if s.rhead > 64 && s.rhead*2 > len(s.reqs) {
		n := copy(s.reqs, s.reqs[s.rhead:])
		s.reqs = s.reqs[:n]
		s.rhead = 0
	}
	r := hostReq{key: rstKey{unixNano(p.Time), p.Input, p.Index}, sender: p.Src.Addr(), receiver: p.Dst.Addr()}
	s.reqs = append(s.reqs, r)
	i := len(s.reqs) - 1
	for i > s.rhead && r.key.less(s.reqs[i-1].key) {
		s.reqs[i] = s.reqs[i-1]
		i--
	}
	s.reqs[i] = r
}

// snapshotDue takes the host snapshots of the RSTs whose look-ahead the
// reader's clock has passed (all of them at the end of input).
func (s *Sharded) snapshotDue(all bool) {
	now := unixNano(s.now)
	for s.rhead < len(s.reqs) {
		r := &s.reqs[s.rhead]
		if !all && r.key.ns+int64(s.look) >= now {
			break
		}
		sn := hostSnap{key: r.key}
		if h := s.router.hosts[r.sender]; h != nil {
			sn.sender = *h
		}
		if h := s.router.hosts[r.receiver]; h != nil {
			sn.receiver = *h
		}
		if s.shead > 64 && s.shead*2 > len(s.snaps) {
			n := copy(s.snaps, s.snaps[s.shead:])
			s.snaps = s.snaps[:n]
			s.shead = 0
		}
		s.snaps = append(s.snaps, sn)
		s.rhead++
	}
}

// dispatch ends every shard's batch with a flush to the reader's clock
// and hands the batches over; it first waits for the previous batches and
// delivers their events.
func (s *Sharded) dispatch() {
	s.wait()
	for _, sh := range s.shards {
		b := &sh.batch[s.cur]
		b.items = append(b.items, shardItem{now: s.now, kind: itemFlush})
		sh.in <- s.cur
	}
	s.busy = true
	s.cur ^= 1
	for _, sh := range s.shards {
		b := &sh.batch[s.cur]
		b.items, b.buf = b.items[:0], b.buf[:0]
	}
	s.items = 0
}

// wait waits for the batches with the shards and delivers their events.
func (s *Sharded) wait() {
	if !s.busy {
		return
	}
	for _, sh := range s.shards {
		<-sh.done
	}
	s.busy = false
	s.deliver()
}

// deliver hands the events the shards decided to OnEvent, sorted, with
// the reader's host snapshots.
func (s *Sharded) deliver() {
	s.events = s.events[:0]
	for _, sh := range s.shards {
		for _, oe := range sh.t.emitted {
			s.events = append(s.events, &oe.ev)
		}
	}
	slices.SortStableFunc(s.events, func(a, b *Event) int {
		ka, kb := keyOf(&a.RSTs[0]), keyOf(&b.RSTs[0])
		switch {
		case ka.less(kb):
			return -1
		case kb.less(ka):
			return 1
		}
		return 0
	})
	for _, ev := range s.events {
		k := keyOf(&ev.RSTs[0])
		for s.shead < len(s.snaps) && s.snaps[s.shead].key.less(k) {
			s.shead++ // an RST that joined an event
		}
		ev.SenderHost, ev.ReceiverHost = HostProfile{}, HostProfile{}
		if s.shead < len(s.snaps) && s.snaps[s.shead].key == k {
			ev.SenderHost, ev.ReceiverHost = s.snaps[s.shead].sender, s.snaps[s.shead].receiver
			s.shead++
		}
		if s.onEv != nil {
			s.onEv(ev)
		}
	}
	clear(s.events)
	for _, sh := range s.shards {
		t := sh.t // idle: its batch is done
		t.free = append(t.free, t.emitted...)
		clear(t.emitted)
		t.emitted = t.emitted[:0]
	}
}

// Flush advances every shard's clock to now (as Table.Flush) and delivers
// what that decides.
func (s *Sharded) Flush(now time.Time) {
	now = now.Add(s.router.clock.shift(0))
	if now.After(s.router.now) {
		s.router.now = now
	}
	s.now = s.router.now
	s.snapshotDue(false)
	s.dispatch()
	s.wait()
}

// Close ends the input as Table.Close does; the shards' goroutines end.
func (s *Sharded) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.router.releaseOutlier()
	s.dispatch()
	s.wait()
	s.snapshotDue(true)
	for _, sh := range s.shards {
		b := &sh.batch[s.cur]
		b.items = append(b.items, shardItem{now: s.now, kind: itemClose})
	}
	s.dispatch()
	s.wait()
	for _, sh := range s.shards {
		close(sh.in)
	}
}

// Stats sums the shards' counters (PeakActive is the sum of the shards'
// peaks). It waits for the batches with the shards.
func (s *Sharded) Stats() TableStats {
	s.wait()
	var st TableStats
	for _, sh := range s.shards {
		x := sh.t.Stats()
		st.Flows += x.Flows
		st.Active += x.Active
		st.PeakActive += x.PeakActive
		st.Dropped += x.Dropped
		st.DroppedFlows += x.DroppedFlows
		st.Evicted += x.Evicted
		st.EndedEarly += x.EndedEarly
		st.RSTPackets += x.RSTPackets
		st.Events += x.Events
	}
	st.TimeJumps = s.router.stats.TimeJumps
	return st
}
