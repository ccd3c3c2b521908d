package heuristics

import (
	"fmt"
	"strings"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// alertNames are the TLS AlertDescription names (RFC 8446 section 6).
var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
	45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
	109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
	112: "unrecognized_name", 113: "bad_certificate_status_response",
	114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol",
}

// alertName gives "handshake_failure(40)".
func alertName(d uint8) string {
	if n, ok := alertNames[d]; ok {
		return fmt.Sprintf("%s(%d)", n, d)
	}
	return fmt.Sprintf("alert(%d)", d)
}

// alertLevel gives "warning" or "fatal".
func alertLevel(l uint8) string {
	switch l {
	case 1:
		return "warning"
	case 2:
		return "fatal"
	}
	return fmt.Sprintf("level(%d)", l)
}

// tlsAlertWindow bounds "just before the RST".
const tlsAlertWindow = 30 * time.Second

// alertSeen is one TLS alert of the flow: the side that sent it and the
// alert (flows keeps each direction's most telling alert: a fatal one is
// not replaced by a later warning).
type alertSeen struct {
	dir flows.Dir
	a   *flows.TLSAlertInfo
}

// benign reports whether the alert ends a session without an error:
// close_notify or user_canceled (plaintext; an encrypted one is unknown).
func (s alertSeen) benign() bool {
	return !s.a.Encrypted && (s.a.Description == 0 || s.a.Description == 90)
}

