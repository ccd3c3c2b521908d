package flows

import (
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// Dir is the direction of a packet within its flow. Zero means unknown.
type Dir uint8

// Directions.
const (
	DirUnknown Dir = iota
	FromClient
	FromServer
)

// String gives "client", "server" or "unknown": the side that sent.
func (d Dir) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return "unknown"
}

// Reverse gives the other direction (unknown stays unknown).
func (d Dir) Reverse() Dir {
	switch d {
	case FromClient:
		return FromServer
	case FromServer:
		return FromClient
	}
	return DirUnknown
}

// RolesFrom says how the client and server roles of a flow were decided.
type RolesFrom uint8

// How roles were decided, strongest first. Zero means unknown.
const (
	RolesUnknown   RolesFrom = iota
	RolesHandshake           // the SYN sender is the client
	RolesSYNACK              // no SYN seen: the SYN/ACK receiver is the client
	RolesPort                // neither seen: the side on the well-known/lower port is the server
)

// String gives the JSON name: "handshake", "synack", "port".
func (r RolesFrom) String() string {
	switch r {
	case RolesHandshake:
		return "handshake"
	case RolesSYNACK:
		return "synack"
	case RolesPort:
		return "port"
	}
	return "unknown"
}

// IPIDModel is how a sender numbers its IPv4 packets.
type IPIDModel uint8

// IP ID models. Zero (IPIDUnknown) means fewer than 3 samples or IPv6.
const (
	IPIDUnknown      IPIDModel = iota
	IPIDZero                   // all samples zero (DF set, e.g. Linux without a socket counter)
	IPIDIncrementing           // small positive steps (per-socket or global counter)
	IPIDRandom                 // no usable order
)

// String gives "unknown", "zero", "incrementing" or "random".
func (m IPIDModel) String() string {
	switch m {
	case IPIDZero:
		return "zero"
	case IPIDIncrementing:
		return "incrementing"
	case IPIDRandom:
		return "random"
	}
	return "unknown"
}

// PayloadKind classifies the first payload of a direction.
type PayloadKind uint8

// Payload kinds. Zero means no payload seen yet.
const (
	PayloadNone PayloadKind = iota
	PayloadHTTPRequest
	PayloadHTTPResponse
	PayloadTLSClientHello
	PayloadTLSServerHello
	PayloadTLSOther // a TLS record that is not a hello (e.g. mid-stream)
	PayloadOpaque
)

// String gives a short name: "http_request", "tls_client_hello", ...
func (k PayloadKind) String() string {
	switch k {
	case PayloadHTTPRequest:
		return "http_request"
	case PayloadHTTPResponse:
		return "http_response"
	case PayloadTLSClientHello:
		return "tls_client_hello"
	case PayloadTLSServerHello:
		return "tls_server_hello"
	case PayloadTLSOther:
		return "tls"
	case PayloadOpaque:
		return "opaque"
	}
	return "none"
}

// TLS record content types (RFC 8446 section 5.1).
const (
	TLSChangeCipherSpec = 20
	TLSAlert            = 21
	TLSHandshake        = 22
	TLSApplicationData  = 23
)

// TLSAlertInfo is a TLS alert record seen in one direction.
type TLSAlertInfo struct {
	Frame       uint64    // frame that completed the alert record
	Time        time.Time // time of that frame
	Encrypted   bool      // after ChangeCipherSpec (TLS <= 1.2) or an encrypted-alert candidate (TLS 1.3)
	Level       uint8     // 1 warning, 2 fatal; valid iff !Encrypted
	Description uint8     // RFC 8446 AlertDescription; valid iff !Encrypted
}

// TTLStats summarises the TTL (hop limit) of a direction's non-RST packets.
type TTLStats struct {
	Count uint32 // samples
	Min   uint8
	Max   uint8
	Mode  uint8 // most frequent value (ties: the first seen)
	// Vals/Counts hold up to 4 distinct values with their counts, used to
	// compute Mode in fixed space. Values past the fourth distinct one only
	// move Min/Max and Count.
	Vals   [4]uint8
	Counts [4]uint32
}

// Stable reports whether every sample had the same TTL (and there were
// at least n samples).
func (s *TTLStats) Stable(n uint32) bool { return s.Count >= n && s.Min == s.Max }

// IPIDStats models the IPv4 IP ID series of a direction's non-RST packets.
type IPIDStats struct {
	Samples uint32
	Last    uint16 // last non-RST IP ID
	Model   IPIDModel
	Step    uint16 // typical positive step when Incrementing
	// internal counters used to decide Model
	Zero, Small, Large uint32
}

