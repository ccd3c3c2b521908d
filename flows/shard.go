package flows

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// Sharded spreads the flows of a capture over n Tables, each run by its
// own goroutine, so that flow tracking uses more than one core; the
// caller's goroutine (the reader) admits packets (time jumps, see
// clock.go), keeps the host profiles, and routes each packet by its
// symmetric flow hash (capture.FlowHash) to the shard that owns its flow,
// in batches that all the shards read (each its own packets) and that are
// reused: a caller that decodes each packet into Slot hands it over with
// no copy.
//
// Output is the same for any n: OnEvent receives the events on the
// caller's goroutine, in the order and with the content a single Table
// gives, because
//   - each shard's clock follows the reader's (every packet carries the
//     reader's clock, and a batch ends with a flush to it), so a shard
//     decides an event and evicts a flow before the same packet of the
//     flow as one table would, and its flows see only their own packets;
//   - host profiles are the reader's, snapshotted for each RST when the
//     reader's clock passes its look-ahead, as a table would when it
//     decides the event; the flows each host took part in (Flows) come
//     from the shards, counted in packet order up to that point;
//   - events come back at the end of each batch (the shard keeps them, no
//     copy) and are delivered sorted as a table emits them: by the packet
//     at which the reader's clock passed their look-ahead (recorded with
//     the host snapshot), then by first RST (time, input, frame).
//
// Where it differs from a Table: MaxFlows and the pending-event cap apply
// per shard (shardMaxFlows, about MaxFlows/n, and 32768/n each), so the
// flows ended or refused under that pressure may differ from one table's (though not from run to
// run: shards follow capture.RouteHash, which is unseeded); the reader
// makes a host's profile at its first non-RST packet or when a shard's
// new flow is counted, which orders hosts differently only past MaxHosts; Flow.ID is unique but numbered per
// shard; lists kept in time order walk back at most maxSortWalk entries,
// so captures reordered beyond that may evict differently. OnFlowEnd is
// called on the shards' goroutines, concurrently. Sharded is not safe for
// concurrent use.
type Sharded struct {
	router *Table // admits packets; tracks no flows
	hosts  routerHosts
	shards []*shard
	n      uint64
	mask   uint64 // n-1 when n is a power of two (h%n is h&mask), else 0
	// The batches form a ring of shardRing: cur is being filled, the
	// inflight before it are with the shards (oldest first), so that a
	// shard that falls behind for a while (its goroutine not scheduled, a
	// batch heavier than the others') does not stop the reader or the
	// other shards at once. A batch's packets (ring) are shared: each
	// shard takes its own by the refs in its shardBatchBuf.
	ring     [shardRing]sharedBatch
	cur      int
	cb       *sharedBatch // &ring[cur] (setCur), for route
	inflight int
	rsts     int // RSTs in the batch being filled (see shardBatchRSTs)
	// slot is the packet Slot hands out, which route then takes as it
	// lies: slotItem's, an item past the end of the batch being filled,
	// or sparePkt (slotItem nil) when that batch is to be sent before the
	// next packet goes in.
	slot     *capture.Packet
	slotItem *shardItem
	slotAt   int // slotItem's position in its batch
	sparePkt capture.Packet
	items    int // packets in the batch being filled, all shards
	// full: the batch being filled is to be sent before the next packet
	// goes in (maxItems packets, more than maxBytes of payload, or
	// shardBatchRSTs RSTs in it).
	full               bool
	maxItems, maxBytes int
	look               int64 // the look-ahead, ns
	// snapDue: the reader's clock past it, the first RST of reqs is due
	// (setSnapDue).
	snapDue int64
	// reqs are the RSTs routed whose host snapshot is not yet taken,
	// sorted by first RST (time, input, frame); reqs[rhead:] are live.
	reqs  []hostReq
	rhead int
	// snaps are the snapshots taken, in the order taken, until the
	// batch that decides their event comes back; snaps[shead:] are live,
	// snapAt finds them by RST.
	snaps  []hostSnap
	shead  int
	snapAt map[rstKey]int
	// flushSeq is the seq of the flush ending each batch of the ring
	// (valid while it is with the shards).
	flushSeq [shardRing]uint64
	// created are the flows the shards started, by seq, not yet counted
	// in the hosts' Flows (created[chead:]).
	created []flowCreated
	chead   int
	// spare and runs are mergeCreated's buffers.
	spare  []flowCreated
	runs   [][]flowCreated
	events []*openEvent // events of the last batch, all shards, to sort
	onEv   func(*Event)
	closed bool
	// closing: Close has begun; lateSnap holds a snapshot snapFor took then.
	closing  bool
	lateSnap hostSnap
	// lastShard holds the last packet routed, at lastItem of its refs
	// in the batch; seq counts the packets routed.
	lastShard *shard
	lastItem  int
	seq       uint64
}

