package flows

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// The table keeps each flow in a compact internal form (flowState): times
// as Unix nanoseconds, the endpoints packed once, the ladder in pooled
// blocks that grow with the flow (4, 8, then 16 slots), and the rarely
// used parts (a parsed request, the TLS record tracker with its alert)
// out of line, allocated only for flows that have them. The public Flow
// and Profile are built from it (expand) only for an event's snapshot and
// for OnFlowEnd. Times outside 1678..2262 are clamped (see unixNano).

// endpoints is a flow's client and server, packed: an address as its 16
// bytes (IPv4 mapped, with a flag), its port apart (capture never sets a
// zone).
type endpoints struct {
	c, s   [16]byte
	cp, sp uint16
	c4, s4 bool // the address is IPv4
}

func packEndpoints(client, server netip.AddrPort) endpoints {
	return endpoints{c: client.Addr().As16(), s: server.Addr().As16(), cp: client.Port(), sp: server.Port(),
		c4: client.Addr().Is4(), s4: server.Addr().Is4()}
}

func unpackAddr(b *[16]byte, is4 bool, port uint16) netip.AddrPort {
	a := netip.AddrFrom16(*b)
	if is4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, port)
}

func (k *endpoints) client() netip.AddrPort { return unpackAddr(&k.c, k.c4, k.cp) }
func (k *endpoints) server() netip.AddrPort { return unpackAddr(&k.s, k.s4, k.sp) }

// flip swaps client and server.
func (k *endpoints) flip() { k.c, k.s, k.cp, k.sp, k.c4, k.s4 = k.s, k.c, k.sp, k.cp, k.s4, k.c4 }

// isClient reports whether a is the client's endpoint.
func (k *endpoints) isClient(a netip.AddrPort) bool {
	return a.Port() == k.cp && a.Addr().Is4() == k.c4 && a.Addr().As16() == k.c
}

// matches reports whether a packet from src to dst belongs to the flow
// (either direction).
func (k *endpoints) matches(src, dst netip.AddrPort) bool {
	sp, dp := src.Port(), dst.Port()
	if sp == k.cp && dp == k.sp && k.isClient(src) && dst.Addr().Is4() == k.s4 && dst.Addr().As16() == k.s {
		return true
	}
	return sp == k.sp && dp == k.cp && k.isClient(dst) && src.Addr().Is4() == k.s4 && src.Addr().As16() == k.s
}

// flowState is the table's compact form of a Flow (see the field of the
// same name there for what each holds; times are Unix ns).
type flowState struct {
	id         uint64
	firstFrame uint64
	start      int64
	last       int64 // valid iff packets() > 0
	synackNs   int64 // valid iff synackSeen
	rtt        time.Duration
	serverRTT  time.Duration
	clientRTT  time.Duration
	maxGap     time.Duration
	dirs       [2]dirState
	ladder     flowLadder
	input      int32
	ep         endpoints
	vlan       uint16
	rolesFrom  RolesFrom
	tunnel     capture.Tunnel
	synackSeen bool
	// established, closed and reset: see Flow.
	established bool
	closed      bool
	reset       bool
	hist        histState
}

