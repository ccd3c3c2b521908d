package flows

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Time jumps. The table's clock (look-ahead, eviction) follows the latest
// packet time, so one record stamped decades ahead would decide every
// open event and evict every flow at once, and a clock stepping back
// would leave later packets "older" than the clock: no look-ahead, flows
// evicted as soon as they are touched. A packet more than jumpAhead ahead
// of the clock, or more than jumpBack behind it, is therefore a suspect:
// the table holds a copy of it and the next packet of its input decides
// what it was:
//   - a step, when the next packet's time is near the suspect's: forward,
//     the capture really paused (or was merged from two periods) and time
//     moves on from the suspect (idle flows are evicted as they would
//     have been); back, the suspect and later packets of the input are
//     re-based (shifted forward) so that time continues from the clock.
//   - a lone outlier otherwise: the suspect is tracked at the clock's
//     time, and nothing is decided or evicted because of it.
//
// Either way OnWarning names the frame. Inputs are judged apart (their
// packets arrive merged by time, as mergecap merges them): each input
// has its own shift, and a suspect waits for the next packet of its own
// input while the other inputs' packets go on.
const (
	jumpAhead = 24 * time.Hour
	jumpBack  = time.Minute
)

// clockState is the table's time-jump detector.
type clockState struct {
	shifts  []time.Duration // per input: added to its packets' times (re-base after a step back)
	held    bool            // heldPkt is a suspect waiting for the next packet of its input
	heldPkt capture.Packet
	heldBuf []byte // heldPkt's payload (copied)
	heldNow time.Time
	cur     capture.Packet // the packet being added, re-timed
}

func (c *clockState) shift(input int) time.Duration {
	if input >= 0 && input < len(c.shifts) {
		return c.shifts[input]
	}
	return 0
}

func (c *clockState) addShift(input int, d time.Duration) {
	if input < 0 || input >= 1<<16 {
		return // not re-based (inputs are numbered from 0)
	}
	for len(c.shifts) <= input {
		c.shifts = append(c.shifts, 0)
	}
	c.shifts[input] += d
}

// admitsNow reports whether admit would return a packet at ns as it is
// without a look at anything else (no suspect held, no input re-based, ns
// within the jump limits of the clock, both within 1843..2096): the usual
// case, checked where Add is, inlined, before the call to admit.
func (t *Table) admitsNow(ns int64) bool {
	c := &t.clock
	d := ns - t.nowNs
	return !c.held && len(c.shifts) == 0 && inNsRange(ns) && inNsRange(t.nowNs) && d <= int64(jumpAhead) && d >= -int64(jumpBack)
}

// admit returns the packet Add should track for p (p itself, or a copy
// with its time re-based), or nil when p is a suspect held until the next
// packet of its input; a held suspect is tracked first when p decides it.
// ns is unixNano(p.Time).
func (t *Table) admit(p *capture.Packet, ns int64) *capture.Packet {
	c := &t.clock
	if !c.held && len(c.shifts) == 0 {
		// The usual case: no suspect held, no input re-based; the clock
		// compared in Unix ns when both times are within 1843..2096 (so
		// that neither is clamped nor their difference overflows).
		if t.clockTime().IsZero() {
			return p
		}
		if now := t.nowNs; inNsRange(ns) && inNsRange(now) {
			if d := ns - now; d <= int64(jumpAhead) && d >= -int64(jumpBack) {
				return p
			}
		} else if near(p.Time, t.clockTime()) {
			return p
		}
	}
	at := p.Time.Add(c.shift(p.Input))
	if c.held && c.heldPkt.Input == p.Input {
		h := &c.heldPkt
		if near(at, h.Time) {
			if h.Time.Before(c.heldNow) {
				step := c.heldNow.Sub(h.Time)
				c.addShift(p.Input, step)
				at = at.Add(step)
				h.Time = c.heldNow
				t.warn(fmt.Sprintf("input %d frame %d: capture time steps back by %v; this input's later times are re-based by +%v",
					h.Input, h.Index, step.Round(time.Millisecond), step.Round(time.Millisecond)))
			} else {
				t.warn(fmt.Sprintf("input %d frame %d: capture time jumps ahead by %v", h.Input, h.Index, h.Time.Sub(c.heldNow).Round(time.Millisecond)))
			}
			c.held = false
			t.add(h)
		} else {
			t.releaseOutlier()
		}
	}
	if now := t.clockTime(); !now.IsZero() && !near(at, now) {
		// One suspect at a time. Letting the last one go tracks it at the
		// clock of when it came, no later than now: the clock stays
		// (TestTable_timeJumpsTwoSuspects).
		t.releaseOutlier()
		c.held, c.heldNow = true, now
		c.heldPkt = *p
		c.heldPkt.Time = at
		c.heldBuf = append(c.heldBuf[:0], p.Payload...)
		c.heldPkt.Payload, c.heldPkt.Frame = c.heldBuf, nil
		return nil
	}
	if at.Equal(p.Time) {
		return p
	}
	c.cur = *p
	c.cur.Time = at
	return &c.cur
}

// releaseOutlier tracks a held suspect that nothing confirmed at the
// clock's time when it came.
func (t *Table) releaseOutlier() {
	c := &t.clock
	if !c.held {
		return
	}
	h := &c.heldPkt
	t.warn(fmt.Sprintf("input %d frame %d: capture time %s is out of line with the frames around it; taken as %s",
		h.Input, h.Index, h.Time.Add(-c.shift(h.Input)).UTC().Format(time.RFC3339Nano), c.heldNow.UTC().Format(time.RFC3339Nano)))
	h.Time = c.heldNow
	c.held = false
	t.add(h)
}

// near reports whether a is within jumpAhead after, or jumpBack before, b.
func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d <= jumpAhead && d >= -jumpBack
}

func (t *Table) warn(msg string) {
	t.stats.TimeJumps++
	if t.opts.OnWarning != nil {
		t.opts.OnWarning(msg)
	}
}
