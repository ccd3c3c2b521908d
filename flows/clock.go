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
// the table holds a copy of it and the next packet of the same input
// decides what it was:
//   - a step, when the next packet's time is near the suspect's: forward,
//     the capture really paused (or was merged from two periods) and time
//     moves on from the suspect (idle flows are evicted as they would
//     have been); back, the suspect and later packets of the input are
//     re-based (shifted forward) so that time continues from the clock.
//   - a lone outlier otherwise: the suspect is tracked at the clock's
//     time, and nothing is decided or evicted because of it.
//
// Either way OnWarning names the frame. Packets of another input than the
// previous packet's are not judged: inputs read one after the other may
// start earlier than the last one ended.
const (
	jumpAhead = 24 * time.Hour
	jumpBack  = time.Minute
)

// clockState is the table's time-jump detector.
type clockState struct {
	shift     time.Duration // added to the times of packets (re-base after a step back)
	held      bool          // held is a suspect waiting for the next packet
	heldPkt   capture.Packet
	heldBuf   []byte // held's payload (copied)
	heldNow   time.Time
	lastInput int
	seen      bool
	cur       capture.Packet // the packet being added, re-timed
}

// admit returns the packet Add should track for p (p itself, or a copy
// with its time re-based), or nil when p is a suspect held until the next
// packet; a held suspect is tracked first when p decides it.
func (t *Table) admit(p *capture.Packet) *capture.Packet {
	c := &t.clock
	sameInput := c.seen && p.Input == c.lastInput
	c.seen, c.lastInput = true, p.Input
	at := p.Time.Add(c.shift)
	if c.held {
		h := &c.heldPkt
		switch {
		case sameInput && near(at, h.Time):
			if h.Time.Before(c.heldNow) {
				step := c.heldNow.Sub(h.Time)
				c.shift += step
				at = at.Add(step)
				h.Time = c.heldNow
				t.warn(fmt.Sprintf("input %d frame %d: capture time steps back by %v; this input's later times are re-based by +%v",
					h.Input, h.Index, step.Round(time.Millisecond), step.Round(time.Millisecond)))
			} else {
				t.warn(fmt.Sprintf("input %d frame %d: capture time jumps ahead by %v", h.Input, h.Index, h.Time.Sub(c.heldNow).Round(time.Millisecond)))
			}
		default:
			t.releaseOutlier()
		}
		if c.held {
			c.held = false
			t.add(h)
		}
	}
	if sameInput && !t.now.IsZero() && !near(at, t.now) {
		c.held, c.heldNow = true, t.now
		c.heldPkt = *p
		c.heldPkt.Time = at
		c.heldBuf = append(c.heldBuf[:0], p.Payload...)
		c.heldPkt.Payload, c.heldPkt.Frame = c.heldBuf, nil
		return nil
	}
	if c.shift == 0 {
		return p
	}
	c.cur = *p
	c.cur.Time = at
	return &c.cur
}

// releaseOutlier tracks a held suspect that nothing confirmed at the
// clock's time.
func (t *Table) releaseOutlier() {
	c := &t.clock
	if !c.held {
		return
	}
	h := &c.heldPkt
	t.warn(fmt.Sprintf("input %d frame %d: capture time %s is out of line with the frames around it; taken as %s",
		h.Input, h.Index, h.Time.Add(-c.shift).UTC().Format(time.RFC3339Nano), c.heldNow.UTC().Format(time.RFC3339Nano)))
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
