package heuristics

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// timeoutKind says who enforces a known timeout.
type timeoutKind uint8

const (
	pathTimeout   timeoutKind = 1 << iota // a load balancer, NAT or firewall on the path
	serverTimeout                         // a server's keep-alive timeout
	clientTimeout                         // a client pool's idle timeout
)

// knownTimeout is a documented idle or keep-alive timeout (REFERENCE.md
// section 7).
type knownTimeout struct {
	d    time.Duration
	kind timeoutKind
	name string
}

// knownTimeouts, longest first.
var knownTimeouts = []knownTimeout{
	{1200 * time.Second, pathTimeout, "GCP Cloud NAT established idle timeout"},
	{610 * time.Second, serverTimeout, "GCP external Application LB keep-alive timeout"},
	{350 * time.Second, pathTimeout, "AWS NLB / NAT Gateway idle timeout"},
	{240 * time.Second, pathTimeout, "Azure Load Balancer / NAT Gateway idle timeout"},
	{90 * time.Second, clientTimeout, "Go http.Transport IdleConnTimeout"},
	{75 * time.Second, serverTimeout, "nginx keepalive_timeout"},
	{60 * time.Second, pathTimeout | serverTimeout, "AWS ALB / Classic ELB idle timeout"},
	{5 * time.Second, serverTimeout, "Node.js / Apache / uvicorn keep-alive timeout"},
	{2 * time.Second, serverTimeout, "gunicorn keep-alive timeout"},
}

// tolerance is how close a gap must be to a known timeout: 5 %, at least
// 200 ms (timer slack plus a round trip), so that a 1 s keep-alive is not
// taken for gunicorn's 2 s.
func tolerance(d time.Duration) time.Duration { return max(200*time.Millisecond, d/20) }

// matchTimeout finds the known timeout of the given kinds a gap equals
// (within tolerance).
func matchTimeout(gap time.Duration, kinds timeoutKind) (knownTimeout, bool) {
	for _, k := range knownTimeouts {
		if k.kind&kinds != 0 && gap >= k.d-tolerance(k.d) && gap <= k.d+tolerance(k.d) {
			return k, true
		}
	}
	return knownTimeout{}, false
}

// exceededTimeout finds the longest known timeout of the given kinds a gap
// exceeds, when the gap is at most twice it (state forgotten during the
// gap).
func exceededTimeout(gap time.Duration, kinds timeoutKind) (knownTimeout, bool) {
	for _, k := range knownTimeouts {
		if k.kind&kinds != 0 && gap >= k.d-tolerance(k.d) {
			return k, gap <= 2*k.d
		}
	}
	return knownTimeout{}, false
}

// idleKinds: a RST at the end of a silence may come from a path device or
// from the server itself (IIS resets idle connections); a RST answering
// the first packet after a silence means a device forgot the flow.
const (
	spontaneousKinds = pathTimeout | serverTimeout
	answeredKinds    = pathTimeout
)

// idleGap is the silence the idle rule judged.
type idleGap struct {
	gap         time.Duration
	spontaneous bool   // the RST itself ended the silence
	after       uint64 // frame before the silence
	answered    uint64 // first packet after the silence (variant b)
	// known is the well-known timeout the gap matches (spontaneous) or
	// exceeds (answered), nil if none.
	known *knownTimeout
	// evicted is the flow the table evicted before the gap, when the gap
	// was measured from its last packet (see evictedGap); nil otherwise.
	evicted *flows.Evicted
}

// idleGap is the event's idle gap (computed once, see findIdleGap).
func (c *ctx) idleGap() (idleGap, bool) {
	if !c.done.gap {
		c.done.gap = true
		c.gap, c.gapOK = findIdleGap(c.ev, c)
		if c.gapOK {
			k, ok := matchTimeout(c.gap.gap, spontaneousKinds)
			if !c.gap.spontaneous {
				k, ok = exceededTimeout(c.gap.gap, answeredKinds)
			}
			if ok {
				c.gap.known = &k
			}
		}
	}
	return c.gap, c.gapOK
}

