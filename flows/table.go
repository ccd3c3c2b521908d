package flows

import (
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

// maxPending caps the events waiting for their look-ahead. Each holds a
// flow snapshot (about 9 KB), so a flood of RSTs on many tuples within one
// look-ahead would otherwise grow memory without bound (200,000 RSTs in
// 0.2 s of capture took 1.9 GB). Past the cap the oldest event is decided
// at once with the look-ahead it has had: every RST still gets its
// finding, memory stays under about 300 MB.
const maxPending = 32768

// entry is the table's record of one flow: the Flow plus bookkeeping that
// must not be copied into events.
type entry struct {
	prev, next *entry // intrusive list (active or closed)
	inClosed   bool
	hash       uint64 // capture.FlowHash of the flow's endpoints
	flow       Flow
	hosts      [2]*HostProfile // client, server; nil when the host table is full
	open       [maxOpenPerFlow]*openEvent
	nOpen      int
	// ClientHello being completed from several segments.
	hello     []byte
	helloNeed int
	helloNext Seq
	helloDir  Dir
}

// flowList is an intrusive doubly linked list of entries in the order of
// their last packet (oldest first). headDue caches the head's flow.Last
// plus the list's eviction delay, so that the check on every packet neither
// reads the head, the coldest entry of all, nor adds times: entries are
// pushed back right after their Last moved, and Last moves only then.
type flowList struct {
	head, tail *entry
	headDue    time.Time
	evict      time.Duration // IdleEvict or CloseEvict
}

// due reports whether the head has had no packet for longer than evict.
func (l *flowList) due(now time.Time) bool { return l.head != nil && l.headDue.Before(now) }

func (l *flowList) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
		l.headDue = e.flow.Last.Add(l.evict)
	}
	l.tail = e
}

