package flows

import (
	"math"
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// openEvent is an event still inside its look-ahead window, held at what
// it needs rather than as an Event (4.7 KB): the flow just before the
// first RST as a record of the frozen codec (snap, exact: frozen.go), the
// first RST, and later RSTs and the look-ahead's facts out of line once
// there are any. The Event the rules read is built when the event is
// decided (snapshot.go), about 300 bytes a waiting event plus its record.
type openEvent struct {
	first RSTPacket     // Event.RSTs[0]
	more  *[7]RSTPacket // Event.RSTs[1:]; nil until a second RST joins
	after *After        // Event.After; nil until a packet came after the RST
	// chunk holds the flow's record (frozen codec, relative to snapBase)
	// at snap; nil when out is built or the event is untracked.
	chunk *snapChunk
	snap  snapRef
	// out is the built Event: from the opening when the event is due at
	// once (no look-ahead left to wait for), or from the decision on a
	// shard until the reader delivers it; else nil.
	out      *Event
	t        *Table // for the pools of more and after
	entry    *entry // flow still collecting into this event; nil when detached
	sender   netip.AddrPort
	receiver netip.AddrPort
	deadline time.Time
	emitSeq  uint64 // on a shard: the reader's packet at which it was decided
	// frozen is the id + 1 of the flow while it is frozen (entry is nil
	// then; freezer.go), else 0.
	frozen    uint32
	count     int32 // Event.Count
	joinable  bool  // the sender has sent nothing but RSTs since the first RST
	pureACK   bool  // the receiver sent a pure ACK since the first RST
	untracked bool  // openUntracked: the Flow is made of the first RST
	tunnel    capture.Tunnel
	vlan      uint16 // untracked: the RST's VLAN
}

// openSet holds a flow's open events, oldest first. A flow has one only
// while an event of it is open, so held flows do not pay for it.
type openSet struct {
	ev [maxOpenPerFlow]*openEvent
	n  int
}

// opens gives the flow's open events, oldest first.
func (e *entry) opens() []*openEvent {
	if e.open == nil {
		return nil
	}
	return e.open.ev[:e.open.n]
}

// joinable returns the open event that an RST from src with this TTL
// joins: the newest event of this flow from the same sender that has seen
// nothing but RSTs from it since, and whose first RST came with the same
// TTL give or take one hop (a mirror copy). A RST arriving with another TTL
// comes from another device (a middlebox's RSTs followed by the real
// peer's), so it gets its own event and its own verdict.
func (e *entry) joinable(src netip.AddrPort, ttl uint8) *openEvent {
	open := e.opens()
	for i := len(open) - 1; i >= 0; i-- {
		if oe := open[i]; oe.sender == src && oe.joinable && ttlNear(oe.first.TTL, ttl) {
			return oe
		}
	}
	return nil
}

func ttlNear(a, b uint8) bool { return a == b || a == b+1 || b == a+1 }

// addOpen adds oe to e's open events; past maxOpenPerFlow the oldest
// stops collecting.
func (t *Table) addOpen(e *entry, oe *openEvent) {
	if e.open == nil {
		if n := len(t.freeSets); n > 0 {
			e.open = t.freeSets[n-1]
			t.freeSets = t.freeSets[:n-1]
		} else {
			e.open = new(openSet)
		}
	}
	s := e.open
	if s.n == len(s.ev) {
		s.ev[0].entry = nil
		copy(s.ev[:], s.ev[1:])
		s.n--
	}
	s.ev[s.n] = oe
	s.n++
}

// drop removes oe from s and reports whether s is empty.
func (s *openSet) drop(oe *openEvent) bool {
	for i := range s.n {
		if s.ev[i] == oe {
			copy(s.ev[i:], s.ev[i+1:s.n])
			s.n--
			s.ev[s.n] = nil
			break
		}
	}
	return s.n == 0
}

// removeOpen removes oe from e's open events.
func (t *Table) removeOpen(e *entry, oe *openEvent) {
	if s := e.open; s != nil && s.drop(oe) {
		t.releaseOpen(e)
	}
}

// releaseOpen returns e's open set, emptied, for reuse.
func (t *Table) releaseOpen(e *entry) {
	if s := e.open; s != nil {
		*s = openSet{}
		t.freeSets = append(t.freeSets, s)
		e.open = nil
	}
}

// ladderEntry describes p as sent in direction d.
func ladderEntry(p *capture.Packet, d Dir) LadderEntry {
	return LadderEntry{
		Frame: p.Index, Input: p.Input, Time: p.Time, Dir: d, Flags: p.Flags,
		Seq: Seq(p.Seq), Ack: Seq(p.Ack), Len: p.Len, TTL: p.TTL, IPID: p.IPID,
		Window: p.Window, HasTS: p.Opts.HasTS, TSVal: p.Opts.TSVal,
	}
}

// rstPacket describes the RST p sent in direction d.
func rstPacket(p *capture.Packet, d Dir, check SeqCheck) RSTPacket {
	r := RSTPacket{
		Frame: p.Index, Input: p.Input, Time: p.Time, Dir: d, Flags: p.Flags,
		Reserved: p.Reserved, Seq: Seq(p.Seq), Ack: Seq(p.Ack), Window: p.Window,
		TTL: p.TTL, IPID: p.IPID, IsIPv4: p.Src.Addr().Is4(), DF: p.DF, Opts: p.Opts,
		Len: p.Len, HasMAC: p.HasMAC, SrcMAC: p.SrcMAC, SeqCheck: check,
	}
	if len(p.Payload) > 0 {
		r.Payload = string(p.Payload[:min(len(p.Payload), MaxRSTPayload)])
	}
	return r
}

// seqCheck judges an RST sent in direction d against the receiver's state
// as the capture shows it (before the RST is applied):
//   - an RST answering a SYN (the receiver sent a SYN, no SYN/ACK seen,
//     the sender sent no SYN): exact iff it has ACK and ack == ISN+1 (the
//     only RST a SYN-SENT endpoint accepts), out_of_window otherwise;
//   - exact when seq equals the receiver's last ack (its RCV.NXT) or the
//     sender's NextSeq (its SND.NXT: all it sent was received), or one
//     less than either after the sender's FIN (Linux accepts RCV.NXT-1 in
//     CLOSE_WAIT/LAST_ACK);
//   - in_window when seq lies in [RCV.NXT, RCV.NXT+window] with the
//     receiver's last ack and advertised (scaled) window;
//   - out_of_window otherwise; unknown when the receiver never sent an
//     ACK and the seq is not the sender's NextSeq, or when the handshake
//     (hence the window scale) was not seen and the seq lies beyond the
//     raw window but within the largest scaled one.
func seqCheck(f *flowState, d Dir, p *capture.Packet) SeqCheck {
	snd, rcv := f.dir(d), f.dir(d.Reverse())
	seq := Seq(p.Seq)
	if rcv.synSeen && !rcv.ackValid && !f.synackSeen && !snd.synSeen {
		if p.Flags&capture.ACK != 0 && Seq(p.Ack) == rcv.isn.Add(1) {
			return SeqExact
		}
		return SeqOutOfWindow
	}
	if rcv.ackValid && (seq == rcv.lastAck || (snd.finSeen && seq.Add(1) == rcv.lastAck)) {
		return SeqExact
	}
	if snd.seqValid && (seq == snd.nextSeq || (snd.finSeen && seq.Add(1) == snd.nextSeq)) {
		return SeqExact
	}
	if !rcv.ackValid {
		return SeqUnknown
	}
	if seq.InWindow(rcv.lastAck, rcv.window+1) {
		return SeqInWindow
	}
	if !(rcv.synSeen && snd.synSeen) && seq.InWindow(rcv.lastAck, rcv.window<<14+1) {
		// The window scale was not seen: the real window may be up to
		// 2^14 times the raw value, so the seq may still be inside it.
		return SeqUnknown
	}
	// Data the sender sent but the receiver had not acknowledged yet
	// (delayed ACK) still lies in the receiver's window.
	if snd.seqValid && rcv.lastAck.LessThan(seq) && seq.LessThan(snd.nextSeq) {
		return SeqInWindow
	}
	return SeqOutOfWindow
}

// stage says where in the flow an RST comes (before it is applied).
func stage(f *flowState) Stage {
	c, s := &f.dirs[0], &f.dirs[1]
	if !c.synSeen && !s.synSeen {
		if c.packets+s.packets == 0 && f.evicted == nil {
			return StageUnknown
		}
		return StageLaterInFlow // midstream (or after an evicted flow): the start was not seen
	}
	if !f.established {
		return StagePostSYN
	}
	switch data := uint64(c.dataPackets) + uint64(s.dataPackets); {
	case data == 0:
		return StagePostACK
	case data <= 3:
		return StagePostPSH
	}
	return StageLaterInFlow
}

// trigger finds the last packet from the receiver r in the ladder.
func trigger(f *flowState, r Dir) (LadderEntry, bool) {
	n := f.packets()
	for i := f.ladder.len(n) - 1; i >= 0; i-- {
		if s := f.ladder.at(n, i); s.dir() == r {
			w := s.wide(f.slotBase())
			return w.entry(), true
		}
	}
	return LadderEntry{}, false
}

// alloc returns a cleared open event.
func (t *Table) alloc() *openEvent {
	oe := popFree(&t.free) // cleared by freeOpen
	oe.t = t
	return oe
}

// openEvent starts an event for the RST p sent in direction d of e's flow.
// The flow is snapshotted before the RST is applied: as a record while
// the event waits for its look-ahead, as the Event's Flow at once when
// the event is already due.
func (t *Table) openEvent(e *entry, d Dir, p *capture.Packet, check SeqCheck) *openEvent {
	f := &e.st
	t.finishHello(e)
	if snd := f.dir(d); snd.tls != nil {
		snd.tls.markCandidate(snd.end(), f.dirs[1].tlsVersion)
	}

	oe := t.alloc()
	oe.first = rstPacket(p, d, check)
	oe.count = 1
	oe.entry, oe.sender, oe.receiver, oe.joinable = e, p.Src, p.Dst, true
	oe.deadline = p.Time.Add(t.opts.LookAhead)
	if oe.deadline.Before(t.clockTime()) || t.snapLive {
		oe.out = t.newEvent()
		snapshot(oe.out, f, &oe.first)
	} else {
		t.keepSnap(oe, f)
	}
	t.addOpen(e, oe)
	t.enqueue(oe)
	return oe
}

// openUntracked makes an event for an RST whose flow the table refused
// (MaxFlows reached): its Flow is a minimal snapshot with ID 0, roles by
// port (RolesPort), Start/Last/FirstFrame/Input/Tunnel/VLAN of the RST and
// empty profiles, so SeqCheck and Stage are unknown (untrackedFlow). It
// collects nothing after the RST and later RSTs never join it.
func (t *Table) openUntracked(p *capture.Packet) {
	oe := t.alloc()
	client, _, _ := rolesOf(&capture.Packet{Src: p.Src, Dst: p.Dst, Flags: capture.ACK})
	d := FromServer
	if p.Src == client {
		d = FromClient
	}
	oe.first = rstPacket(p, d, SeqUnknown)
	oe.count = 1
	oe.untracked, oe.tunnel, oe.vlan = true, p.Tunnel, p.VLAN
	oe.sender, oe.receiver = p.Src, p.Dst
	oe.deadline = p.Time.Add(t.opts.LookAhead)
	t.enqueue(oe)
}

// enqueue inserts oe into the queue sorted by first RST (time, input,
// frame); packets in capture order make this an append.
func (t *Table) enqueue(oe *openEvent) {
	if t.qhead > 64 && t.qhead*2 > len(t.queue) {
		n := copy(t.queue, t.queue[t.qhead:])
		clear(t.queue[n:])
		t.queue = t.queue[:n]
		t.qhead = 0
	}
	t.queue = append(t.queue, oe)
	i := len(t.queue) - 1
	for i > t.qhead && eventBefore(oe, t.queue[i-1]) {
		t.queue[i] = t.queue[i-1]
		i--
	}
	t.queue[i] = oe
	// The event may be due before what advance last saw (see calm).
	if ns := unixNano(oe.deadline); len(t.queue)-t.qhead > t.maxPending() || !inNsRange(ns) {
		t.calm = math.MinInt64
	} else {
		t.calm = min(t.calm, ns)
	}
}

func eventBefore(a, b *openEvent) bool {
	ra, rb := &a.first, &b.first
	if !ra.Time.Equal(rb.Time) {
		return ra.Time.Before(rb.Time)
	}
	if ra.Input != rb.Input {
		return ra.Input < rb.Input
	}
	return ra.Frame < rb.Frame
}

// emitHead decides the first queued event: builds its Event (see
// openEvent) and hands it on.
func (t *Table) emitHead(endOfInput bool) {
	oe := t.queue[t.qhead]
	t.queue[t.qhead] = nil
	t.qhead++
	ev := oe.out
	if ev == nil {
		if t.keepEmitted {
			ev = t.newEvent()
			oe.out = ev
		} else {
			if t.evOut == nil {
				t.evOut = new(Event)
			}
			ev = t.evOut
		}
		t.buildSnap(oe, ev)
	}
	oe.fill(ev)
	ev.EndOfInput = endOfInput
	ev.History, ev.ConnState = "", ""
	if oe.entry != nil {
		ev.History, ev.ConnState = oe.entry.st.hist.String(), oe.entry.st.connState()
		t.removeOpen(oe.entry, oe)
		oe.entry = nil
	} else if oe.frozen != 0 {
		ev.History, ev.ConnState = t.frozenEmit(oe)
	}
	if h := t.hosts.get(oe.sender.Addr()); h != nil {
		ev.SenderHost = h.settled()
	}
	if h := t.hosts.get(oe.receiver.Addr()); h != nil {
		ev.ReceiverHost = h.settled()
	}
	if r := &ev.RSTs[0]; !t.noHosts {
		ev.RSTMACHosts = t.rstMACHosts(r.HasMAC, r.SrcMAC)
	}
	t.stats.Events++
	if t.keepEmitted {
		oe.emitSeq = t.emitSeq
		t.emitted = append(t.emitted, oe)
		return
	}
	if t.opts.OnEvent != nil {
		t.opts.OnEvent(ev)
	}
	t.freeOpen(oe)
}

// join adds a later RST from the same sender to the event.
func (oe *openEvent) join(p *capture.Packet, d Dir, check SeqCheck) {
	if i := int(oe.count) - 1; i < len(oe.more) {
		if oe.more == nil {
			oe.more = oe.t.newMore()
		}
		oe.more[i] = rstPacket(p, oe.dirOf(p), check)
	}
	oe.count++
}

// dirOf gives p's direction in the event's snapshot roles (the first
// RST's sender is in the role its Dir says).
func (oe *openEvent) dirOf(p *capture.Packet) Dir {
	if (p.Src == oe.sender) == (oe.first.Dir == FromClient) {
		return FromClient
	}
	return FromServer
}

// newSYN notes a pure SYN p that starts a new connection on the tuple.
func (oe *openEvent) newSYN(p *capture.Packet) {
	oe.afterFacts().NewSYN = true
	oe.push(p)
}

// afterFacts gives the event's After, taking one from the pool on the
// first packet after the RST.
func (oe *openEvent) afterFacts() *After {
	if oe.after == nil {
		oe.after = oe.t.newAfter()
	}
	return oe.after
}

// push appends p to the event's After.Packets while there is room.
func (oe *openEvent) push(p *capture.Packet) {
	a := oe.afterFacts()
	if a.N < len(a.Packets) {
		a.Packets[a.N] = ladderEntry(p, oe.dirOf(p))
		a.N++
	}
}

// observe records a packet of the flow that came after the event's first
// RST (f is the live flow, before p is applied).
func (oe *openEvent) observe(f *flowState, p *capture.Packet) {
	oe.push(p)
	a := oe.after
	rst := p.Flags&capture.RST != 0
	if p.Flags&(capture.SYN|capture.ACK|capture.RST) == capture.SYN {
		a.NewSYN = true
		oe.joinable = false // a new attempt gets its own answer
	}
	if p.Src == oe.sender {
		if rst {
			return // a later RST of the sender: joined, or its own event
		}
		oe.joinable = false
		a.SenderPackets++
		if a.SenderPackets == 1 {
			a.SenderFirst, a.SenderFirstFrame = p.Time, p.Index
		}
		if p.Len > 0 {
			end := Seq(p.Seq).Add(uint32(p.Len))
			if a.SenderDataPackets == 0 || a.SenderMaxSeqEnd.LessThan(end) {
				a.SenderMaxSeqEnd = end
			}
			a.SenderDataPackets++
		}
		return
	}
	if rst {
		a.RSTsBack++
		return
	}
	a.ReceiverPackets++
	if a.ReceiverPackets == 1 {
		a.ReceiverFirst, a.ReceiverFirstFrame = p.Time, p.Index
	}
	if p.Len > 0 {
		a.ReceiverDataPackets++
		return
	}
	// Challenge ACK (RFC 5961 3.2): the receiver's first pure ACK after a
	// non-exact RST, carrying its SND.NXT.
	if !oe.pureACK && p.Flags&(capture.SYN|capture.FIN|capture.RST|capture.ACK) == capture.ACK {
		oe.pureACK = true
		rcv := f.dir(f.dirOf(p))
		if oe.first.SeqCheck != SeqExact && rcv.seqValid && Seq(p.Seq) == rcv.nextSeq {
			a.ChallengeACK, a.ChallengeACKFrame = true, p.Index
		}
	}
}