// Request is what the first payload of the client said, when it could be
// parsed. Strings are copied once per flow and capped in length.
type Request struct {
	Kind   PayloadKind
	Frame  uint64
	Time   time.Time
	Method string // HTTP
	Path   string // HTTP
	Host   string // HTTP Host header
	SNI    string // TLS ClientHello server_name
	// TLS versions: the record/legacy version and, when present, the
	// highest version in supported_versions (e.g. 0x0304 for TLS 1.3).
	TLSVersion    uint16
	TLSMaxVersion uint16
	ALPN          string // first ALPN protocol offered, if any
}

// Profile is what one direction of a flow has shown. All fields are fixed
// size or strings copied once per flow.
type Profile struct {
	Packets       uint64
	Bytes         uint64 // TCP payload bytes (wire length, retransmissions included)
	DataPackets   uint64 // packets carrying payload
	First, Last   time.Time
	LastData      time.Time // time of the last packet carrying payload
	LastDataFrame uint64

	TTL  TTLStats  // non-RST packets only
	IPID IPIDStats // non-RST IPv4 packets only

	// TCP options behaviour of non-RST packets.
	TSPackets uint64 // packets carrying the timestamps option
	LastTSVal uint32
	HasWScale bool
	WScale    uint8 // from this side's SYN or SYN/ACK
	MSS       uint16

	// Sequence tracking.
	ISN             Seq  // valid iff SYNSeen
	SYNSeen         bool // this direction sent a SYN (SYN or SYN/ACK)
	SYNFrame        uint64
	SYNTime         time.Time
	NextSeq         Seq // highest seq+len(+SYN/FIN) sent; valid iff SeqValid
	SeqValid        bool
	LastAck         Seq // last acknowledgement sent; valid iff AckValid
	AckValid        bool
	Window          uint32 // last advertised window, scaled when the scale is known
	Retransmissions uint32
	ZeroWindows     uint32

	// FIN.
	FINSeen  bool
	FINFrame uint64
	FINTime  time.Time
	FINSeq   Seq

	// RSTs sent in this direction (all of them, counted as they arrive).
	RSTs uint32

	// L2 source address of this direction (Ethernet captures).
	HasMAC     bool
	MAC        [6]byte
	MACChanged bool // a later non-RST packet had a different source MAC

	// First payload and TLS state.
	FirstPayload PayloadKind
	Request      Request // client: request; server: response kind only
	TLSRecords   uint8   // bit (type-20) set for each record type seen at a record boundary (20..23)
	TLSVersion   uint16  // ServerHello-selected or record version
	CCSSeen      bool    // ChangeCipherSpec sent by this direction
	Alert        TLSAlertInfo
	AlertSeen    bool
	// tls is the record-boundary tracker (internal).
	tls tlsTracker
}

// tlsTracker follows TLS record boundaries in one direction without
// buffering payload: it keeps how many bytes of the current record remain
// and up to 5 header bytes of a record header split across segments.
type tlsTracker struct {
	active    bool // the direction looks like TLS
	broken    bool // lost sync (gap, garbage); stop tracking
	expect    Seq  // next in-order sequence number the tracker wants
	remaining uint32
	hdr       [5]byte
	hdrLen    uint8
	body      [2]byte // first two body bytes of an alert record
	bodyLen   uint8
	curType   uint8
	curLen    uint16
}

// LadderEntry is one packet of a flow as kept for the ladder diagram.
type LadderEntry struct {
	Frame  uint64
	Input  int
	Time   time.Time
	Dir    Dir
	Flags  capture.TCPFlags
	Seq    Seq
	Ack    Seq
	Len    int
	TTL    uint8
	IPID   uint16
	Window uint16
	HasTS  bool
	TSVal  uint32
}

// Ladder is a fixed ring of the last 16 packets of a flow (both directions).
type Ladder struct {
	buf [16]LadderEntry
	n   int // total entries ever pushed
}

// Push appends e, overwriting the oldest entry when full.
func (l *Ladder) Push(e LadderEntry) {
	l.buf[l.n%len(l.buf)] = e
	l.n++
}

// Len gives the number of entries held (at most 16).
func (l *Ladder) Len() int { return min(l.n, len(l.buf)) }

// Total gives the number of entries ever pushed.
func (l *Ladder) Total() int { return l.n }

