package flows

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"time"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// Frozen flows: the cold tier of a two-tier flow store (issue 17).
//
// A table keeps at most Options.HotFlows flows as entries (the hot tier,
// flowState: about 1 KB each, see state.go). Past that it freezes its
// coldest flows - the heads of the active, half-open and closed lists,
// which are ordered by last packet - into compact, pointer-free byte
// records, the way zswap keeps cold pages compressed: freezer.go says
// where the records live and how the table finds, evicts and thaws them;
// this file is the record's encoding.
//
// A record codes every field of the flow (flowState, its ladder, its
// out-of-line request, TLS and evicted-flow parts, and a ClientHello
// being completed), so that decoding gives back the same state: the
// contract is exactness, output never depends on which tier held a flow
// (TestFrozen_roundTrip, FuzzFrozenRoundTrip, TestHotFlows_sameOutput).
// Fields are coded one by one as differences from a prediction made of
// what was coded before them (zig-zag varints: a right guess is 0):
//   - the flow's last packet from its queue's base time, its start from
//     its last packet, its first frame from the queue's base frame;
//   - each direction's ISN, its next seq from the ISN, its last ACK from
//     the other direction's next seq;
//   - the ladder's slots, oldest first, each from the slot before: time
//     and frame as steps, flags and direction in one byte, length and
//     TSval, then a mask of which of seq (the direction's previous seq
//     plus length), ACK (the other direction's), IP ID, window, TTL and
//     input differ from their guess, and those differences;
//   - the rest of each direction from what its newest slots say (last
//     times, data frame, window, TSval, IP ID), from its flags (a SYN
//     time from the first packet's when there was a SYN, zero otherwise)
//     or from each other (a TTL's mode from its first value);
//   - a zero difference costs one bit: fields go in groups of 8 with a
//     mask byte of the non-zero ones, and groups in sections of 8 with a
//     mask byte of the non-empty groups (a section of 64 zero fields is
//     one byte).
// Strings many flows share (Host, SNI, ALPN, the method) and MAC
// addresses are coded as their number in the table's dictionary
// (frozenDict: at most 65,536 of each, 4 MB of strings; past that,
// whole); the path and the ClientHello buffer as their bytes. Host
// profiles are looked up again on thaw (a host's profile never leaves
// the table, and a host that had none when the flow started never gets
// one); a flow's open events wait beside the record (freezer.go).
//
// One function (codec.flow) walks the fields for both directions of
// the coding, so that the encoder and the decoder cannot disagree on a
// field's place or prediction.

// codec writes (enc) or reads (dec) a record's fields in one order. The
// walk (flow) only moves values in and out of vals, and raw bytes in and
// out of raw; encFinish and decStart turn them into the record's bytes
// and back in one loop each:
//
//	uvarint field count | per 64 fields: a mask byte of the non-empty
//	groups of 8, each followed by a mask byte of its non-zero fields and
//	their uvarints | the raw bytes
type codec struct {
	dec  bool
	bad  bool        // dec: the input was malformed
	n, i int         // values held (enc: coded so far; dec: read) and next to give (dec)
	rpos int         // dec: next raw byte
	raw  []byte      // enc: the raw bytes so far (in buf); dec: the record's
	buf  []byte      // enc: kept for the next record's raw bytes
	dict *frozenDict // the table's; nil: strings and MACs coded whole
	vals [maxFields]uint64
}

// maxFields bounds the fields of a record (a flow with every part uses
// about 470).
const maxFields = 1024

// encStart starts encoding.
func (c *codec) encStart() {
	c.dec, c.bad, c.n, c.i, c.rpos, c.raw = false, false, 0, 0, 0, c.buf[:0]
}

