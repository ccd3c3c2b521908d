package flows

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// A flow that has seen only one pure SYN without payload is kept as a
// synRec, about a twentieth of a full entry, until a second packet of the
// flow promotes it: the SYN is then replayed into a full entry as if it had
// been tracked from the start (same flow ID, times, frames, ladder,
// history), and the second packet follows. A SYN flood or a scan thus
// costs a synRec and a map slot per half-open flow, as the Linux kernel
// answers SYN floods with a compact SYN queue entry, not a full socket.
// The host profiles see the SYN when it arrives, not at the replay, so
// their IP ID series stays in arrival order.

// synRec is the pure SYN of a SYN-only flow, with what Add reads of it.
type synRec struct {
	id           uint64 // Flow.ID given when the SYN arrived
	frame        uint64
	ns           int64 // capture time, Unix nanoseconds
	hash         uint64
	src, dst     [16]byte
	sport, dport uint16
	seq, ack     uint32
	opts         capture.Options
	input        int32
	prev, next   uint32 // the store's list in time order: index + 1, 0 for none
	ipID, window uint16
	vlan         uint16
	flags        capture.TCPFlags
	ttl          uint8
	reserved     uint8
	tunnel       capture.Tunnel
	is4, hasMAC  bool
	df           bool
	mac          [6]byte
}

// synChunk is how many synRecs are allocated at once.
const synChunk = 4096

// synStore holds the SYN-only flows in chunks (indices stay valid as it
// grows), with a free list and a list in time order (oldest first) for
// idle eviction and for making room in a full table.
type synStore struct {
	chunks     [][]synRec
	free       []uint32
	head, tail uint32 // index + 1, 0 for none
	n          int
}

func (s *synStore) at(i uint32) *synRec { return &s.chunks[i/synChunk][i%synChunk] }

// compactable reports whether p can start a SYN-only flow: a pure SYN
// without payload whose time and addresses a synRec keeps exactly.
func compactable(p *capture.Packet) bool {
	if p.Flags&(capture.SYN|capture.ACK|capture.RST|capture.FIN) != capture.SYN || p.Len != 0 {
		return false
	}
	sec := p.Time.Unix()
	return sec > -9e9 && sec < 9e9 && p.Src.Addr().Zone() == "" && p.Dst.Addr().Zone() == "" &&
		p.Input >= 0 && p.Input <= 1<<31-1
}

// add stores p and returns its index, on the list in time order.
func (s *synStore) add(p *capture.Packet, id, hash uint64) uint32 {
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		last := len(s.chunks) - 1
		if last < 0 || len(s.chunks[last]) == synChunk {
			s.chunks = append(s.chunks, make([]synRec, 0, synChunk))
			last++
		}
		i = uint32(last*synChunk + len(s.chunks[last]))
		s.chunks[last] = s.chunks[last][:len(s.chunks[last])+1]
	}
	r := s.at(i)
	*r = synRec{
		id: id, frame: p.Index, ns: p.Time.UnixNano(), hash: hash,
		src: p.Src.Addr().As16(), dst: p.Dst.Addr().As16(), sport: p.Src.Port(), dport: p.Dst.Port(),
		seq: p.Seq, ack: p.Ack, opts: p.Opts, input: int32(p.Input),
		ipID: p.IPID, window: p.Window, vlan: p.VLAN, flags: p.Flags, ttl: p.TTL, reserved: p.Reserved,
		tunnel: p.Tunnel, is4: p.Src.Addr().Is4(), hasMAC: p.HasMAC, df: p.DF, mac: p.SrcMAC,
	}
	// In time order (see flowList.pushBack): before the records of later
	// SYNs, looking at most maxSortWalk back.
	after := s.tail
	for n := 0; after != 0 && s.at(after-1).ns > r.ns && n < maxSortWalk; n++ {
		after = s.at(after - 1).prev
	}
	r.prev = after
	if after != 0 {
		r.next = s.at(after - 1).next
		s.at(after - 1).next = i + 1
	} else {
		r.next = s.head
		s.head = i + 1
	}
	if r.next != 0 {
		s.at(r.next - 1).prev = i + 1
	} else {
		s.tail = i + 1
	}
	s.n++
	return i
}

