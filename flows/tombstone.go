package flows

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Tombstones: what the table remembers of a flow it evicted for idleness.
//
// A flow silent for longer than IdleEvict leaves the table. Devices on the
// path keep idle connections far longer (firewalls 1 h, conntrack 5 days,
// REFERENCE.md section 7), so the RST that ends such a silence arrives on
// a tuple the table has forgotten and would start a new mid-stream flow
// with no idle gap and roles guessed from ports. When a flow that carried
// data is evicted for idleness, a tombstone keeps its roles, last packet
// and sequence state; the next flow picked up mid-stream on the tuple is
// linked to it (Flow.Evicted) and takes the earlier flow's roles.
//
// Bound. The store is a set-associative array of tombBuckets x tombWays
// tombstones (61,440 in all, split evenly between the shards of a
// Sharded), allocated when the first tombstone is written; a new tombstone
// replaces the oldest of its bucket, so neither a SYN flood nor millions
// of evicted flows grow it. A tombstone is 96 bytes: about 5.9 MB for a
// full store (TestTombstones_bounded). Writing one (an eviction) and
// looking one up (a new flow whose first packet is not a pure SYN) cost
// O(tombWays) and allocate nothing; linking a flow allocates its Evicted
// (once per linked flow, at most once per tombstone).
//
// Shards. A tuple's route hash (capture.RouteHash) picks its shard
// (hash % n) and, within the shard, its bucket ((hash / n) % (tombBuckets
// / n)); when n divides tombBuckets the pair is a one-to-one image of hash
// % tombBuckets, the bucket one table uses, so the same flows share a
// bucket and Sharded output equals one table's. For other n the shards'
// buckets differ from one table's only in which tombstones a full bucket
// drops. The route hash is unseeded, so which of more than tombWays
// evicted flows sharing a bucket is forgotten is the same on every run
// (about 8 buckets of 15,360 overflow with 10,000 evicted flows held).

// tombBuckets is divisible by every shard count up to 6 and by 8, 10, 12,
// 15 and 16.
const (
	tombBuckets = 15360
	tombWays    = 4
)

// tombstone is an evicted flow's record (96 bytes).
type tombstone struct {
	ep        tombEndpoints // client, server as the flow had them
	rolesFrom RolesFrom
	bits      uint8  // tombSeqValid, tombAckValid, tombFIN, shifted by 3 for the server
	hash      uint32 // low 32 bits of the route hash; 0: slot unused
	maxGapMs  uint32 // the flow's longest silence, ms (saturated)
	last      int64  // Unix ns of the last packet
	// frame is the last packet's frame (low 56 bits) and input (high 8,
	// saturated at 255).
	frame uint64
	dirs  [2]tombDir
}

// tombEndpoints is a flow's endpoints in a tombstone: each address as its
// 16 bytes (IPv4-mapped, with a flag), the ports apart, 38 bytes where
// endpoints takes 64 (a tombstone is looked up only for a flow's first
// packet, not for every packet, so the compares may cost more).
type tombEndpoints struct {
	c, s   [16]byte
	cp, sp uint16
	c4, s4 bool // the address is IPv4
}

func packTomb(ep endpoints) tombEndpoints {
	c, s := ep.c.Addr(), ep.s.Addr()
	return tombEndpoints{c: c.As16(), s: s.As16(), cp: ep.c.Port(), sp: ep.s.Port(), c4: c.Is4(), s4: s.Is4()}
}

// isClient reports whether a is the client's endpoint.
func (k *tombEndpoints) isClient(a netip.AddrPort) bool {
	return a.Port() == k.cp && a.Addr().Is4() == k.c4 && a.Addr().As16() == k.c
}

// matches reports whether a packet from src to dst belongs to the flow
// (either direction).
func (k *tombEndpoints) matches(src, dst netip.AddrPort) bool {
	sp, dp := src.Port(), dst.Port()
	if sp == k.cp && dp == k.sp && k.isClient(src) && dst.Addr().Is4() == k.s4 && dst.Addr().As16() == k.s {
		return true
	}
	return sp == k.sp && dp == k.cp && k.isClient(dst) && src.Addr().Is4() == k.s4 && src.Addr().As16() == k.s
}

// tombDir is one direction's sequence and TTL state at eviction.
type tombDir struct {
	nextSeq, lastAck Seq
	window           uint32
	ttlMin, ttlMax   uint8
	ttlMode          uint8
	ttlCount         uint8 // saturated at 255
}

// Bits of tombstone.bits, for the client (the server's are << 3).
const (
	tombSeqValid uint8 = 1 << iota
	tombAckValid
	tombFIN
)

// has reports whether direction i (0 client, 1 server) has bit b.
func (ts *tombstone) has(i int, b uint8) bool { return ts.bits&(b<<(3*i)) != 0 }

// tombStore is a table's tombstones.
type tombStore struct {
	slots   []tombstone // buckets x tombWays, nil until the first write
	buckets uint64
	div     uint64 // the shard count the hash was divided by (1: none)
}

// bucket gives the first slot of h's bucket.
func (s *tombStore) bucket(h uint64) int {
	return int((h/max(s.div, 1))%s.buckets) * tombWays
}

