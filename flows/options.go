package flows

import "time"

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
	// an event, see Event). Default 1,000,000. Each connection costs about
	// 1.1 KB while hot (up to about 1.4 KB once the ladder holds 16
	// packets) and 170-350 bytes frozen (see HotFlows); a flow that has
	// seen only a pure SYN about 160 bytes (see synRec).
	MaxFlows int
	// HotFlows is how many flows the table keeps as they are tracked (the
	// hot tier, about 1 KB each); past it the least recently active are
	// frozen into compact records of about 150-350 bytes and thawed by their
	// next packet (freezer.go). Output does not depend on it. Zero or
	// negative: DefaultHotFlows (65,536, about 70 MB); split between the
	// shards of a Sharded as MaxFlows.
	HotFlows int
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
	// OnWarning, if set, receives a one-line message (frame first) when
	// capture time jumps: a lone outlier, a step forward of more than a
	// day, or a step back of more than a minute (see clock.go).
	OnWarning func(msg string)
}

// TableStats counts what a Table has done.
type TableStats struct {
	Flows        uint64 // flows created
	Active       int    // flows held now
	PeakActive   int    // most flows held at once
	Dropped      uint64 // packets of new flows refused because MaxFlows was reached
	DroppedFlows uint64 // refused packets that were pure SYNs (connection attempts refused)
	Evicted      uint64 // flows removed after IdleEvict or CloseEvict
	Tombstones   uint64 // flows evicted for idleness after carrying data, remembered (tombstone.go)
	Linked       uint64 // flows picked up mid-stream on the tuple of a remembered one (Flow.Evicted)
	EndedEarly   uint64 // flows ended before their time to make room in a full table (see Table.makeRoom)
	RSTPackets   uint64 // RST packets added (each is in exactly one event)
	Events       uint64 // events emitted
	TimeJumps    uint64 // time jumps and outliers detected (each warned through OnWarning)
	// Frozen counts the flows held frozen now (past HotFlows; part of
	// Active), Thawed the packets that thawed a frozen flow: a rate near
	// the packet rate says HotFlows is smaller than the flows busy at once.
	Frozen int
	Thawed uint64
}
