package flows

import (
	"encoding/binary"
	"net/netip"
)

// The frozen tier: where frozen records (frozen.go) live and how the
// table uses them.
//
// Lists. Each of the table's lists (active, half-open, closed; ordered by
// last packet) is, as the table sees it, its frozen records in freeze
// order followed by its hot entries: a record is only ever frozen from
// the head of its list's hot part (the coldest entry), so it joins the
// back of the list's frozen part, which is where it stood. The lists'
// order, and so eviction (IdleEvict, CloseEvict, tombstones), making room
// under MaxFlows, Close and OnFlowEnd, are those of one list:
//   - the list's head is the frozen front while there is one (flowList.due
//     reads its time; endHead thaws and ends it);
//   - a packet of a frozen flow thaws it: back to the front of the hot
//     part when it was the last record (its very place), detached
//     otherwise (it was mid-list, and the packet moves it to the back:
//     touch);
//   - an out-of-order packet whose flow pushBack would walk back past the
//     hot part's head (less than maxSortWalk hot entries were later)
//     thaws the list's last records that are later too, back to the hot
//     part's front, and walks on.
// A flow collecting events freezes too: its open events (a few, for at
// most LookAhead of capture time) wait in freezer.opens by its id, and
// an event decided while its flow is frozen reads the flow's history and
// state from the record.
//
// Arena. A queue keeps its records in 64 KiB byte chunks (no pointers:
// the garbage collector never scans them), appended in freeze order,
// which is last-packet order. A record is
//
//	u16 length (bit 15: a hole) | u32 flow hash | uvarint id |
//	endpoints (1 + 4 or 16 + 4 or 16 + 4 bytes) | fields (codec) | u16 length
//
// and never spans chunks; the trailing length lets the back be walked
// backwards. A thaw or an end leaves a hole; holes at either end are cut
// off at once (whole chunks dropped), and when the holes inside pass the
// live bytes (and a chunk) the queue is compacted in place.
//
// Map. A frozen flow's map slot holds frozenBit | id; ids index a table of
// (queue, arena offset) that compaction updates, so slots never move.
// A probe that meets a frozen slot with the flow's hash tag reads the
// record's endpoints. Entry refs and ids stay below 2^30 (a table never
// holds 2^30 flows either way).
//
// Costs. Add freezes at its end while more than HotFlows entries are in
// use (a packet's own flow may be the coldest). A packet of a hot flow
// pays a compare in Add and one in each list's due check, and allocates
// nothing; a packet of a frozen flow pays a thaw and, the hot tier being
// full, a freeze: about 4 us with 16-slot ladders (BenchmarkFreezeThaw),
// no allocation but its share of a new chunk and what a thaw makes anew:
// a request's path and words past the dictionary, its LastRequest, an
// Evicted, a ClientHello buffer. A frozen flow
// costs its record, 8 bytes of id table and its map slot
// (BenchmarkMemory_established reports them); holes until compaction.

// DefaultHotFlows is Options.HotFlows' default.
const DefaultHotFlows = 65_536

// frozenBit marks a map slot's ref as a frozen flow's id.
const frozenBit = 1 << 30

const (
	chunkShift = 16
	chunkSize  = 1 << chunkShift
	maxRecord  = 1<<15 - 1
	holeBit    = 1 << 15
	// compactMin: holes inside a queue are compacted away only past this
	// many bytes.
	compactMin = chunkSize
)

// freezer is a table's frozen tier.
type freezer struct {
	q   [3]frozenQueue // active, half, closed
	ids frozenIDs
	n   int // frozen flows
	// freezes, thaws and compactions count what happened (tests)
	freezes, thaws, compactions uint64
	buf                         []byte // a record being built
	c                           codec
	dict                        frozenDict
	opens                       map[uint32]*openSet // open events of frozen flows, by id
}

// frozenQueue holds one list's frozen records.
type frozenQueue struct {
	t      *Table
	l      *flowList
	idx    uint64   // the queue's number in freezer.q
	chunks [][]byte // chunks[i] holds offsets (first+i)<<chunkShift up; len: bytes used
	first  uint64
	// front and back are the offsets of the first and the last live
	// record (valid iff live > 0).
	front, back uint64
	frontLast   int64 // the front record's last packet (Unix ns)
	live        int
	liveBytes   int
	holeBytes   int // of holes between front and back
	base        frozenBase
	hasBase     bool
}

