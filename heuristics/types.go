package heuristics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Origin is who really sent the RST.
type Origin string

// Origins.
const (
	OriginServer    Origin = "server"
	OriginClient    Origin = "client"
	OriginMiddlebox Origin = "middlebox"
	OriginUnknown   Origin = "unknown"
)

// AllOrigins lists every origin.
var AllOrigins = []Origin{OriginServer, OriginClient, OriginMiddlebox, OriginUnknown}

// ParseOrigin validates an origin name.
func ParseOrigin(s string) (Origin, error) {
	for _, o := range AllOrigins {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown origin %q", s)
}

// Signal names one kind of evidence. Values are stable JSON names.
type Signal string

// Signals. Origin signals first (DESIGN.md section 3, strongest first),
// then cause signals.
const (
	SignalDataAfterRST      Signal = "data_after_rst"
	SignalTTLMismatch       Signal = "ttl_mismatch"
	SignalRSTBurst          Signal = "rst_burst"
	SignalCrossedRST        Signal = "crossed_rst" // RSTs claiming both ends, sent together
	SignalIPIDMismatch      Signal = "ipid_mismatch"
	SignalTimestampMismatch Signal = "timestamp_mismatch"
	SignalMACMismatch       Signal = "mac_mismatch"
	SignalInjectorShape     Signal = "injector_shape" // DF/window/reserved-bit shapes (weak alone)
	SignalTooFast           Signal = "too_fast"
	SignalFingerprint       Signal = "fingerprint"
	SignalTTLConsistent     Signal = "ttl_consistent"  // genuine-peer evidence
	SignalIPIDConsistent    Signal = "ipid_consistent" // genuine-peer evidence
	SignalTSConsistent      Signal = "timestamp_consistent"

	SignalSYNAnswered      Signal = "syn_answered_by_rst"
	SignalRequestNoReply   Signal = "request_without_response"
	SignalPartialResponse  Signal = "partial_response"
	SignalTLSAlert         Signal = "tls_alert"
	SignalEncryptedAlert   Signal = "encrypted_alert"
	SignalIdleGap          Signal = "idle_gap"
	SignalKnownTimeout     Signal = "known_timeout"
	SignalFINThenData      Signal = "fin_then_data"
	SignalUnreadData       Signal = "unread_data"
	SignalRSTAfterFIN      Signal = "rst_after_fin"
	SignalAbortMidResponse Signal = "abort_mid_response"
	SignalNoResponse       Signal = "abort_before_response"
	SignalOutOfWindow      Signal = "out_of_window"
	SignalChallengeACK     Signal = "challenge_ack"
	SignalInWindow         Signal = "in_window"
	SignalHalfOpen         Signal = "rst_to_synack"
	SignalMidstream        Signal = "midstream"
	SignalFinishedExchange Signal = "rst_instead_of_fin" // SO_LINGER 0 after a finished exchange
	SignalConnectOnly      Signal = "connect_only"       // client reset right after the handshake
	SignalAfterReset       Signal = "after_forged_rst"   // the socket was already closed by a forged RST
	SignalNote             Signal = "note"               // context that is not evidence either way

	// Two-capture signals (correlate, --peer): the RST in the capture at
	// its claimed sender's side, or its absence there; packets one side
	// sent that the other never received.
	SignalAbsentAtSender  Signal = "absent_at_sender"
	SignalPresentAtSender Signal = "present_at_sender"
	SignalLostInPath      Signal = "lost_in_path"
)

// Confidence is ordered: Low < Medium < High. Zero is "none".
type Confidence uint8

// Confidence levels.
const (
	ConfidenceNone Confidence = iota
	Low
	Medium
	High
)

// String gives "low", "medium", "high" (or "none").
func (c Confidence) String() string {
	switch c {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "none"
}

// MarshalText implements encoding.TextMarshaler.
func (c Confidence) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Confidence) UnmarshalText(b []byte) error {
	v, err := ParseConfidence(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ParseConfidence parses "low", "medium" or "high".
func ParseConfidence(s string) (Confidence, error) {
	switch s {
	case "low":
		return Low, nil
	case "medium":
		return Medium, nil
	case "high":
		return High, nil
	}
	return ConfidenceNone, fmt.Errorf("unknown confidence %q (want low, medium or high)", s)
}

// Evidence is one signal with a one-line detail and the frames it rests on.
type Evidence struct {
	Signal Signal   `json:"signal"`
	Detail string   `json:"detail"`
	Frames []uint64 `json:"frames,omitempty"`
}

// FlowInfo is the "flow" object of the JSON contract.
type FlowInfo struct {
	Client        netip.AddrPort `json:"client"` // "ip:port", IPv6 "[ip]:port", "" when unknown
	Server        netip.AddrPort `json:"server"`
	RolesFrom     string         `json:"roles_from"`
	Start         Instant        `json:"start"`
	ClientBytes   uint64         `json:"client_bytes"`
	ServerBytes   uint64         `json:"server_bytes"`
	ClientPackets uint64         `json:"client_packets"`
	ServerPackets uint64         `json:"server_packets"`
	Tunnel        string         `json:"tunnel,omitempty"`
	VLAN          uint16         `json:"vlan,omitempty"`
	History       string         `json:"history,omitempty"`    // Zeek-style history
	ConnState     string         `json:"conn_state,omitempty"` // Zeek-style conn_state
}

// flowJSON is FlowInfo as the contract prints it: the typed fields, then
// the endpoints split into address and port for jq and Zeek habits
// (client_ip, client_port, server_ip, server_port; omitted when unknown).
type flowJSON struct {
	flowFields
	ClientIP   string `json:"client_ip,omitempty"`
	ClientPort uint16 `json:"client_port,omitempty"`
	ServerIP   string `json:"server_ip,omitempty"`
	ServerPort uint16 `json:"server_port,omitempty"`
}

// flowFields is FlowInfo without its methods (no MarshalJSON recursion).
type flowFields FlowInfo

// MarshalJSON implements json.Marshaler: FlowInfo's fields and the split
// endpoints.
func (f FlowInfo) MarshalJSON() ([]byte, error) {
	j := flowJSON{flowFields: flowFields(f)}
	if f.Client.IsValid() {
		j.ClientIP, j.ClientPort = f.Client.Addr().String(), f.Client.Port()
	}
	if f.Server.IsValid() {
		j.ServerIP, j.ServerPort = f.Server.Addr().String(), f.Server.Port()
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// RSTInfo is the "rst" object of the JSON contract.
type RSTInfo struct {
	Time     Instant  `json:"time"`
	Packet   uint64   `json:"packet"` // 1-based frame number in its input
	Input    int      `json:"input"`  // index into "inputs" (0 with one input)
	From     Side     `json:"from"`   // claimed sender
	Count    int      `json:"count"`
	Flags    string   `json:"flags"`
	Seq      uint32   `json:"seq"`
	Ack      uint32   `json:"ack"`
	Window   uint16   `json:"window"`
	TTL      uint8    `json:"ttl"`
	IPID     *uint16  `json:"ip_id,omitempty"` // IPv4 only
	SeqCheck string   `json:"seq_check"`
	Frames   []uint64 `json:"frames,omitempty"` // all RST frames of the event when Count > 1
	// PayloadLen is the RST's TCP payload length (wire) and Payload its
	// first bytes (at most flows.MaxRSTPayload): RFC 9293 lets a RST carry
	// diagnostic text. Payload holds the raw bytes in the Finding; every
	// output (JSON included) prints it through the sanitiser.
	PayloadLen int    `json:"payload_len,omitempty"`
	Payload    string `json:"payload,omitempty"`
}

// RequestInfo is the "request" object: what the client asked for.
type RequestInfo struct {
	Kind   string `json:"kind"` // "http" or "tls"
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Host   string `json:"host,omitempty"`
	SNI    string `json:"sni,omitempty"`
	ALPN   string `json:"alpn,omitempty"`
	Frame  uint64 `json:"packet,omitempty"`
	// Earlier counts the requests before this one on the connection (a
	// keep-alive connection: this is the last before the RST).
	Earlier int `json:"earlier_requests,omitempty"`
}

// TLSAlertJSON is the "tls_alert" object, when an alert preceded the RST.
type TLSAlertJSON struct {
	From        Side   `json:"from"`
	Packet      uint64 `json:"packet"`
	Encrypted   bool   `json:"encrypted"`
	Level       string `json:"level,omitempty"`
	Description string `json:"description,omitempty"`
	Code        *uint8 `json:"code,omitempty"`
}

// PacketRow is one row of the "packets" ladder.
type PacketRow struct {
	Packet     uint64  `json:"packet"`
	TimeOffset Millis  `json:"time_offset_ms"` // relative to the RST
	From       Side    `json:"from"`
	Flags      string  `json:"flags"`
	Seq        uint32  `json:"seq"`
	Ack        uint32  `json:"ack"`
	Len        int     `json:"len"`
	TTL        uint8   `json:"ttl"`
	IPID       *uint16 `json:"ip_id,omitempty"`
	Window     uint16  `json:"window"`
	RST        bool    `json:"rst,omitempty"`   // one of this finding's RSTs
	After      bool    `json:"after,omitempty"` // came after the first RST
	// Partial marks a frame the finding names that had left the flow's
	// last 16 packets: only packet, time_offset_ms, from and flags (those
	// its fact implies, else "") are known; the other fields are zero.
	Partial bool `json:"partial,omitempty"`
}

// Finding is one attributed RST event. Its JSON tags are the contract of
// DESIGN.md section 4, in this one place: report marshals Finding itself.
// Keep the names.
type Finding struct {
	ID           int           `json:"id"`
	Cause        Cause         `json:"cause"`
	Origin       Origin        `json:"origin"`
	Confidence   Confidence    `json:"confidence"`
	Summary      string        `json:"summary"`
	Flow         FlowInfo      `json:"flow"`
	RST          RSTInfo       `json:"rst"`
	Stage        string        `json:"stage"`
	Errno        string        `json:"errno"`
	Alternatives []Cause       `json:"alternatives"`
	Advice       string        `json:"advice"`
	Gap          Gap           `json:"idle_gap,omitzero"`       // "350.2s"
	GapSeconds   Seconds       `json:"idle_gap_s,omitzero"`     // the same gap as a number of seconds
	KnownTimeout string        `json:"known_timeout,omitempty"` // e.g. "AWS NLB idle timeout (350 s)"
	Request      *RequestInfo  `json:"request,omitempty"`
	TLSAlert     *TLSAlertJSON `json:"tls_alert,omitempty"`
	Evidence     []Evidence    `json:"evidence"`
	Packets      []PacketRow   `json:"packets"`
	Correlation  *Correlation  `json:"correlation,omitempty"` // with a peer capture (--peer)
	// ConsequenceOf is the ID of the finding whose reset this RST echoes
	// (cause after_reset), 0 for a root cause.
	ConsequenceOf int `json:"consequence_of,omitempty"`
	// Echoes is the first RST of the finding this one echoes (after_reset),
	// nil for a root cause; the report resolves it into ConsequenceOf.
	Echoes *RSTRef `json:"-"`
	// Kernel is the host kernel's account of this RST, when joined.
	Kernel *KernelInfo `json:"kernel,omitempty"`

	// AdviceTime is the instant Advice names ("check the server's logs at
	// 03:08:34.826 UTC"), zero if none, kept typed so that a report shows
	// it in its own zone (AdviceIn). Not in JSON, whose advice says UTC.
	AdviceTime time.Time `json:"-"`
}

// KernelInfo is the "kernel" object: what the host's kernel said about
// the RST (tracepoint tcp:tcp_send_reset and its kin).
type KernelInfo struct {
	Event   string `json:"event"`            // the tracepoint, e.g. "tcp_send_reset"
	Reason  string `json:"reason,omitempty"` // e.g. "TCP_TIMEWAIT_SOCKET"
	State   string `json:"state,omitempty"`  // the socket's TCP state
	NetNS   uint32 `json:"netns,omitempty"`  // network namespace inode
	DeltaUS int64  `json:"delta_us"`         // kernel event time minus the RST's capture time
}

// Correlation is the "correlation" object: what a second capture of the
// same traffic, taken at the other end of the path (--peer), says about
// the RST. Set by the engine from a witness's testimony (package correlate).
type Correlation struct {
	Peer string `json:"peer"` // the peer capture's name
	// MatchedBy is how the flow was found in the peer capture: "isn" (the
	// SYN and SYN/ACK sequence numbers, which NAT keeps), "tsval" (TCP
	// timestamps and sequence numbers), "payload", "tuple" (the same
	// addresses and ports only) or "none" (not there).
	MatchedBy  string         `json:"matched_by"`
	PeerClient netip.AddrPort `json:"peer_client,omitzero"` // the flow's client as the peer capture shows it (differs behind NAT)
	PeerServer netip.AddrPort `json:"peer_server,omitzero"`
	// RST is the verdict on the RST: "present_at_sender", "absent_at_sender"
	// (the peer is at its claimed sender's side), "delivered",
	// "not_delivered" (the peer is at the receiver's side), or "unknown"
	// (the peer capture does not cover it).
	RST string `json:"rst"`
	// PeerFrames are the peer capture's frames of the RST(s), if present.
	PeerFrames []uint64 `json:"peer_frames,omitempty"`
	// Clock: Offset is the peer capture's clock minus this capture's,
	// OneWay the one-way delay between the capture points, both from
	// Samples packets seen in both captures, assuming a symmetric path.
	// Clock says how they were estimated: "two_way" (packets matched in
	// both directions), "one_way" (one direction only: the offset is taken
	// as 0 and the one-way delay is that direction's), "none".
	Clock   string `json:"clock"`
	Offset  Millis `json:"offset_ms"`
	OneWay  Millis `json:"one_way_ms"`
	Samples int    `json:"samples"`
	// Lost counts packets near the reset that one side sent and the other
	// never received (see the lost_in_path evidence).
	Lost int `json:"lost,omitempty"`
}