// encFinish appends the record's fields to out; ok is false when there
// were more than maxFields.
func (c *codec) encFinish(out []byte) ([]byte, bool) {
	n := c.n
	out = binary.AppendUvarint(out, uint64(n))
	w := len(out)
	out = slices.Grow(out, 1+n/64+n/8+n*binary.MaxVarintLen64+len(c.raw))
	b := out[:cap(out)]
	for s := 0; s < n; s += 64 {
		at := w
		w++
		var sm byte
		for g := s; g < min(s+64, n); g += 8 {
			end := min(g+8, n)
			var any uint64
			for _, v := range c.vals[g:end] {
				any |= v
			}
			if any == 0 {
				continue // an empty group takes no byte (most are)
			}
			gat := w
			w++
			var gm byte
			for k := g; k < end; k++ {
				if v := c.vals[k]; v >= 0x80 {
					gm |= 1 << (k - g)
					w += binary.PutUvarint(b[w:], v)
				} else if v != 0 {
					gm |= 1 << (k - g)
					b[w] = byte(v)
					w++
				}
			}
			b[gat] = gm
			sm |= 1 << ((g - s) >> 3)
		}
		b[at] = sm
	}
	c.buf = c.raw[:0]
	return append(b[:w], c.raw...), !c.bad
}

// decStart reads the fields of record b; the raw bytes stay in b.
func (c *codec) decStart(b []byte) {
	c.dec, c.bad, c.n, c.i, c.rpos = true, false, 0, 0, 0
	x, m := binary.Uvarint(b)
	if m <= 0 || x > maxFields {
		c.bad, c.raw = true, nil
		return
	}
	n, pos := int(x), m
	next := func() uint64 {
		if pos < len(b) && b[pos] < 0x80 {
			pos++
			return uint64(b[pos-1])
		}
		v, k := binary.Uvarint(b[min(pos, len(b)):])
		if k <= 0 {
			c.bad = true
			return 0
		}
		pos += k
		return v
	}
	mask := func() byte {
		if pos >= len(b) {
			c.bad = true
			return 0
		}
		pos++
		return b[pos-1]
	}
	clear(c.vals[:n])
	for s := 0; s < n; s += 64 {
		sm := mask()
		for g := s; g < min(s+64, n); g += 8 {
			if sm&(1<<((g-s)>>3)) == 0 {
				continue // an empty group: its fields are zero
			}
			// The fields whose bits are set, in order (bits past n are
			// not fields).
			end := min(g+8, n)
			for m := mask() & byte(1<<(end-g)-1); m != 0; m &= m - 1 {
				c.vals[g+bits.TrailingZeros8(m)] = next()
			}
		}
	}
	c.n, c.raw = n, b[min(pos, len(b)):]
}

// decFinish reports whether the record decoded whole and well formed.
func (c *codec) decFinish() bool { return !c.bad && c.i == c.n && c.rpos == len(c.raw) }

// u codes v (enc: v is read; dec: the value read is returned).
func (c *codec) u(v uint64) uint64 {
	if c.dec {
		if c.i >= c.n {
			c.bad = true
			return 0
		}
		c.i++
		return c.vals[c.i-1]
	}
	if c.n >= len(c.vals) {
		c.bad = true
		return v
	}
	c.vals[c.n] = v
	c.n++
	return v
}

// take gives the next n raw bytes (dec), or nil when there are fewer.
func (c *codec) take(n int) []byte {
	if n < 0 || n > len(c.raw)-c.rpos {
		c.bad = true
		return nil
	}
	c.rpos += n
	return c.raw[c.rpos-n : c.rpos]
}

// raw codes len(p) bytes as they are (after a field that gave their
// number).
func (c *codec) rawBytes(p []byte) {
	if c.dec {
		copy(p, c.take(len(p)))
		return
	}
	c.raw = append(c.raw, p...)
}

// integer is what num and uns code.
type integer interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64 | ~int8 | ~int16 | ~int32 | ~int64 | ~int
}

// num codes *v as its difference from pred (modulo its width), zig-zag.
func num[T integer](c *codec, v *T, pred T) {
	if c.dec {
		*v = undiff(c.u(0), pred)
		return
	}
	c.u(diff(*v, pred))
}

// diff gives v - pred (modulo T's width), zig-zag: small for a close
// guess of either sign.
func diff[T integer](v, pred T) uint64 {
	w := 64 - 8*unsafe.Sizeof(v)
	d := int64(uint64(v-pred)<<w) >> w // the difference, sign-extended
	return uint64(d<<1) ^ uint64(d>>63)
}

