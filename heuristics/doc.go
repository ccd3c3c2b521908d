// Package heuristics is the attribution stage of rstscope's pipeline:
// capture -> flows -> heuristics -> report. It turns one flows.Event (a RST,
// or a burst of RSTs from one side of a flow, with the flow's state before
// it and a short look-ahead after it) into one Finding: why the RST
// happened (Cause), who really sent it (Origin), how sure we are
// (Confidence), and the evidence with frame numbers.
//
// Each rule is a pure function of the event (one file per rule) that
// returns claims: a cause claim ("this looks like a refused SYN") or an
// origin claim ("the RST's TTL differs from the server's"), each with a
// signal name, a strength and a one-line detail. Rules never print, never
// read the clock, and never look at another flow: everything they need is
// in the event, including the per-host profiles that flows keeps across
// flows. Engine.Judge runs the rules listed in engine.go and combines
// their claims: the origin from the balance of middlebox and genuine-peer
// signals, the cause by the root-cause precedence of DESIGN.md section 3.
//
// Buffers: Judge reads the event and copies what it keeps; the Finding
// owns its slices. Clock: only the capture timestamps in the event.
// Judge allocates (strings for details and summaries); it runs once per
// RST event, not per packet.
package heuristics
