package heuristics

import (
	"fmt"
	"slices"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// ruleAbortive: a side ends a finished exchange with RST instead of FIN:
// close with unread data, RST after its own FIN when more arrives, or
// SO_LINGER 0 (REFERENCE.md section 8).
func ruleAbortive(ev *flows.Event, c *ctx) []claim {
	if !c.known() {
		return nil
	}
	if f, ok := c.senderFIN(); ok {
		return rstAfterFIN(c, f)
	}
	sp, rp := c.sp, c.rp
	var out []claim
	// The peer closed (FIN) and the sender answered with RST instead of
	// its own FIN: it closed with unread data or zero linger.
	if c.trigger != nil && c.trigger.Flags.Has(capture.FIN) {
		out = append(out, causeOf(CauseAbortiveClose, SignalFinishedExchange, medium, fmt.Sprintf("the %s answered the %s's FIN (frame %d) with RST instead of its own FIN: closed with unread data (often the peer's last message) or SO_LINGER 0",
			c.senderName, c.receiverName, c.trigger.Frame), c.trigger.Frame, c.rst.Frame))
	}
	if sp.DataPackets == 0 || rp.DataPackets == 0 {
		return out
	}
	// Bytes from the receiver the sender never acknowledged, sent long
	// enough before the RST that a delayed ACK would have covered them.
	rEnd := rp.End()
	readAll := !rp.SeqValid || !sp.AckValid || !sp.LastAck.LessThan(rEnd)
	// (A client leaving the server's data unacknowledged is client_abort's
	// case: it stopped reading mid-response.)
	if c.sender == flows.FromServer && rp.SeqValid && sp.AckValid {
		if n := rEnd.Sub(sp.LastAck); n > 0 && c.rst.Time.Sub(rp.LastData) >= 200*time.Millisecond {
			out = append(out, causeOf(CauseAbortiveClose, SignalUnreadData, medium, fmt.Sprintf("the %s reset with %d bytes from the %s unacknowledged (last data frame %d): closed with unread data",
				c.senderName, n, c.receiverName, rp.LastDataFrame), rp.LastDataFrame, c.rst.Frame))
		}
	}
	if ev.Gap >= c.idle {
		return out
	}
	sEnd := sp.NextSeq
	acked := rp.AckValid && sp.SeqValid && !rp.LastAck.LessThan(sEnd)
	switch {
	case !sp.LastData.Before(rp.LastData):
		// The sender spoke last (its response) and then reset.
		d := fmt.Sprintf("the %s ended the exchange with RST instead of FIN %s after its last data (frame %d)",
			c.senderName, dur(c.rst.Time.Sub(sp.LastData)), sp.LastDataFrame)
		if acked {
			d += fmt.Sprintf(", which the %s had acknowledged", c.receiverName)
		}
		out = append(out, causeOf(CauseAbortiveClose, SignalFinishedExchange, medium, d+": SO_LINGER 0 or close with unread data",
			sp.LastDataFrame, c.rst.Frame))
	case c.sender == flows.FromClient && readAll && !hasData(c.receiverAfter) && !isMid(ev, c):
		// The client took the server's last data in full and reset.
		out = append(out, causeOf(CauseAbortiveClose, SignalFinishedExchange, medium, fmt.Sprintf("the client acknowledged the server's data (last frame %d) and then reset instead of closing with FIN, %s later: SO_LINGER 0 or close with unread data",
			rp.LastDataFrame, dur(c.rst.Time.Sub(rp.LastData))), rp.LastDataFrame, c.rst.Frame))
	}
	return out
}

func hasData(ps []flows.LadderEntry) bool {
	return slices.ContainsFunc(ps, func(p flows.LadderEntry) bool { return p.Len > 0 })
}

// rstAfterFIN: the sender had sent its FIN and then reset: when the
// receiver sent more its socket was gone (the data was lost), or it closed
// with zero linger after the FIN.
func rstAfterFIN(c *ctx, f finFacts) []claim {
	switch {
	case f.data != nil && (f.flowing || c.sender == flows.FromClient || f.race(c.replyWindow())):
		return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, medium, fmt.Sprintf("the %s sent FIN (frame %d), then the %s's data (frame %d, %s later) arrived and the %s reset %s after it: it had closed its socket, the data was lost",
			c.senderName, f.frame, c.receiverName, f.data.Frame, dur(f.data.Time.Sub(f.time)), c.senderName, dur(c.rst.Time.Sub(f.data.Time))), f.frame, f.data.Frame, c.rst.Frame)}
	case f.data != nil:
		return nil // stale_keepalive's case
	case f.fin != nil:
		return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, medium, fmt.Sprintf("the %s sent FIN (frame %d); the %s's FIN (frame %d) came %s later and the %s reset %s after it: its socket was already gone",
			c.senderName, f.frame, c.receiverName, f.fin.Frame, dur(f.fin.Time.Sub(f.time)), c.senderName, dur(c.rst.Time.Sub(f.fin.Time))), f.frame, f.fin.Frame, c.rst.Frame)}
	}
	return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, medium, fmt.Sprintf("the %s reset %s after its own FIN (frame %d): SO_LINGER 0 or a FIN_WAIT2 abort",
		c.senderName, dur(c.rst.Time.Sub(f.time)), f.frame), f.frame, c.rst.Frame)}
}

func isMid(ev *flows.Event, c *ctx) bool {
	mid, _ := midResponse(ev, c)
	return mid
}
