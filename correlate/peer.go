package correlate

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// Bounds on what a Peer keeps.
const (
	maxRecords = 1 << 14 // records per peer flow; the oldest half goes when full
	maxTSIndex = 1 << 21 // (TSval, seq) keys indexed over the whole capture
	maxSamples = 256     // clock samples kept by Observe
	maxPayload = 1 << 20 // payload fingerprints indexed, and main flows matched by them
	payPrefix  = 48      // payload bytes hashed (all of a shorter payload)
	payPerSide = 2       // data segments fingerprinted per side of a peer flow
)

// record is one packet of the peer capture.
type record struct {
	t        int64 // capture time, Unix ns, peer clock
	frame    uint64
	seq, ack uint32
	tsval    uint32
	n        int32 // payload length (wire)
	flags    capture.TCPFlags
	ttl      uint8
	hasTS    bool
	side     uint8 // sender: 0 (A) or 1 (B) of its peerFlow
}

// end is one endpoint of a peer flow.
type end struct {
	ap     netip.AddrPort
	isn    uint32
	hasISN bool
	syn    record // its first SYN (or SYN/ACK); valid iff hasISN
	// sampled is set once Observe used the SYN for a clock sample.
	sampled bool
}

// peerFlow is one TCP connection of the peer capture. A is the sender of
// its first packet.
type peerFlow struct {
	ends        [2]end
	first, last int64
	recs        []record
	cut         int      // records dropped from the front
	cutT        int64    // time of the newest dropped record (0: none dropped)
	hashed      [2]uint8 // data segments fingerprinted per side
}

// payRef is a data segment of the peer capture found by its payload
// fingerprint.
type payRef struct {
	flow     int32
	side     uint8
	seq, ack uint32
	hasAck   bool
}

// payHit is a main-capture flow whose data segment matched a peer
// fingerprint: the peer flow, and the sequence number offsets of a NAT
// that rewrites them (peer = main + delta), by the segment's sender.
type payHit struct {
	flow   int32
	src    netip.AddrPort // the segment's sender in the main capture
	side   uint8          // its end in the peer flow
	dSrc   uint32         // delta of the sender's sequence numbers
	dDst   uint32         // delta of the other side's (from the ack)
	hasDst bool
}

type tsKey struct{ tsval, seq uint32 }

// sample is one packet seen in both captures: d is t(peer)-t(main) when
// toPeer (it went from the main capture's side to the peer's), else
// t(main)-t(peer). src is its sender's address as the main capture shows
// it.
type sample struct {
	d      int64
	toPeer bool
	src    netip.Addr
}

// Options tune a Peer.
type Options struct {
	// LookAhead is the main pass's look-ahead (flows.Options.LookAhead):
	// how long after a RST the event saw the flow. Default 2 s.
	LookAhead time.Duration
}

// Peer is a peer capture loaded for correlation. It is not safe for
// concurrent use: Observe and Testify run on the pipeline's goroutine.
type Peer struct {
	name        string
	opts        Options
	flows       []peerFlow
	byTuple     map[flows.Key][]int32
	byISN       map[uint32][]int32
	byTS        map[tsKey]int32
	byPay       map[uint64]payRef
	mainPay     map[flows.Key]payHit // filled by Observe
	first, last int64                // span of the capture's frames (all of them when the source says)
	packets     uint64               // TCP packets
	frames      uint64               // all frames (at least packets)
	// zeroHop holds the addresses whose packets leave with an initial
	// TTL here (the capture runs on that host or its link); built on
	// first use.
	zeroHop map[netip.Addr]bool

	ring [maxSamples]sample
	nSmp int // samples ever added
}

// Load reads the capture at path completely. The name shown in findings is
// the file's base name.
func Load(path string, opts Options) (*Peer, error) {
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer src.Close()
	p, err := LoadSource(filepath.Base(path), src, opts)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return p, nil
}