// frozenIDs maps ids to a queue and an offset in it (queue<<62 | offset);
// a free id holds freeID | the next free id + 1.
type frozenIDs struct {
	pages [][]uint64
	n     uint32 // ids made
	free  uint32 // first free id + 1; 0: none
}

const (
	idPage = 4096
	freeID = 1 << 63
)

func (ids *frozenIDs) at(id uint32) *uint64 { return &ids.pages[id/idPage][id%idPage] }

func (ids *frozenIDs) alloc() uint32 {
	if ids.free != 0 {
		id := ids.free - 1
		ids.free = uint32(*ids.at(id) &^ freeID)
		return id
	}
	if ids.n%idPage == 0 {
		ids.pages = append(ids.pages, make([]uint64, idPage))
	}
	ids.n++
	return ids.n - 1
}

func (ids *frozenIDs) release(id uint32) {
	*ids.at(id) = freeID | uint64(ids.free)
	ids.free = id + 1
}

// init ties the freezer to t's lists.
func (z *freezer) init(t *Table) {
	for i, l := range [3]*flowList{&t.active, &t.half, &t.closed} {
		z.q[i] = frozenQueue{t: t, l: l, idx: uint64(i)}
		l.fz = &z.q[i]
	}
}

// hotFlows gives the entries in use (hot flows).
func (t *Table) hotFlows() int { return t.store.n - len(t.spare) }

// freezeCold freezes the coldest hot flows while more than HotFlows are
// hot: of the lists' heads, the one with the oldest last packet.
func (t *Table) freezeCold() {
	for t.hotFlows() > t.opts.HotFlows {
		var best *entry
		for _, l := range [3]*flowList{&t.active, &t.half, &t.closed} {
			if e := l.head; e != nil && (best == nil || e.st.last < best.st.last) {
				best = e
			}
		}
		if best == nil || !t.freeze(best) {
			return
		}
	}
}

// putEndpoints appends ep: a byte of flags (IPv4; address in 4 bytes),
// the addresses as 16 bytes (IPv4-mapped for IPv4) or 4, the ports.
func putEndpoints(b []byte, ep *endpoints) []byte {
	c, s := ep.c.Addr(), ep.s.Addr()
	var fl byte
	if c.Is4() {
		fl |= 1
	}
	if s.Is4() {
		fl |= 2
	}
	cb, sb := c.As16(), s.As16()
	cs, ss := c.Is4() || c.Is4In6(), s.Is4() || s.Is4In6()
	if cs {
		fl |= 4
	}
	if ss {
		fl |= 8
	}
	b = append(b, fl)
	b = append(b, cb[pick(cs, 12, 0):]...)
	b = append(b, sb[pick(ss, 12, 0):]...)
	return binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(b, ep.c.Port()), ep.s.Port())
}

// getEndpoints reads what putEndpoints wrote; n is 0 when b is short.
func getEndpoints(b []byte) (ep endpoints, n int) {
	if len(b) < 1 {
		return ep, 0
	}
	fl := b[0]
	n = 1
	var a [2][16]byte
	for i := range a {
		k := 16
		if fl&(4<<i) != 0 {
			k = 4
			a[i][10], a[i][11] = 0xff, 0xff
		}
		if len(b) < n+k {
			return ep, 0
		}
		copy(a[i][16-k:], b[n:n+k])
		n += k
	}
	if len(b) < n+4 {
		return ep, 0
	}
	addr := func(i int) netip.Addr {
		x := netip.AddrFrom16(a[i])
		if fl&(1<<i) != 0 {
			x = x.Unmap()
		}
		return x
	}
	ep.c = netip.AddrPortFrom(addr(0), binary.LittleEndian.Uint16(b[n:]))
	ep.s = netip.AddrPortFrom(addr(1), binary.LittleEndian.Uint16(b[n+2:]))
	return ep, n + 4
}

