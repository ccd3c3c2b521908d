package flows

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Flow state layout (issue 17).
//
// The table keeps each flow in a compact internal form; the public Flow
// and Profile are built from it (expand) only for an event's snapshot and
// for OnFlowEnd, so their meaning never depends on how it is stored.
//
//	where                       bytes   what
//	flowMap slot                8       hash low 32 bits + entry ref (at
//	                                    most 3/4 full: 8-16 per flow)
//	entry: list links, hosts,   64      prev/next/list, host profiles, open
//	  open events, hello, ref           events and ClientHello buffer
//	                                    (nil unless used), hash, ref
//	flowState, hot part         120     endpoints (64: the packets'
//	                                    netip.AddrPorts, compared whole),
//	                                    roles, flags, packets, last,
//	                                    start, first frame, max gap
//	ladder                      152     the pool block's header + 4 inline
//	                                    slots
//	histState                   76      Zeek history: seen-bits and end
//	                                    states first, 32 letters last
//	2 x dirState                2x232   counters, sequence state, TTL and
//	                                    IP ID models (60) first; handshake,
//	                                    FIN and request facts after (the
//	                                    snaplen-cut count sits in what was
//	                                    padding before the TLS pointer)
//	flowState, cold part        40      ID, SYN/ACK time, the two RTTs,
//	                                    the evicted flow it continues
//	                                    (tombstone.go; nil unless linked)
//	ladder block (pool)         128/384 4 or 12 more slots past 4, 8
//	                                    packets
//	request, TLS state          160/96  only for a direction whose
//	                                    payload was parsed or is TLS
//
// About 1,075 bytes for an established flow of 6 packets, 1,375 once its
// ladder holds 16 (BenchmarkMemory_tiers/hot: 1,104 with the map before
// endpoints held netip.AddrPorts, 1,216 and 1,580 before issue 17); a flow that has seen only a SYN is a synRec
// (synonly.go) of 128 bytes, about 160 with its map slot. Apart from the
// flows, a table that evicted a flow with data for idleness holds a fixed
// store of 96-byte tombstones (5.9 MB, split between shards; tombstone.go).
//
// That is the hot tier: at most Options.HotFlows (65,536, about 70 MB)
// flows per table. Past it the least recently active flows are frozen
// (frozen.go, freezer.go) into records of their list's queue:
//
//	where                       bytes   what
//	flowMap slot                8       hash low 32 bits + frozenBit | id
//	                                    (8-16 per flow, as above)
//	id table                    8       the record's queue and offset
//	record framing              11      length, flow hash, id, length
//	endpoints                   13/37   flags, IPv4 addresses in 4 bytes
//	fields                      ~126    their count, then every field of
//	                                    flowState as a zig-zag varint of
//	                                    its difference from a prediction,
//	                                    zero fields one bit (mask bytes
//	                                    per 8 fields): ladder slots first,
//	                                    each from the slot before, then
//	                                    the directions from their newest
//	                                    slots; Host, SNI, ALPN and MACs as
//	                                    numbers in the table's dictionary
//	open events                 0       a flow collecting events keeps
//	                                    them in a map by id meanwhile
//
// 149.5 bytes a record, 174 with its id and map slot, for the 6-packet
// flows of BenchmarkMemory_established, whose million flows take 246
// bytes a flow on average (65,536 hot) and 236 MB of heap; real flows of
// the repository's captures average 322 bytes a record (TestFrozen_
// roundTrip: 16-packet ladders, HTTP and TLS requests). Holes left by
// thawed records cost up to as much again before a queue is compacted.
//
// Ranges. Times are Unix nanoseconds, clamped to what an int64 holds
// (1678..2262, see unixNano). A ladder slot (flowSlot, 32 bytes) stores
// its time as a 48-bit offset from the flow's start (+-39 hours), its
// frame as a 37-bit offset from the flow's first frame (+-68.7 G frames)
// and its input as an 8-bit offset (+-127 inputs); a direction's SYN,
// FIN, request and last-data frames are 32-bit offsets from the flow's
// first frame (+-2.1 G frames). A value beyond its range saturates at the
// range's end, never wraps (TestFlowSlot_offsets, TestFrameOff). The data
// and timestamp packet counts of a direction, and its count of data
// packets cut by the snaplen, are 32-bit and saturate at 2^32-1;
// everything else keeps the Profile's width.
//
// The fields a packet of an established flow touches sit at the front of
// the entry and of each struct, so that a packet reads and writes a few
// cache lines of its flow (a capture's flows do not fit in the CPU's
// cache: one flow per packet, at random, is a miss per line).
//
// The hot tier keeps this layout (a packet of a hot flow touches a few
// cache lines and allocates nothing); the few hundred bytes per flow of
// issue 17 come from freezing, whose records hold the same fields delta-
// coded. An event waiting for its look-ahead keeps its flow's state at
// the RST as such a record too, and the Flow (2 KB) is expanded only when
// the event is decided (snapshot.go).