// LoadSource reads src to its end. A capture cut mid-record keeps what was
// read before the cut.
func LoadSource(name string, src capture.Source, opts Options) (*Peer, error) {
	if opts.LookAhead <= 0 {
		opts.LookAhead = 2 * time.Second
	}
	c := &Peer{
		name:    name,
		opts:    opts,
		byTuple: map[flows.Key][]int32{},
		byISN:   map[uint32][]int32{},
		byTS:    map[tsKey]int32{},
		byPay:   map[uint64]payRef{},
		mainPay: map[flows.Key]payHit{},
	}
	var pk capture.Packet
	for {
		err := src.Next(&pk)
		if err == io.EOF || errors.Is(err, capture.ErrTruncated) {
			break
		}
		if err != nil {
			return nil, err
		}
		c.add(&pk)
	}
	// The span of every frame, TCP or not: how long the capture ran. A
	// capture without TCP is no error: if it ran while the flow did, the
	// flow never reached it (Testify).
	st := src.Stats()
	c.frames = st.Packets
	if !st.FirstTime.IsZero() && !st.LastTime.IsZero() {
		f, l := st.FirstTime.UnixNano(), st.LastTime.UnixNano()
		if c.packets == 0 || f < c.first {
			c.first = f
		}
		c.last = max(c.last, l)
	}
	c.frames = max(c.frames, c.packets)
	return c, nil
}

// Name is the peer capture's name.
func (c *Peer) Name() string { return c.name }

// add files one packet of the peer capture.
func (c *Peer) add(p *capture.Packet) {
	t := p.Time.UnixNano()
	if c.packets == 0 || t < c.first {
		c.first = t
	}
	c.last = max(c.last, t)
	c.packets++
	k := flows.KeyOf(p.Src, p.Dst)
	idxs := c.byTuple[k]
	fi := int32(-1)
	if len(idxs) > 0 {
		fi = idxs[len(idxs)-1]
	}
	pureSYN := p.Flags&(capture.SYN|capture.ACK|capture.RST) == capture.SYN
	if fi >= 0 && pureSYN {
		// a new connection on the tuple: the sender's SYN with another ISN
		fl := &c.flows[fi]
		s := fl.sideOf(p.Src)
		if fl.ends[s].hasISN && fl.ends[s].isn != p.Seq {
			fi = -1
		}
	}
	if fi < 0 {
		fi = int32(len(c.flows))
		c.flows = append(c.flows, peerFlow{
			ends:  [2]end{{ap: p.Src}, {ap: p.Dst}},
			first: t,
		})
		c.byTuple[k] = append(idxs, fi)
	}
	fl := &c.flows[fi]
	fl.last = t
	s := fl.sideOf(p.Src)
	if len(fl.recs) == maxRecords {
		drop := maxRecords / 2
		fl.cutT = fl.recs[drop-1].t
		n := copy(fl.recs, fl.recs[drop:])
		fl.recs = fl.recs[:n]
		fl.cut += drop
	}
	fl.recs = append(fl.recs, record{
		t: t, frame: p.Index, seq: p.Seq, ack: p.Ack, tsval: p.Opts.TSVal, n: int32(p.Len),
		flags: p.Flags, ttl: p.TTL, hasTS: p.Opts.HasTS, side: s,
	})
	e := &fl.ends[s]
	if p.Flags.Has(capture.SYN) && p.Flags&capture.RST == 0 && !e.hasISN {
		e.isn, e.hasISN, e.syn = p.Seq, true, fl.recs[len(fl.recs)-1]
		c.byISN[p.Seq] = append(c.byISN[p.Seq], fi)
	}
	if p.Len > 0 && p.Flags&capture.RST == 0 && fl.hashed[s] < payPerSide && len(c.byPay) < maxPayload {
		if h, ok := payHash(p); ok {
			fl.hashed[s]++
			if _, dup := c.byPay[h]; !dup {
				c.byPay[h] = payRef{flow: fi, side: s, seq: p.Seq, ack: p.Ack, hasAck: p.Flags.Has(capture.ACK)}
			}
		}
	}
	if p.Opts.HasTS && p.Flags&capture.RST == 0 && len(c.byTS) < maxTSIndex {
		tk := tsKey{p.Opts.TSVal, p.Seq}
		if _, ok := c.byTS[tk]; !ok {
			c.byTS[tk] = fi
		}
	}
}

