package heuristics

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// strength is how much one claim weighs. note carries information only
// (listed in the evidence, never counted).
type strength uint8

const (
	note   strength = 0
	weak   strength = 1
	medium strength = 2
	strong strength = 3
)

// claimKind says whether a claim is about the cause or the origin.
type claimKind uint8

const (
	causeClaim claimKind = iota + 1
	originClaim
)

// claim is what a rule returns: one signal for a cause, or for or against
// the claimed sender being the real sender.
type claim struct {
	kind claimKind
	// cause is the cause supported (causeClaim only).
	cause Cause
	// genuine is set on an origin claim that supports the claimed sender;
	// unset, the claim points to a middlebox.
	genuine  bool
	signal   Signal
	strength strength
	detail   string
	frames   []uint64
}

// rule is one attribution rule: a pure function of the event.
type rule func(ev *flows.Event, c *ctx) []claim

func causeOf(cause Cause, sig Signal, s strength, detail string, frames ...uint64) claim {
	return claim{kind: causeClaim, cause: cause, signal: sig, strength: s, detail: detail, frames: nonzero(frames)}
}

func middlebox(sig Signal, s strength, detail string, frames ...uint64) claim {
	return claim{kind: originClaim, signal: sig, strength: s, detail: detail, frames: nonzero(frames)}
}

// noteOf is context for the evidence list that counts for nothing.
func noteOf(detail string, frames ...uint64) claim {
	return claim{kind: originClaim, genuine: true, signal: SignalNote, strength: note, detail: detail, frames: nonzero(frames)}
}

func genuine(sig Signal, s strength, detail string, frames ...uint64) claim {
	return claim{kind: originClaim, genuine: true, signal: sig, strength: s, detail: detail, frames: nonzero(frames)}
}

