package heuristics

import (
	"fmt"
	"slices"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// DefaultIdle is the gap that counts as idle when Engine.Idle is zero.
const DefaultIdle = 5 * time.Second

// Engine turns flow events into findings. Besides its options it keeps a
// bounded memory of the forged resets it found, per flow, to recognise
// their echoes (echo.go); it may be shared (the memory is locked), and
// events must come in capture order, as flows.Table emits them.
type Engine struct {
	// Idle is the gap that counts as idle (default 5 s).
	Idle time.Duration

	echoes echoMemory
}

func (e *Engine) idle() time.Duration {
	if e == nil || e.Idle <= 0 {
		return DefaultIdle
	}
	return e.Idle
}

// originRules (middlebox.go), strongest signal first.
var originRules = []rule{
	ruleDataAfterRST,
	ruleTTL,
	ruleBurst,
	ruleCrossed,
	ruleIPID,
	ruleTimestamp,
	ruleMAC,
	ruleShape,
	ruleTooFast,
	ruleFingerprint,
	ruleBaseline,
	ruleTLSUnseen,
	rulePayloadCut,
}

// verdict is the combined result of the claims.
type verdict struct {
	cause      Cause
	origin     Origin
	confidence Confidence
	alts       []Cause
	mb, gen    int // middlebox and genuine scores
	// proof is the witness claim that decided the origin, else the one
	// that decided the cause (nil: none);
	// overturned is set when it changed the capture's own origin.
	proof      *WitnessClaim
	overturned bool
	// recaused is set when a witness's cause replaced the capture's;
	// causeBy is the witness claim that decided or confirmed the cause.
	recaused bool
	causeBy  *WitnessClaim
}

// Judge attributes one event, with what the witnesses (if any) say about
// it. The returned Finding has ID 0; the caller numbers findings in output
// order.
func (e *Engine) Judge(ev *flows.Event, witnesses ...Witness) Finding {
	s := scratchPool.Get().(*scratch)
	defer s.release()
	c := newCtxIn(s, e, ev)
	c.echo = e.echoOf(ev, c)
	claims := s.claims[:0]
	defer func() { s.claims = claims }()
	for i := range causes {
		if r := causes[i].rule; r != nil {
			claims = append(claims, r(ev, c)...)
		}
	}
	for _, r := range originRules {
		claims = append(claims, r(ev, c)...)
	}
	ts := make([]Testimony, 0, len(witnesses))
	for _, w := range witnesses {
		ts = append(ts, w.Testify(ev))
	}
	v := combine(c, claims, ts)
	e.recordForged(ev, c, v)
	f := build(ev, c, v, claims, ts)
	if v.cause == CauseAfterReset && c.echo != nil {
		ref := c.echo.ref
		f.Echoes = &ref
	}
	return f
}

// signalScore sums, over distinct signals of the given side, the
// strongest claim of each: independent signals add up, repeats do not.
func signalScore(claims []claim, genuineSide bool) (sum, n2 int, top strength) {
	type signalStrength struct {
		signal Signal
		s      strength
	}
	var buf [16]signalStrength
	best := buf[:0] // a handful: a scan, no map
next:
	for _, cl := range claims {
		if cl.kind != originClaim || cl.genuine != genuineSide || cl.strength == note {
			continue
		}
		for i := range best {
			if best[i].signal == cl.signal {
				best[i].s = max(best[i].s, cl.strength)
				continue next
			}
		}
		best = append(best, signalStrength{cl.signal, cl.strength})
	}
	for _, b := range best {
		sum += int(b.s)
		if b.s >= medium {
			n2++
		}
		top = max(top, b.s)
	}
	return sum, n2, top
}

// causeStrength is the strongest claim for a cause, one step more when
// two distinct signals of at least medium strength agree.
func causeStrength(claims []claim, cause Cause) strength {
	var top strength
	var first Signal // of the claims of at least medium strength
	signals := 0     // distinct signals among those, up to 2
	for _, cl := range claims {
		if cl.kind != causeClaim || cl.cause != cause || cl.strength == note {
			continue
		}
		top = max(top, cl.strength)
		switch {
		case cl.strength < medium:
		case signals == 0:
			first, signals = cl.signal, 1
		case cl.signal != first:
			signals = 2
		}
	}
	if signals >= 2 && top < strong {
		top++
	}
	return top
}

func toConfidence(s strength) Confidence {
	switch {
	case s >= strong:
		return High
	case s == medium:
		return Medium
	case s == weak:
		return Low
	}
	return ConfidenceNone
}

// combine weighs the rules' claims, then the witnesses' testimony, into
// cause, origin and confidence.
func combine(c *ctx, claims []claim, ts []Testimony) verdict {
	var v verdict
	mb, mbMedium, mbTop := signalScore(claims, false)
	gen, _, _ := signalScore(claims, true)
	v.mb, v.gen = mb, gen

	// Origin: a middlebox only with evidence (one signal of at least
	// medium strength, net of the genuine-peer signals); else the claimed
	// sender, or unknown when the direction is.
	var originConf Confidence
	switch {
	case mbTop >= medium && mb-gen >= 2:
		v.origin = OriginMiddlebox
		net := mb - gen
		switch {
		case net >= 5 && mbMedium >= 2:
			originConf = High
		case net >= 3:
			originConf = Medium
		default:
			originConf = Low
		}
	case c.sender == flows.FromServer:
		v.origin = OriginServer
	case c.sender == flows.FromClient:
		v.origin = OriginClient
	default:
		v.origin = OriginUnknown
	}

	// Cause: the first cause in table (precedence) order with medium
	// support.
	strengths := make([]strength, len(causes)) // by row of causes
	for i := range causes {
		strengths[i] = causeStrength(claims, causes[i].cause)
	}
	v.cause = CauseUnknown
	causeConf := Low
	for i := range causes {
		if strengths[i] >= medium {
			if v.cause = causes[i].cause; v.cause != CauseUnknown {
				causeConf = toConfidence(strengths[i])
			}
			break
		}
	}
	v.confidence = causeConf
	if v.origin == OriginMiddlebox {
		if r := rowOf(v.cause); r != nil && r.survivesForgery {
			v.confidence = min(causeConf, originConf)
		} else {
			if v.cause != CauseUnknown {
				v.alts = append(v.alts, v.cause)
			}
			v.cause = CauseMiddleboxInjected
			v.confidence = originConf
		}
	} else if mb >= 2 && mbTop >= medium && v.confidence > Medium {
		// Some middlebox evidence that did not carry the day: be less sure.
		v.confidence = Medium
	} else if mb >= 1 && hasSignal(claims, SignalTTLMismatch) && v.confidence > Medium {
		// A TTL that differs, if only by a hop, is never ignored.
		v.confidence = Medium
	}
	if c.tlsUnseen() != flows.DirUnknown && precedes(CauseTLSAlert, v.cause) {
		// A TLS alert, which would take precedence, may have gone unseen.
		v.confidence = min(v.confidence, Medium)
	}
	if c.alertCut() && precedes(CauseTLSAlert, v.cause) {
		// The snaplen may have cut a TLS alert, which would take
		// precedence.
		v.confidence = min(v.confidence, Medium)
	}
	if c.restsOnCut(v.cause) {
		// The verdict rests on the absence of what the cut hid.
		v.confidence = Low
	}
	if c.unchecked() && v.origin != OriginMiddlebox {
		// Nothing of the claimed sender to check the RST against: the
		// origin is taken on trust (at most medium), and a RST from the
		// receiver's own link may be a gateway's (low).
		v.confidence = min(v.confidence, Medium)
		if c.onLink() {
			v.confidence = min(v.confidence, Low)
		}
	}

	// Alternatives: other causes with any support, strongest first, then
	// precedence; and middlebox_injected when its evidence fell short.
	type alt struct {
		cause Cause
		s     strength
	}
	var alts []alt
	for i := range causes {
		cause := causes[i].cause
		if cause == v.cause || slices.Contains(v.alts, cause) {
			continue
		}
		if s := strengths[i]; s > note {
			alts = append(alts, alt{cause, s})
		}
	}
	if v.origin != OriginMiddlebox && mbTop >= medium {
		alts = append(alts, alt{CauseMiddleboxInjected, min(mbTop, medium)})
	}
	for i := 1; i < len(alts); i++ { // stable insertion sort by strength
		for j := i; j > 0 && alts[j].s > alts[j-1].s; j-- {
			alts[j], alts[j-1] = alts[j-1], alts[j]
		}
	}
	for _, a := range alts {
		v.alts = append(v.alts, a.cause)
	}
	weighWitnesses(c, &v, ts)
	return v
}

// precedes reports whether cause a comes before b in the causes table
// (precedence order); unknown comes after every cause.
func precedes(a, b Cause) bool {
	for i := range causes {
		switch causes[i].cause {
		case b:
			return false
		case a:
			return true
		}
	}
	return false
}

// hasSignal reports whether a weighed origin claim carries sig.
func hasSignal(claims []claim, sig Signal) bool {
	for _, cl := range claims {
		if cl.kind == originClaim && cl.signal == sig && cl.strength > note {
			return true
		}
	}
	return false
}

// ruleContext adds facts that frame the others (no weight).
func ruleContext(ev *flows.Event, c *ctx) []claim {
	var out []claim
	if c.rst.Len > 0 {
		out = append(out, noteOf(fmt.Sprintf("the RST carries %d bytes of payload: some stacks and devices put diagnostic text there (RFC 1122 4.2.2.12)", c.rst.Len), c.rst.Frame))
	}
	if x := ev.Flow.Evicted; x != nil {
		return append(out, claim{kind: causeClaim, cause: CauseUnknown, signal: SignalMidstream, strength: note,
			detail: fmt.Sprintf("picked up mid-stream %s after the flow on the same tuple (last packet frame %d; roles from its %s) was evicted from rstscope's flow table for idleness", dur(ev.Flow.Start.Sub(x.Last)), x.LastFrame, x.RolesFrom)})
	}
	if ev.Flow.RolesFrom == flows.RolesHandshake || ev.Flow.RolesFrom == flows.RolesUnknown {
		return out
	}
	d := "no SYN seen: the client is the side that received the SYN/ACK"
	if ev.Flow.RolesFrom == flows.RolesPort {
		d = "no handshake seen: the flow was picked up mid-stream; the server is the side on the well-known or lower port"
	}
	return append(out, claim{kind: causeClaim, cause: CauseUnknown, signal: SignalMidstream, strength: note, detail: d})
}