// remove unlinks record i and frees it.
func (s *synStore) remove(i uint32) {
	r := s.at(i)
	if r.prev != 0 {
		s.at(r.prev - 1).next = r.next
	} else {
		s.head = r.next
	}
	if r.next != 0 {
		s.at(r.next - 1).prev = r.prev
	} else {
		s.tail = r.prev
	}
	*r = synRec{}
	s.free = append(s.free, i)
	s.n--
}

func (r *synRec) addr(b *[16]byte, port uint16) netip.AddrPort {
	a := netip.AddrFrom16(*b)
	if r.is4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, port)
}

// matches reports whether a packet from src to dst belongs to r's flow
// (either direction).
func (r *synRec) matches(src, dst netip.AddrPort) bool {
	a, b := r.addr(&r.src, r.sport), r.addr(&r.dst, r.dport)
	return src == a && dst == b || src == b && dst == a
}

// packet rebuilds the SYN as it was added.
func (r *synRec) packet() capture.Packet {
	return capture.Packet{
		Index: r.frame, Input: int(r.input), Time: time.Unix(0, r.ns).UTC(),
		Src: r.addr(&r.src, r.sport), Dst: r.addr(&r.dst, r.dport),
		TTL: r.ttl, IPID: r.ipID, DF: r.df, Tunnel: r.tunnel, VLAN: r.vlan,
		HasMAC: r.hasMAC, SrcMAC: r.mac, Flags: r.flags, Reserved: r.reserved,
		Seq: r.seq, Ack: r.ack, Window: r.window, Opts: r.opts, FlowHash: r.hash,
	}
}

// newSyn starts the SYN-only flow p (see compactable) with hash h.
func (t *Table) newSyn(h uint64, p *capture.Packet) {
	t.nextID += max(t.idStep, 1)
	i := t.syns.add(p, t.nextID, h)
	t.calm = min(t.calm, t.syns.at(i).ns+int64(t.opts.IdleEvict)) // see calm
	t.flows.putSlot(mapSlot{hash: uint32(h), ref: synRef(i)})
	// What a full entry's first packet does to the hosts (see newEntry
	// and applyData), now, in arrival order; the replay skips it.
	if t.keepEmitted {
		t.created = append(t.created, flowCreated{client: p.Src.Addr(), server: p.Dst.Addr(), seq: t.emitSeq},
			flowCreated{client: p.Src.Addr(), seq: t.emitSeq, ttlFlow: true})
	}
	for k, a := range [2]netip.Addr{p.Src.Addr(), p.Dst.Addr()} {
		hp := t.host(a)
		if hp == nil {
			continue
		}
		hp.Flows++
		if k == 0 {
			hp.TTLFlows++
			hp.TTL.Add(p.TTL)
			t.hostMAC(hp, p)
			if p.Src.Addr().Is4() {
				hp.IPID.Add(p.IPID)
			}
		}
	}
	t.stats.Flows++
	if n := t.flows.len(); n > t.stats.PeakActive {
		t.stats.PeakActive = n
	}
}

// replay builds the full flow of SYN-only record r into e (cleared, not
// yet in the map or a list) without touching the host profiles.
func (t *Table) replay(e *entry, r *synRec) {
	p := r.packet()
	t.replaying = true
	t.initEntry(e, r.hash, &p, r.id)
	t.apply(e, FromClient, &p, SeqUnknown, unixNano(p.Time))
	t.replaying = false
}

// promote turns the SYN-only flow in slot s into a full entry, which it
// returns.
func (t *Table) promote(s *mapSlot) *entry {
	i, _ := s.syn()
	e := t.allocEntry()
	t.replay(e, t.syns.at(i))
	t.syns.remove(i)
	s.ref = e.ref
	t.touch(e)
	return e
}

// endSyn removes the SYN-only flow i; OnFlowEnd sees it as a full flow.
func (t *Table) endSyn(i uint32, evicted bool) {
	r := t.syns.at(i)
	if t.opts.OnFlowEnd != nil {
		if t.scratch == nil {
			t.scratch = new(entry)
		}
		*t.scratch = entry{}
		t.replay(t.scratch, r)
		t.flowEnd(&t.scratch.st)
		t.release(&t.scratch.st)
	}
	t.flows.removeSlot(mapSlot{hash: uint32(r.hash), ref: synRef(i)})
	t.syns.remove(i)
	if evicted {
		t.stats.Evicted++
	}
}