// endpoints is a flow's client and server as the packets give them
// (capture never sets a zone), so that telling whether a packet belongs
// to the flow, and which way it goes, is a few word compares (as their
// 16 bytes, netip's accessors were most of a lookup's instructions).
type endpoints struct {
	c, s netip.AddrPort
}

func packEndpoints(client, server netip.AddrPort) endpoints { return endpoints{c: client, s: server} }

func (k *endpoints) client() netip.AddrPort { return k.c }
func (k *endpoints) server() netip.AddrPort { return k.s }

// flip swaps client and server.
func (k *endpoints) flip() { k.c, k.s = k.s, k.c }

// isClient reports whether a is the client's endpoint.
func (k *endpoints) isClient(a netip.AddrPort) bool { return a == k.c }

// matches reports whether a packet from src to dst belongs to the flow
// (either direction).
func (k *endpoints) matches(src, dst netip.AddrPort) bool {
	return src == k.c && dst == k.s || src == k.s && dst == k.c
}

// flowState is the table's compact form of a Flow (see the field of the
// same name there for what each holds; times are Unix ns). Fields a
// packet of an established flow reads or writes come first, here and in
// dirState and histState, so that a packet touches few cache lines.
type flowState struct {
	ep        endpoints
	rolesFrom RolesFrom
	tunnel    capture.Tunnel
	// established, closed and reset: see Flow.
	established bool
	closed      bool
	reset       bool
	synackSeen  bool
	rttSeen     bool // Flow.RTT is clientRTT + serverRTT (else 0)
	// wsBoth: both directions' SYNs carried window scale; anyData: a
	// direction sent data. Kept here so that a packet need not read the
	// other direction's state.
	wsBoth, anyData bool
	vlan            uint16
	input           int32
	npk             uint64 // packets(): both directions
	last            int64  // valid iff packets() > 0
	start           int64
	firstFrame      uint64
	maxGap          time.Duration
	ladder          flowLadder
	hist            histState
	dirs            [2]dirState
	id              uint64
	synackNs        int64 // valid iff synackSeen
	serverRTT       time.Duration
	clientRTT       time.Duration
	evicted         *Evicted // the earlier flow on the tuple (tombstone.go); nil if none
}

// dirState is the compact form of a Profile. Counters that the Profile
// gives as uint64 but that cannot reach 2^32 in practice (data and
// timestamp packets of one direction) saturate at 2^32-1; frames are
// offsets from the flow's first frame (frameOff), times Unix ns.
type dirState struct {
	packets, bytes         uint64
	last                   int64 // valid iff packets > 0
	lastData               int64 // valid iff dataPackets > 0
	dataPackets, tsPackets uint32
	lastDataFrame          int32 // valid iff dataPackets > 0
	lastTSVal              uint32
	ttl                    TTLStats
	ipid                   IPIDStats
	nextSeq                Seq
	lastAck                Seq
	window                 uint32
	retrans                uint32
	zeroWindows            uint32
	rsts                   uint32
	cutPayloads            uint32    // Profile.CutPayloads (saturating)
	tls                    *tlsState // nil until record tracking starts
	mac                    [6]byte
	synSeen, seqValid      bool
	ackValid, finSeen      bool
	hasMAC, macChanged     bool
	hasWScale              bool
	wscale                 uint8
	firstPay               PayloadKind
	reqKind                PayloadKind
	first                  int64 // valid iff packets > 0
	synNs                  int64 // valid iff synSeen
	finNs                  int64 // valid iff finSeen
	reqNs                  int64 // valid iff reqKind != PayloadNone
	// req holds what was parsed of the request (strings, versions, HTTP
	// framing) and the last request of a keep-alive connection; nil for a
	// payload nothing is parsed from. Its Kind, Frame, Time and StartSeq
	// are unused: reqKind, reqFrame, reqNs and reqStart hold them.
	req                *reqState
	isn                Seq
	finSeq             Seq
	reqStart           Seq
	synFrame, finFrame int32 // valid iff synSeen, finSeen
	reqFrame           int32 // valid iff reqKind != PayloadNone
	mss                uint16
	tlsVersion         uint16
	requests           uint16
}

