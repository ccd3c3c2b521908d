package heuristics

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// The engine's memory across events of one flow (issue 13 class 8): after
// a RST forged on the path closed one side's socket, the real peer's late
// packets reach that side, whose kernel answers each with a RST of its
// own. That second RST is genuine, but it is the echo of the first reset,
// not a cause: it is judged after_reset and points at the first finding.

// RSTRef names a RST by its capture position: the input (index into the
// run's inputs) and the 1-based frame. The report turns a Finding's
// Echoes into the consequence_of ID when it numbers findings.
type RSTRef struct {
	Input  int
	Packet uint64
}

// echoWindow bounds how long after a forged reset a socket's kernel RST
// still counts as its echo.
const echoWindow = 5 * time.Minute

// maxEchoFlows bounds the memory: the oldest record goes first.
const maxEchoFlows = 4096

// forgedReset is what the engine remembers of a forged RST that reset a
// socket: which flow (its start tells a new connection on the tuple
// apart), whose socket it closed, when, and the RST itself.
type forgedReset struct {
	start  time.Time
	closed flows.Dir // the side whose socket the forged RST closed (its receiver)
	time   time.Time
	ref    RSTRef
}

type flowKey struct{ client, server netip.AddrPort }

// echoMemory is a bounded FIFO map of the last forged reset per flow.
type echoMemory struct {
	mu    sync.Mutex
	m     map[flowKey]forgedReset
	order []flowKey // insertion order, for eviction
}

func (m *echoMemory) remember(k flowKey, r forgedReset) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[flowKey]forgedReset{}
	}
	if _, ok := m.m[k]; !ok {
		if len(m.order) >= maxEchoFlows {
			delete(m.m, m.order[0])
			m.order = m.order[1:]
		}
		m.order = append(m.order, k)
	}
	m.m[k] = r
}

func (m *echoMemory) lookup(k flowKey) (forgedReset, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[k]
	return r, ok
}

// echoOf finds the forged reset ev's RST echoes: the same connection (same
// tuple and start), a forged RST earlier that closed the socket of the
// side now sending this RST.
func (e *Engine) echoOf(ev *flows.Event, c *ctx) *forgedReset {
	if e == nil || c.sender == flows.DirUnknown {
		return nil
	}
	r, ok := e.echoes.lookup(flowKey{ev.Flow.Client, ev.Flow.Server})
	if !ok || !r.start.Equal(ev.Flow.Start) || r.closed != c.sender ||
		!c.rst.Time.After(r.time) || c.rst.Time.Sub(r.time) > echoWindow {
		return nil
	}
	// A kernel answers the peer's packet (data, FIN) that came after the
	// forged RST; a RST right after a RST answers nothing (a device sent
	// both: crossed_rst). The packet may have been recorded just after
	// the RST (ctx.lateData).
	answers := func(t *flows.LadderEntry) bool {
		return t != nil && t.Dir == c.receiver && !t.Flags.Has(capture.RST) && !t.Time.Before(r.time) &&
			(t.Len > 0 || t.Flags.Has(capture.FIN))
	}
	switch {
	case answers(c.trigger):
		c.echoTo = c.trigger
	case answers(c.lateData):
		c.echoTo = c.lateData
	default:
		return nil
	}
	return &r
}

// recordForged remembers a RST the verdict says was forged and accepted
// (a dropped one closed nothing).
func (e *Engine) recordForged(ev *flows.Event, c *ctx, v verdict) {
	if e == nil || v.origin != OriginMiddlebox || v.cause == CauseIgnoredRST || c.receiver == flows.DirUnknown {
		return
	}
	e.echoes.remember(flowKey{ev.Flow.Client, ev.Flow.Server}, forgedReset{
		start: ev.Flow.Start, closed: c.receiver, time: c.rst.Time,
		ref: RSTRef{Input: c.rst.Input, Packet: c.rst.Frame},
	})
}

// ruleAfterReset: a forged RST had already closed this side's socket, so
// this RST is its kernel answering the peer's late packet.
func ruleAfterReset(ev *flows.Event, c *ctx) []claim {
	r := c.echo
	if r == nil {
		return nil
	}
	what := describe(ev, c.echoTo) + fmt.Sprintf(" (frame %d)", c.echoTo.Frame)
	late := ""
	if c.echoTo == c.lateData {
		late = fmt.Sprintf("; the capture recorded that packet %s after the RST, whose seq is its ack: the capture point swapped the two", dur(c.echoTo.Time.Sub(c.rst.Time)))
	}
	return []claim{causeOf(CauseAfterReset, SignalAfterReset, strong, fmt.Sprintf("a RST forged on the path (frame %d, %s earlier) had already closed the %s's socket; the %s's kernel answered %s for the connection it no longer had: the echo of that reset%s",
		r.ref.Packet, dur(c.rst.Time.Sub(r.time)), c.senderName, c.senderName, what, late), r.ref.Packet, c.rst.Frame)}
}
