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
//
// Three shapes are recorded:
//   - plaintext: an alert record (type 21) of length 2; Level and
//     Description are read from its body (both 0 when the snaplen cut it).
//   - encrypted: an alert record (type 21) of any other length: it carries
//     a MAC or AEAD tag, i.e. it was sent after this direction's
//     ChangeCipherSpec (TLS <= 1.2); Level/Description are unknown.
//   - candidate: TLS 1.3 hides alerts in application_data records. An
//     application_data record of 19..40 bytes that is the last record a
//     direction sent before its FIN or RST is marked Encrypted with
//     Candidate set (an encrypted alert is 19 bytes: 2 alert bytes, the
//     inner type and a 16-byte AEAD tag; more with padding). It may also
//     be a small application message. Not used when the ServerHello chose
//     TLS <= 1.2.
type TLSAlertInfo struct {
	Frame       uint64    // frame that completed the alert record
	Time        time.Time // time of that frame
	Encrypted   bool      // body is encrypted: a post-CCS alert (TLS <= 1.2) or a candidate (TLS 1.3)
	Candidate   bool      // TLS 1.3 guess: a short application_data record right before FIN/RST (implies Encrypted)
	Level       uint8     // 1 warning, 2 fatal; valid iff !Encrypted
	Description uint8     // RFC 8446 AlertDescription; valid iff !Encrypted
	Length      uint16    // record length (2 for a plaintext alert)
}

// TTLStats summarises the TTL (hop limit) of a direction's (or a host's)
// non-RST packets. The zero value means no samples.
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

// IPIDStats models the IPv4 IP ID series of a direction's (or a host's)
// non-RST packets, in arrival order.
//
// Each sample after the first is compared with the previous one: both zero
// counts in Zero; a forward step of 0..1000 (modulo 2^16, so 65535 -> 2 is
// a step of 3) between non-zero values counts in Small; any other step
// between non-zero values (backwards or far) counts in Large; a step from
// or to zero alone (e.g. a Linux SYN/ACK with ID 0 followed by the
// socket's counter) counts in none. Model, recomputed on every sample:
// Unknown under 3 samples; Zero when every sample was 0; Incrementing when
// Small > 0 and Large <= Small/4; Random otherwise.
type IPIDStats struct {
	Samples uint32
	Last    uint16 // last non-RST IP ID; valid iff Samples > 0
	Model   IPIDModel
	Step    uint16 // typical (majority) step among the Small steps; valid iff Model == IPIDIncrementing
	// Counters of consecutive-pair steps that decide Model (see above).
	Zero, Small, Large uint32
	// Boyer-Moore majority vote over the Small steps, giving Step.
	stepCand  uint16
	stepVotes uint32
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
	// Status is the HTTP status code of a response (server direction,
	// Kind == PayloadHTTPResponse), 0 otherwise.
	Status uint16
	// BodyStart and ContentLength describe an HTTP response's framing
	// (server direction): the response's first body byte is at
	// Frame's seq + BodyStart, and the body is ContentLength bytes long.
	// ContentLength is -1 when unknown (no header, chunked, or not in the
	// first segment). Only the first response of a flow is parsed.
	BodyStart     uint32
	ContentLength int64
	// StartSeq is the sequence number of the first payload byte (the
	// first payload's seq), for HTTP and TLS alike.
	StartSeq Seq
	// Cut is set when the payload ended before the request line/headers
	// (HTTP) or the ClientHello extensions (TLS) could be read in full, so
	// a missing Host or SNI may just not have been captured.
	Cut bool
}