// frameOff gives frame as an offset from the flow's first frame,
// saturated at +-2^31 (a frame more than 2.1 G frames away).
func (f *flowState) frameOff(frame uint64) int32 {
	return int32(clampOff(int64(frame-f.firstFrame), 1<<31-1))
}

// frameAt gives the frame at offset off when ok, 0 otherwise.
func frameAt(base uint64, off int32, ok bool) uint64 {
	if !ok {
		return 0
	}
	return base + uint64(int64(off))
}

// reqState is a direction's parsed request, out of line.
type reqState struct {
	Request
	last *Request // Profile.LastRequest: shared with snapshots, never changed
}

// tlsState is a direction's TLS record tracking and what it found.
type tlsState struct {
	tr        tlsTracker
	alert     TLSAlertInfo // valid iff alertSeen
	alertSeen bool
	ccsSeen   bool
	broken    bool  // Profile.TLSBroken
	records   uint8 // Profile.TLSRecords
}

// dir gives direction d's state (d is FromClient or FromServer: the mask
// spares every call a bounds check, several a packet).
func (f *flowState) dir(d Dir) *dirState { return &f.dirs[(d-1)&1] }

// dirPair gives direction d's state and the other direction's.
func (f *flowState) dirPair(d Dir) (pr, other *dirState) {
	i := (d - 1) & 1
	return &f.dirs[i], &f.dirs[i^1]
}

// packets gives the packets of the flow so far (both directions).
func (f *flowState) packets() uint64 { return f.npk }

// finsBoth reports whether both directions sent a FIN.
func (f *flowState) finsBoth() bool { return f.dirs[0].finSeen && f.dirs[1].finSeen }

// dirOf gives the direction of p in f.
func (f *flowState) dirOf(p *capture.Packet) Dir {
	if f.ep.isClient(p.Src) {
		return FromClient
	}
	return FromServer
}

// end is Profile.End.
func (d *dirState) end() Seq {
	if d.finSeen {
		return d.finSeq
	}
	return d.nextSeq
}

// nsTime gives Unix nanoseconds as a UTC time.
func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// nsTimeIf gives nsTime(ns) when ok, the zero time otherwise.
func nsTimeIf(ns int64, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	return nsTime(ns)
}

// rtt is Flow.RTT.
func (f *flowState) rtt() time.Duration {
	if !f.rttSeen {
		return 0
	}
	return f.clientRTT + f.serverRTT
}

// sat32 gives n+1, saturated at the largest uint32.
func sat32(n uint32) uint32 {
	if n == ^uint32(0) {
		return n
	}
	return n + 1
}

// expand writes the public form of f into out.
func (f *flowState) expand(out *Flow) {
	*out = Flow{
		ID: f.id, Client: f.ep.client(), Server: f.ep.server(), RolesFrom: f.rolesFrom,
		Tunnel: f.tunnel, VLAN: f.vlan, Input: int(f.input),
		Start: nsTime(f.start), Last: nsTimeIf(f.last, f.packets() > 0), FirstFrame: f.firstFrame,
		SYNACKSeen: f.synackSeen, SYNACKTime: nsTimeIf(f.synackNs, f.synackSeen), Established: f.established,
		RTT: f.rtt(), ServerRTT: f.serverRTT, ClientRTT: f.clientRTT, MaxGap: f.maxGap,
		hist: f.hist, closed: f.closed, reset: f.reset, Evicted: f.evicted,
	}
	f.dirs[0].expand(&out.Dirs[0], f.firstFrame)
	f.dirs[1].expand(&out.Dirs[1], f.firstFrame)
	f.ladder.expand(f.packets(), f.slotBase(), &out.Ladder)
}

