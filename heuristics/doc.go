// Package heuristics is the attribution stage of rstscope's pipeline:
// capture -> flows -> heuristics -> report. It turns one flows.Event (a RST,
// or a burst of RSTs from one side of a flow, with the flow's state before
// it and a short look-ahead after it) into one Finding: why the RST
// happened (Cause), who really sent it (Origin), how sure we are
// (Confidence), and the evidence with frame numbers.
//
// A cause is one row of one table (causes.go), in precedence order: the
// rule that claims it, whether it survives a forged RST, the errno the
// application saw, the advice, the --explain text, and whether it is a
// consequence of an earlier reset rather than a root cause. The engine,
// Explain, ParseCause (so --cause) and the witnesses' weighing all read the
// table; AllCauses is only the order reports list causes in.
//
// Each rule is a pure function of the event (one file per rule) that
// returns claims: a cause claim ("this looks like a refused SYN") or an
// origin claim ("the RST's TTL differs from the server's"), each with a
// signal name, a strength and a one-line detail. Rules never print, never
// read the clock, and never look at another flow: everything they need is
// in the event, including the per-host profiles that flows keeps across
// flows. The one memory across events is the engine's (echo.go): per flow,
// the last RST it judged forged, so that the endpoint's RST answering the
// real peer afterwards is judged after_reset, the echo of that reset
// (bounded, 4096 flows; Finding.Echoes names the forged RST and the report
// turns it into consequence_of). Facts several rules need (the idle gap and
// the timeout it matches, the sender's FIN, the flow's TLS alerts, the
// sender's reference TTL, whether anything of the sender can be checked)
// are ctx methods computed once per event and read by the rules, the
// summary and the advice alike.
//
// Engine.Judge runs the rules in table order, then the origin rules, and
// asks each Witness (a peer capture, package correlate; the host kernel,
// package kernel) for its Testimony. One combine step weighs everything:
// the origin from the balance of middlebox and genuine-peer signals,
// overruled by a witness's proof (present_at_sender, absent_at_sender,
// kernel_reason, kernel_absent); the cause by the table's precedence,
// overruled by a witness that knows it (the kernel's reset reason, or its
// drop of the RST), packet context choosing among the variants the witness
// allows. What the capture could not show lowers confidence there too: a
// TLS alert that lost record tracking or the snaplen's cut may have hidden
// (ruleTLSUnseen, rulePayloadCut in snaplen.go) holds any cause tls_alert
// would outrank at medium, and at low one that rests on there being no
// alert. When nothing of the claimed sender can be checked (no packet of
// it in the flow, no TTL steady across other flows where it sent), the
// origin is capped at medium and the card says so (ruleBaseline); a RST
// with its initial TTL from outside the receiver's subnet, or from a MAC
// that brought other addresses' first packets (a router's: the link
// layer's proof that the claimed address is behind it), is then counted
// as made on the receiver's link. Only then are the summary and advice
// written, so they never contradict the evidence.
//
// Finding is the JSON contract of DESIGN.md section 4: its tags live there
// and nowhere else. It keeps typed values (netip.AddrPort, Side, Instant,
// Gap, Millis) whose marshallers give the contract's text (contract.go).
//
// Buffers: Judge reads the event and copies what it keeps; the Finding
// owns its slices. Clock: only the capture timestamps in the event.
// Judge allocates (strings for details and summaries); it runs once per
// RST event, not per packet.
package heuristics
