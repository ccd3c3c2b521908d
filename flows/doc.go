// Package flows is the second stage of rstscope's pipeline: it keeps one
// entry per TCP connection and turns every RST into an Event with the
// flow's context and what followed it.
//
//	capture.Source --Packet--> flows.Table --Event--> heuristics.Engine
//
// # Flows
//
// A flow is keyed by its canonical 5-tuple (Key, endpoints sorted). A pure
// SYN that is not a retransmission (a different ISN from its sender's SYN
// in the flow) on a tuple whose flow ended (FIN both ways, or an
// acceptable RST: exact, or unknown when the receiver's state was not
// seen) starts a new flow; the old one ends. An out-of-window or in-window
// RST does not: a receiver drops it (RFC 5961), so a forged RST and a
// forged SYN cannot replace a live flow.
// Roles: the SYN sender is the client (RolesHandshake); without a SYN, the
// SYN/ACK receiver (RolesSYNACK); without either, the side on a port below
// 1024 (if only one is), else the lower port, is the server (RolesPort).
// A SYN or SYN/ACK seen later upgrades the roles (swapping the profiles if
// needed).
//
// Each direction keeps a fixed-size Profile (packets, TTL and IP ID models,
// options, sequence state, FIN, TLS records and alerts, the first payload
// parsed into a Request); each host (IP address) a HostProfile across
// flows; each flow a ring of its last 16 packets.
//
// The table holds each flow in a compact form (flowState; its layout and
// ranges are described at the top of state.go): times as Unix
// nanoseconds, the endpoints packed once, ladder slots of 32 bytes
// relative to the flow's start (4 inline, then pooled blocks of 4 and 12
// as the flow grows), frames as offsets from the flow's first, the fields
// every packet touches first, and a parsed request or a TLS record
// tracker only for flows that have one; the flow map holds 8-byte slots
// with references into a slab of entries. The public Flow and Profile are
// built from it only for an event's snapshot and for OnFlowEnd; a
// connection costs about 1.05 KB held (1.35 KB once its ladder is full),
// a flow that has seen only a SYN about 160 bytes. Past Options.HotFlows
// (65,536) the least recently active flows are frozen into pointer-free
// byte records of about 150-350 bytes (frozen.go, freezer.go) and thawed
// by their next packet; the output does not depend on which tier held a
// flow.
//
// # Events
//
// An RST opens an Event: the flow's public form built just before the RST is
// applied, the RST itself (with its SeqCheck against the receiver's
// state), the stage, the gap before it and the trigger (the receiver's
// last packet). The event stays open for Options.LookAhead of packet time:
// later RSTs from the same sender join it (Count, RSTs) as long as that
// sender has sent nothing else since the first RST and no new SYN was seen
// on the tuple (each answer to a retried SYN is its own event); every
// other packet of the flow fills After. Event.Packets is the one merged
// view of an event's packets (the ladder before the RST, its RSTs, the
// look-ahead; each frame once, marked RST and After) and Profile.End a
// direction's end seq: rules and writers read those rather than merging
// or deriving them again. Every RST packet belongs to exactly one Event:
// an RST that joins no open event opens a new one, including an RST of a
// flow the table refused because MaxFlows was reached (see openUntracked:
// a minimal flow snapshot, ID 0, roles by port). Events reach
// Options.OnEvent in order of their first RST's time (then input, then
// frame) when their window ends (Add, Flush) or at Close (EndOfInput).
// The order holds as long as capture time never goes back by more than
// LookAhead: an RST older than an event already emitted is emitted late.
// Time jumps are caught first (clock.go): a packet more than a day ahead
// of the table's clock or more than a minute behind it is held until the
// next packet of its input says whether it was a lone outlier (tracked at
// the clock's time) or a step (forward: time moves on; back: this input's
// later times are re-based forward, each input apart); Options.OnWarning
// names the frame. Event and ladder times after a step back are the
// re-based ones.
//
// # Clock, memory and ownership
//
// The table runs on packet time only: look-ahead, idle eviction
// (IdleEvict) and eviction of closed flows (CloseEvict) are measured from
// the latest packet time seen (or the time given to Flush); time.Now is
// never read. Flows sit on intrusive lists ordered by last packet (closed,
// half-open, active), so eviction costs O(1) per packet and a full table
// finds a closed, half-open or idle flow to end wherever it is. A flow
// that has seen only one pure SYN is a compact record (synRec) until its
// second packet replays the SYN into a full flow; a list's coldest flows
// past HotFlows are frozen at its head, in order (freezer.go). The flow count is capped
// by MaxFlows, the host table by MaxHosts. Add keeps nothing of the Packet it is given
// (its Payload aliases the capture buffer): payload yields derived facts
// and strings copied once per flow; a ClientHello longer than one segment
// is copied into a buffer of at most 16 KiB until complete. Add allocates
// nothing for a packet of an established flow.
//
// The *Event given to OnEvent and the *Flow given to OnFlowEnd are valid
// only during the call; copy them to keep them. A Table is not safe for
// concurrent use.
//
// # Shards
//
// Sharded (shard.go) runs n Tables on their own goroutines: the caller's
// goroutine admits packets (time jumps), keeps the host profiles and
// routes each packet by its symmetric flow hash, in batches with
// preallocated buffers; every packet carries the reader's clock, so each
// shard decides events and evicts flows before the same packet as one
// table would; host profiles are snapshotted for each RST when the
// reader's clock passes its look-ahead (flows counted in Flows as the
// shards start them); decided events come back at the end of each batch
// and reach OnEvent on the caller's goroutine in a table's order. The
// events are a Table's for any n (TestSharded_sameAsOneShard runs every
// capture of the repository, FuzzSharded random ones); what differs is
// listed on Sharded (caps per shard, host order past MaxHosts, Flow.ID
// numbering).
package flows
