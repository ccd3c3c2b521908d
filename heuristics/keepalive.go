package heuristics

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// finFacts is what happened around the claimed sender's FIN.
type finFacts struct {
	frame uint64
	time  time.Time
	// first packet, first data packet and FIN of the receiver after the FIN
	next, data, fin *flows.LadderEntry
	// flowing is set when the receiver was sending data right up to the
	// FIN (an upload cut short), not starting anew after it.
	flowing bool
	// quiet is the silence before the FIN; sinceData the time since the
	// sender's last data (its last response).
	quiet, sinceData time.Duration
}

// senderFIN is the event's finFacts (computed once); ok is false when the
// sender sent no FIN.
func (c *ctx) senderFIN() (finFacts, bool) {
	if !c.done.fin {
		c.done.fin = true
		c.fin, c.finOK = findSenderFIN(c)
	}
	return c.fin, c.finOK
}

// findSenderFIN gathers finFacts.
func findSenderFIN(c *ctx) (finFacts, bool) {
	if !c.known() || !c.sp.FINSeen {
		return finFacts{}, false
	}
	f := finFacts{frame: c.sp.FINFrame, time: c.sp.FINTime}
	if !c.sp.LastData.IsZero() && !c.sp.LastData.After(f.time) {
		f.sinceData = f.time.Sub(c.sp.LastData)
	}
	window := c.replyWindow()
	fi := c.ladderIndex(f.frame)
	var lastData *flows.LadderEntry // the receiver's last data before the FIN
	for i := range c.ladder {
		p := &c.ladder[i]
		if p.Dir != c.receiver || p.Flags.Has(capture.RST) {
			continue
		}
		afterFIN := p.Time.After(f.time) || (fi >= 0 && i > fi)
		if afterFIN && f.fin == nil && p.Flags.Has(capture.FIN) {
			f.fin = p
		}
		switch {
		case afterFIN && f.next == nil:
			f.next = p
			if p.Len > 0 {
				f.data = p
			}
		case afterFIN && f.data == nil && p.Len > 0:
			f.data = p
		case !afterFIN && p.Len > 0:
			lastData = p
		}
	}
	if fi > 0 {
		f.quiet = f.time.Sub(c.ladder[fi-1].Time)
	}
	closeNotifyBefore(c, &f, window)
	// Flowing: the receiver's data came within the reply window of the
	// FIN and the sender had not answered it (a request the sender
	// answered, then a short keep-alive timer, is no upload cut short).
	if lastData != nil && f.time.Sub(lastData.Time) <= window {
		answered := f.sinceData > 0 && lastData.Time.Before(f.time.Add(-f.sinceData))
		f.flowing = !answered
	}
	// The capture may have recorded the data the RST answers just after
	// the RST (ctx.lateData).
	if f.data == nil && c.lateData != nil && c.lateData.Len > 0 {
		f.data = c.lateData
		if f.next == nil {
			f.next = f.data
		}
	}
	// The ladder may have lost the data; the profile still knows.
	if f.data == nil && c.rp.LastData.After(f.time) {
		f.data = &flows.LadderEntry{Frame: c.rp.LastDataFrame, Time: c.rp.LastData, Dir: c.receiver}
		if f.next == nil {
			f.next = f.data
		}
	}
	return f, true
}

// closeNotifyBefore: when the sender's last data was a TLS close_notify
// (or an encrypted alert) right before its FIN, the alert is part of the
// close, not a response: the silence and the time since the last
// response are measured before it (a keep-alive timeout over TLS sends
// close_notify, then FIN).
func closeNotifyBefore(c *ctx, f *finFacts, window time.Duration) {
	sp := c.sp
	a := &sp.Alert
	if !sp.AlertSeen || a.Frame == 0 || a.Frame != sp.LastDataFrame || a.Time.After(f.time) || f.time.Sub(a.Time) > window {
		return
	}
	if !a.Encrypted && !(alertSeen{c.sender, a}).benign() {
		return
	}
	ai := c.ladderIndex(a.Frame)
	if ai <= 0 {
		return
	}
	f.quiet = a.Time.Sub(c.ladder[ai-1].Time)
	for j := ai - 1; j >= 0; j-- {
		if p := &c.ladder[j]; p.Dir == c.sender && p.Len > 0 && !p.Flags.Has(capture.RST) {
			f.sinceData = f.time.Sub(p.Time)
			return
		}
	}
	f.sinceData = f.time.Sub(c.ladder[ai-1].Time)
}

// ruleStaleKeepalive: the server had sent its FIN (closing an idle
// keep-alive connection); the client then sent data on it (a pooled
// connection reused) and got the RST.
func ruleStaleKeepalive(ev *flows.Event, c *ctx) []claim {
	if c.sender != flows.FromServer {
		return nil
	}
	f, ok := c.senderFIN()
	if !ok || f.data == nil || f.flowing {
		return nil
	}
	s := medium
	closed := ""
	if f.sinceData > 0 {
		closed = fmt.Sprintf(" %s after its last response", dur(f.sinceData))
	}
	switch {
	case f.spontaneous():
		s = strong // a spontaneous close after a quiet spell: a keep-alive timeout
	case f.race(c.replyWindow()):
		s = weak // the data crossed a FIN sent right after the response
	}
	size := ""
	if f.data.Len > 0 {
		size = fmt.Sprintf(" %d bytes", f.data.Len)
	}
	late := ""
	if f.data == c.lateData {
		late = fmt.Sprintf(" (recorded %s after the RST, whose seq is its ack: the capture point swapped the two)", dur(f.data.Time.Sub(c.rst.Time)))
	}
	out := []claim{causeOf(CauseStaleKeepalive, SignalFINThenData, s, fmt.Sprintf("the server sent FIN (frame %d)%s; the client then sent%s (frame %d, %s after the FIN) and got the RST%s",
		f.frame, closed, size, f.data.Frame, dur(f.data.Time.Sub(f.time)), late), f.frame, f.data.Frame, c.rst.Frame)}
	if k, ok := matchTimeout(f.sinceData, serverTimeout); ok && f.sinceData >= time.Second {
		out = append(out, causeOf(CauseStaleKeepalive, SignalKnownTimeout, medium, fmt.Sprintf("the server closed %s after its last response: the %s (%s)",
			dur(f.sinceData), k.name, dur(k.d)), f.frame))
	}
	return out
}

// spontaneous reports whether the FIN came on its own after a quiet
// spell (a keep-alive timeout), not right after the sender's response.
func (f *finFacts) spontaneous() bool { return f.quiet >= time.Second || f.sinceData >= time.Second }

// race reports whether the receiver's data followed, within the reply
// window, a FIN that came right after the sender's response (within the
// reply window too): the two crossed, rather than the receiver reusing a
// connection the sender closed on a timer (even a short one, 300 ms after
// its last response). Data that crossed the FIN left before the FIN
// arrived, so any capture point records it less than a round trip after
// the FIN; later data was written on a connection already closed.
func (f *finFacts) race(window time.Duration) bool {
	return f.data != nil && !f.spontaneous() && f.sinceData <= window && f.data.Time.Sub(f.time) <= window
}
