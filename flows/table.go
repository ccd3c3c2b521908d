package flows

import (
	"math"
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Defaults of Options.
const (
	DefaultLookAhead  = 2 * time.Second
	DefaultIdleEvict  = 15 * time.Minute
	DefaultCloseEvict = 30 * time.Second
	DefaultMaxFlows   = 1_000_000
	DefaultMaxHosts   = 65_536
)

// maxOpenPerFlow is how many of a flow's open events keep receiving the
// flow's later packets (in After). Older open events of a flow that has
// reset more often than this within one look-ahead window stop collecting
// but are still emitted.
const maxOpenPerFlow = 8

// maxPending caps the events waiting for their look-ahead. Each holds its
// flow's state at the RST as a record (310-520 bytes a waiting event with
// it, snapshot.go; 4.8 KB when it held the Event), so a flood of RSTs
// on many tuples within one look-ahead would otherwise grow memory without
// bound. Past the cap the oldest event is decided at once with the
// look-ahead it has had: every RST still gets its finding, and the
// waiting events take 10-17 MB (BenchmarkPendingEvents).
const maxPending = 32768

// entry is the table's record of one flow: the Flow plus bookkeeping that
// must not be copied into events.
type entry struct {
	prev, next *entry          // intrusive list (half, active or closed)
	list       *flowList       // the list e is on
	hosts      [2]*HostProfile // client, server; nil when the host table is full
	open       *openSet        // events of the flow still collecting; nil when none
	hello      *helloBuf       // a ClientHello being completed from several segments; nil if none
	hash       uint32          // capture.FlowHash of the flow's endpoints, low 32 bits (as in the map)
	ref        uint32          // e's place in the entryStore (see there)
	st         flowState
}

// helloBuf is a ClientHello being completed from several segments.
type helloBuf struct {
	b    []byte // the stream from the hello's first byte
	need int    // bytes reserved (t.helloBytes) and wanted so far
	next Seq    // the next in-order seq
	dir  Dir    // the direction sending it
}

// flowList is an intrusive doubly linked list of entries in the order of
// their last packet (oldest first). headDue caches the head's last packet
// time (Unix ns) plus the list's eviction delay, so that the check on every packet neither
// reads the head, the coldest entry of all, nor adds times: entries are
// pushed back right after their Last moved, and Last moves only then.
type flowList struct {
	head, tail *entry
	headDue    int64
	evict      time.Duration // IdleEvict or CloseEvict
	// The list's frozen records come before head (freezer.go): frozen
	// counts them, frozenDue is the first one's as headDue is head's.
	frozen    int
	frozenDue int64
	fz        *frozenQueue
	calm      *int64 // the table's (see Table.calm)
}

// setHeadDue sets headDue, and lowers the table's calm to it.
func (l *flowList) setHeadDue(due int64) {
	l.headDue = due
	if due < *l.calm {
		*l.calm = due
	}
}

// setFrozenDue sets frozenDue, and lowers the table's calm to it.
func (l *flowList) setFrozenDue(due int64) {
	l.frozenDue = due
	if due < *l.calm {
		*l.calm = due
	}
}

// due reports whether the head has had no packet for longer than evict
// at now (Unix ns).
func (l *flowList) due(now int64) bool {
	if l.frozen > 0 {
		return l.frozenDue < now
	}
	return l.head != nil && l.headDue < now
}

// pushBack adds e in order of last packet: at the back, or, when packets
// came out of time order, before the entries whose last packet is later
// (looking at most maxSortWalk entries back), so that a flow is evicted
// when its own time comes, not when a later flow's does; a flow's eviction
// thus does not depend on which other flows share the list (Sharded).
func (l *flowList) pushBack(e *entry) {
	after := l.tail
	n := 0
	for ; after != nil && after.st.last > e.st.last && n < maxSortWalk; n++ {
		after = after.prev
	}
	if after == nil && l.frozen > 0 && n < maxSortWalk {
		l.fz.thawLater(e.st.last, maxSortWalk-n) // the walk goes on among them
	}
	e.prev = after
	if after != nil {
		e.next = after.next
		after.next = e
	} else {
		e.next = l.head
		l.head = e
		l.setHeadDue(e.st.last + int64(l.evict))
	}
	if e.next != nil {
		e.next.prev = e
	} else {
		l.tail = e
	}
}

// maxSortWalk bounds the entries pushBack steps over for an out-of-order
// packet (hostile captures cannot make it quadratic).
const maxSortWalk = 64

func (l *flowList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
		if e.next != nil {
			l.setHeadDue(e.next.st.last + int64(l.evict))
		}
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// Table tracks TCP flows and turns RSTs into Events. It is not safe for
// concurrent use.
type Table struct {
	opts  Options
	flows flowMap
	spare []*entry // entries of ended flows, for reuse
	// store holds every entry ever made: at most the most flows held at
	// once (PeakActive), as ended flows' entries are reused.
	store  entryStore
	active flowList  // flows not closed, by last packet
	half   flowList  // flows not closed and half-open (see halfOpen), by last packet
	closed flowList  // closed flows, by last packet
	syns   synStore  // SYN-only flows (see synRec), by arrival
	frz    freezer   // flows past HotFlows, frozen (freezer.go)
	tombs  tombStore // flows evicted for idleness (tombstone.go)
	// replaying is set while a SYN-only flow's SYN is replayed into a full
	// entry: the host profiles saw that SYN already.
	replaying bool
	scratch   *entry // for OnFlowEnd of SYN-only flows
	pub       *Flow  // the Flow OnFlowEnd sees, rebuilt for each call
	ladders   ladderPool
	freeReqs  []*reqState
	freeTLS   []*tlsState
	noSynOnly bool // tests: track every flow in full from its first packet
	// noHosts is set on a shard of a Sharded: the reader keeps the host
	// profiles; router is set on the reader's table, which tracks no
	// flows and hands admitted packets to it.
	noHosts bool
	router  *Sharded
	idStep  uint64 // Flow.ID steps by this (0: 1); shards number apart
	// pendingCap is maxPending split between shards (0: maxPending).
	pendingCap int
	// keepEmitted is set on a shard: decided events go to emitted instead
	// of OnEvent, and back to the free list once the reader delivered them.
	keepEmitted bool
	emitted     []*openEvent
	emitSeq     uint64        // the reader's packet being handled (see shardItem.seq)
	created     []flowCreated // on a shard: flows started in this batch, for HostProfile.Flows
	hosts       hostIndex
	macHosts    map[[6]byte]uint32 // hosts per first MAC (HostProfile.MAC); at most one entry per host

	// queue holds the open events sorted by first RST (time, input,
	// frame); queue[qhead:] are live.
	queue []*openEvent
	qhead int
	free  []*openEvent
	// What waiting events keep out of line, and the Event a decided one
	// is built in (snapshot.go).
	snaps      snapArena
	snapBuf    []byte    // a record being built
	snapState  flowState // a record decoded
	evOut      *Event    // the Event OnEvent sees, rebuilt for each call
	freeEvents []*Event
	freeMore   []*[7]RSTPacket
	freeAfters []*After
	// snapLive (tests) makes every event expand the live state at its
	// opening, as the table did before records; snapRecords counts the
	// records kept.
	snapLive    bool
	snapRecords uint64
	// freeSets are openSets of flows whose events were all decided.
	freeSets []*openSet
	// helloBytes is the capacity of the ClientHello buffers of all flows
	// (at most maxHelloTotal).
	helloBytes int

	now   time.Time // latest packet time seen (or Flush time), re-based (see clock.go)
	nowNs int64     // now in Unix ns (see unixNano); set with now by setNow
	// nowLazy: now is stale, nowNs (in unixNano's range) is the clock; a
	// shard's table sets only nowNs as a packet moves its clock, and
	// rebuilds now when a comparison needs it (clockTime).
	nowLazy bool
	// calm is a time (Unix ns) up to which advance has nothing to do:
	// the earliest of the queue head's deadline, the lists' and the
	// SYN-only flows' eviction times when advance last looked, lowered
	// since by whatever set an earlier one (setHeadDue, setFrozenDue,
	// enqueue, newSyn); math.MinInt64 when it must look.
	calm   int64
	clock  clockState
	nextID uint64
	stats  TableStats
}

// NewTable returns an empty table. Zero fields of opts take the defaults.
func NewTable(opts Options) *Table {
	if opts.LookAhead <= 0 {
		opts.LookAhead = DefaultLookAhead
	}
	if opts.IdleEvict <= 0 {
		opts.IdleEvict = DefaultIdleEvict
	}
	if opts.CloseEvict <= 0 {
		opts.CloseEvict = DefaultCloseEvict
	}
	if opts.MaxFlows <= 0 {
		opts.MaxFlows = DefaultMaxFlows
	}
	if opts.MaxHosts <= 0 {
		opts.MaxHosts = DefaultMaxHosts
	}
	if opts.HotFlows <= 0 {
		opts.HotFlows = DefaultHotFlows
	}
	t := &Table{
		active:   flowList{evict: opts.IdleEvict},
		half:     flowList{evict: opts.IdleEvict},
		closed:   flowList{evict: opts.CloseEvict},
		opts:     opts,
		macHosts: make(map[[6]byte]uint32),
	}
	t.calm = math.MinInt64
	t.active.calm, t.half.calm, t.closed.calm = &t.calm, &t.calm, &t.calm
	t.flows = newFlowMap(&t.store, &t.syns)
	t.flows.frozen = &t.frz
	t.frz.init(t)
	t.setNow(time.Time{})
	return t
}

// Stats returns the counters so far.
func (t *Table) Stats() TableStats {
	s := t.stats
	s.Active, s.Frozen = t.flows.len(), t.frz.n
	return s
}

// KeyOf gives the canonical key of a packet's endpoints.
func KeyOf(a, b netip.AddrPort) Key {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return Key{A: a, B: b}
}

// Add tracks one packet. Packets should come in capture order; a packet
// older than the latest seen is still tracked, but time-driven work
// (emitting events, eviction) follows the latest time. p is not kept.
func (t *Table) Add(p *capture.Packet) {
	ns := unixNano(p.Time) // once a packet: admit and add both need it
	if t.admitsNow(ns) {
		t.addAt(p, ns)
	} else if q := t.admit(p, ns); q == p {
		t.addAt(p, ns)
	} else if q != nil {
		t.add(q)
	}
}

// add tracks p, re-timed by admit.
func (t *Table) add(p *capture.Packet) { t.addAt(p, unixNano(p.Time)) }

// addAt is add with ns, unixNano(p.Time).
func (t *Table) addAt(p *capture.Packet, ns int64) {
	if t.router != nil {
		t.router.route(p, ns, false)
		return
	}
	later := ns > t.nowNs // exact within the range, else compared as times
	if !inNsRange(ns) || !inNsRange(t.nowNs) {
		later = p.Time.After(t.clockTime())
	}
	if later {
		t.now, t.nowNs, t.nowLazy = p.Time, ns, false // setNow(p.Time)
	}
	t.track(p, ns)
}

// track is addAt once the clock is at p or past it: a shard's table
// takes its packets here, its clock set to the reader's (which is).
func (t *Table) track(p *capture.Packet, ns int64) {
	t.advance()
	rst := p.Flags&capture.RST != 0
	if rst {
		t.stats.RSTPackets++
	}
	h := p.FlowHash
	if h == 0 {
		h = capture.FlowHash(p.Src, p.Dst)
	}
	s, e := t.flows.find(p.Src, p.Dst, h)
	if s != nil {
		if e == nil && s.ref&(synBit|frozenBit) == frozenBit {
			e = t.thaw(s)
		} else if e == nil {
			e = t.promote(s)
		}
	}
	if e != nil && p.Flags&(capture.SYN|capture.ACK|capture.RST) == capture.SYN && reused(&e.st, p) {
		t.replace(e, p)
		e = nil
	}
	if e == nil {
		if t.flows.len() >= t.opts.MaxFlows && !t.makeRoom() {
			t.stats.Dropped++
			if p.Flags&(capture.SYN|capture.ACK) == capture.SYN {
				t.stats.DroppedFlows++
			}
			if rst {
				t.openUntracked(p)
			}
			return
		}
		if compactable(p) && !t.noSynOnly {
			t.newSyn(h, p)
			return
		}
		e = t.newEntry(h, p)
		if p.Flags&capture.SYN == 0 {
			if ts, ok := t.tombs.take(p); ok {
				e.link(&ts, p)
				t.stats.Linked++
			}
		}
	}
	t.packet(e, p, ns)
	if t.hotFlows() > t.opts.HotFlows {
		t.freezeCold()
	}
}

// Flush decides the events whose look-ahead ended before now and evicts
// idle and closed flows, as if a packet at time now had arrived. Use it
// on live captures when traffic pauses.
func (t *Table) Flush(now time.Time) {
	now = now.Add(t.clock.shift(0)) // a live capture is input 0
	if now.After(t.clockTime()) {
		t.setNow(now)
	}
	t.advance()
}

// Close ends the input: every open event is decided with EndOfInput set
// (in order), then every flow ends (OnFlowEnd). The table is empty
// afterwards (tombstones too) and may be reused.
func (t *Table) Close() {
	t.releaseOutlier()
	for t.qhead < len(t.queue) {
		t.emitHead(true)
	}
	t.queue, t.qhead = t.queue[:0], 0
	for _, l := range []*flowList{&t.closed, &t.half, &t.active} {
		for t.endHead(l, false) {
		}
	}
	for t.syns.head != 0 {
		t.endSyn(t.syns.head-1, false)
	}
	clear(t.tombs.slots) // a reused table starts with no evicted flows
}

// inNsRange reports whether Unix ns lie within 1843..2096, -4e18 < ns <
// 4e18: unixNano did not clamp them, and two of them can be subtracted.
// One unsigned comparison (the sum wraps below the range and past
// MaxInt64): it runs about eight times a packet.
func inNsRange(ns int64) bool { return uint64(ns+(4e18-1)) < 8e18-1 }

// setNow moves the clock to now.
func (t *Table) setNow(now time.Time) {
	t.now, t.nowNs, t.nowLazy = now, unixNano(now), false
}

// clockTime is the table's clock as a Time (now, rebuilt if lazy). Only its
// instant is kept: a lazy clock rebuilt is in UTC, with no monotonic
// reading, which no comparison of packet times notices.
func (t *Table) clockTime() time.Time {
	if t.nowLazy {
		t.now, t.nowLazy = time.Unix(0, t.nowNs).UTC(), false
	}
	return t.now
}

// advance emits due events and evicts idle and closed flows. It costs
// O(1) when there is nothing to do: a comparison with calm on most
// packets.
func (t *Table) advance() {
	if t.nowNs > t.calm || !inNsRange(t.nowNs) {
		t.advanceDue() // inlined, the test is all a packet costs on most
	}
}

// advanceDue is advance when something may be due.
func (t *Table) advanceDue() {
	for t.qhead < len(t.queue) && (t.queue[t.qhead].deadline.Before(t.clockTime()) || len(t.queue)-t.qhead > t.maxPending()) {
		t.emitHead(false)
	}
	now := t.nowNs
	for t.closed.due(now) {
		t.endHead(&t.closed, true)
	}
	for t.half.due(now) {
		t.endHead(&t.half, true)
	}
	for t.active.due(now) {
		t.endHead(&t.active, true)
	}
	for t.syns.head != 0 && t.syns.at(t.syns.head-1).ns+int64(t.opts.IdleEvict) < now {
		t.endSyn(t.syns.head-1, true)
	}
	t.calm = t.nextDue()
}

// nextDue gives what calm is after advance: the earliest time at which
// something could be due (math.MinInt64 when that cannot be told in
// Unix ns, or the pending-event cap is passed).
func (t *Table) nextDue() int64 {
	c := int64(math.MaxInt64)
	if t.qhead < len(t.queue) {
		ns := unixNano(t.queue[t.qhead].deadline)
		if len(t.queue)-t.qhead > t.maxPending() || !inNsRange(ns) {
			return math.MinInt64
		}
		c = ns
	}
	for _, l := range [3]*flowList{&t.closed, &t.half, &t.active} {
		switch {
		case l.frozen > 0:
			c = min(c, l.frozenDue)
		case l.head != nil:
			c = min(c, l.headDue)
		}
	}
	if t.syns.head != 0 {
		c = min(c, t.syns.at(t.syns.head-1).ns+int64(t.opts.IdleEvict))
	}
	return c
}

func (t *Table) maxPending() int {
	if t.pendingCap > 0 {
		return t.pendingCap
	}
	return maxPending
}

// pressureIdle is how long a flow must have been silent before a full
// table ends it early to make room for a new one.
const pressureIdle = 60 * time.Second

// makeRoom ends one flow early when the table is full, so that a SYN flood
// or a scan cannot blind the table to new connections until IdleEvict
// (15 min) passes. In order: the flow that closed longest ago; the oldest
// SYN-only flow; the least recently active half-open flow (a SYN never
// answered, no data); the least recently active flow silent for
// pressureIdle. Each kind sits on its own list, ordered by last packet, so
// a half-open or idle flow is found wherever it is among busy flows. Flows
// still collecting an event are kept (skipped, at most maxSkip of them per
// list). It reports whether a flow was ended; the count is
// Stats().EndedEarly.
func (t *Table) makeRoom() bool {
	if t.endFirst(&t.closed, false) {
	} else if t.syns.head != 0 {
		t.endSyn(t.syns.head-1, false)
	} else if t.endFirst(&t.half, false) {
	} else if t.endFirst(&t.active, true) {
	} else {
		return false
	}
	t.stats.EndedEarly++
	return true
}

// maxSkip bounds how many flows collecting an event makeRoom steps over
// on one list.
const maxSkip = 64

// flowEnd shows f to OnFlowEnd.
func (t *Table) flowEnd(f *flowState) {
	if t.opts.OnFlowEnd == nil {
		return
	}
	if t.pub == nil {
		t.pub = new(Flow)
	}
	f.expand(t.pub)
	t.opts.OnFlowEnd(t.pub)
}

// end removes e from the table: its open events stop collecting (they are
// still emitted on time) and OnFlowEnd sees the flow.
func (t *Table) end(e *entry, evicted bool) {
	t.finishHello(e)
	for _, oe := range e.opens() {
		oe.entry = nil
	}
	t.releaseOpen(e)
	if evicted && e.list == &t.active && e.st.anyData {
		t.tombs.put(&e.st)
		t.stats.Tombstones++
	}
	if e.list != nil { // nil: just thawed, away from its list's end (freezer.go)
		e.list.remove(e)
	}
	e.list = nil
	t.flows.remove(e, uint64(e.hash))
	if evicted {
		t.stats.Evicted++
	}
	t.flowEnd(&e.st)
	t.release(&e.st)
	// Nothing refers to e any more: keep it for the next new flow.
	t.spare = append(t.spare, e)
}

// reused reports whether a pure SYN starts a new connection on the tuple
// of f: f ended with FINs both ways or an acceptable RST (see Flow.reset),
// and the SYN is not a retransmission of the SYN its sender sent in f. An
// out-of-window RST followed by a SYN with a new ISN (two spoofed packets)
// thus leaves the flow in place, and the real peer's RST is judged
// against its real state.
func reused(f *flowState, p *capture.Packet) bool {
	if !(f.reset || f.finsBoth()) {
		return false
	}
	pr := f.dir(f.dirOf(p))
	return !(pr.synSeen && pr.isn == Seq(p.Seq))
}

// replace ends e because p (a pure SYN) starts a new connection on its
// tuple; e's open events note the new SYN.
func (t *Table) replace(e *entry, p *capture.Packet) {
	for _, oe := range e.opens() {
		oe.newSYN(p)
	}
	t.end(e, false)
}

// newEntry creates the flow p starts and decides its roles.
func (t *Table) newEntry(h uint64, p *capture.Packet) *entry {
	e := t.allocEntry()
	t.nextID += max(t.idStep, 1)
	t.initEntry(e, h, p, t.nextID)
	t.flows.put(e, h)
	t.stats.Flows++
	if n := t.flows.len(); n > t.stats.PeakActive {
		t.stats.PeakActive = n
	}
	return e
}

// allocEntry returns a cleared entry: an ended flow's, or a new one.
func (t *Table) allocEntry() *entry {
	if n := len(t.spare); n > 0 {
		e := t.spare[n-1]
		t.spare = t.spare[:n-1]
		*e = entry{ref: e.ref}
		return e
	}
	return t.store.alloc()
}

// initEntry starts e as flow id, first packet p, hash h: roles, hosts
// and its place on a list (not in the map).
func (t *Table) initEntry(e *entry, h uint64, p *capture.Packet, id uint64) {
	e.hash = uint32(h)
	f := &e.st
	f.id = id
	client, server, from := rolesOf(p)
	f.ep, f.rolesFrom = packEndpoints(client, server), from
	f.tunnel, f.vlan, f.input = p.Tunnel, p.VLAN, int32(p.Input)
	f.start, f.firstFrame = unixNano(p.Time), p.Index
	e.hosts[0] = t.host(client.Addr())
	e.hosts[1] = t.host(server.Addr())
	for _, h := range e.hosts {
		if h != nil && !t.replaying {
			h.Flows++
		}
	}
	if t.keepEmitted && !t.replaying {
		t.created = append(t.created, flowCreated{client: client.Addr(), server: server.Addr(), seq: t.emitSeq})
	}
}

// hostMAC records p's link-layer source as h's first MAC (a host's
// packets after the first are not looked at: one branch per packet).
func (t *Table) hostMAC(h *HostProfile, p *capture.Packet) {
	firstMAC(h, p.HasMAC, p.SrcMAC, t.macHosts)
}

// firstMAC records mac (when has) as h's first MAC, counting h among the
// hosts first seen from it in macHosts.
func firstMAC(h *HostProfile, has bool, mac [6]byte, macHosts map[[6]byte]uint32) {
	if !h.HasMAC && has {
		h.MAC, h.HasMAC = mac, true
		macHosts[mac]++
	}
}

// rstMACHosts is Event.RSTMACHosts for a RST with mac (has: a MAC).
func (t *Table) rstMACHosts(has bool, mac [6]byte) uint32 {
	if !has {
		return 0
	}
	return t.macHosts[mac]
}

// host returns the profile of addr, creating it while there is room.
func (t *Table) host(a netip.Addr) *HostProfile {
	if t.noHosts {
		return nil
	}
	return t.hosts.getOrAdd(a, t.opts.MaxHosts)
}

// rolesOf decides the roles of a flow from its first packet: a pure SYN's
// sender is the client; a SYN/ACK's receiver is the client; otherwise the
// side on a port below 1024 (when only one is), else the lower port, is
// the server (equal ports: the receiver).
func rolesOf(p *capture.Packet) (client, server netip.AddrPort, from RolesFrom) {
	switch p.Flags & (capture.SYN | capture.ACK | capture.RST) {
	case capture.SYN:
		return p.Src, p.Dst, RolesHandshake
	case capture.SYN | capture.ACK:
		return p.Dst, p.Src, RolesSYNACK
	}
	sp, dp := p.Src.Port(), p.Dst.Port()
	srcServer := false
	switch {
	case sp < 1024 && dp >= 1024:
		srcServer = true
	case dp < 1024 && sp >= 1024:
		srcServer = false
	default:
		srcServer = sp < dp
	}
	if srcServer {
		return p.Dst, p.Src, RolesPort
	}
	return p.Src, p.Dst, RolesPort
}

// upgradeRoles applies a SYN or SYN/ACK seen after the flow started: a
// pure SYN makes its sender the client (RolesHandshake); a SYN/ACK makes
// its receiver the client unless the handshake decided already.
func (e *entry) upgradeRoles(p *capture.Packet) {
	f := &e.st
	switch p.Flags & (capture.SYN | capture.ACK | capture.RST) {
	case capture.SYN:
		if f.rolesFrom == RolesHandshake {
			return
		}
		if !f.ep.isClient(p.Src) {
			e.flip()
		}
		f.rolesFrom = RolesHandshake
	case capture.SYN | capture.ACK:
		if f.rolesFrom == RolesHandshake || f.rolesFrom == RolesSYNACK {
			return
		}
		if !f.ep.isClient(p.Dst) {
			e.flip()
		}
		f.rolesFrom = RolesSYNACK
	}
}

// flip swaps client and server with everything recorded by direction.
func (e *entry) flip() {
	f := &e.st
	f.ep.flip()
	f.dirs[0], f.dirs[1] = f.dirs[1], f.dirs[0]
	e.hosts[0], e.hosts[1] = e.hosts[1], e.hosts[0]
	f.ladder.reverseDirs()
	f.hist.flipHistory()
	if e.hello != nil {
		e.hello.dir = e.hello.dir.Reverse()
	}
}

// touch moves e to the back of the list its state calls for: closed,
// half-open or active.
func (t *Table) touch(e *entry) {
	var l *flowList
	switch f := &e.st; {
	case f.closed:
		l = &t.closed
	case f.halfOpen():
		l = &t.half
	default:
		l = &t.active
	}
	if e.list == l && l.tail == e {
		// Already last: nothing before it is later (see pushBack), and
		// its Last only grew.
		if l.head == e {
			l.setHeadDue(e.st.last + int64(l.evict))
		}
		return
	}
	if e.list != nil {
		e.list.remove(e)
	}
	e.list = l
	l.pushBack(e)
}

// halfOpen reports whether f is a connection attempt nobody answered:
// no SYN/ACK and no data either way.
func (f *flowState) halfOpen() bool {
	return !f.synackSeen && !f.anyData
}

// packet handles one packet of a tracked flow (ns: its time in Unix ns).
func (t *Table) packet(e *entry, p *capture.Packet, ns int64) {
	f := &e.st
	if p.Flags&capture.SYN != 0 { // nothing to do otherwise (a call a packet)
		e.upgradeRoles(p)
	}
	d := f.dirOf(p)
	var cur *openEvent // event this RST opened (not observed as "after")
	check := SeqUnknown
	if p.Flags&capture.RST != 0 {
		check = seqCheck(f, d, p)
		if x := f.evicted; check == SeqUnknown && x != nil && x.Frame == p.Index {
			// The RST starts a flow linked to one evicted for idleness:
			// judge it against that flow's state (tombstone.go).
			check = x.SeqFit
		}
		if oe := e.joinable(p.Src, p.TTL); oe != nil {
			oe.join(p, d, check)
		} else {
			cur = t.openEvent(e, d, p, check)
		}
	}
	for _, oe := range e.opens() {
		if oe != cur {
			oe.observe(f, p)
		}
	}
	t.apply(e, d, p, check, ns)
	t.touch(e)
}