// undiff gives the v of diff(v, pred) = z.
func undiff[T integer](z uint64, pred T) T { return pred + T(int64(z>>1)^-int64(z&1)) }

// uns codes *v as it is (for values that are small and never negative).
func uns[T integer](c *codec, v *T) {
	w := 64 - 8*unsafe.Sizeof(*v)
	if c.dec {
		*v = T(c.u(0))
		return
	}
	c.u(uint64(*v) << w >> w)
}

// flag codes a bool.
func (c *codec) flag(b *bool) {
	if c.dec {
		*b = c.u(0) != 0
		return
	}
	if *b {
		c.u(1)
	} else {
		c.u(0)
	}
}

// flags codes up to 64 bools as one field.
func (c *codec) flags(bs ...*bool) {
	var v uint64
	if !c.dec {
		for i, b := range bs {
			if *b {
				v |= 1 << i
			}
		}
	}
	v = c.u(v)
	if c.dec {
		for i, b := range bs {
			*b = v&(1<<i) != 0
		}
	}
}

// str codes a string as its length and bytes; well-known HTTP methods
// decode without allocating.
func (c *codec) str(s *string) {
	n := len(*s)
	uns(c, &n)
	if !c.dec {
		c.raw = append(c.raw, *s...)
		return
	}
	b := c.take(n)
	for _, m := range httpMethods {
		if m == string(b) {
			*s = m
			return
		}
	}
	*s = string(b)
}

// word codes a string that many flows share (a Host, an SNI): as its
// number in the table's dictionary, or whole (0, then str) when it is
// not there and the dictionary is full.
func (c *codec) word(s *string) {
	var k uint32
	if !c.dec && c.dict != nil && *s != "" {
		k = c.dict.word(*s)
	}
	uns(c, &k)
	if k == 0 {
		c.str(s)
		return
	}
	if c.dec {
		*s = c.dict.word1(k)
	}
}

// mac codes a MAC address: as its number in the table's dictionary, or
// whole (0, then its 6 bytes as one field).
func (c *codec) mac(m *[6]byte) {
	var k uint32
	if !c.dec && c.dict != nil && *m != [6]byte{} {
		k = c.dict.mac(*m)
	}
	uns(c, &k)
	if k != 0 {
		if c.dec {
			*m = c.dict.mac1(k)
		}
		return
	}
	var v uint64
	if !c.dec {
		var b [8]byte
		copy(b[:], m[:])
		v = binary.LittleEndian.Uint64(b[:])
	}
	uns(c, &v)
	if c.dec {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		copy(m[:], b[:])
	}
}

// frozenDict numbers the strings (Host, SNI, ALPN, method) and MAC
// addresses of a table's frozen flows, so that a record codes a number
// (1 or 2 bytes) for what many flows share. Entries are never removed
// (records refer to them); past maxDictWords strings (or maxDictBytes of
// them) or maxDictMACs addresses new ones are coded whole.
type frozenDict struct {
	words  map[string]uint32
	list   []string
	bytes  int
	macs   map[[6]byte]uint32
	macIdx [][6]byte
}

const (
	maxDictWords = 1 << 16
	maxDictBytes = 4 << 20
	maxDictMACs  = 1 << 16
)

// word gives the number of s (1-based), adding it while there is room;
// 0 when it is not there and there is none.
func (d *frozenDict) word(s string) uint32 {
	if k, ok := d.words[s]; ok {
		return k
	}
	if len(d.list) >= maxDictWords || d.bytes+len(s) > maxDictBytes {
		return 0
	}
	if d.words == nil {
		d.words = make(map[string]uint32)
	}
	d.list = append(d.list, s)
	d.bytes += len(s)
	d.words[s] = uint32(len(d.list))
	return uint32(len(d.list))
}

// word1 gives string number k (0 if there is none: a malformed record).
func (d *frozenDict) word1(k uint32) string {
	if d == nil || int(k) > len(d.list) {
		return ""
	}
	return d.list[k-1]
}

// mac gives the number of m (1-based), as word.
func (d *frozenDict) mac(m [6]byte) uint32 {
	if k, ok := d.macs[m]; ok {
		return k
	}
	if len(d.macIdx) >= maxDictMACs {
		return 0
	}
	if d.macs == nil {
		d.macs = make(map[[6]byte]uint32)
	}
	d.macIdx = append(d.macIdx, m)
	d.macs[m] = uint32(len(d.macIdx))
	return uint32(len(d.macIdx))
}

