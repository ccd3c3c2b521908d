package flows

import (
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Waiting events (issue 17: events carry what the rules need, not a copy
// of the flow).
//
// An event waits up to LookAhead of capture time for what follows its
// first RST, and in a RST storm up to maxPending of them wait at once.
// While it waits an event holds the flow's state just before the RST as
// a record of the frozen codec (frozen.go: the flowState itself, delta-
// coded, exact by construction and by its round-trip tests), not as the
// Flow the rules read: a new flow's record is about 46 bytes, a 16-packet
// HTTP or TLS flow's about 320, where the Flow is 2,008 bytes (and the
// Event 4,680). The records live in 64 KiB chunks (snapArena), pointer-
// free, reused once every record in them was decided. Later RSTs and the
// look-ahead's After (1.4 KB with its 16 packets) are taken from pools
// only when there are any. The codec costs about 5 us an event of a
// 16-packet flow (BenchmarkEvents: 6.5 us against 1.4 us expanding the
// live state), less than the memory traffic of 4.7 KB events saves in a
// storm.
//
// When the event is decided the record is decoded into a scratch
// flowState and expanded (buildSnap): Flow, Stage, Gap and Trigger come
// from it as they came from the live state at the RST, so the Event the
// rules see is the one the table built before. An event due at once (its
// look-ahead already over when it opens: a late RST) skips the record
// and expands the live state into its Event.
//
//	waiting event                 bytes
//	openEvent                     288 (the first RST, 120, inline)
//	queue and free-list pointers  16
//	record                        46 (a RST on a new tuple), 137 (a
//	                              6-packet HTTP flow), ~320 (16 packets)
//	later RSTs, After             840, 1,400: only when there are any
//
// BenchmarkPendingEvents (live heap per event, 32,768 waiting): 305 bytes
// for a RST past MaxFlows (untracked: no record), 515 for a RST on an
// established 6-packet HTTP flow, 1,609 for a RST on a new tuple (the new
// flow's entry included); 4,879, 4,953 and 6,140 when an event held its
// Event.

// snapChunkSize is the size of a chunk of records; a record longer than
// a quarter of it gets a chunk of its own.
const snapChunkSize = 64 << 10

// snapChunk holds records of waiting events.
type snapChunk struct {
	b    []byte // len: bytes used
	live int    // records in b whose events wait
}

// snapArena keeps the records of a table's waiting events.
type snapArena struct {
	cur  *snapChunk
	free []*snapChunk
}

// snapRef is where a record lies in its chunk.
type snapRef struct{ off, n uint32 }

// rec gives the record at r.
func (c *snapChunk) rec(r snapRef) []byte { return c.b[r.off : r.off+r.n] }

// put copies rec into a chunk and gives the chunk and where it lies.
func (a *snapArena) put(rec []byte) (*snapChunk, snapRef) {
	if len(rec) > snapChunkSize/4 {
		c := &snapChunk{b: append([]byte(nil), rec...), live: 1}
		return c, snapRef{0, uint32(len(rec))}
	}
	if a.cur == nil || len(a.cur.b)+len(rec) > cap(a.cur.b) {
		if c := a.cur; c != nil && c.live == 0 {
			c.b = c.b[:0] // all its events were decided: reuse it
		} else if n := len(a.free); n > 0 {
			a.cur = a.free[n-1]
			a.free = a.free[:n-1]
		} else {
			a.cur = &snapChunk{b: make([]byte, 0, snapChunkSize)}
		}
	}
	c := a.cur
	at := len(c.b)
	c.b = append(c.b, rec...)
	c.live++
	return c, snapRef{uint32(at), uint32(len(rec))}
}

// done releases a record of chunk c.
func (a *snapArena) done(c *snapChunk) {
	c.live--
	switch {
	case c.live > 0:
	case c == a.cur:
		c.b = c.b[:0]
	case cap(c.b) == snapChunkSize:
		c.b = c.b[:0]
		a.free = append(a.free, c)
	}
}

// snapBase is what an event's record is coded relative to: its first
// RST's time and frame.
func snapBase(r *RSTPacket) frozenBase {
	return frozenBase{ns: unixNano(r.Time), frame: r.Frame}
}

// keepSnap stores f, the state of oe's flow just before its first RST, as
// oe's record.
func (t *Table) keepSnap(oe *openEvent, f *flowState) {
	z := &t.frz
	rec, ok := encodeFlow(&z.c, t.snapBuf[:0], f, nil, snapBase(&oe.first), &z.dict)
	t.snapBuf = rec
	if !ok { // cannot happen (see maxFields); the Event holds it then
		oe.out = t.newEvent()
		snapshot(oe.out, f, &oe.first)
		return
	}
	oe.chunk, oe.snap = t.snaps.put(rec)
	t.snapRecords++
}

// buildSnap writes the parts of oe's Event that come from its flow just
// before the first RST (see snapshot) into ev, clearing the rest.
func (t *Table) buildSnap(oe *openEvent, ev *Event) {
	if oe.untracked {
		*ev = Event{}
		untrackedFlow(&ev.Flow, oe)
		return
	}
	z := &t.frz
	f := &t.snapState
	*f = flowState{}
	if _, ok := decodeFlow(&z.c, oe.chunk.rec(oe.snap), f, snapBase(&oe.first), t, &z.dict); !ok {
		panic("flows: event record does not decode") // a bug, never input
	}
	t.snaps.done(oe.chunk)
	oe.chunk, oe.snap = nil, snapRef{}
	snapshot(ev, f, &oe.first)
	t.release(f)
}

// snapshot writes into ev (cleared first) what comes from f, the flow
// just before the first RST r: the Flow, Stage, Gap and Trigger.
func snapshot(ev *Event, f *flowState, r *RSTPacket) {
	*ev = Event{}
	f.expand(&ev.Flow)
	ev.Stage = stage(f)
	if ns := unixNano(r.Time); f.packets() > 0 && ns > f.last {
		ev.Gap = time.Duration(ns - f.last)
	}
	ev.Trigger, ev.HasTrigger = trigger(f, r.Dir.Reverse())
}

// untrackedFlow writes the Flow of an untracked event (see openUntracked).
func untrackedFlow(f *Flow, oe *openEvent) {
	r := &oe.first
	f.Client, f.Server, _ = rolesOf(&capture.Packet{Src: oe.sender, Dst: oe.receiver, Flags: capture.ACK})
	f.RolesFrom = RolesPort
	f.Tunnel, f.VLAN, f.Input = oe.tunnel, oe.vlan, r.Input
	f.Start, f.Last, f.FirstFrame = r.Time, r.Time, r.Frame
}

// fill writes the event's RSTs and look-ahead facts into ev.
func (oe *openEvent) fill(ev *Event) {
	ev.RSTs[0] = oe.first
	if oe.more != nil {
		copy(ev.RSTs[1:], oe.more[:])
	}
	ev.Count = int(oe.count)
	if oe.after != nil {
		ev.After = *oe.after
	}
}

// newEvent gives a cleared Event from t's pool.
func (t *Table) newEvent() *Event {
	ev := popFree(&t.freeEvents)
	*ev = Event{}
	return ev
}

// newMore gives cleared room for an event's later RSTs from t's pool.
func (t *Table) newMore() *[7]RSTPacket {
	m := popFree(&t.freeMore)
	*m = [7]RSTPacket{}
	return m
}

// newAfter gives a cleared After from t's pool.
func (t *Table) newAfter() *After {
	a := popFree(&t.freeAfters)
	*a = After{}
	return a
}

// freeOpen returns a decided (and delivered) event and its parts to t's
// pools.
func (t *Table) freeOpen(oe *openEvent) {
	if oe.more != nil {
		t.freeMore = append(t.freeMore, oe.more)
	}
	if oe.after != nil {
		t.freeAfters = append(t.freeAfters, oe.after)
	}
	if oe.out != nil {
		t.freeEvents = append(t.freeEvents, oe.out)
	}
	if oe.chunk != nil {
		t.snaps.done(oe.chunk)
	}
	*oe = openEvent{t: t}
	t.free = append(t.free, oe)
}