// expand writes the public form of d into p (which must be zero); frames
// are offsets from frame0.
func (d *dirState) expand(p *Profile, frame0 uint64) {
	*p = Profile{
		Packets: d.packets, Bytes: d.bytes, DataPackets: uint64(d.dataPackets),
		First: nsTimeIf(d.first, d.packets > 0), Last: nsTimeIf(d.last, d.packets > 0),
		LastData: nsTimeIf(d.lastData, d.dataPackets > 0), LastDataFrame: frameAt(frame0, d.lastDataFrame, d.dataPackets > 0),
		TTL: d.ttl, IPID: d.ipid.settled(), TSPackets: uint64(d.tsPackets), LastTSVal: d.lastTSVal,
		HasWScale: d.hasWScale, WScale: d.wscale, MSS: d.mss,
		ISN: d.isn, SYNSeen: d.synSeen, SYNFrame: frameAt(frame0, d.synFrame, d.synSeen), SYNTime: nsTimeIf(d.synNs, d.synSeen),
		NextSeq: d.nextSeq, SeqValid: d.seqValid, LastAck: d.lastAck, AckValid: d.ackValid,
		Window: d.window, Retransmissions: d.retrans, ZeroWindows: d.zeroWindows,
		FINSeen: d.finSeen, FINFrame: frameAt(frame0, d.finFrame, d.finSeen), FINTime: nsTimeIf(d.finNs, d.finSeen), FINSeq: d.finSeq,
		RSTs: d.rsts, CutPayloads: d.cutPayloads, HasMAC: d.hasMAC, MAC: d.mac, MACChanged: d.macChanged,
		FirstPayload: d.firstPay, TLSVersion: d.tlsVersion, Requests: d.requests,
	}
	if d.req != nil {
		p.Request, p.LastRequest = d.req.Request, d.req.last
	}
	r := &p.Request
	r.Kind, r.Frame, r.Time, r.StartSeq = d.reqKind, frameAt(frame0, d.reqFrame, d.reqKind != PayloadNone), nsTimeIf(d.reqNs, d.reqKind != PayloadNone), d.reqStart
	if s := d.tls; s != nil {
		p.TLSRecords, p.CCSSeen, p.Alert, p.AlertSeen, p.TLSBroken = s.records, s.ccsSeen, s.alert, s.alertSeen, s.broken
	}
}

// flowLadder is the ladder of a held flow: a ring of 16 compact slots
// (flowSlot), the first 4 inline and the other 12 in a block of 4 or 12
// slots from the table's ladderPool, taken as the flow grows past 4 and 8
// packets. Its length and ring position follow the flow's packet count
// (every packet is pushed once): methods take it as n.
type flowLadder struct {
	ext []flowSlot // nil, or a pool block of 4 or 12 slots
	in  [4]flowSlot
}

// flowSlot is a ladder entry of a held flow, 32 bytes: relative to the
// flow's start, first frame and input (see slotBase), with the time as a
// 48-bit nanosecond offset (about +-39 hours), the frame as a 37-bit
// offset (+-68.7 G frames), the input as an 8-bit one (+-127); beyond
// these the value saturates at the range's end (never wraps). The rest is
// the packet's own value; the length saturates at 65535 (an IP packet
// holds no more).
type flowSlot struct {
	seq, ack, tsVal   uint32
	nsLo              uint32 // low 32 bits of the time offset
	frameLo           uint32 // low 32 bits of the frame offset
	len, ipID, window uint16
	nsHi              int16  // high 16 bits of the time offset (signed)
	bits              uint16 // TCPFlags (9 bits) | fsServer | fsHasTS | frame offset bits 32..36 << fsFrameShift
	ttl               uint8
	input             int8 // input offset
}

const (
	fsFlags      = 1<<9 - 1
	fsServer     = 1 << 9 // sent by the server (else the client)
	fsHasTS      = 1 << 10
	fsFrameShift = 11
	maxNsOff     = 1<<47 - 1
	maxFrameOff  = 1<<36 - 1
)