func (l *flowList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
		if e.next != nil {
			l.headDue = e.next.flow.Last.Add(l.evict)
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
	slab  []entry  // new entries come from here, slabMax at a time
	// entries counts the entries ever made: at most the most flows held
	// at once (PeakActive), as ended flows' entries are reused.
	entries int
	active  flowList // flows not closed, by last packet
	closed  flowList // closed flows, by last packet
	hosts   map[netip.Addr]*HostProfile

	// queue holds the open events sorted by first RST (time, input,
	// frame); queue[qhead:] are live.
	queue []*openEvent
	qhead int
	free  []*openEvent
	// helloBytes is the capacity of the ClientHello buffers of all flows
	// (at most maxHelloTotal).
	helloBytes int

	now    time.Time // latest packet time seen (or Flush time)
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
	return &Table{
		active: flowList{evict: opts.IdleEvict},
		closed: flowList{evict: opts.CloseEvict},
		opts:   opts,
		flows:  newFlowMap(),
		hosts:  make(map[netip.Addr]*HostProfile),
	}
}

// Stats returns the counters so far.
func (t *Table) Stats() TableStats {
	s := t.stats
	s.Active = t.flows.len()
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
	if p.Time.After(t.now) {
		t.now = p.Time
	}
	t.advance()
	rst := p.Flags&capture.RST != 0
	if rst {
		t.stats.RSTPackets++
	}
	h := p.FlowHash
	if h == 0 {
		h = capture.FlowHash(p.Src, p.Dst)
	}
	e := t.flows.get(p.Src, p.Dst, h)
	if e != nil && p.Flags&(capture.SYN|capture.ACK|capture.RST) == capture.SYN && reused(&e.flow, p) {
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
		e = t.newEntry(h, p)
	}
	t.packet(e, p)
}

// Flush decides the events whose look-ahead ended before now and evicts
// idle and closed flows, as if a packet at time now had arrived. Use it
// on live captures when traffic pauses.
func (t *Table) Flush(now time.Time) {
	if now.After(t.now) {
		t.now = now
	}
	t.advance()
}

// Close ends the input: every open event is decided with EndOfInput set
// (in order), then every flow ends (OnFlowEnd). The table is empty
// afterwards and may be reused.
func (t *Table) Close() {
	for t.qhead < len(t.queue) {
		t.emitHead(true)
	}
	t.queue, t.qhead = t.queue[:0], 0
	for _, l := range []*flowList{&t.closed, &t.active} {
		for l.head != nil {
			t.end(l.head, false)
		}
	}
}

// advance emits due events and evicts idle and closed flows. It costs
// O(1) when there is nothing to do.
func (t *Table) advance() {
	for t.qhead < len(t.queue) && (t.queue[t.qhead].deadline.Before(t.now) || len(t.queue)-t.qhead > maxPending) {
		t.emitHead(false)
	}
	for t.closed.due(t.now) {
		t.end(t.closed.head, true)
	}
	for t.active.due(t.now) {
		t.end(t.active.head, true)
	}
}

// pressureIdle is how long a flow must have been silent before a full
// table ends it early to make room for a new one.
const pressureIdle = 60 * time.Second

// makeRoom ends one flow early when the table is full, so that a SYN flood
// or a scan cannot blind the table to new connections until IdleEvict
// (15 min) passes: first the flow that closed longest ago, else the least
// recently active flow if it is half-open (a SYN never answered, no data)
// or silent for pressureIdle. Flows still collecting an event are kept.
// It reports whether a flow was ended; the count is Stats().EndedEarly.
func (t *Table) makeRoom() bool {
	if e := t.closed.head; e != nil && e.nOpen == 0 {
		t.end(e, false)
		t.stats.EndedEarly++
		return true
	}
	e := t.active.head
	if e == nil || e.nOpen > 0 {
		return false
	}
	f := &e.flow
	halfOpen := !f.SYNACKSeen && f.Dirs[0].DataPackets == 0 && f.Dirs[1].DataPackets == 0
	if halfOpen || t.now.Sub(f.Last) >= pressureIdle {
		t.end(e, false)
		t.stats.EndedEarly++
		return true
	}
	return false
}

// end removes e from the table: its open events stop collecting (they are
// still emitted on time) and OnFlowEnd sees the flow.
func (t *Table) end(e *entry, evicted bool) {
	t.finishHello(e)
	for i := range e.nOpen {
		e.open[i].entry = nil
		e.open[i] = nil
	}
	e.nOpen = 0
	if e.inClosed {
		t.closed.remove(e)
	} else {
		t.active.remove(e)
	}
	t.flows.remove(e, e.hash)
	if evicted {
		t.stats.Evicted++
	}
	if t.opts.OnFlowEnd != nil {
		t.opts.OnFlowEnd(&e.flow)
	}
	// Nothing refers to e any more: keep it for the next new flow.
	t.spare = append(t.spare, e)
}

// reused reports whether a pure SYN starts a new connection on the tuple
// of f: f ended with FINs both ways or an acceptable RST (see Flow.reset),
// and the SYN is not a retransmission of the SYN its sender sent in f. An
// out-of-window RST followed by a SYN with a new ISN (two spoofed packets)
// thus leaves the flow in place, and the real peer's RST is judged
// against its real state.
func reused(f *Flow, p *capture.Packet) bool {
	if !(f.reset || f.finsBoth()) {
		return false
	}
	pr := f.Profile(f.dirOf(p))
	return !(pr.SYNSeen && pr.ISN == Seq(p.Seq))
}

// replace ends e because p (a pure SYN) starts a new connection on its
// tuple; e's open events note the new SYN.
func (t *Table) replace(e *entry, p *capture.Packet) {
	for i := range e.nOpen {
		oe := e.open[i]
		oe.ev.After.NewSYN = true
		oe.push(p)
	}
	t.end(e, false)
}

// newEntry creates the flow p starts and decides its roles.
func (t *Table) newEntry(h uint64, p *capture.Packet) *entry {
	var e *entry
	if n := len(t.spare); n > 0 {
		e = t.spare[n-1]
		t.spare = t.spare[:n-1]
		*e = entry{}
	} else {
		if len(t.slab) == cap(t.slab) {
			t.slab = newSlab(min(max(2*cap(t.slab), 64), slabMax))
		}
		t.slab = t.slab[:len(t.slab)+1]
		e = &t.slab[len(t.slab)-1]
		t.entries++
	}
	e.hash = h
	f := &e.flow
	t.nextID++
	f.ID = t.nextID
	f.Client, f.Server, f.RolesFrom = rolesOf(p)
	f.Tunnel, f.VLAN, f.Input = p.Tunnel, p.VLAN, p.Input
	f.Start, f.FirstFrame = p.Time, p.Index
	e.hosts[0] = t.host(f.Client.Addr())
	e.hosts[1] = t.host(f.Server.Addr())
	for _, h := range e.hosts {
		if h != nil {
			h.Flows++
		}
	}
	t.flows.put(e, h)
	t.active.pushBack(e)
	t.stats.Flows++
	if n := t.flows.len(); n > t.stats.PeakActive {
		t.stats.PeakActive = n
	}
	return e
}

// host returns the profile of addr, creating it while there is room.
func (t *Table) host(a netip.Addr) *HostProfile {
	if h := t.hosts[a]; h != nil {
		return h
	}
	if len(t.hosts) >= t.opts.MaxHosts {
		return nil
	}
	h := &HostProfile{Known: true}
	t.hosts[a] = h
	return h
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

// dirOf gives the direction of p in f.
func (f *Flow) dirOf(p *capture.Packet) Dir {
	if p.Src == f.Client {
		return FromClient
	}
	return FromServer
}

// upgradeRoles applies a SYN or SYN/ACK seen after the flow started: a
// pure SYN makes its sender the client (RolesHandshake); a SYN/ACK makes
// its receiver the client unless the handshake decided already.
func (e *entry) upgradeRoles(p *capture.Packet) {
	f := &e.flow
	switch p.Flags & (capture.SYN | capture.ACK | capture.RST) {
	case capture.SYN:
		if f.RolesFrom == RolesHandshake {
			return
		}
		if p.Src != f.Client {
			e.flip()
		}
		f.RolesFrom = RolesHandshake
	case capture.SYN | capture.ACK:
		if f.RolesFrom == RolesHandshake || f.RolesFrom == RolesSYNACK {
			return
		}
		if p.Dst != f.Client {
			e.flip()
		}
		f.RolesFrom = RolesSYNACK
	}
}

// flip swaps client and server with everything recorded by direction.
func (e *entry) flip() {
	f := &e.flow
	f.Client, f.Server = f.Server, f.Client
	f.Dirs[0], f.Dirs[1] = f.Dirs[1], f.Dirs[0]
	e.hosts[0], e.hosts[1] = e.hosts[1], e.hosts[0]
	f.Ladder.reverseDirs()
	f.flipHistory()
	if e.helloDir != DirUnknown {
		e.helloDir = e.helloDir.Reverse()
	}
}

// touch moves e to the back of its list (closed flows to the closed list).
func (t *Table) touch(e *entry) {
	if e.inClosed {
		t.closed.remove(e)
	} else {
		t.active.remove(e)
	}
	if e.flow.closed {
		e.inClosed = true
		t.closed.pushBack(e)
	} else {
		t.active.pushBack(e)
	}
}

// packet handles one packet of a tracked flow.
func (t *Table) packet(e *entry, p *capture.Packet) {
	f := &e.flow
	e.upgradeRoles(p)
	d := f.dirOf(p)
	var cur *openEvent // event this RST opened (not observed as "after")
	check := SeqUnknown
	if p.Flags&capture.RST != 0 {
		check = seqCheck(f, d, p)
		if oe := e.joinable(p.Src, p.TTL); oe != nil {
			oe.join(p, d, check)
		} else {
			cur = t.openEvent(e, d, p, check)
		}
	}
	for i := range e.nOpen {
		if oe := e.open[i]; oe != cur {
			oe.observe(f, p)
		}
	}
	t.apply(e, d, p, check)
	t.touch(e)
}
