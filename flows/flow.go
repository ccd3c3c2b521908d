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

// Key identifies a flow by its endpoints in canonical order (A < B).
type Key struct {
	A, B netip.AddrPort
}

// Flow is one TCP connection as the table shows it: in an event's
// snapshot and to OnFlowEnd (the table keeps flows in a compact form,
// flowState, and builds a Flow from it only then).
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

	// Evicted is the flow the table evicted for idleness on this tuple,
	// when this flow was picked up mid-stream right after it and linked to
	// it (its roles are then Evicted's); nil otherwise. Shared, never
	// changed.
	Evicted *Evicted

	hist histState // Zeek-style history (see History())

	closed bool // both FINs, or an RST that was not out of window, seen
	// reset is set by an acceptable RST: exact, or unknown when the
	// receiver's state was not seen. Out-of-window and in-window RSTs
	// (dropped, or answered with a challenge ACK, RFC 5961) leave the
	// connection alive, so a forged one cannot make the tuple reusable.
	reset bool
}

// Profile returns the profile of direction d (d must be FromClient or FromServer).
func (f *Flow) Profile(d Dir) *Profile { return &f.Dirs[d-1] }