// slotBase is what a flow's ladder slots are relative to.
type slotBase struct {
	ns    int64 // the flow's start
	frame uint64
	input int32
}

func (f *flowState) slotBase() slotBase { return slotBase{f.start, f.firstFrame, f.input} }

// clampOff gives v limited to [-hi-1, hi].
func clampOff(v, hi int64) int64 { return max(-hi-1, min(hi, v)) }

// packetFlowSlot describes p, sent in direction d at ns (Unix nanoseconds),
// as a slot relative to b.
func packetFlowSlot(p *capture.Packet, d Dir, ns int64, b slotBase) flowSlot {
	var s flowSlot
	s.fill(p, d, ns, &b)
	return s
}

// fill sets s to describe p (see packetFlowSlot).
func (s *flowSlot) fill(p *capture.Packet, d Dir, ns int64, b *slotBase) {
	off := ns - b.ns
	fo := int64(p.Index - b.frame) // wraps to the signed difference
	in := int64(p.Input) - int64(b.input)
	// Nearly every packet comes after its flow's first, in its input, and
	// within the offsets' range: no clamp changes them (about 25
	// instructions a packet less).
	if ns < b.ns || uint64(off) > maxNsOff || uint64(fo) > maxFrameOff || in != 0 {
		off, fo, in = clampSlot(ns, b.ns, fo, in)
	}
	bits := uint16(p.Flags)&fsFlags | uint16(uint64(fo)>>32&0x1f)<<fsFrameShift
	if d == FromServer {
		bits |= fsServer
	}
	if p.Opts.HasTS {
		bits |= fsHasTS
	}
	s.seq, s.ack, s.tsVal, s.nsLo, s.frameLo = p.Seq, p.Ack, p.Opts.TSVal, uint32(off), uint32(fo)
	s.len, s.ipID, s.window = uint16(min(max(p.Len, 0), 1<<16-1)), p.IPID, p.Window
	s.nsHi, s.bits, s.ttl = int16(off>>32), bits, p.TTL
	s.input = int8(in)
}

// clampSlot gives fill's time, frame and input offsets of a packet at ns
// (the flow's first at bns), saturated to what a slot holds.
func clampSlot(ns, bns, fo, in int64) (int64, int64, int64) {
	off := ns - bns
	if (ns < bns) != (off < 0) { // overflow of the difference
		off = maxNsOff
		if ns < bns {
			off = -maxNsOff - 1
		}
	}
	return clampOff(off, maxNsOff), clampOff(fo, maxFrameOff), clampOff(in, 127)
}

// dir gives the slot's direction.
func (s *flowSlot) dir() Dir {
	if s.bits&fsServer != 0 {
		return FromServer
	}
	return FromClient
}

// wide gives the slot in the public ladder's form.
func (s *flowSlot) wide(b slotBase) ladderSlot {
	off := int64(s.nsHi)<<32 | int64(s.nsLo)
	fo := int64(uint64(s.bits>>fsFrameShift)<<32|uint64(s.frameLo)) << 27 >> 27 // sign-extend 37 bits
	fl := s.bits&fsFlags | uint16(s.dir())<<slotDirShift
	if s.bits&fsHasTS != 0 {
		fl |= slotHasTS
	}
	return ladderSlot{
		frame: b.frame + uint64(fo), ns: b.ns + off, seq: Seq(s.seq), ack: Seq(s.ack), tsVal: s.tsVal,
		len: s.len, ipID: s.ipID, window: s.window, flags: fl,
		input: uint16(min(max(int64(b.input)+int64(s.input), 0), 1<<16-1)), ttl: s.ttl,
	}
}

// reverseDir swaps FromClient and FromServer.
func (s *flowSlot) reverseDir() { s.bits ^= fsServer }

// capOf gives the slots l holds room for.
func (l *flowLadder) capOf() int { return len(l.in) + len(l.ext) }

// slot gives ring position j (0 <= j < capOf()).
func (l *flowLadder) slot(j int) *flowSlot {
	if j < len(l.in) {
		return &l.in[j]
	}
	return &l.ext[j-len(l.in)]
}

// len gives the number of entries held after n pushes.
func (l *flowLadder) len(n uint64) int { return int(min(n, uint64(l.capOf()))) }