// encodeFlow appends f's record body (endpoints, fields) to b; ok is
// false when f has more fields than a record holds (it cannot: see
// maxFields).
func encodeFlow(c *codec, b []byte, f *flowState, hello *helloBuf, base frozenBase, dict *frozenDict) (rec []byte, ok bool) {
	b = putEndpoints(b, &f.ep)
	c.encStart()
	c.dict = dict
	c.flow(f, &hello, base, nil)
	return c.encFinish(b)
}

// decodeFlow reads a record body into f (zero) and gives the ClientHello
// buffer it held; ok is false when b is malformed. Out-of-line parts come
// from t's pools (t may be nil).
func decodeFlow(c *codec, b []byte, f *flowState, base frozenBase, t *Table, dict *frozenDict) (hello *helloBuf, ok bool) {
	ep, n := getEndpoints(b)
	if n == 0 {
		return nil, false
	}
	f.ep = ep
	c.decStart(b[n:])
	c.dict = dict
	if c.bad {
		return nil, false
	}
	c.flow(f, &hello, base, t)
	return hello, c.decFinish()
}

// rec gives the record at offset off.
func (q *frozenQueue) rec(off uint64) []byte {
	ch := q.chunks[off>>chunkShift-q.first]
	pos := int(off & (chunkSize - 1))
	n := int(binary.LittleEndian.Uint16(ch[pos:]) &^ holeBit)
	return ch[pos : pos+n]
}

// recHead splits a record into its hash, id and body.
func recHead(r []byte) (hash uint32, id uint32, body []byte) {
	hash = binary.LittleEndian.Uint32(r[2:])
	x, n := binary.Uvarint(r[6:])
	return hash, uint32(x), r[6+n : len(r)-2]
}