// Profile is what one direction of a flow has shown. All fields are fixed
// size or strings copied once per flow.
//
// Unless a field says otherwise it counts every packet of the direction,
// RSTs included; "non-RST" fields ignore RST packets so that a forged RST
// cannot pollute the model it is compared with. Sequence, ack and window
// state is never updated from RSTs either.
type Profile struct {
	Packets       uint64    // all packets sent in this direction (RSTs included)
	Bytes         uint64    // TCP payload bytes of non-RST packets (wire length, retransmissions included)
	DataPackets   uint64    // non-RST packets carrying payload (retransmissions included)
	First, Last   time.Time // times of the first and last packet (any kind); zero iff Packets == 0
	LastData      time.Time // time of the last non-RST packet carrying payload
	LastDataFrame uint64    // frame of that packet (0 if none)

	TTL  TTLStats  // non-RST packets only
	IPID IPIDStats // non-RST IPv4 packets only

	// TCP options behaviour of non-RST packets.
	TSPackets uint64 // non-RST packets carrying the timestamps option
	LastTSVal uint32 // TSval of the last of them; valid iff TSPackets > 0
	HasWScale bool   // this side's SYN or SYN/ACK carried window scale
	WScale    uint8  // its shift count; valid iff HasWScale
	MSS       uint16 // MSS option of this side's SYN or SYN/ACK, 0 if none

	// Sequence tracking.
	ISN      Seq       // seq of this side's SYN or SYN/ACK; valid iff SYNSeen
	SYNSeen  bool      // this direction sent a SYN (SYN or SYN/ACK)
	SYNFrame uint64    // frame of the first such SYN
	SYNTime  time.Time // time of the first such SYN
	// NextSeq is the highest seq+len sent, where len counts the payload
	// (wire length) plus one for SYN and one for FIN: the sender's SND.NXT
	// as far as the capture shows. Valid iff SeqValid.
	NextSeq  Seq
	SeqValid bool
	// LastAck is the ack field of the last non-RST packet with ACK set:
	// the sender's RCV.NXT as last announced. Valid iff AckValid.
	LastAck  Seq
	AckValid bool
	// Window is the last advertised receive window of a non-RST packet, in
	// bytes: shifted by WScale when both SYNs carried window scale (never
	// on SYNs), raw otherwise. Valid iff a non-RST packet was seen
	// (TTL.Count > 0).
	Window uint32
	// Retransmissions counts non-RST data packets whose seq+len did not go
	// beyond NextSeq (data already sent: retransmission or keep-alive probe).
	Retransmissions uint32
	ZeroWindows     uint32 // non-RST, non-SYN packets advertising a zero window

	// FIN (the first one this direction sent).
	FINSeen  bool
	FINFrame uint64
	FINTime  time.Time
	FINSeq   Seq // sequence number the FIN occupies (seq + payload length)

	// RSTs counts RSTs sent in this direction (all of them, as they arrive).
	RSTs uint32

	// L2 source address of this direction's first non-RST packet (Ethernet
	// captures only: valid iff HasMAC).
	HasMAC     bool
	MAC        [6]byte
	MACChanged bool // a later non-RST packet had a different source MAC

	// FirstPayload classifies this direction's first non-RST packet with
	// payload (PayloadNone until there is one).
	FirstPayload PayloadKind
	// Request is parsed from the first payload: for the client the HTTP
	// request or TLS ClientHello; for the server only Kind, Frame, Time and,
	// for HTTP, Status (a TLS ServerHello fills TLSVersion below instead).
	// A ClientHello longer than its first segment is completed from the
	// following in-order segments (up to 16 KiB), so SNI may appear a
	// packet later than Kind.
	// When the first payload was opaque and a later segment of the
	// direction starts with a ClientHello (STARTTLS), Request describes
	// that ClientHello instead (Frame/Time are the ClientHello's).
	Request Request
	// TLSRecords has bit (type-20) set for each record type 20..23 whose
	// header was seen at a record boundary in this direction.
	TLSRecords uint8
	// TLSVersion is, for the server, the version its ServerHello selected
	// (supported_versions, else legacy_version); for the client the
	// ClientHello's legacy_version. 0 when unknown.
	TLSVersion uint16
	CCSSeen    bool // a ChangeCipherSpec record was sent by this direction
	// Alert is the last alert this direction sent (a plaintext or
	// post-CCS alert replaces an earlier one; a TLS 1.3 candidate is only
	// recorded when no other alert was seen). Valid iff AlertSeen.
	Alert     TLSAlertInfo
	AlertSeen bool
	// TLSBroken is set when record tracking lost sync (a gap, reordering,
	// snaplen cut inside a header, or bytes that are not a record header):
	// later records of this direction are not seen.
	TLSBroken bool

	// tls is the record-boundary tracker (internal).
	tls tlsTracker
}