// at gives the i-th held entry after n pushes, oldest first.
func (l *flowLadder) at(n uint64, i int) *flowSlot {
	c := uint64(l.capOf()) // 4, 8 or 16
	start := uint64(0)
	if n > c {
		start = n & (c - 1)
	}
	return l.slot(int((start + uint64(i)) & (c - 1)))
}

// expand writes the held entries after n pushes into the fixed ring out
// (same order, same At and Total).
func (l *flowLadder) expand(n uint64, b slotBase, out *Ladder) {
	out.buf = [16]ladderSlot{}
	total := int(min(n, 1<<62))
	k := l.len(n)
	for i := range k {
		// Ladder's ring: its i-th held entry sits at (total-k+i) % 16.
		out.buf[(total-k+i)%16] = l.at(n, i).wide(b)
	}
	out.n = total
}

// reverseDirs swaps FromClient and FromServer in every slot.
func (l *flowLadder) reverseDirs() {
	for j := range l.capOf() {
		l.slot(j).reverseDir()
	}
}

// ladderPool hands out the ladder blocks of 4 and 12 slots that extend a
// flow's inline 4, cut from larger slabs and reused when flows end, so
// that a growing ladder allocates nothing once the pool is warm.
type ladderPool struct {
	free [2][][]flowSlot
	slab [2][]flowSlot
}

// ladderSlabBlocks is how many blocks one slab holds.
const ladderSlabBlocks = 256

// blockSize gives the slots of a block of class c.
func blockSize(c int) int { return 4 + 8*c }

func (lp *ladderPool) get(class int) []flowSlot {
	if n := len(lp.free[class]); n > 0 {
		s := lp.free[class][n-1]
		lp.free[class] = lp.free[class][:n-1]
		return s
	}
	size := blockSize(class)
	if len(lp.slab[class]) < size {
		lp.slab[class] = make([]flowSlot, size*ladderSlabBlocks)
	}
	s := lp.slab[class][:size:size]
	lp.slab[class] = lp.slab[class][size:]
	return s
}

func (lp *ladderPool) put(s []flowSlot) {
	if len(s) == 0 {
		return
	}
	class := 0
	if len(s) == blockSize(1) {
		class = 1
	}
	clear(s)
	lp.free[class] = append(lp.free[class], s)
}

// next gives the slot for entry n (0-based: n entries were pushed
// before), growing l from the pool at 4 and 8 entries.
func (lp *ladderPool) next(l *flowLadder, n uint64) *flowSlot {
	c := uint64(len(l.in) + len(l.ext))
	if n == c && c < 16 {
		s := lp.get(int(c / 8)) // 4 -> a block of 4; 8 -> a block of 12
		copy(s, l.ext)
		lp.put(l.ext)
		l.ext = s
		c = uint64(len(l.in) + len(s))
	}
	return l.slot(int(n & (c - 1))) // c is 4, 8 or 16
}

// push stores slot as entry n (see next).
func (lp *ladderPool) push(l *flowLadder, n uint64, slot flowSlot) { *lp.next(l, n) = slot }

// release returns f's out-of-line parts to the table's pools.
func (t *Table) release(f *flowState) {
	f.evicted = nil // snapshots may hold it: dropped, not reused
	t.ladders.put(f.ladder.ext)
	f.ladder = flowLadder{}
	for i := range f.dirs {
		d := &f.dirs[i]
		if d.req != nil {
			*d.req = reqState{} // snapshots may hold last: dropped, not reused
			t.freeReqs = append(t.freeReqs, d.req)
			d.req = nil
		}
		if d.tls != nil {
			*d.tls = tlsState{}
			t.freeTLS = append(t.freeTLS, d.tls)
			d.tls = nil
		}
	}
}

// request gives d's parsed request, taking one from the pool if needed.
func (t *Table) request(d *dirState) *Request {
	if d.req == nil {
		d.req = t.newReq()
	}
	return &d.req.Request
}

// tlsStart starts record tracking of d at seq, its first payload byte.
func (t *Table) tlsStart(d *dirState, seq Seq) {
	if d.tls == nil {
		d.tls = t.newTLS()
	}
	d.tls.start(seq)
}