// freeze moves hot entry e (the head of its list's hot part) into its
// queue; it reports false, leaving e hot, when e's
// record would be too long (it cannot be: strings and the ClientHello
// buffer are capped).
func (t *Table) freeze(e *entry) bool {
	z := &t.frz
	q := e.list.fz
	f := &e.st
	if !q.hasBase {
		q.base, q.hasBase = frozenBase{ns: f.last, frame: f.firstFrame}, true
	}
	id := z.ids.alloc()
	b := binary.LittleEndian.AppendUint32(append(z.buf[:0], 0, 0), e.hash)
	b = binary.AppendUvarint(b, uint64(id))
	b, ok := encodeFlow(&z.c, b, f, e.hello, q.base, &z.dict)
	n := len(b) + 2
	if !ok || n > maxRecord || id >= frozenBit { // the last: 2^30 flows frozen at once
		z.ids.release(id)
		z.buf = b[:0]
		return false
	}
	binary.LittleEndian.PutUint16(b, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	z.buf = b[:0]
	off := q.append(b, f.last)
	*z.ids.at(id) = q.idx<<62 | off
	z.n++
	z.freezes++
	if s := e.open; s != nil {
		if z.opens == nil {
			z.opens = make(map[uint32]*openSet)
		}
		z.opens[id] = s
		for _, oe := range e.opens() {
			oe.entry, oe.frozen = nil, id+1
		}
		e.open = nil
	}
	if s := t.flows.slotOf(mapSlot{hash: e.hash, ref: e.ref}); s != nil {
		s.ref = frozenBit | id
	}
	e.list.remove(e)
	e.list = nil
	e.hello = nil // its bytes are in the record; t.helloBytes still counts them
	t.release(f)
	t.spare = append(t.spare, e)
	return true
}

// append adds record r (its flow's last packet at last) at the back.
func (q *frozenQueue) append(r []byte, last int64) uint64 {
	k := len(q.chunks) - 1
	if k < 0 || len(q.chunks[k])+len(r) > chunkSize {
		q.chunks = append(q.chunks, make([]byte, 0, chunkSize))
		k++
	}
	ch := q.chunks[k]
	off := (q.first+uint64(k))<<chunkShift | uint64(len(ch))
	q.chunks[k] = append(ch, r...)
	q.back = off
	if q.live == 0 {
		q.front, q.frontLast = off, last
		q.l.setFrozenDue(last + int64(q.l.evict))
	}
	q.live++
	q.l.frozen = q.live
	q.liveBytes += len(r)
	return off
}

// lastOff reads the first field of a record's fields (the flow's last
// packet, from the queue's base: see codec.flow) without decoding the
// rest.
func lastOff(b []byte) int64 {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || len(b) < k+2 || b[k]&1 == 0 || b[k+1]&1 == 0 {
		return 0 // no fields, or the first one is zero
	}
	z, _ := binary.Uvarint(b[k+2:])
	return int64(z>>1) ^ -int64(z&1)
}

// lastOf gives the last packet time of the record at off.
func (q *frozenQueue) lastOf(off uint64) int64 {
	_, _, body := recHead(q.rec(off))
	_, n := getEndpoints(body)
	return q.base.ns + lastOff(body[n:])
}

// thaw gives the entry of the frozen flow in map slot s, decoded into a
// new hot entry (see the comment at the top for its place on its list).
func (t *Table) thaw(s *mapSlot) *entry {
	z := &t.frz
	id := s.ref &^ frozenBit
	v := *z.ids.at(id)
	q, off := &z.q[v>>62], v&(1<<62-1)
	e := t.thawRecord(q, off)
	s.ref = e.ref
	t.stats.Thawed++
	if off == q.back {
		q.remove(off)
		q.l.pushFront(e)
	} else {
		q.remove(off)
	}
	return e
}

// thawRecord decodes the record at off of q into a new entry (not on a
// list; its map slot and the record are left as they are).
func (t *Table) thawRecord(q *frozenQueue, off uint64) *entry {
	hash, id, body := recHead(q.rec(off))
	e := t.allocEntry()
	e.hash = hash
	if s := t.frz.opens[id]; s != nil {
		delete(t.frz.opens, id)
		e.open = s
		for _, oe := range e.opens() {
			oe.entry, oe.frozen = e, 0
		}
	}
	hello, ok := decodeFlow(&t.frz.c, body, &e.st, q.base, t, &t.frz.dict)
	if !ok {
		panic("flows: frozen record does not decode") // a bug, never input
	}
	e.hello = hello
	t.frz.thaws++
	if !t.noHosts {
		e.hosts[0] = t.host(e.st.ep.client().Addr())
		e.hosts[1] = t.host(e.st.ep.server().Addr())
	}
	return e
}

// thawAt thaws the record at off of q (its front or back) to the front
// of q's list's hot part, map slot updated.
func (t *Table) thawAt(q *frozenQueue, off uint64) *entry {
	hash, id, _ := recHead(q.rec(off))
	e := t.thawRecord(q, off)
	if s := t.flows.slotOf(mapSlot{hash: hash, ref: frozenBit | id}); s != nil {
		s.ref = e.ref
	}
	q.remove(off)
	q.l.pushFront(e)
	return e
}

// remove makes the record at off a hole and frees its id.
func (q *frozenQueue) remove(off uint64) {
	r := q.rec(off)
	_, id, _ := recHead(r)
	q.t.frz.ids.release(id)
	q.t.frz.n--
	binary.LittleEndian.PutUint16(r, uint16(len(r))|holeBit)
	q.live--
	q.l.frozen = q.live
	q.liveBytes -= len(r)
	q.holeBytes += len(r)
	if q.live == 0 {
		q.clear()
		if q.l.head != nil {
			q.l.setHeadDue(q.l.headDue) // the list's due is its head's again (see Table.calm)
		}
		return
	}
	if off == q.front {
		q.skipFront()
	}
	if off == q.back {
		q.cutBack()
	}
	if q.holeBytes > q.liveBytes && q.holeBytes > compactMin {
		q.compact()
	}
}

// clear empties q, keeping one chunk.
func (q *frozenQueue) clear() {
	if len(q.chunks) > 0 {
		q.first += uint64(len(q.chunks) - 1)
		q.chunks[0] = q.chunks[len(q.chunks)-1][:0]
		clear(q.chunks[1:])
		q.chunks = q.chunks[:1]
	}
	q.liveBytes, q.holeBytes = 0, 0
}

// next gives the offset of the record after the one at off, and false at
// the end.
func (q *frozenQueue) next(off uint64) (uint64, bool) {
	k := off>>chunkShift - q.first
	pos := off&(chunkSize-1) + uint64(len(q.rec(off)))
	for pos >= uint64(len(q.chunks[k])) {
		k++
		if k >= uint64(len(q.chunks)) {
			return 0, false
		}
		pos = 0
	}
	return (q.first+k)<<chunkShift | pos, true
}

// prev gives the offset of the record before the one at off.
func (q *frozenQueue) prev(off uint64) (uint64, bool) {
	k := off>>chunkShift - q.first
	pos := off & (chunkSize - 1)
	for pos == 0 {
		if k == 0 {
			return 0, false
		}
		k--
		pos = uint64(len(q.chunks[k]))
	}
	n := uint64(binary.LittleEndian.Uint16(q.chunks[k][pos-2:]))
	return (q.first+k)<<chunkShift | (pos - n), true
}

func (q *frozenQueue) hole(off uint64) bool {
	return binary.LittleEndian.Uint16(q.rec(off))&holeBit != 0
}

// skipFront moves front past holes (live > 0), dropping chunks left
// behind.
func (q *frozenQueue) skipFront() {
	off := q.front
	for q.hole(off) {
		q.holeBytes -= len(q.rec(off))
		off, _ = q.next(off)
	}
	q.front = off
	q.frontLast = q.lastOf(off)
	q.l.setFrozenDue(q.frontLast + int64(q.l.evict))
	if k := int(off>>chunkShift - q.first); k > 0 {
		clear(q.chunks[:k])
		q.chunks = q.chunks[k:]
		q.first += uint64(k)
	}
}

// cutBack moves back before holes (live > 0), cutting them off.
func (q *frozenQueue) cutBack() {
	off := q.back
	for q.hole(off) {
		q.holeBytes -= len(q.rec(off))
		off, _ = q.prev(off)
	}
	q.back = off
	k := int(off>>chunkShift - q.first)
	q.chunks[k] = q.chunks[k][:int(off&(chunkSize-1))+len(q.rec(off))]
	clear(q.chunks[k+1:])
	q.chunks = q.chunks[:k+1]
}

// compact moves the live records to the front of the chunks, in order,
// and drops the chunks freed (in place: a record never moves later).
func (q *frozenQueue) compact() {
	q.t.frz.compactions++
	ids := &q.t.frz.ids
	w, wpos := 0, 0 // write chunk and position
	start, end := q.front, q.back
	for off := start; ; {
		nxt, more := q.next(off)
		if !q.hole(off) {
			r := q.rec(off)
			if wpos+len(r) > chunkSize {
				q.chunks[w] = q.chunks[w][:wpos]
				w, wpos = w+1, 0
			}
			ch := q.chunks[w][:max(wpos+len(r), len(q.chunks[w]))]
			copy(ch[wpos:], r)
			q.chunks[w] = ch
			no := (q.first+uint64(w))<<chunkShift | uint64(wpos)
			_, id, _ := recHead(ch[wpos : wpos+len(r)])
			*ids.at(id) = q.idx<<62 | no
			if off == start {
				q.front = no
			}
			if off == end {
				q.back = no
			}
			wpos += len(r)
		}
		if off == end || !more {
			break
		}
		off = nxt
	}
	q.chunks[w] = q.chunks[w][:wpos]
	clear(q.chunks[w+1:])
	q.chunks = q.chunks[:w+1]
	q.holeBytes = 0
}

// pushFront puts e at the head of l.
func (l *flowList) pushFront(e *entry) {
	e.list, e.prev, e.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.setHeadDue(e.st.last + int64(l.evict))
}

// endHead ends the first flow of l (the frozen front while there is one)
// and reports whether there was one.
func (t *Table) endHead(l *flowList, evicted bool) bool {
	if q := l.fz; l.frozen > 0 {
		t.end(t.thawAt(q, q.front), evicted)
		return true
	}
	if l.head == nil {
		return false
	}
	t.end(l.head, evicted)
	return true
}

// endFirst ends the least recently active flow of l collecting no event,
// looking at most maxSkip flows past the head (frozen ones first), if
// idle says nothing or it has been silent for pressureIdle; it reports
// whether it ended one (see makeRoom).
func (t *Table) endFirst(l *flowList, idle bool) bool {
	n := 0
	if q := l.fz; l.frozen > 0 {
		for off := q.front; n <= maxSkip; n++ {
			if _, id, _ := recHead(q.rec(off)); t.frz.opens[id] == nil {
				if idle && t.nowNs-q.lastOf(off) < int64(pressureIdle) {
					return false
				}
				t.end(t.thawOff(q, off), false)
				return true
			}
			if off == q.back {
				break
			}
			for off, _ = q.next(off); q.hole(off); off, _ = q.next(off) {
			}
		}
		n++ // the last record looked at (the loop ended at the back)
	}
	for e := l.head; e != nil && n <= maxSkip; e, n = e.next, n+1 {
		if e.open == nil {
			if idle && t.nowNs-e.st.last < int64(pressureIdle) {
				return false
			}
			t.end(e, false)
			return true
		}
	}
	return false
}

// thawOff thaws the record at off of q into a hot entry, map slot
// updated: back to the front of the hot part when it was the last
// record (its place), detached otherwise (see thaw).
func (t *Table) thawOff(q *frozenQueue, off uint64) *entry {
	if off == q.back {
		return t.thawAt(q, off)
	}
	hash, id, _ := recHead(q.rec(off))
	e := t.thawRecord(q, off)
	if s := t.flows.slotOf(mapSlot{hash: hash, ref: frozenBit | id}); s != nil {
		s.ref = e.ref
	}
	q.remove(off)
	return e
}

// frozenEmit gives the history and Zeek state of the frozen flow of oe,
// decided now, and takes oe off the flow's open events.
func (t *Table) frozenEmit(oe *openEvent) (history, connState string) {
	z := &t.frz
	id := oe.frozen - 1
	oe.frozen = 0
	v := *z.ids.at(id)
	q, off := &z.q[v>>62], v&(1<<62-1)
	_, _, body := recHead(q.rec(off))
	var f flowState
	if _, ok := decodeFlow(&z.c, body, &f, q.base, t, &z.dict); !ok {
		panic("flows: frozen record does not decode") // a bug, never input
	}
	history, connState = f.hist.String(), f.connState()
	t.release(&f)
	if s := z.opens[id]; s != nil && s.drop(oe) {
		delete(z.opens, id)
		t.freeSets = append(t.freeSets, s)
	}
	return history, connState
}

// thawLater thaws, back to the hot part's front, the last records of q
// whose last packet is later than last, at most n (see pushBack).
func (q *frozenQueue) thawLater(last int64, n int) {
	for ; n > 0 && q.live > 0 && q.lastOf(q.back) > last; n-- {
		q.t.thawAt(q, q.back)
	}
}

// slotOf gives the slot equal to want, or nil.
func (m *flowMap) slotOf(want mapSlot) *mapSlot {
	mask := uint32(len(m.slots) - 1)
	for i := want.hash & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.empty() {
			return nil
		}
		if *s == want {
			return s
		}
	}
}

