package kernel

import "github.com/rstscope/rstscope/heuristics"

// DropReasons are the skb_drop_reason names under which the TCP stack drops
// an RST it will not accept (tcp_validate_incoming: outside the window).
// Only these kfree_skb events are kept; their numbers come from the format
// file.
var DropReasons = []string{"TCP_OLD_SEQUENCE", "TCP_INVALID_SEQUENCE"}

// Signals a finding gets from the kernel's account (issue 15's names).
const (
	SignalReason   heuristics.Signal = "kernel_reason"   // this host's TCP stack sent the RST, for Reason
	SignalAbsent   heuristics.Signal = "kernel_absent"   // this host put the RST on the wire, its TCP stack did not
	SignalAccepted heuristics.Signal = "kernel_accepted" // the RST reset a socket of this host
	SignalDropped  heuristics.Signal = "kernel_dropped"  // this host's stack dropped the RST (ignored_rst)
)

// ReasonCause is one row of the reason -> cause table: what the kernel's
// reason says about the DESIGN.md cause. Cause names equal DESIGN.md's.
type ReasonCause struct {
	Reason string // sk_rst_reason or skb_drop_reason name
	// Cause is the cause the reason fixes; empty when the packet verdict
	// stands (the reason is then named evidence only).
	Cause string
	// SYN is the cause when the RST answers a SYN, where it differs.
	SYN string
	// Alternatives are the causes packet context may still choose
	// instead, within what the reason allows: which side's close it was
	// (client_abort, or server_reset_after_request when the unread bytes
	// are the request), or a root cause that came before the close
	// (tls_alert: an alert, then the close the reason names).
	Alternatives []string
	Note         string // what the reason means, for evidence and --explain
	// Advice replaces the cause's advice when the reason decided the
	// cause and says more than the packets can ("" keeps it); for NO_SOCKET
	// the cause it decides is the SYN's (refused).
	Advice string
}

// ReasonCauses is the table, in the order of enum sk_rst_reason then the
// drop reasons. A reason not listed keeps the packet verdict.
var ReasonCauses = []ReasonCause{
	{Reason: "NOT_SPECIFIED", Note: "the stack gave no reason (active resets before 6.12)"},
	{Reason: "NO_SOCKET", SYN: "refused",
		Alternatives: []string{"stale_keepalive", "server_reset_after_request", "after_reset", "tls_alert"},
		Note:         "no socket for this segment: a closed port to a SYN, else a socket already gone (an echo of an earlier reset, or state lost)",
		Advice:       "nothing listens on that port: this host's own TCP stack answered (not a firewall); check the service is up and bound to this address"},
	{Reason: "TCP_INVALID_ACK_SEQUENCE", Note: "passive check: the segment's ACK is not acceptable"},
	{Reason: "TCP_RFC7323_PAWS", Note: "passive check: PAWS rejected the segment's timestamp"},
	{Reason: "TCP_TOO_OLD_ACK", Note: "passive check: the ACK is older than the window"},
	{Reason: "TCP_ACK_UNSENT_DATA", Note: "passive check: the ACK covers data never sent"},
	{Reason: "TCP_FLAGS", Note: "passive check: unexpected flags for the socket's state"},
	{Reason: "TCP_OLD_ACK", Note: "passive check: the ACK is old"},
	{Reason: "TCP_ABORT_ON_DATA", Cause: "abortive_close", Alternatives: []string{"stale_keepalive", "tls_alert"},
		Note: "data arrived after this side shut the socket down"},
	// The host closed, its FIN was acknowledged, and data came after:
	// the peer reusing an idle connection (stale keep-alive), or a
	// response reaching a client that closed right after its request
	// (the lab's per_segment_rsts: the first of its burst of RSTs has
	// this reason, the others NO_SOCKET), which the packets tell apart.
	{Reason: "TCP_TIMEWAIT_SOCKET", Cause: "stale_keepalive", Alternatives: []string{"tls_alert", "abortive_close", "client_abort"},
		Note: "data to a connection this host had already closed (TIME_WAIT, or FIN_WAIT2 once orphaned)"},
	{Reason: "INVALID_SYN", Note: "passive check: a SYN in a synchronized state"},
	{Reason: "TCP_ABORT_ON_CLOSE", Cause: "abortive_close",
		Alternatives: []string{"server_reset_after_request", "client_abort", "tls_alert"},
		Note:         "the application closed the socket with unread received data"},
	{Reason: "TCP_ABORT_ON_LINGER", Cause: "abortive_close", Note: "the linger time ran out in FIN_WAIT2",
		Advice: "this host closed and the peer never closed its side before the FIN_WAIT2 time ran out " +
			"(net.ipv4.tcp_fin_timeout or TCP_LINGER2): make the peer close the connections it is done with"},
	{Reason: "TCP_ABORT_ON_MEMORY", Cause: "abortive_close",
		Note: "the socket was dropped under memory pressure (too many orphans or tcp_mem)",
		Advice: "this host dropped the connection under memory pressure: check dmesg for \"too many orphaned sockets\" " +
			"or \"out of memory -- consider tuning tcp_mem\", and net.ipv4.tcp_max_orphans and tcp_mem against `ss -s`"},
	{Reason: "TCP_STATE", Cause: "abortive_close",
		Alternatives: []string{"client_abort", "server_reset_after_request", "tls_alert"},
		Note:         "a deliberate abort: SO_LINGER 0 then close, or connect(AF_UNSPEC)"},
	{Reason: "TCP_KEEPALIVE_TIMEOUT", Cause: "idle_timeout",
		Note: "keepalive probes went unanswered: this host gave up on the peer",
		Advice: "this host's keepalive probes went unanswered: the peer is gone or unreachable, or a NAT or firewall " +
			"on the path forgot the connection; keep the keepalive time (TCP_KEEPIDLE, net.ipv4.tcp_keepalive_time) " +
			"below the path's idle timeouts"},
	{Reason: "TCP_DISCONNECT_WITH_DATA", Cause: "abortive_close",
		Alternatives: []string{"client_abort", "server_reset_after_request"}, Note: "disconnect with unread or unsent data"},
	{Reason: "TCP_OLD_SEQUENCE", Cause: "ignored_rst", Note: "dropped: the RST's seq is before the window"},
	{Reason: "TCP_INVALID_SEQUENCE", Cause: "ignored_rst", Note: "dropped: the RST's seq is beyond the window"},
}

// CauseFor returns the table's row for reason; MPTCP_* and unknown reasons
// have none (keep the packet verdict).
func CauseFor(reason string) (ReasonCause, bool) {
	for _, r := range ReasonCauses {
		if r.Reason == reason {
			return r, true
		}
	}
	return ReasonCause{}, false
}