// findIdleGap looks for the two idle shapes: a RST at the end of a
// silence, or a RST answering the first packet after a silence.
func findIdleGap(ev *flows.Event, c *ctx) (idleGap, bool) {
	if g, ok := evictedGap(ev, c); ok {
		return g, true
	}
	if ev.Gap >= c.idle {
		g := idleGap{gap: ev.Gap, spontaneous: true}
		if n := len(c.ladder); n > 0 {
			g.after = c.ladder[n-1].Frame
		}
		return g, true
	}
	if c.trigger == nil {
		return idleGap{}, false
	}
	i := c.ladderIndex(c.trigger.Frame)
	if i <= 0 || i != len(c.ladder)-1 {
		return idleGap{}, false // the trigger is not the packet right before the RST
	}
	g := c.trigger.Time.Sub(c.ladder[i-1].Time)
	if g < c.idle {
		return idleGap{}, false
	}
	if c.trigger.Flags.Has(capture.RST) {
		// The packet after the silence was the other end's RST, which no
		// stack answers: both RSTs came unprompted (ruleCrossed).
		return idleGap{gap: g, after: c.ladder[i-1].Frame, spontaneous: true}, true
	}
	return idleGap{gap: g, after: c.ladder[i-1].Frame, answered: c.trigger.Frame}, true
}

// evictedGap finds the two idle shapes across an eviction: the table
// evicted the flow after IdleEvict of silence and this flow, picked up
// mid-stream on its tuple, was linked to it (flows.Evicted). The silence
// ran from the evicted flow's last packet to this flow's first packet,
// which is the RST itself, the receiver's packet the RST answers, or the
// other end's RST. The first packet's seq must fit the evicted flow
// (exact or in its window): a tuple reused by a new connection does not.
func evictedGap(ev *flows.Event, c *ctx) (idleGap, bool) {
	x := ev.Flow.Evicted
	if x == nil || !(x.SeqFit == flows.SeqExact || x.SeqFit == flows.SeqInWindow) {
		return idleGap{}, false
	}
	switch {
	case len(c.ladder) == 0 && c.rst.Frame == x.Frame:
		return idleGap{gap: c.rst.Time.Sub(x.Last), spontaneous: true, after: x.LastFrame, evicted: x}, true
	case len(c.ladder) == 1 && c.trigger != nil && c.trigger.Frame == x.Frame:
		g := idleGap{gap: c.trigger.Time.Sub(x.Last), after: x.LastFrame, evicted: x}
		if c.trigger.Flags.Has(capture.RST) {
			g.spontaneous = true // both RSTs came unprompted (see findIdleGap)
		} else {
			g.answered = c.trigger.Frame
		}
		return g, g.gap >= c.idle
	}
	return idleGap{}, false
}

// earlierGap is the longest silence between the ladder's packets before
// the idle gap.
func earlierGap(c *ctx, g idleGap) time.Duration {
	var m time.Duration
	for i := 1; i < len(c.ladder); i++ {
		if c.ladder[i-1].Frame == g.after {
			break
		}
		m = max(m, c.ladder[i].Time.Sub(c.ladder[i-1].Time))
	}
	return m
}