// mac1 gives MAC number k.
func (d *frozenDict) mac1(k uint32) [6]byte {
	if d == nil || int(k) > len(d.macIdx) {
		return [6]byte{}
	}
	return d.macIdx[k-1]
}

// bytes codes a byte slice (dec: in a new slice of capacity cap0, at
// least its length).
func (c *codec) bytes(p *[]byte, cap0 int) {
	n := len(*p)
	uns(c, &n)
	if !c.dec {
		c.raw = append(c.raw, *p...)
		return
	}
	*p = append(make([]byte, 0, max(cap0, n)), c.take(n)...)
}

// instant codes a time that is zero or nsTime of some Unix ns: a flag,
// then the ns as a difference from pred.
func (c *codec) instant(t *time.Time, pred int64) {
	has := !t.IsZero()
	c.flag(&has)
	var ns int64
	if has && !c.dec {
		ns = unixNano(*t)
	}
	num(c, &ns, pick(has, pred, 0))
	if c.dec {
		*t = time.Time{}
		if has {
			*t = nsTime(ns)
		}
	}
}

// frozenBase is what a queue's records are coded relative to.
type frozenBase struct {
	ns    int64
	frame uint64
}

// flow codes f (and hello, the ClientHello being completed, or nil) from
// the record's fields, after the endpoints (see putEndpoints). dec: f
// must be zero; the out-of-line parts are taken from t's pools (t may be
// nil: allocated).
func (c *codec) flow(f *flowState, hello **helloBuf, b frozenBase, t *Table) {
	num(c, &f.last, b.ns)
	num(c, &f.start, f.last)
	num(c, &f.firstFrame, b.frame)
	uns(c, &f.npk)
	hasEv, hasHello := f.evicted != nil, *hello != nil
	c.flags(&f.established, &f.closed, &f.reset, &f.synackSeen, &f.rttSeen, &f.wsBoth, &f.anyData, &hasEv, &hasHello)
	uns(c, &f.rolesFrom)
	uns(c, &f.tunnel)
	uns(c, &f.vlan)
	num(c, &f.input, 0)
	num(c, &f.maxGap, 0)
	num(c, &f.id, 0)
	num(c, &f.synackNs, pick(f.synackSeen, f.start, 0))
	num(c, &f.serverRTT, 0)
	num(c, &f.clientRTT, 0)

	// Sequence state of both directions first: each predicts the other.
	c0, s0 := &f.dirs[0], &f.dirs[1]
	num(c, &c0.isn, 0)
	num(c, &s0.isn, 0)
	num(c, &c0.nextSeq, c0.isn)
	num(c, &s0.nextSeq, s0.isn)
	num(c, &c0.lastAck, s0.nextSeq)
	num(c, &s0.lastAck, c0.nextSeq)
	var hints [2]dirHints
	c.ladder(f, t, &hints)
	for i := range f.dirs {
		c.dir(f, &f.dirs[i], &hints[i], t)
	}
	c.hist(f)
	if hasEv {
		if c.dec {
			f.evicted = new(Evicted)
		}
		c.evicted(f.evicted, f)
	}
	if hasHello {
		if c.dec {
			*hello = new(helloBuf)
		}
		h := *hello
		uns(c, &h.dir)
		uns(c, &h.need)
		num(c, &h.next, f.dirs[min(max(int(h.dir), 1), 2)-1].nextSeq)
		c.bytes(&h.b, h.need)
	}
}

// pick gives a if ok, else b.
func pick[T any](ok bool, a, b T) T {
	if ok {
		return a
	}
	return b
}

// dirHints are what a direction's newest packets in the ladder say of
// its state (zero when the ladder holds none).
type dirHints struct {
	last, lastData int64  // times of the newest packet and data packet
	lastDataFrame  int32  // frame offset of the newest data packet
	ipID           uint16 // of the newest non-RST packet
	window         uint16 // raw window of the newest non-RST packet
	windowSYN      bool   // that packet was a SYN (its window is not scaled)
	tsVal          uint32 // of the newest non-RST packet with timestamps
	has, data, ts  bool
	nonRST         bool
}

