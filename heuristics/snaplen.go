package heuristics

import (
	"fmt"
	"strings"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// cutFacts is what the capture's snaplen hid in one direction of the
// flow (flows.Profile.CutPayloads: data packets whose captured payload is
// shorter than their TCP length).
type cutFacts struct {
	dir       flows.Dir
	cut, data uint64
	// unread: not one byte of the direction's first payload was captured,
	// so its request (client) or response (server) is unknown.
	unread bool
	// alert: a TLS alert could have been in what was cut (see
	// cutHidesAlert); recent: the direction's last data came within
	// tlsAlertWindow before the RST, where tls_alert would count one.
	alert, recent bool
	lastData      time.Time
	// framing: the server's response was not read far enough to know its
	// length (nothing of it, or not the end of its HTTP header block), so
	// whether it was complete is unknown.
	framing bool
}

// payloadCut gives what the snaplen hid, client first; nil when the
// capture cut no data packet of the flow. Computed on first use.
func (c *ctx) payloadCut() []cutFacts {
	if c.done.cut {
		return c.cuts
	}
	c.done.cut = true
	var out []cutFacts
	for _, d := range [...]flows.Dir{flows.FromClient, flows.FromServer} {
		p := c.ev.Flow.Profile(d)
		if p.CutPayloads == 0 {
			continue
		}
		out = append(out, cutFacts{
			dir: d, cut: uint64(p.CutPayloads), data: p.DataPackets,
			unread:   p.FirstPayload == flows.PayloadNone,
			alert:    cutHidesAlert(p),
			lastData: p.LastData,
			framing: d == flows.FromServer && (p.FirstPayload == flows.PayloadNone ||
				p.FirstPayload == flows.PayloadHTTPResponse && p.Request.BodyStart == 0 && p.Request.ContentLength < 0),
			recent: !p.LastData.After(c.rst.Time) && c.rst.Time.Sub(p.LastData) <= tlsAlertWindow,
		})
	}
	c.cuts = out
	return out
}

// cutHidesAlert reports whether a TLS alert could have been cut from p's
// packets: the direction showed no alert, and either nothing of its first
// payload was read (the capture cannot tell TLS from anything else) or its
// record tracking broke (a cut inside a record header). A direction whose
// first payload was read as HTTP or other data with no record after it, or
// whose records were followed to the end (tracking follows records past a
// cut by their lengths), hid no alert.
func cutHidesAlert(p *flows.Profile) bool {
	if p.CutPayloads == 0 || p.AlertSeen || p.DataPackets == 0 {
		return false
	}
	return p.FirstPayload == flows.PayloadNone || p.TLSBroken
}

// alertCut reports whether the snaplen may have hidden a TLS alert in
// either direction (tls_alert then could not be ruled out).
func (c *ctx) alertCut() bool {
	if c.sender == flows.DirUnknown {
		return false
	}
	for _, f := range c.payloadCut() {
		if f.alert && f.recent {
			return true
		}
	}
	return false
}

// restsOnCut reports whether the verdict's cause rests on the absence of
// what the snaplen hid: abortive_close ("a finished exchange": no alert,
// no response still coming) and stale_keepalive ("FIN, data, RST without
// an alert", DESIGN.md section 3) when an alert could be hidden in either
// direction; server_reset_after_request ("no or a partial response") when
// it could be hidden in the server's; a client's abortive_close also when
// the server's response, without a FIN, could not be read far enough to
// tell whether it was complete (client_abort's case when it was not).
// Such a verdict is low: the same packets with the cut bytes read could be
// a tls_alert or a client_abort.
func (c *ctx) restsOnCut(cause Cause) bool {
	if c.sender == flows.DirUnknown {
		return false
	}
	for _, f := range c.payloadCut() {
		if f.framing && cause == CauseAbortiveClose && c.sender == flows.FromClient && !c.rp.FINSeen {
			return true
		}
		if !f.alert || !f.recent {
			continue
		}
		switch cause {
		case CauseAbortiveClose, CauseStaleKeepalive:
			return true
		case CauseServerResetAfterRequest:
			if f.dir == flows.FromServer {
				return true
			}
		}
	}
	return false
}

// rulePayloadCut says, per direction, how many data packets the snaplen
// cut and what could therefore not be read (the engine then holds any
// cause that tls_alert would take precedence over at medium at most, and
// at low when it rests on what was cut, see combine).
func rulePayloadCut(ev *flows.Event, c *ctx) []claim {
	var out []claim
	for _, f := range c.payloadCut() {
		var what []string
		switch {
		case f.unread:
			if f.dir == flows.FromClient {
				what = append(what, "its request")
			} else {
				what = append(what, "its response")
			}
		case f.framing:
			what = append(what, "its response's length (the header block was cut before its end)")
		}
		if f.alert {
			what = append(what, "any TLS alert")
		}
		d := fmt.Sprintf("%d of %d data packets from the %s were cut by the capture's snaplen", f.cut, f.data, f.dir)
		if len(what) == 0 {
			d += ": only their tails were lost (the start of each segment was read, and no TLS record boundary was lost)"
		} else {
			d += ": " + strings.Join(what, " and ") + " could not be read"
		}
		if f.framing && c.sender == flows.FromClient && !c.rp.FINSeen {
			d += ", so whether its response was complete could not be checked (a client's reset before its end is client_abort)"
		}
		switch {
		case f.alert && f.recent:
			d += ", so tls_alert could not be ruled out (at most medium confidence; low for a verdict that rests on there being no alert)"
		case f.alert:
			d += fmt.Sprintf(" (its last data came %s before the RST: too early for an alert to explain it)", dur(c.rst.Time.Sub(f.lastData)))
		}
		out = append(out, noteOf(d))
	}
	return out
}