// alerts lists the flow's TLS alerts that came before the RST within the
// window, oldest first.
func (c *ctx) alerts() []alertSeen {
	var out []alertSeen
	for _, d := range []flows.Dir{flows.FromClient, flows.FromServer} {
		p := c.ev.Flow.Profile(d)
		if !p.AlertSeen || p.Alert.Frame == 0 {
			continue
		}
		a := &p.Alert
		if a.Time.After(c.rst.Time) || c.rst.Time.Sub(a.Time) > tlsAlertWindow {
			continue
		}
		// An "alert" followed by more data from the same side was not
		// the end of its TLS session (likely a misread record).
		if p.LastDataFrame > a.Frame && p.LastData.After(a.Time) {
			continue
		}
		out = append(out, alertSeen{d, a})
	}
	if len(out) == 2 && out[1].a.Time.Before(out[0].a.Time) {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// lastAlert returns the alert that explains the reset: a failure (fatal
// or unknown alert) rather than a later close_notify answering it, else
// the latest. Computed once.
func (c *ctx) lastAlert() (flows.Dir, *flows.TLSAlertInfo) {
	if !c.done.alert {
		c.done.alert = true
		as := c.alerts()
		for i := len(as) - 1; i >= 0; i-- {
			if c.alert == nil || (c.alertBenign() && !as[i].benign()) {
				c.alertDir, c.alert = as[i].dir, as[i].a
			}
		}
	}
	return c.alertDir, c.alert
}

func (c *ctx) alertBenign() bool { return alertSeen{c.alertDir, c.alert}.benign() }

// endOfStream reports whether the encrypted alert a from dir closed a
// session that had carried application data, next to a FIN: the alerting
// side's FIN right after it, or the other side's FIN before it. That is
// close_notify ending the stream (RFC 8446 6.1), not a failure. Application
// data: each side sent at least three data segments (a handshake takes at
// most two flights from the client), or the server answered after the
// client's last handshake flight.
func (c *ctx) endOfStream(dir flows.Dir, a *flows.TLSAlertInfo) bool {
	if !a.Encrypted {
		return false
	}
	fl := &c.ev.Flow
	own, other := fl.Profile(dir), fl.Profile(dir.Reverse())
	if fl.Dirs[0].DataPackets < 3 || fl.Dirs[1].DataPackets < 2 {
		return false
	}
	ownFIN := own.FINSeen && !own.FINTime.Before(a.Time) && own.FINTime.Sub(a.Time) <= c.replyWindow()
	otherFIN := other.FINSeen && !other.FINTime.After(a.Time)
	return ownFIN || otherFIN
}

// ruleTLSAlert: a TLS alert from either side just before the RST. A
// failure (an alert during the handshake, or a fatal one) is the root
// cause of the close that followed, even when the other side's later
// write or close_notify drew the RST; an end-of-stream alert after
// application data is a normal close and weighs little.
func ruleTLSAlert(ev *flows.Event, c *ctx) []claim {
	dir, a := c.lastAlert()
	if a == nil {
		return nil
	}
	who := dir.String()
	before := dur(c.rst.Time.Sub(a.Time))
	var out []claim
	// The other alerts of the flow, listed as context.
	for _, o := range c.alerts() {
		if o.a == a {
			continue
		}
		out = append(out, noteOf(fmt.Sprintf("the %s also sent %s (frame %d), %s before the RST", o.dir, alertPhrase(o.a), o.a.Frame, dur(c.rst.Time.Sub(o.a.Time))), o.a.Frame))
	}
	if a.Encrypted {
		if c.endOfStream(dir, a) {
			return append(out, causeOf(CauseTLSAlert, SignalEncryptedAlert, weak, fmt.Sprintf("the %s sent an encrypted TLS alert (frame %d) after application data, next to a FIN: an end-of-stream close_notify, not a TLS failure",
				who, a.Frame), a.Frame))
		}
		// An encrypted alert sent spontaneously after a quiet spell is
		// almost always close_notify (e.g. a keep-alive timeout over TLS):
		// it then explains nothing by itself.
		quiet := quietBefore(c, a.Frame, a.Time)
		if quiet >= time.Second {
			return append(out, causeOf(CauseTLSAlert, SignalEncryptedAlert, weak, fmt.Sprintf("the %s sent an encrypted TLS alert (frame %d) after %s of silence, likely close_notify, %s before the RST",
				who, a.Frame, dur(quiet), before), a.Frame))
		}
		// Both sides then closed with FIN: a graceful close_notify.
		cp, sp := &ev.Flow.Dirs[0], &ev.Flow.Dirs[1]
		if cp.FINSeen && sp.FINSeen && !cp.FINTime.Before(a.Time) && !sp.FINTime.Before(a.Time) {
			return append(out, causeOf(CauseTLSAlert, SignalEncryptedAlert, weak, fmt.Sprintf("the %s sent an encrypted TLS alert (frame %d) and both sides then sent FIN: likely close_notify, a graceful close",
				who, a.Frame), a.Frame))
		}
		kind := "an encrypted TLS alert"
		if a.Candidate {
			kind = "a short encrypted TLS 1.3 record (likely an alert)"
		}
		return append(out, causeOf(CauseTLSAlert, SignalEncryptedAlert, medium, fmt.Sprintf("the %s sent %s (frame %d) %s before the RST, not a normal close (no application data then FIN around it): likely an error such as a rejected certificate",
			who, kind, a.Frame, before), a.Frame))
	}
	s := strong
	switch {
	case a.Description == 0 || a.Description == 90: // close_notify, user_canceled
		s = weak
	case a.Level == 1 && a.Description == 100: // no_renegotiation warning
		s = medium
	}
	d := fmt.Sprintf("the %s sent a %s TLS alert %s (frame %d) %s before the RST",
		who, alertLevel(a.Level), alertName(a.Description), a.Frame, before)
	if s == strong {
		d += ": the handshake failed"
		if t := c.trigger; t != nil && t.Dir != dir && t.Time.After(a.Time) {
			d += fmt.Sprintf("; the %s's %s (frame %d) came later, found the connection closed and drew the RST", t.Dir, laterWrite(c, t), t.Frame)
		}
	}
	return append(out, causeOf(CauseTLSAlert, SignalTLSAlert, s, d, a.Frame))
}

// laterWrite names the packet that drew the RST after an alert: the
// other side's close_notify when it was its alert, else its data or FIN.
func laterWrite(c *ctx, t *flows.LadderEntry) string {
	for _, o := range c.alerts() {
		if o.dir == t.Dir && o.a.Frame == t.Frame {
			return strings.TrimPrefix(alertPhrase(o.a), "a ")
		}
	}
	switch {
	case t.Len > 0:
		return "write"
	case t.Flags.Has(capture.FIN):
		return "FIN"
	}
	return "packet"
}

// alertPhrase names an alert: "a warning close_notify(0)", "an encrypted
// alert".
func alertPhrase(a *flows.TLSAlertInfo) string {
	if a.Encrypted {
		return "an encrypted alert"
	}
	return fmt.Sprintf("a %s %s", alertLevel(a.Level), alertName(a.Description))
}

// quietBefore is the silence of the flow before the packet at frame (from
// the ladder), or 0 when unknown.
func quietBefore(c *ctx, frame uint64, t time.Time) time.Duration {
	i := c.ladderIndex(frame)
	if i <= 0 {
		return 0
	}
	return t.Sub(c.ladder[i-1].Time)
}

// tlsUnseen gives the direction whose TLS records the capture stopped
// following (flows.Profile.TLSBroken: a snaplen cut inside a record
// header, a gap, reordering) in a TLS flow where no alert was seen:
// an alert sent after that point could not have been read. DirUnknown
// when there is none.
func (c *ctx) tlsUnseen() flows.Dir {
	if c.sender == flows.DirUnknown {
		return flows.DirUnknown
	}
	if _, a := c.lastAlert(); a != nil {
		return flows.DirUnknown
	}
	fl := &c.ev.Flow
	if fl.Dirs[0].Request.Kind != flows.PayloadTLSClientHello && fl.Dirs[0].TLSRecords == 0 && fl.Dirs[1].TLSRecords == 0 {
		return flows.DirUnknown
	}
	for _, d := range []flows.Dir{c.sender, c.receiver} {
		if fl.Dirs[d-1].TLSBroken {
			return d
		}
	}
	return flows.DirUnknown
}

// ruleTLSUnseen says that a TLS alert could have gone unseen (the engine
// then holds any cause that tls_alert would take precedence over at
// medium at most, see combine).
func ruleTLSUnseen(ev *flows.Event, c *ctx) []claim {
	d := c.tlsUnseen()
	if d == flows.DirUnknown || c.ev.Flow.Profile(d).CutPayloads > 0 {
		return nil // rulePayloadCut says it of a direction the snaplen cut
	}
	return []claim{noteOf(fmt.Sprintf("the capture lost the TLS record boundaries in the %s's direction (a snaplen cut, a gap or reordering): a TLS alert sent after that could not be seen, so tls_alert could not be ruled out (at most medium confidence)",
		d))}
}