// dir codes a direction of f but for the sequence state flow coded.
func (c *codec) dir(f *flowState, d *dirState, h *dirHints, t *Table) {
	hasTLS, hasReq, hasLast := d.tls != nil, d.req != nil, d.req != nil && d.req.last != nil
	c.flags(&d.synSeen, &d.seqValid, &d.ackValid, &d.finSeen, &d.hasMAC, &d.macChanged, &d.hasWScale, &hasTLS, &hasReq, &hasLast)
	uns(c, &d.packets)
	uns(c, &d.bytes)
	uns(c, &d.dataPackets)
	uns(c, &d.rsts)
	num(c, &d.tsPackets, pick(h.ts, uint32(d.packets)-d.rsts, 0))
	num(c, &d.first, pick(d.packets > 0, f.start, 0))
	num(c, &d.last, pick(h.has, h.last, pick(d.packets > 0, f.last, 0)))
	num(c, &d.lastData, pick(h.data, h.lastData, pick(d.dataPackets > 0, d.last, 0)))
	num(c, &d.lastDataFrame, pick(h.data, h.lastDataFrame, 0))
	num(c, &d.synNs, pick(d.synSeen, d.first, 0))
	num(c, &d.synFrame, 0)
	num(c, &d.finNs, pick(d.finSeen, d.last, 0))
	num(c, &d.finFrame, d.lastDataFrame)
	num(c, &d.finSeq, pick(d.finSeen, d.nextSeq-1, 0))
	uns(c, &d.wscale)
	win := uint32(h.window)
	if f.wsBoth && !h.windowSYN {
		win <<= min(d.wscale, 14)
	}
	num(c, &d.window, pick(h.nonRST, win, 0))
	num(c, &d.lastTSVal, pick(h.ts, h.tsVal, 0))
	uns(c, &d.mss)
	uns(c, &d.firstPay)
	num(c, &d.reqKind, d.firstPay)
	num(c, &d.reqNs, pick(d.reqKind != PayloadNone, d.first, 0))
	num(c, &d.reqFrame, 0)
	num(c, &d.reqStart, pick(d.reqKind != PayloadNone, d.isn+1, 0))
	uns(c, &d.tlsVersion)
	uns(c, &d.requests)
	uns(c, &d.retrans)
	uns(c, &d.zeroWindows)
	uns(c, &d.cutPayloads)
	c.mac(&d.mac)
	c.ttl(&d.ttl, uint32(min(d.packets-uint64(d.rsts), 1<<32-1)))
	ip := &d.ipid
	num(c, &ip.Samples, d.ttl.Count)
	num(c, &ip.Last, pick(h.nonRST, h.ipID, 0))
	// Model and Step are not kept inside the table (IPIDStats.settled).
	uns(c, &ip.Zero)
	num(c, &ip.Small, ip.Samples-1)
	uns(c, &ip.Large)
	num(c, &ip.stepCand, 1) // a socket's own counter
	uns(c, &ip.stepVotes)
	if hasTLS {
		if c.dec {
			d.tls = t.newTLS()
		}
		c.tls(d.tls, d, f)
	}
	if hasReq {
		if c.dec {
			d.req = t.newReq()
		}
		c.request(&d.req.Request, f)
		if hasLast {
			if c.dec {
				d.req.last = new(Request)
			}
			c.request(d.req.last, f)
		}
	}
}

// ttl codes s; count is the packets it would have counted.
func (c *codec) ttl(s *TTLStats, count uint32) {
	num(c, &s.Count, count)
	uns(c, &s.Vals[0])
	num(c, &s.Min, s.Vals[0])
	num(c, &s.Max, s.Vals[0])
	num(c, &s.Mode, s.Vals[0])
	num(c, &s.Counts[0], s.Count)
	for i := 1; i < len(s.Vals); i++ {
		uns(c, &s.Vals[i])
		uns(c, &s.Counts[i])
	}
	s.setModeAt() // derived, not stored
}

