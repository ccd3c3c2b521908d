package heuristics

import (
	"fmt"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// ruleRefused: the RST answers a SYN (ack = SYN seq + 1) and the sender
// never sent a SYN/ACK: a closed port, or a firewall's reject (the origin
// rules tell which). The SYN may have been recorded just after the RST
// (ctx.lateSYN): a capture point that merges two directions can swap
// packets that cross it within a fraction of a millisecond.
func ruleRefused(ev *flows.Event, c *ctx) []claim {
	if !c.known() || c.sp.SYNSeen || c.receiver != flows.FromClient {
		return nil
	}
	if ev.Flow.Established || c.rp.DataPackets > 0 {
		return nil
	}
	r := c.rst
	if s := c.lateSYN; s != nil {
		return []claim{causeOf(CauseRefused, SignalSYNAnswered, strong, fmt.Sprintf("RST+ACK with ack %d = SYN seq + 1 answers the client's SYN (frame %d), recorded %s after the RST: no stack acknowledges a SYN before it is sent, so the capture point saw the two out of order; no SYN/ACK was seen",
			uint32(r.Ack), s.Frame, dur(s.Time.Sub(r.Time))), s.Frame, r.Frame)}
	}
	if !c.rp.SYNSeen {
		return nil
	}
	for _, p := range c.after {
		if p.Dir == c.receiver && p.Flags.Has(capture.SYN) && !p.Flags.Has(capture.ACK) {
			break // the client retried; a later SYN/ACK answers the retry
		}
		if p.Dir == c.sender && p.Flags.Has(capture.SYN|capture.ACK) {
			// The real server accepted the connection after all.
			return []claim{causeOf(CauseRefused, SignalSYNAnswered, weak, fmt.Sprintf("RST answered the client's SYN, but the server's SYN/ACK followed (frame %d): not a refusal",
				p.Frame), r.Frame, p.Frame)}
		}
	}
	syn := c.rp.SYNFrame
	delay := r.Time.Sub(c.rp.SYNTime)
	if c.trigger != nil && c.trigger.Flags.Has(capture.SYN) {
		syn, delay = c.trigger.Frame, c.latency
	}
	var out []claim
	if r.Flags.Has(capture.ACK) && r.Ack == c.rp.ISN.Add(1) {
		out = append(out, causeOf(CauseRefused, SignalSYNAnswered, strong, fmt.Sprintf("RST+ACK with ack %d = SYN seq + 1 answers the client's SYN (frame %d) %s later; no SYN/ACK was seen",
			uint32(r.Ack), syn, dur(delay)), syn, r.Frame))
	} else {
		// RFC 9293 3.10.7.3: in SYN-SENT a RST counts only if it
		// acknowledges the SYN; the client's stack drops this one.
		out = append(out, causeOf(CauseRefused, SignalSYNAnswered, weak, fmt.Sprintf("RST (flags %s, ack %d, SYN seq %d) follows the client's SYN (frame %d) %s later without acknowledging it: the client's stack ignores it",
			r.Flags, uint32(r.Ack), uint32(c.rp.ISN), syn, dur(delay)), syn, r.Frame))
	}
	if n := len(c.rsts); n > 1 {
		frames := make([]uint64, n)
		for i, x := range c.rsts {
			frames[i] = x.Frame
		}
		out = append(out, noteOf(fmt.Sprintf("%d RSTs: the client retried its SYN and was refused each time (frames %s)",
			n, frameList(frames)), frames...))
	}
	return out
}
