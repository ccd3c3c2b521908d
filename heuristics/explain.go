package heuristics

import "strings"

// explanations hold, per cause: what it means, typical mechanisms, what
// to do. Every Cause in AllCauses has one (tested).
var explanations = map[Cause]string{
	CauseRefused: `The RST answered a SYN: the connection was refused before it existed.
Mechanisms: nothing listens on the port (the kernel answers RST+ACK, seq 0, ack = SYN seq + 1;
Linux uses IP ID 0 and DF); or a firewall rejects with a reset (iptables/nftables REJECT
--reject-with tcp-reset: same shape, but the TTL gives a nearer hop than the server's other
traffic, so the origin is middlebox). Windows clients retry the SYN after each RST.
The application sees ECONNREFUSED (111; Windows WSAECONNREFUSED 10061).
What to do: check that the service is up and bound to that address and port; if the origin is
middlebox, check the firewall rules on the path.`,
	CauseServerResetAfterRequest: `The server reset right after the client's request (HTTP request, TLS ClientHello or other
data), with no response or a partial one.
Mechanisms: the server application rejected or crashed on the request; a TLS stack refusing
the handshake silently (e.g. Schannel: RST, no alert); a proxy or WAF in front of the server.
If TTL, IP ID or timing disagree with the server, the reset was forged on the path instead
(middlebox_injected).
The client sees ECONNRESET (104; Windows WSAECONNRESET 10054).
What to do: check the server's logs at the RST time for that request (the finding names it).`,
	CauseMiddleboxInjected: `The RST did not come from the host it claims: a device on the path forged it during normal
traffic, typically right after a request that matched a filter (SNI, Host, keyword).
Evidence, strongest first: the real peer kept sending after the RST; the RST's TTL differs
from the peer's steady TTL; several RSTs within ms with seq jumps (GFW: +0/+1460/+4380);
IP ID far outside the peer's sequence; missing or foreign TCP timestamps; another source
MAC; the RST came faster than the peer's RTT allows; known injector shapes.
The receiver sees ECONNRESET like any reset.
What to do: capture at the other end too (the peer never sent this RST); try another path or
an encrypted transport; report the device (firewall, IPS, ISP filter).`,
	CauseTLSAlert: `A TLS alert record (content type 21) came from one side just before the reset: the TLS
session ended on an error (or closed) and the connection was then reset.
Mechanisms: the server refusing the ClientHello (handshake_failure, protocol_version,
unrecognized_name, no_application_protocol: plaintext), the client rejecting the
certificate (unknown_ca, bad_certificate; encrypted under TLS 1.3), then the alerting side
closing with unread data or SO_LINGER 0, or the other side writing into the closed socket.
An encrypted alert after a quiet spell is usually close_notify.
What to do: fix what the alert names (versions, ciphers, SNI, ALPN, certificate chain, trust
store); for encrypted alerts check certificate validation on the client.`,
	CauseIdleTimeout: `The RST followed a long silence: either it came unprompted at the end of the gap (an LB or
NAT resetting an idle flow, e.g. Azure LB with TCP reset, 240 s), or it answered the first
packet after the gap because a device or the server had forgotten the connection (AWS NLB
and NAT Gateway: 350 s; GCP Cloud NAT: 1200 s; ALB/CLB: 60 s).
The gap is compared with well-known timeouts in the evidence.
What to do: send TCP keepalives or application pings more often than the shortest idle timeout
on the path, or close idle connections before it; raise the timeout where you can.`,
	CauseStaleKeepalive: `The resetting side (the server) had already sent its FIN, closing an idle keep-alive
connection; the client then sent a new request on it (a pooled connection reused) and got
the RST. The classic cause of "Errno 104 Connection reset by peer" in HTTP client pools.
Common server keep-alive timeouts: Node.js, Apache, uvicorn 5 s; gunicorn 2 s; nginx 75 s.
What to do: make the client pool's idle timeout shorter than the server's keep-alive timeout,
honour Connection: close and Keep-Alive: timeout, and retry idempotent requests once.`,
	CauseAbortiveClose: `A side ended a finished exchange with RST instead of FIN.
Mechanisms: close() with unread data in the receive queue (RFC 2525 2.17; Linux
TCPAbortOnClose); data arriving after the side had closed (RST after its own FIN, the data is
lost); SO_LINGER with 0 timeout (nginx reset_timedout_connection or return 444, HAProxy
nolinger, HTTP clients tuned for speed).
The other side sees ECONNRESET, possibly after having received everything.
What to do: read all input before close, use shutdown(SHUT_WR) and drain, and use zero linger
only where losing in-flight data is acceptable.`,
	CauseClientAbort: `The client reset the connection: before any response (a timeout or cancel), while the
server was still sending (the user went away), right after connecting (a health check or a
port scan), or instead of completing the handshake (RST to the SYN/ACK).
The server sees ECONNRESET or EPIPE on its next write.
What to do: compare the client's timeout with the server's response time; for health checks
this is expected.`,
	CauseIgnoredRST: `The RST's sequence number was not acceptable to the receiver: outside its window (silently
dropped, RFC 5961 3.2) or inside it but not exact (answered with a challenge ACK and
dropped). It reset nothing; the connection went on or ended for another reason.
Often a late RST for an old connection, a blind injection attempt, or a middlebox that lost
track of the sequence numbers.
What to do: nothing for this RST; look for what else ended the connection.`,
	CauseUnknown: `No rule was confident about why this RST was sent. The evidence found is still listed, with
the packet ladder.
What to do: read the ladder; a capture taken at the other end, or live on the host with the
kernel's tcp:tcp_send_reset tracepoint (reason field), usually settles it.`,
}

// Explain describes a cause for --explain: what it means, typical
// mechanisms, what to do.
func Explain(c Cause) string {
	if s, ok := explanations[c]; ok {
		return s
	}
	return "unknown cause " + string(c)
}

// ExplainAll describes every cause, in table order.
func ExplainAll() string {
	var b strings.Builder
	for i, c := range AllCauses {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(string(c))
		b.WriteString("\n")
		b.WriteString(Explain(c))
	}
	return b.String()
}
