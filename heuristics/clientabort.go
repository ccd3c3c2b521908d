package heuristics

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// ruleClientAbort: the client resets while the server is still sending,
// or before any response (cancel, timeout), or instead of completing the
// handshake.
func ruleClientAbort(ev *flows.Event, c *ctx) []claim {
	if c.sender != flows.FromClient || !c.known() || c.sp.FINSeen {
		return nil
	}
	cp, sp := c.sp, c.rp // client (sender) and server (receiver)
	r := c.rst
	if !ev.Flow.Established && ev.Flow.SYNACKSeen && cp.DataPackets == 0 {
		f := sp.SYNFrame
		if c.trigger != nil && c.trigger.Flags.Has(capture.SYN|capture.ACK) {
			f = c.trigger.Frame
		}
		return []claim{causeOf(CauseClientAbort, SignalHalfOpen, medium, fmt.Sprintf("the client answered the server's SYN/ACK (frame %d) with RST: its connect was abandoned (timeout, cancel) or it never sent that SYN (scan, spoofing)",
			f), f, r.Frame)}
	}
	if !ev.Flow.SYNACKSeen && cp.SYNSeen && cp.DataPackets == 0 && sp.Packets == 0 {
		return []claim{causeOf(CauseClientAbort, SignalNoResponse, medium, fmt.Sprintf("the client gave up its connection attempt (SYN frame %d) %s later, before any SYN/ACK",
			cp.SYNFrame, dur(r.Time.Sub(cp.SYNTime))), cp.SYNFrame, r.Frame)}
	}
	if cp.DataPackets == 0 && sp.DataPackets == 0 {
		if !ev.Flow.Established {
			return nil
		}
		return []claim{causeOf(CauseClientAbort, SignalConnectOnly, medium, fmt.Sprintf("the client reset %s after the handshake without sending anything: a connect-only probe (health check, port scan)",
			dur(r.Time.Sub(ev.Flow.Start))), r.Frame)}
	}
	if cp.DataPackets > 0 && (sp.DataPackets == 0 || sp.LastData.Before(cp.LastData)) {
		wait := r.Time.Sub(cp.LastData)
		d := fmt.Sprintf("the client reset %s after its %s with no response from the server", dur(wait), requestName(ev, cp))
		if wait >= time.Second {
			d += ": a client-side timeout or cancel"
		}
		return []claim{causeOf(CauseClientAbort, SignalNoResponse, medium, d, cp.LastDataFrame, r.Frame)}
	}
	if sp.DataPackets == 0 {
		return nil
	}
	// The server was still sending: data after the RST, data the client
	// had not acknowledged, or data right before the RST.
	end := sp.End()
	unacked := sp.SeqValid && cp.AckValid && cp.LastAck.LessThan(end)
	recent := r.Time.Sub(sp.LastData) <= c.replyWindow()
	var more uint64
	for _, p := range c.receiverAfter {
		if p.Len > 0 {
			more = p.Frame
			break
		}
	}
	mid, why := midResponse(ev, c)
	_, _, short := responseShort(sp)
	switch {
	case short:
		return []claim{causeOf(CauseClientAbort, SignalAbortMidResponse, strong, fmt.Sprintf("the client reset %s after the server's last data (frame %d) before the response was complete: %s",
			dur(r.Time.Sub(sp.LastData)), sp.LastDataFrame, why), sp.LastDataFrame, r.Frame)}
	case more != 0:
		return []claim{causeOf(CauseClientAbort, SignalAbortMidResponse, strong, fmt.Sprintf("the client reset while the server was sending (its data continued at frame %d)",
			more), r.Frame, more)}
	case unacked && !sp.FINSeen:
		return []claim{causeOf(CauseClientAbort, SignalAbortMidResponse, medium, fmt.Sprintf("the client reset with %d bytes of the server's response unacknowledged (last server data frame %d)",
			end.Sub(cp.LastAck), sp.LastDataFrame), sp.LastDataFrame, r.Frame)}
	case mid && recent:
		return []claim{causeOf(CauseClientAbort, SignalAbortMidResponse, medium, fmt.Sprintf("the client reset %s after the server's last data (frame %d) while the response was still coming: %s",
			dur(r.Time.Sub(sp.LastData)), sp.LastDataFrame, why), sp.LastDataFrame, r.Frame)}
	case recent && !sp.FINSeen:
		return []claim{causeOf(CauseClientAbort, SignalAbortMidResponse, weak, fmt.Sprintf("the client reset %s after the server's last data (frame %d)",
			dur(r.Time.Sub(sp.LastData)), sp.LastDataFrame), sp.LastDataFrame, r.Frame)}
	}
	return nil
}

// midResponse reports whether the server (the receiver of a client RST)
// was in the middle of a response: no FIN, and its last data segment was
// full-sized or the client's window had closed (it had stopped reading).
func midResponse(ev *flows.Event, c *ctx) (bool, string) {
	if c.sender != flows.FromClient || !c.known() || c.rp.FINSeen || c.rp.DataPackets == 0 {
		return false, ""
	}
	cp, sp := c.sp, c.rp
	if sent, want, ok := responseShort(sp); ok {
		return true, fmt.Sprintf("the server had sent %d of the %d body bytes its response announced (Content-Length)", sent, want)
	}
	mss := int(sp.MSS)
	if mss == 0 {
		mss = 1460
	}
	if cp.Window < uint32(mss) && cp.AckValid {
		return true, fmt.Sprintf("the client's window was down to %d bytes (it had stopped reading)", cp.Window)
	}
	for i := len(c.ladder) - 1; i >= 0; i-- {
		p := &c.ladder[i]
		if p.Dir != flows.FromServer || p.Len == 0 {
			continue
		}
		if p.Len >= mss*9/10 {
			return true, fmt.Sprintf("its last segment (frame %d, %d bytes) was full-sized", p.Frame, p.Len)
		}
		break
	}
	return false, ""
}

// responseShort reports whether the server's first HTTP response had sent
// fewer body bytes than its Content-Length announced.
func responseShort(sp *flows.Profile) (sent, want int64, short bool) {
	r := &sp.Request
	if r.Kind != flows.PayloadHTTPResponse || r.ContentLength < 0 || !sp.SeqValid {
		return 0, 0, false
	}
	end := sp.End()
	sent = int64(end.Sub(r.StartSeq)) - int64(r.BodyStart)
	return sent, r.ContentLength, sent >= 0 && sent < r.ContentLength
}