// tlsTracker follows TLS record boundaries in one direction without
// buffering payload: it keeps how many bytes of the current record remain
// and up to 5 header bytes of a record header split across segments.
type tlsTracker struct {
	active    bool   // the direction looks like TLS
	broken    bool   // lost sync (gap, garbage); stop tracking
	expect    Seq    // next in-order sequence number the tracker wants
	remaining uint32 // body bytes of the current record still to come
	hdr       [5]byte
	hdrLen    uint8
	body      [2]byte // first two body bytes of an alert record
	bodyLen   uint8
	curType   uint8
	curLen    uint16
	// last completed record
	lastType  uint8
	lastLen   uint16
	lastFrame uint64
	lastTime  time.Time
}

// LadderEntry is one packet of a flow as kept for the ladder diagram.
type LadderEntry struct {
	Frame  uint64    // capture.Packet.Index (1-based within its input)
	Input  int       // capture.Packet.Input
	Time   time.Time // capture time
	Dir    Dir       // sender, in the roles of the flow (or event snapshot) holding the entry
	Flags  capture.TCPFlags
	Seq    Seq    // raw sequence number
	Ack    Seq    // raw acknowledgement number (meaningful iff Flags has ACK)
	Len    int    // TCP payload length (wire)
	TTL    uint8  // TTL or hop limit
	IPID   uint16 // IPv4 ID (0 for IPv6)
	Window uint16 // raw (unscaled) window field
	HasTS  bool   // timestamps option present
	TSVal  uint32 // its TSval; valid iff HasTS
}

// Ladder is a fixed ring of the last 16 packets of a flow (both directions).
// Entries are kept in a compact form (48 bytes instead of LadderEntry's
// 80): Push and At convert. Times come back as UTC.
type Ladder struct {
	buf [16]ladderSlot
	n   int // total entries ever pushed
}

// ladderSlot is a LadderEntry packed: the time as Unix seconds and
// nanoseconds, Dir in the top bits of the nanoseconds, HasTS in the top
// bit of the flags.
type ladderSlot struct {
	frame   uint64
	sec     int64
	nsecDir uint32 // nanoseconds | Dir<<30
	seq     Seq
	ack     Seq
	len     uint32
	tsVal   uint32
	input   int32
	ipID    uint16
	window  uint16
	flags   uint16 // capture.TCPFlags | slotHasTS
	ttl     uint8
}

const slotHasTS = 1 << 15

func packSlot(e *LadderEntry) ladderSlot {
	fl := uint16(e.Flags) &^ slotHasTS
	if e.HasTS {
		fl |= slotHasTS
	}
	return ladderSlot{
		frame: e.Frame, sec: e.Time.Unix(), nsecDir: uint32(e.Time.Nanosecond()) | uint32(e.Dir&3)<<30,
		seq: e.Seq, ack: e.Ack, len: uint32(e.Len), tsVal: e.TSVal, input: int32(e.Input),
		ipID: e.IPID, window: e.Window, flags: fl, ttl: e.TTL,
	}
}

func (s *ladderSlot) entry() LadderEntry {
	return LadderEntry{
		Frame: s.frame, Input: int(s.input), Time: time.Unix(s.sec, int64(s.nsecDir&(1<<30-1))).UTC(),
		Dir: Dir(s.nsecDir >> 30), Flags: capture.TCPFlags(s.flags &^ slotHasTS),
		Seq: s.seq, Ack: s.ack, Len: int(s.len), TTL: s.ttl, IPID: s.ipID, Window: s.window,
		HasTS: s.flags&slotHasTS != 0, TSVal: s.tsVal,
	}
}

// reverseDirs swaps FromClient and FromServer in every slot.
func (l *Ladder) reverseDirs() {
	for i := range l.buf {
		d := Dir(l.buf[i].nsecDir >> 30).Reverse()
		l.buf[i].nsecDir = l.buf[i].nsecDir&(1<<30-1) | uint32(d)<<30
	}
}

