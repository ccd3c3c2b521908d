package heuristics

import (
	"fmt"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// Cause is why (and when) a RST happened. Values are the DESIGN.md names.
type Cause string

// Causes, in the order of the DESIGN.md table (root causes first).
const (
	CauseRefused                 Cause = "refused"
	CauseServerResetAfterRequest Cause = "server_reset_after_request"
	CauseMiddleboxInjected       Cause = "middlebox_injected"
	CauseTLSAlert                Cause = "tls_alert"
	CauseIdleTimeout             Cause = "idle_timeout"
	CauseStaleKeepalive          Cause = "stale_keepalive"
	CauseAbortiveClose           Cause = "abortive_close"
	CauseClientAbort             Cause = "client_abort"
	CauseIgnoredRST              Cause = "ignored_rst"
	CauseAfterReset              Cause = "after_reset"
	CauseUnknown                 Cause = "unknown"
)

// AllCauses lists every cause in the DESIGN.md table's order, which is the
// order of reports (by_cause, the text summary, --explain all). Every one
// has a row in causes (tested).
var AllCauses = []Cause{
	CauseRefused, CauseServerResetAfterRequest, CauseMiddleboxInjected, CauseTLSAlert,
	CauseIdleTimeout, CauseStaleKeepalive, CauseAbortiveClose, CauseClientAbort,
	CauseIgnoredRST, CauseAfterReset, CauseUnknown,
}

// causeRow is everything rstscope knows about one cause: the rule that
// claims it, how the engine weighs it, what the application saw, what to
// do, and the --explain text.
type causeRow struct {
	cause Cause
	// rule returns this cause's claims (and may add notes); nil when the
	// engine decides the cause itself (middlebox_injected).
	rule rule
	// survivesForgery keeps the cause when the RST came from a middlebox:
	// a firewall's reject is still refused, an LB's idle reset still
	// idle_timeout, a TLS alert or a server's FIN before the reset is still
	// the root cause, and a RST the receiver dropped reset nothing whoever
	// sent it. Any other cause becomes middlebox_injected.
	survivesForgery bool
	// errno is what the receiver's application saw; nil means ECONNRESET.
	errno func(c *ctx) string
	// advice is the finding's advice when the claimed sender sent the RST;
	// adviceForged when a middlebox did (nil: compare with a capture at the
	// claimed sender).
	advice, adviceForged func(c *ctx) string
	// explain is the --explain text: what it means, typical mechanisms,
	// what to do.
	explain string
	// consequence marks a cause that echoes an earlier reset rather than
	// starting one: reports count it apart from the root causes.
	consequence bool
}

// causes is the cause table in precedence order: when several causes
// have at least medium support, the first wins (DESIGN.md section 3: the
// root cause first). A refused SYN is unambiguous; a RST the receiver
// dropped reset nothing, whatever else it looks like; a RST answering the
// peer after a forged RST closed the socket is that reset's echo; a TLS alert
// explains the close that followed it (even when the alerting side's FIN
// then drew a stale write); a FIN then data then RST is a stale
// keep-alive; an idle gap explains the request or abort after it; then
// the DESIGN.md table's order. Rules run in this order too, so their
// claims keep it in the evidence.
var causes = []causeRow{
	{
		cause: CauseRefused, rule: ruleRefused, survivesForgery: true,
		errno: errnoIs("ECONNREFUSED"),
		advice: func(c *ctx) string {
			return "nothing listens on that port (or the host's own firewall rejects it): check the service is up and bound to this address"
		},
		adviceForged: func(c *ctx) string {
			return "a firewall between the capture point and the server rejects this port: check its rules (the server itself was not asked)"
		},
		explain: `The RST answered a SYN: the connection was refused before it existed.
Mechanisms: nothing listens on the port (the kernel answers RST+ACK, seq 0, ack = SYN seq + 1;
Linux uses IP ID 0 and DF); or a firewall rejects with a reset (iptables/nftables REJECT
--reject-with tcp-reset: same shape, but the TTL gives a nearer hop than the server's other
traffic, so the origin is middlebox). Windows clients retry the SYN after each RST.
The application sees ECONNREFUSED (111; Windows WSAECONNREFUSED 10061).
What to do: check that the service is up and bound to that address and port; if the origin is
middlebox, check the firewall rules on the path.`,
	},
	{
		cause: CauseIgnoredRST, rule: ruleIgnored, survivesForgery: true,
		errno: errnoIs("none"),
		advice: func(c *ctx) string {
			return fmt.Sprintf("the RST was dropped by the %s's stack and reset nothing; look for what else ended the connection", c.receiverName)
		},
		explain: `The RST's sequence number was not acceptable to the receiver: outside its window (silently
dropped, RFC 5961 3.2) or inside it but not exact (answered with a challenge ACK and
dropped). It reset nothing; the connection went on or ended for another reason.
Often a late RST for an old connection, a blind injection attempt, or a middlebox that lost
track of the sequence numbers.
What to do: nothing for this RST; look for what else ended the connection.`,
	},
	{
		cause: CauseAfterReset, rule: ruleAfterReset, consequence: true,
		advice: func(c *ctx) string {
			return fmt.Sprintf("nothing to fix at the %s: this RST echoes the forged reset before it; look at that finding", c.senderName)
		},
		explain: `The echo of an earlier reset: a RST forged on the path had already closed this side's
socket, and when the real peer's late packet (its response, its FIN) arrived, this side's
kernel, with no socket left for the connection, answered it with a RST of its own. The RST is
genuine, but it is a consequence, not a cause: the finding names the earlier one
(consequence_of), and summaries count it apart from the root causes ("N echoes").
What to do: nothing for this RST; follow consequence_of to the forged reset and act on that.`,
	},
	{
		cause: CauseTLSAlert, rule: ruleTLSAlert, survivesForgery: true,
		advice: adviceTLSAlert,
		explain: `A TLS alert record (content type 21) came from one side before the reset, during or
right after the handshake, with no application data yet: the TLS handshake failed and the
connection was then reset. A fatal alert stays the cause when the other side's later write
or close_notify is what drew the RST (the alerting side had closed); every alert of the
flow is listed in the evidence.
Mechanisms: the server refusing the ClientHello (handshake_failure, protocol_version,
unrecognized_name, no_application_protocol: plaintext), the client rejecting the
certificate (unknown_ca, bad_certificate; encrypted under TLS 1.3), then the alerting side
closing with unread data or SO_LINGER 0, or the other side writing into the closed socket.
Not this cause: an encrypted alert after application data next to a FIN is an end-of-stream
close_notify, a normal close; the reset then comes from a write racing the close
(abortive_close, stale_keepalive), and the alert is listed as context only.
What to do: fix what the alert names (versions, ciphers, SNI, ALPN, certificate chain, trust
store); for an encrypted alert during the handshake check certificate validation.`,
	},
	{
		cause: CauseStaleKeepalive, rule: ruleStaleKeepalive, survivesForgery: true,
		advice: adviceStaleKeepalive,
		explain: `The resetting side (the server) had already sent its FIN, closing an idle keep-alive
connection; the client then sent a new request on it (a pooled connection reused) and got
the RST. The classic cause of "Errno 104 Connection reset by peer" in HTTP client pools.
Common server keep-alive timeouts: Node.js, Apache, uvicorn 5 s; gunicorn 2 s; nginx 75 s.
What to do: make the client pool's idle timeout shorter than the server's keep-alive timeout,
honour Connection: close and Keep-Alive: timeout, and retry idempotent requests once.`,
	},
	{
		cause: CauseIdleTimeout, rule: ruleIdle, survivesForgery: true,
		advice: func(c *ctx) string {
			g, _ := c.idleGap()
			return fmt.Sprintf("the %s resets connections idle this long (%s): send TCP keepalives or pings more often, or close idle connections sooner on the other side", c.senderName, dur(g.gap))
		},
		adviceForged: func(c *ctx) string {
			g, _ := c.idleGap()
			return fmt.Sprintf("send TCP keepalives or application pings more often than the path's idle timeout (silence here: %s), or raise that timeout", dur(g.gap))
		},
		explain: `The RST followed a long silence: either it came unprompted at the end of the gap (an LB or
NAT resetting an idle flow, e.g. Azure LB with TCP reset, 240 s), or it answered the first
packet after the gap because a device or the server had forgotten the connection (AWS NLB
and NAT Gateway: 350 s; GCP Cloud NAT: 1200 s; ALB/CLB: 60 s).
The gap is compared with well-known timeouts in the evidence.
What to do: send TCP keepalives or application pings more often than the shortest idle timeout
on the path, or close idle connections before it; raise the timeout where you can.`,
	},
	{
		cause: CauseServerResetAfterRequest, rule: ruleRequest,
		advice: adviceServerReset,
		explain: `The server reset right after the client's request (HTTP request, TLS ClientHello or other
data), with no response or a partial one.
Mechanisms: the server application rejected or crashed on the request; a TLS stack refusing
the handshake silently (e.g. Schannel: RST, no alert); a proxy or WAF in front of the server.
If TTL, IP ID or timing disagree with the server, the reset was forged on the path instead
(middlebox_injected).
The client sees ECONNRESET (104; Windows WSAECONNRESET 10054).
What to do: check the server's logs at the RST time for that request (the finding names it).`,
	},
	{
		cause: CauseAbortiveClose, rule: ruleAbortive,
		advice: func(c *ctx) string {
			return fmt.Sprintf("the %s closes with RST (SO_LINGER 0 or unread data): drain input before close and avoid zero linger unless intended", c.senderName)
		},
		explain: `A side ended a finished exchange with RST instead of FIN.
Mechanisms: close() with unread data in the receive queue (RFC 2525 2.17; Linux
TCPAbortOnClose); data arriving after the side had closed (RST after its own FIN, the data is
lost); SO_LINGER with 0 timeout (nginx reset_timedout_connection or return 444, HAProxy
nolinger, HTTP clients tuned for speed).
The other side sees ECONNRESET, possibly after having received everything.
What to do: read all input before close, use shutdown(SHUT_WR) and drain, and use zero linger
only where losing in-flight data is acceptable.`,
	},
	{
		cause: CauseClientAbort, rule: ruleClientAbort,
		errno: func(c *ctx) string {
			if fl := &c.ev.Flow; !fl.Established && fl.SYNACKSeen && c.sender == flows.FromClient {
				return "none" // the server's listener drops the half-open connection
			}
			return "ECONNRESET"
		},
		advice: func(c *ctx) string {
			return "the client gave up (timeout, cancel or probe): compare its timeout with the server's response time"
		},
		explain: `The client reset the connection: before any response (a timeout or cancel), while the
server was still sending (the user went away), right after connecting (a health check or a
port scan), or instead of completing the handshake (RST to the SYN/ACK).
The server sees ECONNRESET or EPIPE on its next write.
What to do: compare the client's timeout with the server's response time; for health checks
this is expected.`,
	},
	{
		// Decided by the engine from the origin rules, not by a rule.
		cause: CauseMiddleboxInjected, survivesForgery: true,
		explain: `The RST did not come from the host it claims: a device on the path forged it during normal
traffic, typically right after a request that matched a filter (SNI, Host, keyword).
Evidence, strongest first: the real peer kept sending after the RST; the RST's TTL differs
from the peer's steady TTL; several RSTs within ms with seq jumps (GFW: +0/+1460/+4380);
IP ID far outside the peer's sequence; missing or foreign TCP timestamps; another source
MAC; the RST came faster than the peer's RTT allows; known injector shapes.
The receiver sees ECONNRESET like any reset.
What to do: capture at the other end too (the peer never sent this RST); try another path or
an encrypted transport; report the device (firewall, IPS, ISP filter).`,
	},
	{
		// The fallback; its rule adds context notes only.
		cause: CauseUnknown, rule: ruleContext,
		advice: func(c *ctx) string {
			return "no rule is confident: read the packet ladder and evidence; a capture at the other end helps"
		},
		explain: `No rule was confident about why this RST was sent. The evidence found is still listed, with
the packet ladder.
What to do: read the ladder; a capture taken at the other end, or live on the host with the
kernel's tcp:tcp_send_reset tracepoint (reason field), usually settles it.`,
	},
}

// errnoIs is an errno that does not depend on the event.
func errnoIs(e string) func(*ctx) string { return func(*ctx) string { return e } }

// rowOf is c's row, nil when c has none.
func rowOf(c Cause) *causeRow {
	for i := range causes {
		if causes[i].cause == c {
			return &causes[i]
		}
	}
	return nil
}

// ParseCause validates a cause name.
func ParseCause(s string) (Cause, error) {
	if r := rowOf(Cause(s)); r != nil {
		return r.cause, nil
	}
	return "", fmt.Errorf("unknown cause %q", s)
}

// Consequence reports whether c echoes an earlier reset rather than being
// a root cause (reports count it apart).
func (c Cause) Consequence() bool {
	r := rowOf(c)
	return r != nil && r.consequence
}

// errnoFor is what the receiver's application saw.
func errnoFor(c *ctx, cause Cause) string {
	if r := rowOf(cause); r != nil && r.errno != nil {
		return r.errno(c)
	}
	return "ECONNRESET"
}

// advice is one concrete line for the verdict.
func advice(c *ctx, v verdict) string {
	r := rowOf(v.cause)
	switch {
	case v.causeBy != nil && v.causeBy.Advice != "" && v.cause == v.causeBy.Cause:
		return v.causeBy.Advice
	case v.proof != nil && v.proof.Attest == AttestForged && v.proof.Advice != "" &&
		(v.cause == CauseMiddleboxInjected || v.proof.AdviceForAny):
		return v.proof.Advice
	case r == nil:
		r = rowOf(CauseUnknown)
	case v.origin == OriginMiddlebox && r.adviceForged != nil:
		return r.adviceForged(c)
	case v.origin == OriginMiddlebox:
		return fmt.Sprintf("the reset came from the path, not the %s: compare with a capture taken at the %s", c.senderName, c.senderName)
	}
	if r.advice == nil {
		return rowOf(CauseUnknown).advice(c)
	}
	return r.advice(c)
}

func adviceServerReset(c *ctx) string {
	req := "request"
	if r := requestInfo(c.ev); r != nil {
		switch {
		case r.SNI != "":
			req = "TLS handshake for " + r.SNI
		case r.Method != "":
			req = r.Method + " " + r.Path
		}
	}
	c.adviceAt = c.rst.Time // kept typed, for a report in another zone (Finding.AdviceIn)
	return fmt.Sprintf("check the server's logs at %s for the %s: it was rejected or the process aborted (crash, limit, TLS policy)",
		adviceClock(c.rst.Time, time.UTC), req)
}

func adviceTLSAlert(c *ctx) string {
	dir, a := c.lastAlert()
	switch {
	case a == nil:
	case !a.Encrypted:
		return fmt.Sprintf("fix the TLS mismatch named by the %s's alert (%s): versions, ciphers, SNI, ALPN or certificates", dir, alertName(a.Description))
	case c.endOfStream(dir, a):
		return "the TLS session was closed normally (close_notify) and a write raced the close: reuse or write only on open sessions, and retry idempotent requests"
	}
	return "the TLS handshake ended with an encrypted alert before any application data: check certificate validation (chain, trust store, client certificate) and TLS settings on both sides"
}

func adviceStaleKeepalive(c *ctx) string {
	f, _ := c.senderFIN()
	if f.spontaneous() && f.sinceData > 0 {
		return fmt.Sprintf("client pool idle timeout must be shorter than the server's keep-alive timeout (FIN seen %s after the last response)", dur(f.sinceData))
	}
	return "the client reused a connection the server had closed: make the pool's idle timeout shorter than the server's keep-alive timeout and retry idempotent requests"
}

// Explain describes a cause for --explain: what it means, typical
// mechanisms, what to do.
func Explain(c Cause) string {
	if r := rowOf(c); r != nil && r.explain != "" {
		return r.explain
	}
	return "unknown cause " + string(c)
}