// At gives the i-th held entry, oldest first (0 <= i < Len()).
func (l *Ladder) At(i int) LadderEntry {
	start := 0
	if l.n > len(l.buf) {
		start = l.n % len(l.buf)
	}
	return l.buf[(start+i)%len(l.buf)]
}

// Entries returns the held entries, oldest first (allocates; not for the
// hot path).
func (l *Ladder) Entries() []LadderEntry {
	out := make([]LadderEntry, l.Len())
	for i := range out {
		out[i] = l.At(i)
	}
	return out
}

// Key identifies a flow by its endpoints in canonical order (A < B).
type Key struct {
	A, B netip.AddrPort
}

// Flow is one TCP connection. The Table owns it; Events carry a copy.
type Flow struct {
	ID        uint64 // 1-based, in order of creation
	Client    netip.AddrPort
	Server    netip.AddrPort
	RolesFrom RolesFrom
	Tunnel    capture.Tunnel // outermost tunnel the flow was seen in, if any
	VLAN      uint16
	Input     int // input of the first packet

	Start      time.Time // first packet
	Last       time.Time // last packet (either direction)
	FirstFrame uint64

	// Handshake facts.
	SYNACKSeen  bool
	SYNACKTime  time.Time
	Established bool          // the client ACKed the SYN/ACK (or data flowed both ways)
	RTT         time.Duration // SYN -> SYN/ACK -> ACK, when the handshake was seen
	ServerRTT   time.Duration // SYN/ACK -> client ACK (server side half), when seen
	ClientRTT   time.Duration // SYN -> SYN/ACK (client side half), when seen

	// MaxGap is the longest silence between two consecutive packets of
	// the flow (either direction) before the current packet.
	MaxGap time.Duration

	// Profiles by direction: Dirs[0] is FromClient, Dirs[1] FromServer.
	Dirs [2]Profile

	Ladder Ladder

	// Zeek-style history letters (see History()).
	history    [24]byte
	historyLen uint8
	histSeen   uint32 // bit per letter already recorded once-per-direction

	closed   bool // both FINs, or a RST, seen
	closedAt time.Time
	pending  int32 // index+1 of this flow's open event in the table's queue, 0 if none
}

// Profile returns the profile of direction d (d must be FromClient or FromServer).
func (f *Flow) Profile(d Dir) *Profile { return &f.Dirs[d-1] }

// SeqCheck says how the RST's sequence number relates to the receiver's
// window (RFC 5961 section 3.2).
type SeqCheck uint8

// Sequence checks. Zero means it could not be judged (no seq state).
const (
	SeqUnknown     SeqCheck = iota
	SeqExact                // seq == receiver's RCV.NXT: the connection is reset
	SeqInWindow             // in the window but not exact: challenge ACK, dropped
	SeqOutOfWindow          // outside the window: silently dropped
)

// String gives the JSON name: "exact", "in_window", "out_of_window", "unknown".
func (c SeqCheck) String() string {
	switch c {
	case SeqExact:
		return "exact"
	case SeqInWindow:
		return "in_window"
	case SeqOutOfWindow:
		return "out_of_window"
	}
	return "unknown"
}

// RSTPacket is one RST as it arrived, with everything a rule may compare.
type RSTPacket struct {
	Frame    uint64
	Input    int
	Time     time.Time
	Dir      Dir
	Flags    capture.TCPFlags
	Reserved uint8
	Seq      Seq
	Ack      Seq
	Window   uint16
	TTL      uint8
	IPID     uint16
	IsIPv4   bool
	DF       bool
	Opts     capture.Options
	Len      int // payload length (wire)
	HasMAC   bool
	SrcMAC   [6]byte
	SeqCheck SeqCheck
}

// HostProfile is what one IP address has shown across all flows (non-RST
// packets): so that a lone RST can still be compared with the host's other
// traffic.
type HostProfile struct {
	Known bool
	TTL   TTLStats
	IPID  IPIDStats
	Flows uint32 // flows this host took part in
}

// Stage is where in the connection the RST came, in Cloudflare Radar's
// vocabulary.
type Stage uint8

// Stages. Zero means unknown.
const (
	StageUnknown     Stage = iota
	StagePostSYN           // after the SYN, before the handshake completed
	StagePostACK           // handshake complete, no data yet
	StagePostPSH           // after the first data packet (the request)
	StageLaterInFlow       // later
)