// Push appends e, overwriting the oldest entry when full.
func (l *Ladder) Push(e LadderEntry) {
	l.buf[l.n%len(l.buf)] = packSlot(&e)
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
	return l.buf[(start+i)%len(l.buf)].entry()
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
	// ID is 1-based in order of creation; 0 only in the snapshot of an
	// event whose flow the table refused (MaxFlows reached).
	ID        uint64
	Client    netip.AddrPort
	Server    netip.AddrPort
	RolesFrom RolesFrom
	Tunnel    capture.Tunnel // outermost tunnel of the first packet, if any
	VLAN      uint16         // outermost VLAN ID of the first packet, 0 if none
	Input     int            // input of the first packet

	Start      time.Time // time of the first packet
	Last       time.Time // time of the latest packet (either direction)
	FirstFrame uint64    // frame of the first packet

	// Handshake facts. The RTTs are zero when the packets they need were
	// not seen.
	SYNACKSeen  bool      // the server sent a SYN/ACK
	SYNACKTime  time.Time // time of the first SYN/ACK
	Established bool      // the client ACKed the server's SYN (ack beyond its ISN), or data flowed both ways
	// ClientRTT is SYN -> SYN/ACK and ServerRTT SYN/ACK -> the client's
	// ACK as seen at the capture point; RTT is their sum (set only when
	// both the SYN and the ACK completing the handshake were seen).
	RTT       time.Duration
	ServerRTT time.Duration
	ClientRTT time.Duration

	// MaxGap is the longest silence between two consecutive packets of
	// the flow (either direction) before the current packet.
	MaxGap time.Duration

	// Profiles by direction: Dirs[0] is FromClient, Dirs[1] FromServer.
	Dirs [2]Profile

	Ladder Ladder

	// Zeek-style history letters (see History()).
	history    [32]byte
	historyLen uint8
	histSeen   uint32    // bit per once-per-direction letter already recorded
	histSeq    [2][4]Seq // last seq per direction of S, H, F, R (repeat only on a new seq)
	histHas    [2]uint8  // bit per flag of histSeq that is valid
	zterm      [2]uint8  // Zeek endpoint end state per direction: 0 open, zTermClosed, zTermReset
	zprevClose [2]bool   // the endpoint was CLOSED before its RESET (Zeek's prev_state)

	closed  bool // both FINs, or an RST that was not out of window, seen
	rstSeen bool // any RST seen (a later new SYN then starts a new flow)
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

// MaxRSTPayload bounds RSTPacket.Payload.
const MaxRSTPayload = 64

// RSTPacket is one RST as it arrived, with everything a rule may compare.
// Fields copy capture.Packet's.
type RSTPacket struct {
	Frame    uint64    // 1-based frame index within its input
	Input    int       // input index
	Time     time.Time // capture time
	Dir      Dir       // claimed sender, in the event snapshot's roles
	Flags    capture.TCPFlags
	Reserved uint8  // reserved header bits
	Seq      Seq    // raw sequence number
	Ack      Seq    // raw acknowledgement number (meaningful iff Flags has ACK)
	Window   uint16 // raw window field
	TTL      uint8  // TTL or hop limit
	IPID     uint16 // valid iff IsIPv4
	IsIPv4   bool
	DF       bool // valid iff IsIPv4
	Opts     capture.Options
	Len      int // payload length (wire)
	// Payload is a copy of the first bytes (at most MaxRSTPayload) of the
	// RST's captured payload, "" when it has none: the diagnostic text
	// RFC 9293 (3.5.3) allows, which some stacks and middleboxes send.
	// Copied once per RST of an event; other packets keep no payload.
	Payload string
	HasMAC  bool    // Ethernet capture: SrcMAC valid
	SrcMAC  [6]byte // L2 source address
	// SeqCheck judges Seq against the receiver's state just before this
	// RST (see seqCheck in event.go for the exact rules).
	SeqCheck SeqCheck
}

// HostProfile is what one IP address has shown across all flows (non-RST
// packets): so that a lone RST can still be compared with the host's other
// traffic.
type HostProfile struct {
	Known bool      // the host is in the table (false when unknown or the host table was full)
	TTL   TTLStats  // non-RST packets sent by the host, all flows
	IPID  IPIDStats // non-RST IPv4 packets sent by the host, all flows, in arrival order
	Flows uint32    // flows this host took part in
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
// within the look-ahead window (arrival time <= first RST + LookAhead).
// Sender and receiver are told apart by address, so they stay right even
// if the live flow's roles change.
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
	// ChallengeACK is set when the receiver's first pure ACK after a RST
	// that was not exact carried its own SND.NXT (its NextSeq): the shape
	// of an RFC 5961 challenge ACK (or a duplicate ACK: compare timing).
	ChallengeACK      bool
	ChallengeACKFrame uint64
	// RSTsBack counts RSTs from the receiver after the first RST.
	RSTsBack uint32
	// NewSYN is set when a pure SYN was seen on the tuple after the RST
	// (a retry, or a new connection that replaced the flow).
	NewSYN bool
	// Packets holds the first 16 packets of the flow after the first RST,
	// in arrival order, including RSTs that joined the event, and the SYN
	// of a new connection on the tuple. Dir is in the snapshot's roles.
	Packets [16]LadderEntry
	N       int // entries of Packets in use
}

// Event is one RST (or a burst of RSTs from the same side of one flow) with
// the flow's state just before it and what followed in the look-ahead
// window. Events are values: the rules may keep them.
type Event struct {
	// Flow is a snapshot of the flow taken just before the first RST was
	// applied (so its ladder ends with the packet before the RST and the
	// sender's RSTs count excludes it). Two things are settled just
	// before the snapshot: a ClientHello still being completed is parsed
	// from what arrived, and the sender's TLS 1.3 encrypted-alert
	// candidate is marked (see TLSAlertInfo).
	Flow Flow
	// RSTs of this event, in arrival order: the first one and up to 7
	// more from the same sender within the look-ahead, before the sender
	// sent anything but RSTs and before a new SYN on the tuple. RSTs[i]
	// is valid for i < min(Count, 8).
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
	// History and ConnState are the flow's Zeek-style history and
	// conn_state when the event was decided: they include the RST and
	// what the look-ahead saw, as Zeek's conn.log would (Flow, the
	// snapshot, stops before the RST). Empty when the flow had ended.
	History   string
	ConnState string
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
	// IdleEvict removes open flows with no packet for this long (packet
	// time). Default 15 min.
	IdleEvict time.Duration
	// CloseEvict removes closed flows (FIN both ways, or an RST that was
	// not out of window) with no packet for this long. Default 30 s (Zeek
	// uses 5 s). A packet after that starts a new (midstream) flow.
	CloseEvict time.Duration
	// MaxFlows caps the number of flows held; packets that would start a
	// flow past it are dropped and counted (an RST among them still gets
	// an event, see Event). Default 1,000,000. Each flow costs about 2.4 KB.
	MaxFlows int
	// MaxHosts caps the per-host profile table; hosts past it get no
	// profile (HostProfile.Known false). Default 65,536.
	MaxHosts int
	// OnEvent receives each decided event. The *Event is valid only during
	// the call; copy it to keep it.
	OnEvent func(*Event)
	// OnFlowEnd, if set, is called when a flow leaves the table: evicted
	// (idle or closed), replaced by a new connection on its tuple, or at
	// Close. The *Flow is valid only during the call.
	OnFlowEnd func(*Flow)
}

// TableStats counts what a Table has done.
type TableStats struct {
	Flows        uint64 // flows created
	Active       int    // flows held now
	PeakActive   int    // most flows held at once
	Dropped      uint64 // packets of new flows refused because MaxFlows was reached
	DroppedFlows uint64 // refused packets that were pure SYNs (connection attempts refused)
	Evicted      uint64 // flows removed after IdleEvict or CloseEvict
	EndedEarly   uint64 // flows ended before their time to make room in a full table (see Table.makeRoom)
	RSTPackets   uint64 // RST packets added (each is in exactly one event)
	Events       uint64 // events emitted
}