// put remembers f, evicted for idleness.
func (s *tombStore) put(f *flowState) {
	h := capture.RouteHash(f.ep.client(), f.ep.server())
	if s.slots == nil {
		if s.buckets == 0 {
			s.buckets = tombBuckets
		}
		s.slots = make([]tombstone, int(s.buckets)*tombWays)
	}
	i := s.bucket(h)
	b := s.slots[i : i+tombWays]
	w := 0
	for i := range b {
		if b[i].hash == 0 {
			w = i
			break
		}
		if b[i].last < b[w].last {
			w = i
		}
	}
	ts := &b[w]
	*ts = tombstone{ep: packTomb(f.ep), hash: max(uint32(h), 1), rolesFrom: f.rolesFrom, last: f.last,
		maxGapMs: uint32(min(f.maxGap.Milliseconds(), 1<<32-1))}
	if n := f.packets(); n > 0 {
		w := f.ladder.at(n, f.ladder.len(n)-1).wide(f.slotBase())
		ts.frame = min(w.frame, 1<<56-1) | uint64(min(w.input, 255))<<56
	}
	for i := range ts.dirs {
		d := &f.dirs[i]
		ts.dirs[i] = tombDir{nextSeq: d.nextSeq, lastAck: d.lastAck, window: d.window,
			ttlMin: d.ttl.Min, ttlMax: d.ttl.Max, ttlMode: d.ttl.Mode, ttlCount: uint8(min(d.ttl.Count, 255))}
		var b uint8
		if d.seqValid {
			b |= tombSeqValid
		}
		if d.ackValid {
			b |= tombAckValid
		}
		if d.finSeen {
			b |= tombFIN
		}
		ts.bits |= b << (3 * i)
	}
}

// take removes and returns the tombstone of the tuple of p; ok is false
// when there is none.
func (s *tombStore) take(p *capture.Packet) (ts tombstone, ok bool) {
	if s.slots == nil {
		return ts, false
	}
	h := capture.RouteHash(p.Src, p.Dst)
	i := s.bucket(h)
	b := s.slots[i : i+tombWays]
	for j := range b {
		if b[j].hash == max(uint32(h), 1) && b[j].ep.matches(p.Src, p.Dst) {
			ts, b[j] = b[j], tombstone{}
			return ts, true
		}
	}
	return ts, false
}

// Evicted describes the flow an idle eviction removed from the table on a
// tuple, when a later flow on it was picked up mid-stream and linked to
// it. The later flow's roles are the evicted flow's. Values are never
// changed once made (snapshots share them).
type Evicted struct {
	Last      time.Time     // the evicted flow's last packet
	LastFrame uint64        // frame of its last packet (in LastInput)
	LastInput int           // saturated at 255
	MaxGap    time.Duration // its longest silence (ms precision)
	RolesFrom RolesFrom     // how its roles were decided
	// Frame is the first packet of the linked flow, and SeqFit judges its
	// seq against the evicted flow's state, as seqCheck judges a RST:
	// exact when it continues the sender's sequence (or equals the
	// receiver's last ACK), in_window when within the receiver's last
	// window, out_of_window otherwise, unknown without sequence state.
	Frame  uint64
	SeqFit SeqCheck
	// TTL is each direction's TTL in the evicted flow (Dirs' order), as
	// Count (saturated at 255), Min, Max and Mode only.
	TTL [2]TTLStats
}

// link makes the new flow of entry e (first packet p, not yet applied)
// the continuation of the evicted flow ts: it takes ts's roles and
// records Evicted.
func (e *entry) link(ts *tombstone, p *capture.Packet) {
	f := &e.st
	if f.ep.isClient(p.Src) != ts.ep.isClient(p.Src) {
		e.flip()
	}
	f.rolesFrom = ts.rolesFrom
	d := FromClient
	if !ts.ep.isClient(p.Src) {
		d = FromServer
	}
	f.evicted = &Evicted{Last: nsTime(ts.last), LastFrame: ts.frame & (1<<56 - 1), LastInput: int(ts.frame >> 56),
		MaxGap: time.Duration(ts.maxGapMs) * time.Millisecond, RolesFrom: ts.rolesFrom, Frame: p.Index, SeqFit: ts.seqFit(d, Seq(p.Seq))}
	for i, td := range ts.dirs {
		f.evicted.TTL[i] = TTLStats{Count: uint32(td.ttlCount), Min: td.ttlMin, Max: td.ttlMax, Mode: td.ttlMode}
	}
}

// seqFit judges seq, sent in direction d, against ts's state.
func (ts *tombstone) seqFit(d Dir, seq Seq) SeqCheck {
	si, ri := int(d-1), int(2-d)
	snd, rcv := &ts.dirs[si], &ts.dirs[ri]
	fin, sndOK, rcvOK := ts.has(si, tombFIN), ts.has(si, tombSeqValid), ts.has(ri, tombAckValid)
	switch {
	case rcvOK && (seq == rcv.lastAck || (fin && seq.Add(1) == rcv.lastAck)):
		return SeqExact
	case sndOK && (seq == snd.nextSeq || (fin && seq.Add(1) == snd.nextSeq)):
		return SeqExact
	case !rcvOK:
		return SeqUnknown
	case seq.InWindow(rcv.lastAck, rcv.window+1):
		return SeqInWindow
	}
	return SeqOutOfWindow
}