// sideOf is the end (0 or 1) whose address is ap (1 when neither is).
func (fl *peerFlow) sideOf(ap netip.AddrPort) uint8 {
	if fl.ends[0].ap == ap {
		return 0
	}
	return 1
}

// payHash fingerprints a segment's payload: FNV-1a over its first
// payPrefix bytes (all of a shorter payload) and its length. ok is false
// when the snaplen cut the prefix.
func payHash(p *capture.Packet) (uint64, bool) {
	n := min(p.Len, payPrefix)
	if len(p.Payload) < n || n == 0 {
		return 0, false
	}
	h := uint64(14695981039346656037)
	for _, b := range p.Payload[:n] {
		h ^= uint64(b)
		h *= 1099511628211
	}
	h ^= uint64(p.Len)
	h *= 1099511628211
	return h, true
}

// Observe takes one packet of the main pass. A SYN or SYN/ACK found in the
// peer capture by its ISN adds a clock sample; a data segment found by its
// payload fingerprint records its flow's match (for a NAT that rewrites
// sequence numbers). It allocates nothing, except when a new flow is
// matched by payload (once per flow).
func (c *Peer) Observe(p *capture.Packet) {
	if p.Len > 0 && p.Flags&(capture.SYN|capture.RST) == 0 {
		c.observeData(p)
		return
	}
	if p.Flags&capture.SYN == 0 || p.Flags&capture.RST != 0 {
		return
	}
	t := p.Time.UnixNano()
	var best *end
	var bestDist int64
	for _, fi := range c.byISN[p.Seq] {
		fl := &c.flows[fi]
		for s := range fl.ends {
			e := &fl.ends[s]
			if !e.hasISN || e.isn != p.Seq || e.sampled {
				continue
			}
			o := &fl.ends[1-s]
			if p.Flags.Has(capture.ACK) && o.hasISN && p.Ack != o.isn+1 {
				continue
			}
			dist := e.syn.t - t
			if dist < 0 {
				dist = -dist
			}
			if best == nil || dist < bestDist {
				best, bestDist = e, dist
			}
		}
	}
	if best == nil || best.syn.ttl == p.TTL {
		return
	}
	best.sampled = true
	c.addSample(dirSample(t, p.TTL, &best.syn, p.Src.Addr()))
}

// observeData matches a data segment by its payload fingerprint.
func (c *Peer) observeData(p *capture.Packet) {
	if len(c.byPay) == 0 {
		return
	}
	h, ok := payHash(p)
	if !ok {
		return
	}
	ref, ok := c.byPay[h]
	if !ok {
		return
	}
	k := flows.KeyOf(p.Src, p.Dst)
	if old, ok := c.mainPay[k]; ok && old.flow == ref.flow {
		return
	}
	if len(c.mainPay) >= maxPayload {
		return
	}
	c.mainPay[k] = payHit{flow: ref.flow, src: p.Src, side: ref.side, dSrc: ref.seq - p.Seq,
		dDst: ref.ack - p.Ack, hasDst: ref.hasAck && p.Flags.Has(capture.ACK)}
}

// dirSample is the clock sample of a packet seen at tMain with ttlMain in
// the main capture and as r in the peer's (their TTLs differ).
func dirSample(tMain int64, ttlMain uint8, r *record, src netip.Addr) sample {
	if ttlMain > r.ttl {
		return sample{d: r.t - tMain, toPeer: true, src: src}
	}
	return sample{d: tMain - r.t, src: src}
}

func (c *Peer) addSample(s sample) {
	c.ring[c.nSmp%maxSamples] = s
	c.nSmp++
}

// samples returns the samples Observe kept.
func (c *Peer) samples() []sample {
	return c.ring[:min(c.nSmp, maxSamples)]
}