// dirState is the compact form of a Profile.
type dirState struct {
	packets, bytes, dataPackets uint64
	first, last                 int64 // valid iff packets > 0
	lastData                    int64 // valid iff dataPackets > 0
	lastDataFrame               uint64
	tsPackets                   uint64
	synFrame                    uint64
	synNs                       int64 // valid iff synSeen
	finFrame                    uint64
	finNs                       int64 // valid iff finSeen
	reqFrame                    uint64
	reqNs                       int64 // valid iff reqKind != PayloadNone
	// req holds what was parsed of the request (strings, versions, HTTP
	// framing); nil for a payload nothing is parsed from. Its Kind,
	// Frame, Time and StartSeq are unused: reqKind, reqFrame, reqNs and
	// reqStart hold them.
	req         *Request
	lastReq     *Request  // Profile.LastRequest: shared with snapshots, never changed
	tls         *tlsState // nil until record tracking starts
	ttl         TTLStats
	ipid        IPIDStats
	lastTSVal   uint32
	isn         Seq
	nextSeq     Seq
	lastAck     Seq
	window      uint32
	retrans     uint32
	zeroWindows uint32
	finSeq      Seq
	rsts        uint32
	reqStart    Seq
	mss         uint16
	tlsVersion  uint16
	requests    uint16
	mac         [6]byte
	wscale      uint8
	hasWScale   bool
	synSeen     bool
	seqValid    bool
	ackValid    bool
	finSeen     bool
	hasMAC      bool
	macChanged  bool
	firstPay    PayloadKind
	reqKind     PayloadKind
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

func (f *flowState) dir(d Dir) *dirState { return &f.dirs[d-1] }

// packets gives the packets of the flow so far (both directions).
func (f *flowState) packets() uint64 { return f.dirs[0].packets + f.dirs[1].packets }

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

// expand writes the public form of f into out.
func (f *flowState) expand(out *Flow) {
	*out = Flow{
		ID: f.id, Client: f.ep.client(), Server: f.ep.server(), RolesFrom: f.rolesFrom,
		Tunnel: f.tunnel, VLAN: f.vlan, Input: int(f.input),
		Start: nsTime(f.start), Last: nsTimeIf(f.last, f.packets() > 0), FirstFrame: f.firstFrame,
		SYNACKSeen: f.synackSeen, SYNACKTime: nsTimeIf(f.synackNs, f.synackSeen), Established: f.established,
		RTT: f.rtt, ServerRTT: f.serverRTT, ClientRTT: f.clientRTT, MaxGap: f.maxGap,
		hist: f.hist, closed: f.closed, reset: f.reset,
	}
	f.dirs[0].expand(&out.Dirs[0])
	f.dirs[1].expand(&out.Dirs[1])
	f.ladder.expand(&out.Ladder)
}

// expand writes the public form of d into p (which must be zero).
func (d *dirState) expand(p *Profile) {
	*p = Profile{
		Packets: d.packets, Bytes: d.bytes, DataPackets: d.dataPackets,
		First: nsTimeIf(d.first, d.packets > 0), Last: nsTimeIf(d.last, d.packets > 0),
		LastData: nsTimeIf(d.lastData, d.dataPackets > 0), LastDataFrame: d.lastDataFrame,
		TTL: d.ttl, IPID: d.ipid, TSPackets: d.tsPackets, LastTSVal: d.lastTSVal,
		HasWScale: d.hasWScale, WScale: d.wscale, MSS: d.mss,
		ISN: d.isn, SYNSeen: d.synSeen, SYNFrame: d.synFrame, SYNTime: nsTimeIf(d.synNs, d.synSeen),
		NextSeq: d.nextSeq, SeqValid: d.seqValid, LastAck: d.lastAck, AckValid: d.ackValid,
		Window: d.window, Retransmissions: d.retrans, ZeroWindows: d.zeroWindows,
		FINSeen: d.finSeen, FINFrame: d.finFrame, FINTime: nsTimeIf(d.finNs, d.finSeen), FINSeq: d.finSeq,
		RSTs: d.rsts, HasMAC: d.hasMAC, MAC: d.mac, MACChanged: d.macChanged,
		FirstPayload: d.firstPay, TLSVersion: d.tlsVersion, LastRequest: d.lastReq, Requests: d.requests,
	}
	if d.req != nil {
		p.Request = *d.req
	}
	r := &p.Request
	r.Kind, r.Frame, r.Time, r.StartSeq = d.reqKind, d.reqFrame, nsTimeIf(d.reqNs, d.reqKind != PayloadNone), d.reqStart
	if s := d.tls; s != nil {
		p.TLSRecords, p.CCSSeen, p.Alert, p.AlertSeen, p.TLSBroken = s.records, s.ccsSeen, s.alert, s.alertSeen, s.broken
	}
}

// flowLadder is the ladder of a held flow: a block of 4, 8 or 16 slots
// from the table's ladderPool, grown as packets come; at 16 it is a ring
// like Ladder.
type flowLadder struct {
	s []ladderSlot // len == cap: 0, 4, 8 or 16
	n int          // total entries ever pushed
}

// len gives the number of entries held.
func (l *flowLadder) len() int { return min(l.n, len(l.s)) }

// at gives the i-th held entry, oldest first.
func (l *flowLadder) at(i int) *ladderSlot {
	start := 0
	if l.n > len(l.s) {
		start = l.n % len(l.s)
	}
	return &l.s[(start+i)%len(l.s)]
}

// expand copies l into the fixed ring out (same order, same At).
func (l *flowLadder) expand(out *Ladder) {
	out.buf = [16]ladderSlot{}
	copy(out.buf[:], l.s)
	out.n = l.n
}

// reverseDirs swaps FromClient and FromServer in every slot.
func (l *flowLadder) reverseDirs() {
	for i := range l.s {
		l.s[i].reverseDir()
	}
}

// ladderPool hands out ladder blocks of 4, 8 and 16 slots, cut from
// larger slabs and reused when flows end, so that a growing ladder
// allocates nothing once the pool is warm.
type ladderPool struct {
	free [3][][]ladderSlot
	slab [3][]ladderSlot
}

// ladderSlabBlocks is how many blocks one slab holds.
const ladderSlabBlocks = 256

func (lp *ladderPool) get(class int) []ladderSlot {
	if n := len(lp.free[class]); n > 0 {
		s := lp.free[class][n-1]
		lp.free[class] = lp.free[class][:n-1]
		return s
	}
	size := 4 << class
	if len(lp.slab[class]) < size {
		lp.slab[class] = make([]ladderSlot, size*ladderSlabBlocks)
	}
	s := lp.slab[class][:size:size]
	lp.slab[class] = lp.slab[class][size:]
	return s
}

func (lp *ladderPool) put(s []ladderSlot) {
	class := 0
	switch len(s) {
	case 0:
		return
	case 8:
		class = 1
	case 16:
		class = 2
	}
	clear(s)
	lp.free[class] = append(lp.free[class], s)
}

// push appends slot to l, growing it from the pool while under 16.
func (lp *ladderPool) push(l *flowLadder, slot ladderSlot) {
	if l.n == len(l.s) && l.n < 16 {
		class := 0
		switch len(l.s) {
		case 4:
			class = 1
		case 8:
			class = 2
		}
		s := lp.get(class)
		copy(s, l.s)
		lp.put(l.s)
		l.s = s
	}
	l.s[l.n%len(l.s)] = slot
	l.n++
}

// release returns f's out-of-line parts to the table's pools.
func (t *Table) release(f *flowState) {
	t.ladders.put(f.ladder.s)
	f.ladder = flowLadder{}
	for i := range f.dirs {
		d := &f.dirs[i]
		d.lastReq = nil // snapshots may hold it: not reused
		if d.req != nil {
			*d.req = Request{}
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
		if n := len(t.freeReqs); n > 0 {
			d.req = t.freeReqs[n-1]
			t.freeReqs = t.freeReqs[:n-1]
		} else {
			d.req = new(Request)
		}
	}
	return d.req
}

// tlsStart starts record tracking of d at seq, its first payload byte.
func (t *Table) tlsStart(d *dirState, seq Seq) {
	if d.tls == nil {
		if n := len(t.freeTLS); n > 0 {
			d.tls = t.freeTLS[n-1]
			t.freeTLS = t.freeTLS[:n-1]
		} else {
			d.tls = new(tlsState)
		}
	}
	d.tls.start(seq)
}