// frozenMatches reports whether frozen flow id (its slot's ref, tag
// stripped) is the flow between src and dst.
func (z *freezer) matches(id uint32, src, dst netip.AddrPort) bool {
	v := *z.ids.at(id)
	_, _, body := recHead(z.q[v>>62].rec(v & (1<<62 - 1)))
	ep, _ := getEndpoints(body)
	return ep.matches(src, dst)
}

// popFree takes the last item of the free list *free, or a new one when
// it is empty. Items are as they were put back: callers clear them on one
// side or the other.
func popFree[T any](free *[]*T) *T {
	n := len(*free)
	if n == 0 {
		return new(T)
	}
	x := (*free)[n-1]
	(*free)[n-1] = nil
	*free = (*free)[:n-1]
	return x
}

// newTLS gives a cleared TLS state from t's pool (t may be nil).
func (t *Table) newTLS() *tlsState {
	if t == nil {
		return new(tlsState)
	}
	return popFree(&t.freeTLS)
}

// newReq gives a cleared request state from t's pool (t may be nil).
func (t *Table) newReq() *reqState {
	if t == nil {
		return new(reqState)
	}
	return popFree(&t.freeReqs)
}

// ladderBlock gives a ladder block of n (4 or 12) slots from t's pool (t
// may be nil).
func (t *Table) ladderBlock(n int) []flowSlot {
	if t == nil {
		return make([]flowSlot, n)
	}
	return t.ladders.get(n / 8)
}
