package heuristics

import (
	"fmt"
	"time"

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

// lastAlert returns the direction and alert of the latest TLS alert of
// the flow before the RST, if one came within the window.
func (c *ctx) lastAlert() (flows.Dir, *flows.TLSAlertInfo) {
	if !c.done.alert {
		c.done.alert = true
		c.alertDir, c.alert = findLastAlert(c.ev, c)
	}
	return c.alertDir, c.alert
}

// findLastAlert looks for the alert lastAlert returns.
func findLastAlert(ev *flows.Event, c *ctx) (flows.Dir, *flows.TLSAlertInfo) {
	var dir flows.Dir
	var best *flows.TLSAlertInfo
	for _, d := range []flows.Dir{flows.FromClient, flows.FromServer} {
		p := ev.Flow.Profile(d)
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
		if best == nil || a.Time.After(best.Time) {
			dir, best = d, a
		}
	}
	return dir, best
}

// ruleTLSAlert: a TLS alert from either side just before the RST.
func ruleTLSAlert(ev *flows.Event, c *ctx) []claim {
	dir, a := c.lastAlert()
	if a == nil {
		return nil
	}
	who := dir.String()
	before := dur(c.rst.Time.Sub(a.Time))
	if a.Encrypted {
		// An encrypted alert sent spontaneously after a quiet spell is
		// almost always close_notify (e.g. a keep-alive timeout over TLS):
		// it then explains nothing by itself.
		quiet := quietBefore(c, a.Frame, a.Time)
		if quiet >= time.Second {
			return []claim{causeOf(CauseTLSAlert, SignalEncryptedAlert, weak, fmt.Sprintf("the %s sent an encrypted TLS alert (frame %d) after %s of silence, likely close_notify, %s before the RST",
				who, a.Frame, dur(quiet), before), a.Frame)}
		}
		// Both sides then closed with FIN: a graceful close_notify.
		cp, sp := &ev.Flow.Dirs[0], &ev.Flow.Dirs[1]
		if cp.FINSeen && sp.FINSeen && !cp.FINTime.Before(a.Time) && !sp.FINTime.Before(a.Time) {
			return []claim{causeOf(CauseTLSAlert, SignalEncryptedAlert, weak, fmt.Sprintf("the %s sent an encrypted TLS alert (frame %d) and both sides then sent FIN: likely close_notify, a graceful close",
				who, a.Frame), a.Frame)}
		}
		kind := "an encrypted TLS alert"
		if a.Candidate {
			kind = "a short encrypted TLS 1.3 record (likely an alert)"
		}
		return []claim{causeOf(CauseTLSAlert, SignalEncryptedAlert, medium, fmt.Sprintf("the %s sent %s (frame %d) %s before the RST: close_notify or an error such as a rejected certificate",
			who, kind, a.Frame, before), a.Frame)}
	}
	s := strong
	switch {
	case a.Description == 0 || a.Description == 90: // close_notify, user_canceled
		s = weak
	case a.Level == 1 && a.Description == 100: // no_renegotiation warning
		s = medium
	}
	return []claim{causeOf(CauseTLSAlert, SignalTLSAlert, s, fmt.Sprintf("the %s sent a %s TLS alert %s (frame %d) %s before the RST",
		who, alertLevel(a.Level), alertName(a.Description), a.Frame, before), a.Frame)}
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
