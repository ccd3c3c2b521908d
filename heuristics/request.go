package heuristics

import (
	"fmt"
	"strings"

	"github.com/rstscope/rstscope/flows"
)

// lastRequest is the client's latest parsed request before the RST (on a
// keep-alive connection the last one, not the first) and how many came
// before it; nil when none was parsed.
func lastRequest(ev *flows.Event) (*flows.Request, int) {
	cp := &ev.Flow.Dirs[0]
	if r := cp.LastRequest; r != nil && !r.Time.After(ev.First().Time) {
		return r, int(max(cp.Requests, 1)) - 1
	}
	if cp.Request.Kind == flows.PayloadNone || cp.Request.Frame == 0 {
		return nil, 0
	}
	return &cp.Request, 0
}

// requestName names the client's latest data: the parsed request when it
// is the latest (with how many came before it on the connection), else
// its size and frame.
func requestName(ev *flows.Event, cp *flows.Profile) string {
	if r, earlier := lastRequest(ev); r != nil && r.Frame == cp.LastDataFrame {
		if s := requestPhrase(r); s != "" {
			s += fmt.Sprintf(" (frame %d)", r.Frame)
			switch earlier {
			case 0:
			case 1:
				s += " after 1 earlier request on the connection"
			default:
				s += fmt.Sprintf(" after %d earlier requests on the connection", earlier)
			}
			return s
		}
	}
	return fmt.Sprintf("data (frame %d)", cp.LastDataFrame)
}

// ruleRequest: the server resets right after the client's request, with
// no response (or a partial one).
func ruleRequest(ev *flows.Event, c *ctx) []claim {
	if c.sender != flows.FromServer || !c.known() || c.rp.DataPackets == 0 || c.sp.FINSeen {
		return nil
	}
	sp, cp := c.sp, c.rp
	since := c.rst.Time.Sub(cp.LastData)
	req := requestName(ev, cp)
	if sp.DataPackets == 0 || sp.LastData.Before(cp.LastData) {
		s := medium
		if c.trigger != nil && c.trigger.Len > 0 && sp.DataPackets == 0 {
			s = strong // the RST answers the request itself
		}
		d := fmt.Sprintf("the client's %s got no response; the server reset %s later", req, dur(since))
		switch {
		case sp.DataPackets > 0 && strings.Contains(req, "earlier request"):
			d = fmt.Sprintf("the client's %s got no response (the earlier ones were answered); the server reset %s later", req, dur(since))
		case sp.DataPackets > 0:
			d = fmt.Sprintf("the client's %s on a connection with earlier responses got no response; the server reset %s later", req, dur(since))
		}
		return []claim{causeOf(CauseServerResetAfterRequest, SignalRequestNoReply, s, d, cp.LastDataFrame, c.rst.Frame)}
	}
	// The server was answering: a RST right after its own data, before
	// the client acknowledged it all, cut the response short.
	recent := c.rst.Time.Sub(sp.LastData) <= c.replyWindow()
	unacked := cp.AckValid && sp.SeqValid && cp.LastAck.LessThan(sp.NextSeq)
	if recent && unacked {
		return []claim{causeOf(CauseServerResetAfterRequest, SignalPartialResponse, weak, fmt.Sprintf("the server reset %s after its last data (frame %d) with %d bytes not yet acknowledged: a response cut short?",
			dur(c.rst.Time.Sub(sp.LastData)), sp.LastDataFrame, sp.NextSeq.Sub(cp.LastAck)), sp.LastDataFrame, c.rst.Frame)}
	}
	return nil
}