// hostReq is an RST routed to a shard: its key and endpoints.
type hostReq struct {
	key      rstKey
	at       time.Time // the RST's time (key.ns past unixNano's range)
	sender   netip.Addr
	receiver netip.Addr
	mac      [6]byte // the RST's link-layer source (valid iff hasMAC)
	hasMAC   bool
}

type hostSnap struct {
	key                  rstKey
	senderIP, receiverIP netip.Addr
	// seq is the reader's packet at which a table decides the RST's event
	// (the first whose clock passes its look-ahead; MaxUint64: at Close).
	seq              uint64
	sender, receiver HostProfile
	macHosts         uint32 // Event.RSTMACHosts
}

// flowCreated is a flow a shard started at the reader's packet seq, so
// that the reader counts it in HostProfile.Flows when a table would have;
// with ttlFlow, the first non-RST packet client sent in one of the
// shard's flows, counted in its HostProfile.TTLFlows.
type flowCreated struct {
	client, server netip.Addr
	seq            uint64
	ttlFlow        bool
}

// countFlows counts the flows started before packet seq in their hosts'
// Flows (a table does it as it starts them, creating the hosts).
func (s *Sharded) countFlows(seq uint64) {
	maxHosts := s.router.opts.MaxHosts
	for ; s.chead < len(s.created) && s.created[s.chead].seq < seq; s.chead++ {
		c := &s.created[s.chead]
		if c.ttlFlow {
			s.hosts.countFlow(c.client, maxHosts, true)
			continue
		}
		s.hosts.countFlow(c.client, maxHosts, false)
		s.hosts.countFlow(c.server, maxHosts, false)
	}
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

// Batch limits: the batches are sent when they hold shardBatch packets a
// shard (all shards together) or more than shardBytes of payload a shard.
// Tests make shardBatch small to cross many batch ends.
var shardBatch = 1024

const shardBytes = 1 << 20

// shardBatchRSTs: the batches are also sent once they hold this many RSTs
// (all shards together). An RST can make its shard decide an event at
// once (the pending-event cap), and a decided event waits on the shard as
// a full Event (4.7 KB) until its batch comes back: in an RST flood,
// batches of 1,024 RSTs kept thousands (TestHostile_rstFlood, two shards:
// 239 MiB peak, one table 59 MiB).
const shardBatchRSTs = 128

// shardRing is how many batches each shard has: one being filled, the
// others with the shard (see Sharded.cur). The reader is the critical
// path (on two cores it shares them with the shards and the judging
// goroutine): each time the ring is full it blocks until a shard
// catches up, then waits again for a core. With 4, the bench capture's
// execution trace (RSTSCOPE_TRACE) showed it blocked 110 ms and waiting
// 156 ms for a core over a 1.53 s run; with 8 (and pcapWindow's smaller
// reads), 49 and 77 ms, and the run took 1.35 s, median of 7 alternated
// rounds, against 1.48 s.
const shardRing = 8

// shard is one Table with its goroutine and its part of each batch of the
// ring.
type shard struct {
	t     *Table
	ring  *[shardRing]sharedBatch // the Sharded's
	batch [shardRing]shardBatchBuf
	part  *shardBatchBuf // &batch[the Sharded's cur], for route
	in    chan int       // index of the batch to process
	done  chan struct{}
}

type itemKind uint8

const (
	itemPacket itemKind = iota
	itemFlush           // advance the clock to now
)

// shardItem is a packet of a batch, shared by the shards: only the
// packet, in whole cache lines, as the reader decoded it. What a shard
// needs besides (the reader's clock, the packet's seq) is in the shard's
// own shardRef.
type shardItem struct {
	// p's Payload lies in the batch's buf; its Frame, when the reader
	// decoded p in place (Slot), still points into the capture's read
	// buffer, which has moved on: a shard reads neither Frame nor the
	// fields after it (CapLen, WireLen, LinkType, FlowLabel, DataOffset),
	// so the packet's last cache line stays with the reader.
	p capture.Packet
}

// shardRef is one item of a shard's part of a batch: which packet (at),
// or a flush, and the reader's clock with it.
//
// Why here and not in the shared item: every line a shard reads was
// written by the reader on the other core and goes back when the reader
// writes it again. The clock and seq in the item were a fifth line a
// packet; here two refs share a line and a shard reads only its own,
// in order (10 paired runs of the bench capture: 1.135 -> 1.030 s). On
// the project's VM a line's round trip between the two cores took 80-130
// ns in most seconds and 290-890 ns in others, as the host placed the
// vCPUs (bench/c2c).
type shardRef struct {
	// nowNs is the reader's clock (unixNano), or with wide the index of
	// the clock in the batch's wide: a clock out of inNsRange, where
	// nanoseconds saturate or durations added overflow. A shard rebuilds
	// an in-range clock as a UTC Time with no monotonic reading: the same
	// instant, and its table only compares instants (Table.clockTime).
	nowNs int64
	ns    int64 // unixNano(p.Time)
	// seq numbers the reader's packets: a packet's own, or, for a flush,
	// the packet at which a table would have decided what it decides
	// (events are delivered in that order, as a table emits them).
	seq  uint64
	at   int32 // the item's position in the batch (a packet's)
	kind itemKind
	wide bool
}

// sharedBatch is one batch of the ring, the packets of every shard in
// the reader's order (each shard's refs end with a flush): it grows to what
// the capture needs (about shardBatch items and shardBytes of payload a
// shard) and is reused. The reader fills it, the shards only read it:
// each item's Payload is set by the reader to its copy in buf (an append
// that moves buf leaves the payloads before it where they were, in the
// old array, until the batch's next use).
//
// Why shared, not a batch for each shard: the reader decodes a packet
// into the batch's next item (Slot) before it knows the packet's shard;
// with a batch for each shard it copied each 256-byte Packet from its
// own into the shard's item, 62 instructions a packet (cachegrind).
type sharedBatch struct {
	items []shardItem
	buf   []byte
	// wide are the clocks of the refs that do not carry theirs in nowNs.
	wide []time.Time
	// warmed: buf[:warmed] has been written or warmed (see Sharded.warm).
	warmed int
}

// shardBatchBuf is one shard's part of a batch: its packets and flushes
// (refs). Once processed it carries the shard's results back: the events
// it decided and the flows it started; the events delivered go back to
// the shard's table with the batch's next use (recycle).
type shardBatchBuf struct {
	refs []shardRef
	// warmed: refs[:warmed] have been written or warmed (Sharded.warm).
	warmed  int
	emitted []*openEvent
	created []flowCreated
	recycle []*openEvent
}

// shardMaxFlows is the MaxFlows of each of n shards for a table of total:
// its share, plus a margin of four standard deviations of how many of
// total flows the route hash gives one shard (the share's square root,
// about), so that a capture holding total flows at once, as many as one
// table holds, loses none to an uneven split (seven shards of 1,000,000
// flows: 142,858 each, plus 1,524). The shards together may hold that
// much more than total: 0.6% with 2 shards and the default, 1.1% with 7.
func shardMaxFlows(total, n int) int {
	if n <= 1 {
		return total
	}
	share := (total + n - 1) / n
	return share + 4*int(math.Sqrt(float64(share))) + 16
}

// NewSharded returns n shards (n >= 1) of tables with opts (MaxFlows is
// split between them, see shardMaxFlows). OnEvent is called on the caller's goroutine, from
// Add, Flush and Close.
func NewSharded(n int, opts Options) *Sharded {
	n = max(n, 1)
	s := &Sharded{onEv: opts.OnEvent, n: uint64(n), snapAt: make(map[rstKey]int), maxItems: shardBatch * n, maxBytes: shardBytes * n}
	if n&(n-1) == 0 {
		s.mask = uint64(n - 1)
	}
	ropts := opts
	ropts.OnEvent, ropts.OnFlowEnd = nil, nil
	s.router = NewTable(ropts)
	s.router.router = s
	s.look, s.snapDue = int64(s.router.opts.LookAhead), math.MaxInt64
	sopts := opts
	sopts.OnWarning = nil
	sopts.MaxFlows = shardMaxFlows(cmp.Or(max(opts.MaxFlows, 0), DefaultMaxFlows), n)
	sopts.HotFlows = max(cmp.Or(max(opts.HotFlows, 0), DefaultHotFlows)/n, 1)
	for range n {
		sh := &shard{ring: &s.ring, in: make(chan int, shardRing), done: make(chan struct{}, shardRing)}
		o := sopts
		o.OnEvent = nil
		sh.t = NewTable(o)
		sh.t.noHosts, sh.t.keepEmitted = true, true
		sh.t.pendingCap = max(maxPending/n, 1)
		sh.t.tombs.div, sh.t.tombs.buckets = uint64(n), uint64(max(tombBuckets/n, 1))
		sh.t.nextID, sh.t.idStep = uint64(len(s.shards)), uint64(n)
		s.shards = append(s.shards, sh)
		go sh.run()
	}
	s.setCur()
	s.nextSlot(s.cb)
	return s
}

func (sh *shard) run() {
	for b := range sh.in {
		t := sh.t
		bb := &sh.batch[b]
		for _, oe := range bb.recycle {
			t.freeOpen(oe) // its Event, record chunk and RST slices too
		}
		clear(bb.recycle)
		bb.recycle = bb.recycle[:0]
		// In locals: t.track, a call, would have them reloaded through
		// bb and sb for every packet.
		sb := &sh.ring[b]
		refs, items := bb.refs, sb.items
		for i := range refs {
			r := &refs[i]
			// The reader's clock, if later (as Table.addAt); in range,
			// only nowNs (Table.nowLazy, clockTime).
			if r.wide || !inNsRange(t.nowNs) {
				if now := sb.clock(r); now.After(t.clockTime()) {
					t.setNow(now)
				}
			} else if r.nowNs > t.nowNs {
				t.nowNs, t.nowLazy = r.nowNs, true
			}
			t.emitSeq = r.seq
			switch r.kind {
			case itemPacket:
				t.track(&items[r.at].p, r.ns) // the clock is the reader's, at the packet or past it
			case itemFlush:
				t.advance()
			}
		}
		// The results leave with the batch; the table goes on with the
		// batch's spent slices.
		bb.emitted, t.emitted = t.emitted, bb.emitted[:0]
		bb.created, t.created = t.created, bb.created[:0]
		sh.done <- struct{}{}
	}
}

// Add routes one packet (p is not kept).
func (s *Sharded) Add(p *capture.Packet) {
	ns := unixNano(p.Time) // once a packet (as Table.Add)
	if s.router.admitsNow(ns) {
		s.route(p, ns, true) // what the router's addAt does
	} else if q := s.router.admit(p, ns); q == p {
		s.router.addAt(p, ns) // calls route
	} else if q != nil {
		s.router.add(q)
	}
}

// route is the router table's add: the reader's clock, host profiles and
// RST requests, then the packet to its shard. inRange says that ns and the
// router's clock are within inNsRange, as Add's admitsNow found them
// (tested once a packet, not three times).
func (s *Sharded) route(p *capture.Packet, ns int64, inRange bool) {
	t := s.router
	// As Table.addAt, but the clock's Time is left to clockTime when its
	// Unix ns are in range (a 24-byte copy a packet less).
	if inRange || inNsRange(ns) && inNsRange(t.nowNs) {
		inRange = true
		if ns > t.nowNs {
			t.nowNs, t.nowLazy = ns, true
		}
	} else if p.Time.After(t.clockTime()) {
		t.now, t.nowNs, t.nowLazy = p.Time, ns, false // setNow(p.Time)
	}
	s.snapshotDue()
	rst := p.Flags&capture.RST != 0
	if !rst {
		s.hostPacket(p)
	}
	h := p.FlowHash
	if h == 0 {
		h = capture.FlowHash(p.Src, p.Dst)
	}
	// The shard follows the unseeded route hash, so that which flows share
	// a shard's caps (MaxFlows/n, pending events) is the same on every run.
	var sh *shard
	rh := p.RouteHash // Decode's fast path computed it; else 0
	if rh == 0 {
		rh = capture.RouteHash(p.Src, p.Dst)
	}
	if s.mask != 0 || s.n == 1 {
		sh = s.shards[rh&s.mask] // a division per packet was 4% of routing
	} else {
		sh = s.shards[rh%s.n]
	}
	if s.full {
		s.dispatch()
	}
	b := s.cb
	s.seq++
	it, at := s.slotItem, s.slotAt
	slotted := p == s.slot && it != nil
	if !slotted {
		// The item is written in place: a composite literal appended was
		// built, then copied (the packet is the item).
		moves := len(b.items) == cap(b.items) && it != nil
		it, at = b.add()
		if moves {
			// The items moved, the slot with them: the packet decoded
			// where it was, if it comes, is copied.
			s.slotItem = &b.items[s.slotAt]
			s.slot = &s.slotItem.p
		}
		it.p = *p
	}
	it.p.FlowHash = h
	if len(p.Payload) > 0 {
		off := len(b.buf)
		b.buf = append(b.buf, p.Payload...)
		it.p.Payload = b.buf[off:len(b.buf):len(b.buf)]
	} else {
		it.p.Payload = nil // a bare ACK's (half the packets): no call to copy nothing
	}
	part := sh.part
	// clockRef's work, the packet's fields written where the ref lies
	// (clockRef, then at and ns set: 10 instructions a packet more). Not
	// an append of a literal: the compiler built the literal on the stack
	// with 8-byte stores and copied it with 16-byte loads, which cannot
	// take their bytes from those stores (store-to-load forwarding
	// fails: about a dozen cycles each, twice a packet; in a loop of
	// nothing else, 6.1 ns a ref against 1.85 written in place).
	if inRange || inNsRange(t.nowNs) { // inRange: the clock is the later of two in range
		k := len(part.refs)
		if k < cap(part.refs) {
			part.refs = part.refs[:k+1]
		} else {
			part.refs = append(part.refs, shardRef{})
		}
		r := &part.refs[k]
		r.nowNs, r.ns, r.seq, r.at, r.kind, r.wide = t.nowNs, ns, s.seq, int32(at), itemPacket, false
	} else {
		r := s.wideRef(b, itemPacket, s.seq)
		r.at, r.ns = int32(at), ns
		part.refs = append(part.refs, r)
	}
	s.items++
	if s.items%warmEvery == 0 {
		s.warm(b)
	}
	s.lastShard, s.lastItem = sh, len(part.refs)-1
	if rst {
		s.rsts++
		s.request(p)
	}
	s.full = s.items >= s.maxItems || len(b.buf) > s.maxBytes || s.rsts >= shardBatchRSTs
	switch {
	case s.full:
		s.slot, s.slotItem = &s.sparePkt, nil // the next packet goes to the next batch
	case slotted:
		s.nextSlot(b)
	}
}

// Slot gives a packet for the caller to decode the next packet into
// before it calls Add with it (capture.Source.Next): the batch's next
// item, which route then takes where it lies instead of copying it there.
// Add may also be given another packet (that one is copied); the slot is
// then handed out again. It is the Sharded's: valid until the Add that
// takes it, or Flush or Close.
func (s *Sharded) Slot() *capture.Packet { return s.slot }

// nextSlot puts Slot's packet at a new item of b, the batch being filled.
func (s *Sharded) nextSlot(b *sharedBatch) {
	s.slotItem, s.slotAt = b.add()
	s.slot = &s.slotItem.p
}

// add gives a new item at the end of b, and its position.
func (b *sharedBatch) add() (*shardItem, int) {
	k := len(b.items)
	if k < cap(b.items) {
		b.items = b.items[:k+1]
	} else {
		b.items = append(b.items, shardItem{})
	}
	return &b.items[k], k
}

// clockRef gives a ref of kind and seq that carries the reader's clock,
// to go in b (the batch being filled).
func (s *Sharded) clockRef(b *sharedBatch, kind itemKind, seq uint64) shardRef {
	if inNsRange(s.router.nowNs) {
		return shardRef{nowNs: s.router.nowNs, seq: seq, kind: kind}
	}
	return s.wideRef(b, kind, seq)
}

// wideRef is clockRef for a clock out of unixNano's range: the ref
// carries the clock's index in b.wide.
func (s *Sharded) wideRef(b *sharedBatch, kind itemKind, seq uint64) shardRef {
	b.wide = append(b.wide, s.router.clockTime())
	return shardRef{nowNs: int64(len(b.wide) - 1), seq: seq, kind: kind, wide: true}
}

// clock is the reader's clock that r carries (r in b).
func (b *sharedBatch) clock(r *shardRef) time.Time {
	if r.wide {
		return b.wide[r.nowNs]
	}
	return time.Unix(0, r.nowNs).UTC()
}

// The reader warms the memory of the batch it fills, warmEvery packets
// at a time: the items warmAhead past the last, the next warmBufAhead
// bytes of payload space and each shard's refs up to warmRefAhead ahead.
//
// Why: that memory was last read by the shards, so its cache lines sit
// in their cores' caches, and each first write to one waits for the line
// to come back. When the two cores share a cache that costs little; when
// they do not (a VM whose vCPUs the host places on two chiplets, two
// sockets), the reader's writes into the batch were half its time
// (perf: the decoder's first store to each line of the slot, the
// append of the shard's position) and the bench capture took 3.5 s
// where it takes 1.2 s on a shared cache. A write to each line, for 16 items at once, gets
// their transfers going together and early, instead of one at a time as
// the decoder reaches each line: 3.5 -> 2.0 s then. (A PREFETCHW of the
// lines, tried first, did not move the time at all; nor did the shards
// loading their items' lines ahead of time.)
const (
	warmEvery    = 16
	warmAhead    = 32
	warmBufAhead = 4096
	warmRefAhead = 32
)

// warm writes a word of each line of the next items, payload space and
// refs that route will write (see warmEvery). b is the batch being
// filled: the shards are done with all of its memory.
func (s *Sharded) warm(b *sharedBatch) {
	items := b.items[:cap(b.items)]
	n := len(b.items)
	for k := n + warmAhead; k < min(n+warmAhead+warmEvery, len(items)); k++ {
		items[k].touch()
	}
	buf := b.buf[:cap(b.buf)]
	end := min(len(b.buf)+warmBufAhead, len(buf))
	for k := max(b.warmed, len(b.buf)); k < end; k += 64 {
		buf[k] = 0
	}
	b.warmed = max(b.warmed, end)
	for _, sh := range s.shards {
		part := &sh.batch[s.cur]
		refs := part.refs[:cap(part.refs)]
		end := min(len(part.refs)+warmRefAhead, len(refs))
		for k := max(part.warmed, len(part.refs)); k < end; k += 2 {
			refs[k].seq = 0 // two refs a line
		}
		part.warmed = max(part.warmed, end)
	}
}

// touch writes one field in each cache line of it (TestShardItem_touch),
// each a field that route and the decoder write again before the item
// is used.
func (it *shardItem) touch() {
	it.p.FlowHash = 0 // line 1
	// line 2: the second word of Src's address (the whole AddrPort, with
	// its pointer, was four stores and a write barrier's test)
	(*[2]uint64)(unsafe.Pointer(&it.p.Src))[1] = 0
	it.p.Seq = 0    // line 3
	it.p.CapLen = 0 // line 4
}

// hostPacket updates the host profiles with a non-RST packet.
func (s *Sharded) hostPacket(p *capture.Packet) {
	s.hosts.packet(p, s.router.opts.MaxHosts, s.router.macHosts)
}

// request queues the host snapshot of the RST p, sorted by key.
func (s *Sharded) request(p *capture.Packet) {
	if s.rhead > 64 && s.rhead*2 > len(s.reqs) {
		n := copy(s.reqs, s.reqs[s.rhead:])
		s.reqs = s.reqs[:n]
		s.rhead = 0
	}
	r := hostReq{key: rstKey{unixNano(p.Time), p.Input, p.Index}, at: p.Time, sender: p.Src.Addr(), receiver: p.Dst.Addr(),
		mac: p.SrcMAC, hasMAC: p.HasMAC}
	s.reqs = append(s.reqs, r)
	i := len(s.reqs) - 1
	for i > s.rhead && r.key.less(s.reqs[i-1].key) {
		s.reqs[i] = s.reqs[i-1]
		i--
	}
	s.reqs[i] = r
	s.setSnapDue()
}

// setSnapDue sets snapDue to the time after which the first waiting RST
// is due (its first RST's plus the look-ahead; none: never; an RST out
// of unixNano's range: any time, snapshotsDue compares Times).
func (s *Sharded) setSnapDue() {
	s.snapDue = math.MaxInt64
	if s.rhead < len(s.reqs) {
		s.snapDue = s.reqs[s.rhead].key.ns + s.look
		if !inNsRange(s.reqs[s.rhead].key.ns) {
			s.snapDue = math.MinInt64
		}
	}
}

// snapshotDue takes the host snapshots of the RSTs whose look-ahead the
// reader's clock has passed (the first's is the test: reqs is sorted).
// The test is inlined: while an RST waits for its look-ahead, so does
// nearly every packet.
func (s *Sharded) snapshotDue() {
	if s.router.nowNs > s.snapDue {
		s.snapshotsDue()
	}
}

// snapshotsDue is snapshotDue once an RST is due. (At the end of input
// the snapshots still to take are taken as their events ask: snapFor.)
func (s *Sharded) snapshotsDue() {
	now := s.router.nowNs // unixNano(s.now)
	for s.rhead < len(s.reqs) {
		r := &s.reqs[s.rhead]
		if inNsRange(r.key.ns) && inNsRange(now) {
			if r.key.ns+s.look >= now {
				break
			}
		} else if !r.at.Add(s.router.opts.LookAhead).Before(s.router.clockTime()) {
			break // a clamped ns (past 2262) would never be due
		}
		sn := s.snapOf(r, s.seq+1)
		if s.shead > 64 && s.shead*2 > len(s.snaps) {
			n := copy(s.snaps, s.snaps[s.shead:])
			s.snaps = s.snaps[:n]
			s.shead = 0
			for i := range s.snaps {
				s.snapAt[s.snaps[i].key] = i
			}
		}
		s.snapAt[sn.key] = len(s.snaps)
		s.snaps = append(s.snaps, sn)
		s.rhead++
	}
	s.setSnapDue()
}

// snapOf takes the host snapshot of the RST request r, at the reader's
// packet seq.
func (s *Sharded) snapOf(r *hostReq, seq uint64) hostSnap {
	sn := hostSnap{key: r.key, seq: seq, senderIP: r.sender, receiverIP: r.receiver}
	sn.sender, sn.receiver = s.hosts.profile(r.sender), s.hosts.profile(r.receiver)
	sn.macHosts = s.router.rstMACHosts(r.hasMAC, r.mac)
	return sn
}

// snapFor gives the host snapshot of the RST with key k, or nil if none
// was taken: once Close has begun, the snapshot of a request still
// waiting is taken when its event asks for it (into tmp), as it would be
// if taken at Close (every packet is routed, so the hosts no longer
// change), one at a time rather than for every waiting RST at once
// (100,000 snapshots in TestHostile_rstFlood).
func (s *Sharded) snapFor(k rstKey, tmp *hostSnap) *hostSnap {
	if i, ok := s.snapAt[k]; ok && i >= s.shead {
		return &s.snaps[i]
	}
	if !s.closing {
		return nil
	}
	rs := s.reqs[s.rhead:]
	j, found := slices.BinarySearchFunc(rs, k, func(r hostReq, k rstKey) int {
		switch {
		case r.key.less(k):
			return -1
		case k.less(r.key):
			return 1
		}
		return 0
	})
	if !found {
		return nil
	}
	*tmp = s.snapOf(&rs[j], math.MaxUint64)
	return tmp
}

// dispatch ends every shard's batch with a flush to the reader's clock
// and hands the batches over; when the ring is full it first waits for
// the oldest batches and delivers their events.
func (s *Sharded) dispatch() {
	// The flush at the end of the batch may decide an event whose RST came
	// after the reader's clock had passed its look-ahead (reordered
	// packets): a table decides it at its next packet, before that
	// packet's host update, so its snapshot is taken now.
	s.snapshotDue()
	if !s.closed { // Close put the last flush where a table has it
		fl := s.clockRef(&s.ring[s.cur], itemFlush, s.seq+1)
		for _, sh := range s.shards {
			part := &sh.batch[s.cur]
			part.refs = append(part.refs, fl)
		}
	}
	for _, sh := range s.shards {
		sh.in <- s.cur
	}
	s.flushSeq[s.cur] = s.seq + 1
	s.inflight++
	s.cur = (s.cur + 1) % shardRing
	s.setCur()
	if s.inflight == shardRing {
		s.collect() // the oldest, which cur is
	}
	b := &s.ring[s.cur]
	b.items, b.buf, b.warmed = b.items[:0], b.buf[:0], 0
	clear(b.wide)
	b.wide = b.wide[:0]
	for _, sh := range s.shards {
		sh.batch[s.cur].refs, sh.batch[s.cur].warmed = sh.batch[s.cur].refs[:0], 0
	}
	s.items, s.rsts, s.full = 0, 0, false
	// A slot handed out is in the batch sent: that packet, if it comes, is
	// copied.
	if s.closed {
		s.slot, s.slotItem = &s.sparePkt, nil
	} else {
		s.nextSlot(b)
	}
}

// setCur points cb and each shard's part at batch cur.
func (s *Sharded) setCur() {
	s.cb = &s.ring[s.cur]
	for _, sh := range s.shards {
		sh.part = &sh.batch[s.cur]
	}
}

// wait waits for every batch with the shards and delivers their events.
func (s *Sharded) wait() {
	for s.inflight > 0 {
		s.collect()
	}
}

// collect waits for the oldest batch with the shards and delivers its
// events.
func (s *Sharded) collect() {
	for _, sh := range s.shards {
		<-sh.done
	}
	s.deliver((s.cur - s.inflight + shardRing) % shardRing)
	s.inflight--
}

// deliver hands the events the shards decided in batch b to OnEvent,
// sorted, with the reader's host snapshots.
func (s *Sharded) deliver(b int) {
	flushSeq := s.flushSeq[b]
	s.events = s.events[:0]
	for _, sh := range s.shards {
		s.events = append(s.events, sh.batch[b].emitted...)
	}
	s.mergeCreated(b)
	// With their snapshots, in the order a table emits them: by the
	// packet that decided them (the snapshot's, which a shard without a
	// packet of its own at that point cannot know), then by first RST
	// (its queue's order).
	for _, oe := range s.events {
		s.attach(oe)
	}
	slices.SortStableFunc(s.events, func(a, b *openEvent) int {
		if a.emitSeq != b.emitSeq {
			return cmp.Compare(a.emitSeq, b.emitSeq)
		}
		ka, kb := keyOf(&a.first), keyOf(&b.first)
		switch {
		case ka.less(kb):
			return -1
		case kb.less(ka):
			return 1
		}
		return 0
	})
	for _, oe := range s.events {
		s.hand(oe)
	}
	s.countFlows(flushSeq + 1) // the rest of the batch's
	// Snapshots of RSTs decided by now that no event claimed joined one.
	for s.shead < len(s.snaps) && s.snaps[s.shead].seq <= flushSeq {
		delete(s.snapAt, s.snaps[s.shead].key)
		s.shead++
	}
	clear(s.events)
	for _, sh := range s.shards {
		// Back to the shard's table with the batch's next use.
		bb := &sh.batch[b]
		bb.recycle = append(bb.recycle, bb.emitted...)
		clear(bb.emitted)
		bb.emitted = bb.emitted[:0]
	}
}

// mergeCreated puts the flows the shards started in batch b after the
// ones not yet counted, all in seq order. Each of these runs is in seq
// order already (a shard starts its flows in the order of its items, the
// reader's), so they are merged, not sorted: a stable sort of the lot on
// every batch was 3-4% of the router's goroutine on the bench capture.
func (s *Sharded) mergeCreated(b int) {
	runs := s.runs[:0]
	if s.chead < len(s.created) {
		runs = append(runs, s.created[s.chead:])
	}
	for _, sh := range s.shards {
		if c := sh.batch[b].created; len(c) > 0 {
			runs = append(runs, c)
		}
	}
	out := s.spare[:0]
	for {
		best := -1
		for i, r := range runs {
			if len(r) > 0 && (best < 0 || r[0].seq < runs[best][0].seq) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, runs[best][0])
		runs[best] = runs[best][1:]
	}
	clear(runs)
	s.runs = runs[:0]
	s.spare, s.created, s.chead = s.created[:0], out, 0
	for _, sh := range s.shards {
		sh.batch[b].created = sh.batch[b].created[:0]
	}
	byseq := func(a, b flowCreated) int { return cmp.Compare(a.seq, b.seq) }
	if !slices.IsSortedFunc(s.created, byseq) {
		slices.SortStableFunc(s.created, byseq) // a run out of order: not expected
	}
}

// attach gives the event oe decided on a shard the reader's host
// snapshot of its RST, and the place it takes among the events (emitSeq).
func (s *Sharded) attach(oe *openEvent) {
	ev := oe.out
	ev.SenderHost, ev.ReceiverHost, ev.RSTMACHosts = HostProfile{}, HostProfile{}, 0
	if sn := s.snapFor(keyOf(&ev.RSTs[0]), &s.lateSnap); sn != nil {
		ev.SenderHost, ev.ReceiverHost, ev.RSTMACHosts, oe.emitSeq = sn.sender, sn.receiver, sn.macHosts, sn.seq
	}
}

// hand gives the event oe (attached) to OnEvent, with its hosts' flow
// counts as a table has them when it decides the event.
func (s *Sharded) hand(oe *openEvent) {
	ev := oe.out
	s.countFlows(oe.emitSeq)
	if sn := s.snapFor(keyOf(&ev.RSTs[0]), &s.lateSnap); sn != nil {
		for _, x := range [2]struct {
			h *HostProfile
			a netip.Addr
		}{{&ev.SenderHost, sn.senderIP}, {&ev.ReceiverHost, sn.receiverIP}} {
			if h := s.hosts.profile(x.a); h.Known {
				x.h.Known, x.h.Flows, x.h.TTLFlows = true, h.Flows, h.TTLFlows
			}
		}
	}
	if s.onEv != nil {
		s.onEv(ev)
	}
}

// closeQueues decides the events still waiting on the shards at the end
// of input, as Table.Close does (EndOfInput), on the caller's goroutine
// while the shards are idle: one at a time, the shard whose first waiting
// event has the earliest first RST next, which is one table's queue
// order, each handed to OnEvent before the next is built. A shard's Close
// built them all within one batch, 4.7 KB an Event until the batch came
// back: 336 MiB for TestHostile_rstFlood's backlog with two shards.
func (s *Sharded) closeQueues() {
	for {
		var next *Table
		var nk rstKey
		for _, sh := range s.shards {
			if t := sh.t; t.qhead < len(t.queue) {
				if k := keyOf(&t.queue[t.qhead].first); next == nil || k.less(nk) {
					next, nk = t, k
				}
			}
		}
		if next == nil {
			return
		}
		next.emitSeq = math.MaxUint64
		next.emitHead(true)
		oe := next.emitted[len(next.emitted)-1]
		next.emitted = next.emitted[:len(next.emitted)-1]
		s.attach(oe)
		s.hand(oe)
		next.freeOpen(oe) // the next one's Event is this one's
	}
}

// Flush advances every shard's clock to now (as Table.Flush) and delivers
// what that decides.
func (s *Sharded) Flush(now time.Time) {
	now = now.Add(s.router.clock.shift(0))
	if now.After(s.router.clockTime()) {
		s.router.setNow(now)
	}
	s.snapshotDue()
	s.dispatch()
	s.wait()
}

// Close ends the input as Table.Close does; the shards' goroutines end.
func (s *Sharded) Close() {
	if s.closed {
		return
	}
	// A time-jump suspect still held is routed as any packet (Table.Close
	// does the same first): the batch it may send ends with its flush, as
	// batches do, and delivers what that flush decides. (Routed once
	// closed, it sent a batch with no flush: an RST already due waited to
	// the end, and its host snapshot, taken at that packet, went with the
	// batch.)
	s.router.releaseOutlier()
	s.closed = true
	s.closing = true // the snapshots still to take are taken as asked (snapFor)
	// A table decides at its last packet what was due by then, and at
	// Close (EndOfInput) the rest, the last packet's own RST included: so
	// each shard flushes to the reader's clock, the last packet's shard
	// just before that packet; then, the shards idle, the rest are
	// decided in one table's order (closeQueues) and the shards close.
	fl := s.clockRef(&s.ring[s.cur], itemFlush, s.seq)
	for _, sh := range s.shards {
		part := &sh.batch[s.cur]
		if sh == s.lastShard && s.lastItem < len(part.refs) {
			part.refs = slices.Insert(part.refs, s.lastItem, fl)
		} else {
			part.refs = append(part.refs, fl)
		}
	}
	last := s.cur
	s.dispatch()
	// The last batch keeps every snapshot taken: the events closeQueues
	// decides after it may claim them (its flows are counted there too).
	s.flushSeq[last] = 0
	s.wait()
	for _, sh := range s.shards {
		close(sh.in)
	}
	s.closeQueues()
	for _, sh := range s.shards {
		sh.t.emitSeq = math.MaxUint64
		sh.t.Close() // the flows end; no event is left
	}
	s.countFlows(math.MaxUint64)
	clear(s.snapAt)
	s.snaps, s.shead = s.snaps[:0], 0
	s.reqs, s.rhead = s.reqs[:0], 0
	s.setSnapDue()
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
		st.Tombstones += x.Tombstones
		st.Linked += x.Linked
		st.EndedEarly += x.EndedEarly
		st.RSTPackets += x.RSTPackets
		st.Events += x.Events
		st.Frozen += x.Frozen
		st.Thawed += x.Thawed
	}
	st.TimeJumps = s.router.stats.TimeJumps
	return st
}
