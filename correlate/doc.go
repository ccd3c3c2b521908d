// Package correlate checks rstscope's findings against a second capture of
// the same traffic taken at the other end of the path (--peer): a RST that
// arrived at the client but never left the server was forged on the path.
//
//	capture.Source --Packet--> flows.Table --Event--> heuristics.Engine --Finding--> report
//	                                                          ^
//	                                       correlate.Peer.Testify (a heuristics.Witness)
//
// It sits beside the pipeline: it imports capture, flows and heuristics,
// never report, and main wires it by handing the Peer to
// Engine.Judge(ev, peer). It never touches a Finding: Testify returns
// claims and the engine weighs them with its own before it writes the
// summary and advice.
//
// # Matching
//
// Load reads the peer capture completely first and keeps, per flow, the
// initial sequence numbers of both sides and a compact record of every
// packet (time, frame, seq, ack, flags, length, TTL, TSval), at most
// maxRecords per flow (the oldest half goes when full), plus a fingerprint
// (FNV-1a of the first 48 bytes and the length) of each side's first two
// data segments. A flow of the main capture is found in the peer capture
// by its ISNs (a NAT rewrites addresses and ports, not sequence numbers,
// unless it randomises ISNs, which Linux MASQUERADE does not), else by a
// TSval and seq pair of one of its packets, else by the fingerprint of one
// of its data segments (Observe hashes the main pass's data segments; the
// match also gives the sequence number offsets of a NAT that rewrites
// them), else by its addresses and ports. Packets are matched by seq, ack,
// flags, length and side (after those offsets), and by time once the
// clocks are aligned.
//
// # Clocks
//
// Observe sees every packet of the main pass (SYNs and data segments do
// one map lookup each; nothing allocates but the first payload match of a
// flow) and keeps, in a fixed ring, the time differences of handshake
// packets seen in both captures; Testify adds the matched packets of the
// event's flow. A packet's direction comes from its
// TTL: it is higher at the capture nearer its sender. For packets from the
// main capture's side, d1 = t(peer) - t(main) = offset + delay; for the
// other way, d2 = t(main) - t(peer) = -offset + delay; so offset =
// (median d1 - median d2) / 2 and the one-way delay = (median d1 + median
// d2) / 2, which assumes the same delay both ways (a symmetric path). With
// one direction only, the offset is taken as 0.
//
// # Verdicts
//
// The side of each endpoint (near the main capture or near the peer) comes
// from the same TTL comparison. When the peer capture is at the RST's
// claimed sender's side and covers its time, a RST absent there was forged
// on the path (an absent_at_sender claim, heuristics.AttestForged: the
// engine makes the origin middlebox at high confidence and keeps only a
// cause that survives a forged RST); a RST present in both captures is
// genuine (present_at_sender, AttestGenuine: origin the claimed sender). Packets near the reset that one side's capture shows
// sent and the other's never received are lost_in_path. The peer capture
// must hold all of the traffic between the two hosts: one taken with a
// narrower filter makes packets look absent.
//
// A peer capture with no packet of the flow (or no TCP at all) is no
// error. When no packet is in both captures to align the clocks, it proves
// the flow never reached the RST's claimed sender only if it ran through
// the flow's time (the span of all its frames, clocks equal within 1 s) at
// that sender's side (the sender's packets leave with an initial TTL
// there, or the main capture is on the receiver's host and the peer holds
// none of the sender's packets): absent_at_sender, and the receiver's
// packets lost_in_path. A peer that does not cover the flow, or holds no
// frame at all, adds a note: a warning, never a verdict.
//
// Buffers: Load copies what it keeps; Testify allocates (once per event).
// Clock: only capture timestamps, never the wall clock.
package correlate
