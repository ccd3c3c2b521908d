package heuristics

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// ruleAbortive: a side ends a finished exchange with RST instead of FIN:
// close with unread data, RST after its own FIN when more arrives, or
// SO_LINGER 0 (REFERENCE.md section 8).
func ruleAbortive(ev *flows.Event, c *ctx) []claim {
	if !c.known() {
		return nil
	}
	if f, ok := senderFIN(ev, c); ok {
		return rstAfterFIN(c, f)
	}
	sp, rp := c.sp, c.rp
	var out []claim
	// Bytes from the receiver the sender never acknowledged, sent long
	// enough before the RST that a delayed ACK would have covered them.
	if sp.DataPackets > 0 && rp.DataPackets > 0 && rp.SeqValid && sp.AckValid {
		end := rp.NextSeq
		if rp.FINSeen {
			end = rp.FINSeq
		}
		if n := end.Sub(sp.LastAck); n > 0 && c.rst.Time.Sub(rp.LastData) >= 200*time.Millisecond {
			out = append(out, causeOf(CauseAbortiveClose, SignalUnreadData, medium, fmt.Sprintf("the %s reset with %d bytes from the %s unacknowledged (last data frame %d): closed with unread data",
				c.senderName, n, c.receiverName, rp.LastDataFrame), rp.LastDataFrame, c.rst.Frame))
		}
	}
	// A finished exchange: both sides sent data, the sender spoke last and
	// the receiver acknowledged all of it.
	if sp.DataPackets > 0 && rp.DataPackets > 0 && !sp.LastData.Before(rp.LastData) {
		acked := !rp.AckValid || !sp.SeqValid || !rp.LastAck.LessThan(sp.NextSeq)
		if acked && ev.Gap < c.idle {
			d := fmt.Sprintf("the %s ended a finished exchange with RST instead of FIN %s after its last data (frame %d)",
				c.senderName, dur(c.rst.Time.Sub(sp.LastData)), sp.LastDataFrame)
			if rp.AckValid && sp.SeqValid {
				d += fmt.Sprintf(", which the %s had acknowledged", c.receiverName)
			}
			out = append(out, causeOf(CauseAbortiveClose, SignalFinishedExchange, medium, d+": SO_LINGER 0 or close with unread data",
				sp.LastDataFrame, c.rst.Frame))
		}
	}
	return out
}

// rstAfterFIN: the sender had sent its FIN and reset when the receiver
// sent more: its socket was gone, the data was lost.
func rstAfterFIN(c *ctx, f finFacts) []claim {
	if f.next == nil {
		return nil
	}
	switch {
	case f.data != nil && (f.flowing || c.sender == flows.FromClient):
		return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, medium, fmt.Sprintf("the %s sent FIN (frame %d), then the %s's data (frame %d) arrived and was answered by RST: the %s had closed its socket, the data was lost",
			c.senderName, f.frame, c.receiverName, f.data.Frame, c.senderName), f.frame, f.data.Frame, c.rst.Frame)}
	case f.data == nil && f.fin != nil:
		return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, medium, fmt.Sprintf("the %s sent FIN (frame %d); the %s's FIN (frame %d) came %s later and was answered by RST: the %s's socket was already gone",
			c.senderName, f.frame, c.receiverName, f.fin.Frame, dur(f.fin.Time.Sub(f.time)), c.senderName), f.frame, f.fin.Frame, c.rst.Frame)}
	case f.data == nil:
		return []claim{causeOf(CauseAbortiveClose, SignalRSTAfterFIN, weak, fmt.Sprintf("the %s reset after its own FIN (frame %d) once the %s had acknowledged it",
			c.senderName, f.frame, c.receiverName), f.frame, c.rst.Frame)}
	}
	return nil
}