// tls codes the TLS state s of direction d.
func (c *codec) tls(s *tlsState, d *dirState, f *flowState) {
	tr := &s.tr
	c.flags(&tr.active, &tr.broken, &s.alertSeen, &s.ccsSeen, &s.broken, &s.alert.Encrypted, &s.alert.Candidate)
	num(c, &tr.expect, d.nextSeq)
	uns(c, &tr.remaining)
	var hb [8]byte
	copy(hb[:5], tr.hdr[:])
	copy(hb[5:7], tr.body[:])
	h := binary.LittleEndian.Uint64(hb[:])
	uns(c, &h)
	if c.dec {
		binary.LittleEndian.PutUint64(hb[:], h)
		copy(tr.hdr[:], hb[:5])
		copy(tr.body[:], hb[5:7])
	}
	uns(c, &tr.hdrLen)
	uns(c, &tr.bodyLen)
	uns(c, &tr.curType)
	uns(c, &tr.curLen)
	num(c, &tr.lastType, tr.curType)
	num(c, &tr.lastLen, tr.curLen)
	num(c, &tr.lastFrame, f.firstFrame)
	num(c, &tr.lastNs, d.last)
	a := &s.alert
	num(c, &a.Frame, tr.lastFrame)
	c.instant(&a.Time, tr.lastNs)
	uns(c, &a.Level)
	uns(c, &a.Description)
	uns(c, &a.Length)
	uns(c, &s.records)
}

// request codes r.
func (c *codec) request(r *Request, f *flowState) {
	uns(c, &r.Kind) // Kind, Frame, Time and StartSeq are zero but in LastRequest
	num(c, &r.Frame, pick(r.Kind != PayloadNone, f.firstFrame, 0))
	c.instant(&r.Time, f.start)
	c.word(&r.Method)
	c.str(&r.Path)
	c.word(&r.Host)
	c.word(&r.SNI)
	uns(c, &r.TLSVersion)
	num(c, &r.TLSMaxVersion, r.TLSVersion)
	c.word(&r.ALPN)
	uns(c, &r.Status)
	uns(c, &r.BodyStart)
	num(c, &r.ContentLength, pick[int64](r.Status != 0, -1, 0))
	num(c, &r.StartSeq, 0)
	c.flag(&r.Cut)
}

// hist codes the Zeek history.
func (c *codec) hist(f *flowState) {
	h := &f.hist
	uns(c, &h.historyLen)
	n := int(min(h.historyLen, uint8(len(h.history))))
	c.rawBytes(h.history[:n])
	tail := 0 // bytes past historyLen up to the last non-zero one
	for i := n; i < len(h.history); i++ {
		if h.history[i] != 0 {
			tail = i + 1 - n
		}
	}
	uns(c, &tail)
	c.rawBytes(h.history[n:min(n+tail, len(h.history))])
	uns(c, &h.histSeen)
	c.flags(&h.zprevClose[0], &h.zprevClose[1])
	for i := range 2 {
		uns(c, &h.histHas[i])
		uns(c, &h.zterm[i])
		d := &f.dirs[i]
		num(c, &h.histSeq[i][histS], pick(h.histHas[i]&(1<<histS) != 0, d.isn, 0))
		num(c, &h.histSeq[i][histH], pick(h.histHas[i]&(1<<histH) != 0, d.isn, 0))
		num(c, &h.histSeq[i][histF], pick(h.histHas[i]&(1<<histF) != 0, d.finSeq, 0))
		num(c, &h.histSeq[i][histR], pick(h.histHas[i]&(1<<histR) != 0, d.nextSeq, 0))
	}
}

// ladderCap gives the slots a flow's ladder holds after n packets (see
// ladderPool.next).
func ladderCap(n uint64) int {
	switch {
	case n <= 4:
		return 4
	case n <= 8:
		return 8
	}
	return 16
}