// nonzero drops zero frame numbers (unknown frames) and duplicates.
func nonzero(fs []uint64) []uint64 {
	n := 0
	for _, f := range fs {
		if f != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]uint64, 0, n) // one allocation, not one per doubling
	for _, f := range fs {
		if f == 0 {
			continue
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// ctx holds the facts about an event that several rules share, computed
// once per Judge. Every field tolerates a zero-valued event: unknown
// direction, no handshake, IPv6 (no IP ID), no TTL samples.
type ctx struct {
	ev   *flows.Event
	idle time.Duration

	rst  *flows.RSTPacket // first RST
	rsts []flows.RSTPacket
	// dups are frames of RSTs identical to an earlier one of the event
	// (same seq, ack, flags and IP ID): mirror copies, not a burst.
	dups []uint64

	sender, receiver flows.Dir
	sp, rp           *flows.Profile // nil when the direction is unknown
	senderName       string         // "server", "client" or "unknown"
	receiverName     string
	senderAddr       string // ip:port of the claimed sender, "" if unknown
	ipv4             bool

	packets       []flows.EventPacket // ev.Packets(), the one merged view
	ladder        []flows.LadderEntry // the flow's last packets before the RST
	after         []flows.LadderEntry // look-ahead packets after the first RST
	senderAfter   []flows.LadderEntry // non-RST packets of the claimed sender after the RST (same connection)
	receiverAfter []flows.LadderEntry // non-RST packets of the receiver after the RST (same connection)

	senderHost, receiverHost *flows.HostProfile

	trigger *flows.LadderEntry // last receiver packet before the RST, nil if none
	// lateSYN is the receiver's SYN that this RST+ACK answers (ack = its
	// seq + 1) but that the capture recorded just after the RST, nil if
	// none (see reorderWindow).
	lateSYN *flows.LadderEntry
	// lateData is the receiver's segment (data or FIN) that this RST
	// answers (a RST without ACK whose seq is the segment's ack, as a
	// stack answers a segment for a socket it no longer has) but that the
	// capture recorded just after the RST, when nothing before the RST
	// called for an answer; nil if none.
	lateData *flows.LadderEntry
	echoTo   *flows.LadderEntry // the packet an echo answers (trigger or lateData), set with echo
	echo     *forgedReset       // the forged reset this RST may echo (Engine memory), nil if none
	latency  time.Duration      // RST time minus trigger time (valid iff trigger != nil)

	// Facts computed on first use (idleGap, senderFIN, lastAlert,
	// senderTTL) and then read by every rule, the summary and the advice
	// alike, so that they cannot disagree.
	done     struct{ gap, fin, alert, ttl, cut bool }
	gap      idleGap
	gapOK    bool
	fin      finFacts
	finOK    bool
	alertDir flows.Dir
	alert    *flows.TLSAlertInfo
	ttl      ttlRef
	ttlOK    bool
	cuts     []cutFacts

	adviceAt time.Time // set by an advice that names an instant
}

// reorderWindow is how far apart in time a capture point may record two
// packets of opposite directions in the wrong order: a tap or SPAN port
// merging two directions, a multi-queue NIC timestamping on two CPUs.
const reorderWindow = time.Millisecond

// replyWindow is how soon after a packet a reply still counts as
// immediate: two round trips, at least 200 ms.
func (c *ctx) replyWindow() time.Duration { return max(200*time.Millisecond, 2*c.ev.Flow.RTT) }

// scratch is what one Judge call builds and drops: the ctx and the arrays
// of its views and claims. Judge takes one from scratchPool and puts it
// back, so that judging event after event reuses them (they were a third
// of Judge's allocated bytes, each a fresh stretch of memory for the
// cache). Nothing of it outlives the call: a Finding holds copies.
type scratch struct {
	c       ctx
	rsts    []flows.RSTPacket
	packets []flows.EventPacket
	views   []flows.LadderEntry
	claims  []claim
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release clears what s points to (the event, the claims' strings) and
// returns it to the pool.
func (s *scratch) release() {
	s.c = ctx{}
	clear(s.claims[:cap(s.claims)])
	s.claims = s.claims[:0]
	scratchPool.Put(s)
}

// newCtxIn builds the ctx of ev in s, reusing its arrays.
func newCtxIn(s *scratch, e *Engine, ev *flows.Event) *ctx {
	c := &s.c
	*c = ctx{ev: ev, idle: e.idle(), senderHost: &ev.SenderHost, receiverHost: &ev.ReceiverHost}
	c.rst = ev.First()
	n := min(max(ev.Count, 1), len(ev.RSTs))
	c.rsts = slices.Grow(s.rsts[:0], n)
	defer func() { s.rsts, s.packets = c.rsts[:0], c.packets[:0] }()
	for i := range n {
		r := ev.RSTs[i]
		if i > 0 && r.Frame == 0 {
			continue
		}
		if isDuplicate(r, c.rsts) {
			c.dups = append(c.dups, r.Frame)
			continue
		}
		c.rsts = append(c.rsts, r)
	}
	c.sender = ev.Sender()
	c.receiver = c.sender.Reverse()
	c.senderName = c.sender.String()
	c.receiverName = c.receiver.String()
	if c.sender != flows.DirUnknown {
		c.sp = ev.SenderProfile()
		c.rp = ev.ReceiverProfile()
	}
	switch c.sender {
	case flows.FromServer:
		c.senderAddr = addrString(ev.Flow.Server)
	case flows.FromClient:
		c.senderAddr = addrString(ev.Flow.Client)
	}
	c.ipv4 = c.rst.IsIPv4

	// flows.Event.Packets is the one merged view: ladder (no mark), the
	// event's RSTs (RST) and the look-ahead (After).
	newConn := false
	c.packets = ev.AppendPackets(s.packets[:0])
	// One array for the four views, each as long as it may get.
	nl, na := 0, 0
	for _, ep := range c.packets {
		switch {
		case !ep.After && !ep.RST:
			nl++
		case ep.After && !ep.RST:
			na++
		}
	}
	if cap(s.views) < nl+3*na {
		s.views = make([]flows.LadderEntry, nl+3*na)
	}
	views := s.views[:nl+3*na]
	c.ladder, c.after = views[:0:nl], views[nl:nl:nl+na]
	c.senderAfter, c.receiverAfter = views[nl+na:nl+na:nl+2*na], views[nl+2*na:nl+2*na]
	for _, ep := range c.packets {
		p := ep.LadderEntry
		if !ep.After && !ep.RST {
			c.ladder = append(c.ladder, p)
		}
		if !ep.After || ep.RST {
			continue
		}
		c.after = append(c.after, p)
		if p.Flags.Has(capture.SYN) && !p.Flags.Has(capture.ACK) {
			if c.answersLateSYN(&p) {
				// The SYN this RST answers, recorded out of order: the
				// same connection, not a new one.
				c.lateSYN = &c.after[len(c.after)-1]
			} else {
				newConn = true // a new connection on the tuple: what follows is its own
			}
		}
		if newConn || p.Flags.Has(capture.RST) || p.Dir == flows.DirUnknown {
			continue
		}
		if p.Dir == c.sender {
			c.senderAfter = append(c.senderAfter, p)
		} else {
			c.receiverAfter = append(c.receiverAfter, p)
		}
	}
	if ev.HasTrigger {
		t := ev.Trigger
		c.trigger = &t
		c.latency = c.rst.Time.Sub(t.Time)
	}
	c.lateData = c.findLateData()
	return c
}

// findLateData finds ctx.lateData: the receiver's first packet after the
// RST, within reorderWindow, carrying data or FIN and acknowledging
// exactly the RST's seq, while the RST (no ACK flag: an answer to a
// segment, not an abort, which carries ACK) follows nothing of the
// receiver that calls for an answer.
func (c *ctx) findLateData() *flows.LadderEntry {
	r := c.rst
	if r.Flags.Has(capture.ACK) || len(c.receiverAfter) == 0 {
		return nil
	}
	if t := c.trigger; t != nil && (t.Len > 0 || t.Flags.Has(capture.FIN) || t.Flags.Has(capture.SYN)) {
		return nil
	}
	p := &c.receiverAfter[0]
	d := p.Time.Sub(r.Time)
	if d < 0 || d > reorderWindow || !p.Flags.Has(capture.ACK) || p.Ack != r.Seq || (p.Len == 0 && !p.Flags.Has(capture.FIN)) {
		return nil
	}
	return p
}

// answersLateSYN reports whether p, a SYN recorded after the RST, is the
// one the RST+ACK answers: the receiver's first SYN of the flow, no later
// than reorderWindow after the RST, whose seq + 1 the RST acknowledges.
// No stack can acknowledge a sequence number before it was sent: the
// capture point saw the two crossing it in the wrong order.
func (c *ctx) answersLateSYN(p *flows.LadderEntry) bool {
	if c.lateSYN != nil || len(c.receiverAfter) > 0 || p.Dir != c.receiver || c.receiver == flows.DirUnknown ||
		(c.rp != nil && c.rp.SYNSeen) || !c.rst.Flags.Has(capture.ACK) || c.rst.Ack != p.Seq.Add(1) {
		return false
	}
	d := p.Time.Sub(c.rst.Time)
	return d >= 0 && d <= reorderWindow
}

// isDuplicate reports whether r is a copy of an RST already kept: the same
// segment captured twice (e.g. through a mirror, a hop or two apart).
func isDuplicate(r flows.RSTPacket, kept []flows.RSTPacket) bool {
	for _, k := range kept {
		dt := int(k.TTL) - int(r.TTL)
		if k.Seq == r.Seq && k.Ack == r.Ack && k.Flags == r.Flags && k.IsIPv4 == r.IsIPv4 &&
			k.IPID == r.IPID && k.Len == r.Len && dt >= -2 && dt <= 2 {
			return true
		}
	}
	return false
}

// known reports whether the claimed sender's direction is known.
func (c *ctx) known() bool { return c.sp != nil && c.rp != nil }

// ladderEntry finds frame in the flow's ladder.
func (c *ctx) ladderIndex(frame uint64) int {
	if frame == 0 {
		return -1
	}
	for i := len(c.ladder) - 1; i >= 0; i-- {
		if c.ladder[i].Frame == frame {
			return i
		}
	}
	return -1
}

// addrString prints ip:port, IPv6 as [ip]:port, "" when invalid.
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// initialTTL gives the nearest common initial TTL at or above t (32, 64,
// 128 or 255): the sender's OS default, assuming fewer hops than the gap
// to the next default.
func initialTTL(t uint8) uint8 {
	switch {
	case t <= 32:
		return 32
	case t <= 64:
		return 64
	case t <= 128:
		return 128
	}
	return 255
}

// hops gives the hop distance inferred from the nearest initial TTL.
func hops(t uint8) int { return int(initialTTL(t)) - int(t) }

// dur prints a duration for humans: "0.3 ms", "59 ms", "5.0 s", "350.2 s".
func dur(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	// strconv, as fmt's %d and %.Nf would print them (a few per finding).
	switch {
	case d < 100*time.Microsecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

// describe names a packet for a sentence: "the client's SYN",
// "the server's data (830 bytes)".
func describe(ev *flows.Event, p *flows.LadderEntry) string {
	who := p.Dir.String()
	if p.Dir == flows.DirUnknown {
		who = "peer"
	}
	switch {
	case p.Flags.Has(capture.SYN | capture.ACK):
		return "the " + who + "'s SYN/ACK"
	case p.Flags.Has(capture.SYN):
		return "the " + who + "'s SYN"
	}
	if p.Len > 0 {
		if p.Dir == flows.FromClient {
			for _, r := range []*flows.Request{&ev.Flow.Dirs[0].Request, ev.Flow.Dirs[0].LastRequest} {
				if r != nil && r.Frame == p.Frame && r.Kind != flows.PayloadNone {
					if s := requestPhrase(r); s != "" {
						return "the client's " + s
					}
				}
			}
		}
		s := fmt.Sprintf("the %s's data (%d bytes)", who, p.Len)
		if p.Flags.Has(capture.FIN) {
			s = fmt.Sprintf("the %s's data+FIN (%d bytes)", who, p.Len)
		}
		return s
	}
	if p.Flags.Has(capture.FIN) {
		return "the " + who + "'s FIN"
	}
	return "the " + who + "'s ACK"
}

// requestPhrase names a request: "TLS ClientHello (SNI example.com)",
// "HTTP request GET /x (Host example.com)".
func requestPhrase(r *flows.Request) string {
	switch r.Kind {
	case flows.PayloadTLSClientHello:
		if r.SNI != "" {
			return "TLS ClientHello (SNI " + r.SNI + ")"
		}
		return "TLS ClientHello (no SNI)"
	case flows.PayloadHTTPRequest:
		s := "HTTP request " + r.Method + " " + r.Path
		if r.Host != "" {
			s += " (Host " + r.Host + ")"
		}
		return s
	}
	return ""
}

// ipIDDelta gives b - a in IP ID space, in [-32768, 32767].
func ipIDDelta(a, b uint16) int { return int(int16(b - a)) }