// String gives the JSON name.
func (s Stage) String() string {
	switch s {
	case StagePostSYN:
		return "post_syn"
	case StagePostACK:
		return "post_ack"
	case StagePostPSH:
		return "post_psh"
	case StageLaterInFlow:
		return "later_in_flow"
	}
	return "unknown"
}

// After summarises the flow's packets after the (first) RST of an event,
// within the look-ahead window.
type After struct {
	// Packets from the RST's claimed sender after it (non-RST).
	SenderPackets     uint32
	SenderDataPackets uint32
	SenderFirst       time.Time // first such packet
	SenderFirstFrame  uint64
	SenderMaxSeqEnd   Seq // highest seq+len of sender data after the RST
	// Packets from the RST's receiver after it (non-RST).
	ReceiverPackets     uint32
	ReceiverDataPackets uint32
	ReceiverFirst       time.Time
	ReceiverFirstFrame  uint64
	// ChallengeACK is set when the receiver answered with a pure ACK
	// carrying its own SND.NXT and RCV.NXT (RFC 5961) after an in-window RST.
	ChallengeACK      bool
	ChallengeACKFrame uint64
	// RSTsBack counts RSTs from the receiver after the event's RSTs.
	RSTsBack uint32
	// NewSYN is set when a new connection on the same tuple started.
	NewSYN bool
	// Packets holds up to 16 of these packets, in order.
	Packets [16]LadderEntry
	N       int
}

// Event is one RST (or a burst of RSTs from the same side of one flow) with
// the flow's state just before it and what followed in the look-ahead
// window. Events are values: the rules may keep them.
type Event struct {
	// Flow is a snapshot of the flow taken just before the first RST was
	// applied (so its ladder ends with the packet before the RST).
	Flow Flow
	// RSTs of this event, in arrival order: the first one and up to 7
	// more from the same sender before the sender sent anything else.
	RSTs  [8]RSTPacket
	Count int // total RSTs in the event (may exceed len(RSTs))

	Stage Stage
	// Gap is the silence before the first RST: time since the flow's
	// previous packet (either direction). Zero for the first packet.
	Gap time.Duration
	// Trigger is the last packet from the RST's receiver before the RST
	// (valid iff HasTrigger).
	Trigger    LadderEntry
	HasTrigger bool

	// Host profiles of the RST's claimed sender and receiver addresses
	// across all flows, as known when the event was decided.
	SenderHost   HostProfile
	ReceiverHost HostProfile

	After After
	// EndOfInput is set when the event was decided because the input
	// ended before the look-ahead window did.
	EndOfInput bool
}

// First returns the event's first RST.
func (e *Event) First() *RSTPacket { return &e.RSTs[0] }

// Sender is the direction that (claims to have) sent the RST.
func (e *Event) Sender() Dir { return e.RSTs[0].Dir }

// SenderProfile is the claimed sender's profile in the flow snapshot.
func (e *Event) SenderProfile() *Profile {
	if e.RSTs[0].Dir == DirUnknown {
		return nil
	}
	return e.Flow.Profile(e.RSTs[0].Dir)
}

// ReceiverProfile is the receiver's profile in the flow snapshot.
func (e *Event) ReceiverProfile() *Profile {
	if e.RSTs[0].Dir == DirUnknown {
		return nil
	}
	return e.Flow.Profile(e.RSTs[0].Dir.Reverse())
}

// Options configures a Table.
type Options struct {
	// LookAhead is how long (packet time) after an event's first RST the
	// table keeps collecting what follows before it emits the event.
	// Default 2 s.
	LookAhead time.Duration
	// IdleEvict removes flows with no packet for this long (packet time).
	// Default 15 min; flows that are closed are removed after CloseEvict.
	IdleEvict  time.Duration
	CloseEvict time.Duration // default 30 s
	// MaxFlows caps the number of flows held; new flows past it are
	// dropped and counted. Default 1,000,000.
	MaxFlows int
	// MaxHosts caps the per-host profile table. Default 65,536.
	MaxHosts int
	// OnEvent receives each decided event. The *Event is valid only during
	// the call; copy it to keep it.
	OnEvent func(*Event)
	// OnFlowEnd, if set, is called when a flow is evicted or at Flush.
	OnFlowEnd func(*Flow)
}

// TableStats counts what a Table has done.
type TableStats struct {
	Flows        uint64 // flows created
	Active       int    // flows held now
	PeakActive   int
	Dropped      uint64 // packets of new flows refused because MaxFlows was reached
	DroppedFlows uint64 // new flows refused
	Evicted      uint64
	RSTPackets   uint64
	Events       uint64
}