// ladder codes the held slots of f's ladder, oldest first, each from the
// one before it (see the file's comment), and gives what they say of each
// direction. dec: the ring is rebuilt at the same positions, its block
// taken from t's pool.
func (c *codec) ladder(f *flowState, t *Table, hints *[2]dirHints) {
	n := f.packets()
	l := &f.ladder
	cp := ladderCap(n)
	if c.dec && cp > len(l.in) {
		l.ext = t.ladderBlock(cp - len(l.in))
	}
	held := int(min(n, uint64(cp)))
	var exp [2]Seq // each direction's next seq, as the slots so far say
	exp[0], exp[1] = f.dirs[0].isn, f.dirs[1].isn
	var ipid [2]uint16
	var win [2]uint16
	var ts [2]uint32
	ttl := [2]uint8{64, 64}
	var off, fo int64 // the previous slot's time and frame offsets
	fo = -1
	for i := range held {
		s := l.slot(int((n - uint64(held) + uint64(i)) & uint64(cp-1)))
		// The flags, direction and timestamp bit, in one byte for the
		// usual flags.
		fb := uint16(s.bits&fsFlags)<<2 | s.bits>>9&1<<1 | s.bits>>10&1
		uns(c, &fb)
		no := int64(s.nsHi)<<32 | int64(s.nsLo)
		num(c, &no, off)
		fr := int64(uint64(s.bits>>fsFrameShift)<<32 | uint64(s.frameLo))
		num(c, &fr, fo+1)
		if c.dec {
			s.bits = fb>>2&fsFlags | fb>>1&1<<9 | fb&1<<10 | uint16(uint64(fr)>>32)<<fsFrameShift
			s.nsHi, s.nsLo, s.frameLo = int16(no>>32), uint32(no), uint32(fr)
		}
		off, fo = no, fr
		d := s.bits >> 9 & 1
		uns(c, &s.len)
		num(c, &s.tsVal, ts[d])
		// Fields that are usually what the slot before says: a mask of
		// the others, then their differences.
		pSeq, pAck := uint32(exp[d]), pick(s.bits&uint16(capture.ACK) != 0, uint32(exp[1-d]), 0)
		pID := pick(ipid[d] != 0, ipid[d]+1, 0)
		var z [6]uint64
		var mask uint8
		if !c.dec {
			z = [6]uint64{diff(s.seq, pSeq), diff(s.ack, pAck), diff(s.ipID, pID), diff(s.window, win[d]), diff(s.ttl, ttl[d]), diff(s.input, int8(0))}
			for i, v := range z {
				if v != 0 {
					mask |= 1 << i
				}
			}
		}
		uns(c, &mask)
		for i := range z {
			if mask&(1<<i) != 0 {
				z[i] = c.u(z[i])
			}
		}
		if c.dec {
			s.seq, s.ack, s.ipID = undiff(z[0], pSeq), undiff(z[1], pAck), undiff(z[2], pID)
			s.window, s.ttl, s.input = undiff(z[3], win[d]), undiff(z[4], ttl[d]), undiff[int8](z[5], 0)
		}
		seg := uint32(s.len)
		if s.bits&uint16(capture.SYN) != 0 {
			seg++
		}
		if s.bits&uint16(capture.FIN) != 0 {
			seg++
		}
		exp[d] = Seq(s.seq).Add(seg)
		ipid[d], win[d], ttl[d], ts[d] = s.ipID, s.window, s.ttl, s.tsVal
		h := &hints[d]
		ns := f.start + no
		h.has, h.last = true, ns
		if s.bits&uint16(capture.RST) == 0 {
			h.nonRST, h.ipID, h.window, h.windowSYN = true, s.ipID, s.window, s.bits&uint16(capture.SYN) != 0
			if s.bits&fsHasTS != 0 {
				h.ts, h.tsVal = true, s.tsVal
			}
			if s.len > 0 {
				h.data, h.lastData, h.lastDataFrame = true, ns, int32(clampOff(fr<<27>>27, 1<<31-1))
			}
		}
	}
}

// evicted codes x.
func (c *codec) evicted(x *Evicted, f *flowState) {
	c.instant(&x.Last, f.start)
	num(c, &x.LastFrame, f.firstFrame)
	num(c, &x.LastInput, int(f.input))
	num(c, &x.MaxGap, 0)
	uns(c, &x.RolesFrom)
	num(c, &x.Frame, f.firstFrame)
	uns(c, &x.SeqFit)
	for i := range x.TTL {
		c.ttl(&x.TTL[i], 0)
	}
}