// ruleIdle: the RST follows an idle gap far longer than the flow's
// earlier gaps and RTT: an LB/NAT/server idle timeout.
func ruleIdle(ev *flows.Event, c *ctx) []claim {
	if len(c.ladder) == 0 && ev.Gap == 0 && ev.Flow.Evicted == nil {
		return nil
	}
	g, ok := c.idleGap()
	if !ok {
		return nil
	}
	s := medium
	earlier := earlierGap(c, g)
	if g.evicted != nil {
		earlier = g.evicted.MaxGap
	}
	var caveat string
	switch {
	case g.evicted != nil && earlier > 0 && g.gap < 3*earlier:
		s, caveat = weak, fmt.Sprintf(" (the flow survived a gap of %s before)", dur(earlier))
	case earlier > 0 && g.gap < 3*earlier:
		s, caveat = weak, fmt.Sprintf(" (earlier gap %s is comparable)", dur(earlier))
	case ev.Flow.MaxGap > g.gap+g.gap/2:
		s, caveat = weak, fmt.Sprintf(" (the flow survived a longer gap of %s before)", dur(ev.Flow.MaxGap))
	case ev.Flow.RTT > 0 && g.gap < 10*ev.Flow.RTT:
		s, caveat = weak, fmt.Sprintf(" (only %.0f RTTs)", float64(g.gap)/float64(ev.Flow.RTT))
	case g.spontaneous && awaitingResponse(ev):
		// The client's request was still unanswered: a timeout waiting
		// for the response, not an idle connection.
		s, caveat = weak, " (the client's last request was still unanswered)"
	case g.spontaneous && unackedData(ev):
		s, caveat = weak, " (data was still unacknowledged: a stalled transfer, not an idle connection)"
	}
	var out []claim
	if x := g.evicted; x != nil {
		// The ladder before the gap is gone: what the flow did before it
		// (an unanswered request, data in flight, its RTT) is unknown, so
		// the gap alone says no more than medium.
		out = append(out, noteOf(fmt.Sprintf("the flow was idle past rstscope's flow-table eviction (--idle-evict) and left the table; this packet (frame %d) was matched to it by its tuple and a seq %s its sequence state (its last packet frame %d): what it did before the gap is not known",
			x.Frame, fitWord(x.SeqFit), x.LastFrame), x.LastFrame, x.Frame))
	}
	if g.spontaneous {
		out = append(out, causeOf(CauseIdleTimeout, SignalIdleGap, s, fmt.Sprintf("RST came unprompted after %s of silence (last packet frame %d)%s",
			dur(g.gap), g.after, caveat), g.after, c.rst.Frame))
		if k := g.known; k != nil {
			ks := min(s+1, strong)
			if g.evicted != nil {
				// Supporting only: the checks on the flow before the gap
				// could not be made, so the match does not lift the gap
				// to high (causeStrength).
				ks = weak
			}
			out = append(out, causeOf(CauseIdleTimeout, SignalKnownTimeout, ks, fmt.Sprintf("the gap %s matches the %s (%s)",
				dur(g.gap), k.name, dur(k.d)), c.rst.Frame))
		}
	} else {
		out = append(out, causeOf(CauseIdleTimeout, SignalIdleGap, s, fmt.Sprintf("RST answered the %s's first packet (frame %d) after %s of silence: the connection had timed out on the path or at the %s%s",
			c.receiverName, g.answered, dur(g.gap), c.senderName, caveat), g.after, g.answered, c.rst.Frame))
		if k := g.known; k != nil {
			ks := s
			if g.evicted != nil {
				ks = weak // as above
			}
			out = append(out, causeOf(CauseIdleTimeout, SignalKnownTimeout, ks, fmt.Sprintf("the gap %s exceeds the %s (%s)",
				dur(g.gap), k.name, dur(k.d)), g.answered))
		}
	}
	return out
}

// fitWord says how a seq fit an evicted flow.
func fitWord(f flows.SeqCheck) string {
	if f == flows.SeqExact {
		return "that continues exactly"
	}
	return "within the window of"
}

// awaitingResponse reports whether the flow's latest data is the client's
// (a request the server has not answered).
func awaitingResponse(ev *flows.Event) bool {
	cp, sp := &ev.Flow.Dirs[0], &ev.Flow.Dirs[1]
	return cp.DataPackets > 0 && (sp.DataPackets == 0 || sp.LastData.Before(cp.LastData))
}

// unackedData reports whether either side had sent data the other had not
// acknowledged.
func unackedData(ev *flows.Event) bool {
	for d := range 2 {
		snd, rcv := &ev.Flow.Dirs[d], &ev.Flow.Dirs[1-d]
		if snd.DataPackets == 0 || !snd.SeqValid || !rcv.AckValid {
			continue
		}
		end := snd.End()
		if rcv.LastAck.LessThan(end) {
			return true
		}
	}
	return false
}
