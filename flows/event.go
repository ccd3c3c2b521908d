package flows

import (
	"slices"
	"time"

	"github.com/rstscope/rstscope/capture"
)

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
// window. Events are values: the rules may keep them. The table builds an
// Event only when it decides it: while it waits for its look-ahead it
// keeps the flow's state as a compact record and the rest at what it
// holds (snapshot.go), so the Event handed to OnEvent is rebuilt for each
// call.
type Event struct {
	// Flow is a snapshot of the flow taken just before the first RST was
	// applied (so its ladder ends with the packet before the RST and the
	// sender's RSTs count excludes it): the state then, kept as a record
	// of the frozen codec (exact) and expanded when the event is decided.
	// Two things are settled just before the snapshot: a ClientHello
	// still being completed is parsed from what arrived, and the sender's
	// TLS 1.3 encrypted-alert candidate is marked (see TLSAlertInfo).
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
	// RSTMACHosts is how many hosts (IP addresses) had their first
	// non-RST packet from the first RST's link-layer source, as known
	// when the event was decided (0 without a MAC): two or more make that
	// MAC a router's, so a RST it sent with an initial TTL was made there.
	RSTMACHosts uint32

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

// EventPacket is one packet of an event's view (see Event.Packets).
type EventPacket struct {
	LadderEntry
	// RST is set for the event's own RSTs (RSTs[:min(Count, 8)]).
	RST bool
	// After is set for packets that came after the event's first RST:
	// the look-ahead's packets and the event's later RSTs. Packets with
	// neither mark are the flow's ladder before the RST.
	After bool
}

// Packets is the event's one packet ladder: the flow's last packets
// before the RST (Flow.Ladder), the event's RSTs, then what followed
// (After.Packets), each (input, frame) once, in that order. It allocates;
// rules and writers that show or compare packets read it rather than
// merging the three sources themselves.
func (e *Event) Packets() []EventPacket {
	return e.AppendPackets(make([]EventPacket, 0, e.packetsMax()))
}

// packetsMax is the most packets Packets can give.
func (e *Event) packetsMax() int {
	return e.Flow.Ladder.Len() + min(max(e.Count, 1), len(e.RSTs)) + min(max(e.After.N, 0), len(e.After.Packets))
}

// AppendPackets appends Packets to out and returns the extended slice
// (grown once at most), so that a caller judging event after event can
// reuse one array.
func (e *Event) AppendPackets(out []EventPacket) []EventPacket {
	nr := min(max(e.Count, 1), len(e.RSTs))
	na := min(max(e.After.N, 0), len(e.After.Packets))
	base := len(out)
	out = slices.Grow(out, e.packetsMax())
	add := func(p LadderEntry, rst, after bool) {
		// At most 40 packets: a scan costs less than a map (and its
		// allocations) per event.
		for i := base; i < len(out); i++ {
			if p.Frame != 0 && out[i].Frame == p.Frame && out[i].Input == p.Input {
				return
			}
		}
		out = append(out, EventPacket{LadderEntry: p, RST: rst, After: after})
	}
	for i := range e.Flow.Ladder.Len() {
		add(e.Flow.Ladder.At(i), false, false)
	}
	for i := range nr {
		r := &e.RSTs[i]
		if i > 0 && r.Frame == 0 {
			continue
		}
		add(r.entry(), true, i > 0)
	}
	for i := range na {
		add(e.After.Packets[i], false, true)
	}
	return out
}

// entry gives the RST as a ladder entry.
func (r *RSTPacket) entry() LadderEntry {
	return LadderEntry{Frame: r.Frame, Input: r.Input, Time: r.Time, Dir: r.Dir, Flags: r.Flags,
		Seq: r.Seq, Ack: r.Ack, Len: r.Len, TTL: r.TTL, IPID: r.IPID, Window: r.Window,
		HasTS: r.Opts.HasTS, TSVal: r.Opts.TSVal}
}
