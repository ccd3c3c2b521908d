package heuristics

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// Origin rules: signals that the RST was (or was not) sent by the host it
// claims to come from (DESIGN.md section 3, REFERENCE.md sections 6, 8
// and 12). Each returns origin claims only; the engine weighs them.

// ruleDataAfterRST: the claimed sender keeps talking after its own RST.
// A real stack has no socket left after sending a RST, so later packets
// from it mean that someone else forged the RST and raced the real peer.
func ruleDataAfterRST(ev *flows.Event, c *ctx) []claim {
	var data, other int
	var first *flows.LadderEntry
	beyond := false
	for i := range c.after {
		p := &c.after[i]
		if p.Flags.Has(capture.SYN) && !p.Flags.Has(capture.ACK) {
			break // a new connection on the same tuple: what follows is its own
		}
		if p.Dir != c.sender || p.Flags.Has(capture.RST) {
			continue
		}
		if first == nil {
			first = p
		}
		if p.Len > 0 {
			data++
			if c.rst.Seq.LessThan(p.Seq.Add(uint32(p.Len))) {
				beyond = true
			}
		} else {
			other++
		}
	}
	// Counted packets the look-ahead did not keep.
	if first == nil {
		if len(c.after) > 0 || ev.After.SenderDataPackets == 0 || ev.After.SenderFirstFrame == 0 {
			return nil
		}
		data = int(ev.After.SenderDataPackets)
		first = &flows.LadderEntry{Frame: ev.After.SenderFirstFrame, Time: ev.After.SenderFirst, Len: 1}
	}
	delay := first.Time.Sub(c.rst.Time)
	s := medium
	switch {
	case data > 0 && (beyond || delay >= time.Millisecond):
		s = strong
	case data == 0 && delay < time.Millisecond:
		s = weak
	}
	what := fmt.Sprintf("%d packets", data+other)
	if data > 0 {
		what = fmt.Sprintf("%d packets (%d with data)", data+other, data)
	}
	d := fmt.Sprintf("the %s sent %s after its own RST, the first (frame %d) %s later: a real %s has no socket left after resetting",
		c.senderName, what, first.Frame, dur(delay), c.senderName)
	if beyond {
		d += fmt.Sprintf("; its data goes past the RST's seq %d", uint32(c.rst.Seq))
	}
	return []claim{middlebox(SignalDataAfterRST, s, d, c.rst.Frame, first.Frame)}
}

// ttlRef is the TTL the claimed sender's genuine packets arrive with.
type ttlRef struct {
	min, max, mode uint8
	count          uint32
	from           string // "server's packets", "host's other traffic"
	host           bool   // from the host profile (other flows)
	// otherFlows are the flows the host's TTL samples came from (host
	// only): flows where it sent a non-RST packet, which this one is not
	// (the host baseline stands in only when the flow has no sample).
	otherFlows uint32
}

// acrossFlows reports whether a host baseline is one TTL seen in at least
// two other flows, not one socket's own.
func (r *ttlRef) acrossFlows() bool { return r.host && r.otherFlows >= 2 && r.min == r.max }

// flowsPhrase is "1 other flow", "3 other flows".
func (r *ttlRef) flowsPhrase() string {
	if r.otherFlows == 1 {
		return "1 other flow"
	}
	return fmt.Sprintf("%d other flows", r.otherFlows)
}

// senderTTL is the claimed sender's reference TTL (computed once, see
// findSenderTTL).
func (c *ctx) senderTTL() (ttlRef, bool) {
	if !c.done.ttl {
		c.done.ttl = true
		c.ttl, c.ttlOK = findSenderTTL(c.ev, c)
	}
	return c.ttl, c.ttlOK
}

// findSenderTTL builds the reference from the flow profile and the
// sender's packets after the RST, or else from the host profile (other
// flows).
func findSenderTTL(ev *flows.Event, c *ctx) (ttlRef, bool) {
	var r ttlRef
	if c.sp != nil && c.sp.TTL.Count > 0 {
		t := &c.sp.TTL
		r = ttlRef{min: t.Min, max: t.Max, mode: t.Mode, count: t.Count, from: c.senderName + "'s packets"}
	}
	for _, p := range c.senderAfter {
		if r.count == 0 {
			r = ttlRef{min: p.TTL, max: p.TTL, mode: p.TTL, from: c.senderName + "'s packets"}
		}
		r.min = min(r.min, p.TTL)
		r.max = max(r.max, p.TTL)
		r.count++
	}
	if x := ev.Flow.Evicted; r.count == 0 && x != nil && ev.Sender() != flows.DirUnknown {
		// The same connection before the idle gap (the table evicted it,
		// see flows.Evicted): in-flow evidence, not another flow's.
		if t := &x.TTL[ev.Sender()-1]; t.Count > 0 {
			r = ttlRef{min: t.Min, max: t.Max, mode: t.Mode, count: t.Count, from: c.senderName + "'s packets before the idle gap"}
		}
	}
	if r.count == 0 && ev.SenderHost.Known && ev.SenderHost.TTL.Count >= 3 {
		t := &ev.SenderHost.TTL
		r = ttlRef{min: t.Min, max: t.Max, mode: t.Mode, count: t.Count, host: true,
			otherFlows: ev.SenderHost.TTLFlows, from: "host's other traffic"}
		if c.senderAddr != "" {
			r.from = "host's packets in other flows"
		}
	}
	if r.count == 0 || r.mode == 0 {
		return r, false
	}
	return r, true
}

// stable reports whether the reference TTL is steady enough to compare
// with (a spread of one hop is allowed: mirrors and ECMP).
func (r *ttlRef) stable() bool { return r.max-r.min <= 1 }

// distance is how far t lies outside [min, max].
func (r *ttlRef) distance(t uint8) int {
	switch {
	case t < r.min:
		return int(r.min) - int(t)
	case t > r.max:
		return int(t) - int(r.max)
	}
	return 0
}

func (r *ttlRef) String() string {
	if r.min == r.max {
		return fmt.Sprintf("%d", r.mode)
	}
	return fmt.Sprintf("%d (range %d-%d)", r.mode, r.min, r.max)
}

// ruleTTL compares the RST's TTL with the claimed sender's TTL.
//
// In the flow (or the sender's packets after the RST), a TTL that never
// varied is evidence at any distance: one hop (a firewall or load balancer
// right in front of the sender) weighs less than two or more, but is never
// dropped. A RST from another initial-TTL class (59, from 64, against
// 229-232, from 255) differs whatever the sender's own spread. A baseline
// from the host's other flows is weaker (a socket may set its own TTL: BGP's
// 1, GTSM's 255): it counts only when steady across at least two other
// flows, and then never more than medium.
func ruleTTL(ev *flows.Event, c *ctx) []claim {
	ref, ok := c.senderTTL()
	if !ok || c.rst.TTL == 0 {
		return nil
	}
	t := c.rst.TTL
	d := ref.distance(t)
	class := initialTTL(t) != initialTTL(ref.mode) && initialTTL(ref.min) == initialTTL(ref.max)
	if !ref.stable() && !(class && d > 0) {
		return []claim{noteOf(fmt.Sprintf("the %s's TTL varies (%d-%d): not compared",
			c.senderName, ref.min, ref.max))}
	}
	var out []claim
	switch {
	case d == 0:
		s := medium
		if ref.count < 2 || (ref.host && !ref.acrossFlows()) {
			s = weak
		}
		out = append(out, genuine(SignalTTLConsistent, s, fmt.Sprintf("RST TTL %d matches the %s (TTL %s, %d samples)",
			t, ref.from, ref.String(), ref.count), c.rst.Frame))
	case d == 1 && !class && ref.min != ref.max:
		// One hop outside a range that already spans one: path noise.
		return nil
	default:
		var s strength
		switch {
		case !ref.stable(): // another class, whatever the spread
			s = medium
		case d == 1: // one hop from a TTL that never varied
			s = weak
		case ref.count >= 2 && class:
			s = strong
		case ref.count >= 2 || class:
			s = medium
		default:
			s = weak
		}
		if ref.host {
			// Other flows: weaker than the flow's own packets.
			switch {
			case !ref.acrossFlows():
				s = weak
			case s > medium:
				s = medium
			}
		}
		detail := fmt.Sprintf("RST TTL %d vs %s TTL %s (%d vs %d hops, from initial TTL %d and %d)",
			t, ref.from, ref.String(), hops(t), hops(ref.mode), initialTTL(t), initialTTL(ref.mode))
		switch {
		case ref.host && !ref.acrossFlows():
			detail += fmt.Sprintf("; the host's other traffic is %s, so its TTL may be a socket's own (BGP's 1, GTSM's 255): weak", ref.flowsPhrase())
		case ref.host:
			detail += fmt.Sprintf("; steady across %s", ref.flowsPhrase())
		case d == 1:
			detail += fmt.Sprintf("; the %s's TTL never varied: one hop nearer or farther, a device next to it", c.senderName)
		}
		out = append(out, middlebox(SignalTTLMismatch, s, detail, c.rst.Frame))
		// Later RSTs of the event that do match are the real sender's.
		var match []uint64
		for _, r := range c.rsts[1:] {
			if ref.distance(r.TTL) == 0 {
				match = append(match, r.Frame)
			}
		}
		if len(match) > 0 {
			out = append(out, noteOf(fmt.Sprintf("later RST frame(s) %s match the %s's TTL %d: those are the %s's own",
				frameList(match), c.senderName, ref.mode, c.senderName), match...))
		}
	}
	return out
}

// crossedWindow is how close two RSTs in opposite directions must be to
// count as sent together. A stack never answers a RST with a RST (RFC 9293
// section 3.10.7), so a RST from the other side within this window, with no
// other packet between, is no answer either: one device on the path sent
// both, as load balancers do when they drop an idle flow (REFERENCE.md
// section 7: Azure LB's bidirectional reset).
const crossedWindow = 10 * time.Millisecond

// ruleCrossed: a RST claiming the other end came right before or right
// after this one. Strong when both RSTs share their TTL (and IPv4 IP ID)
// and that TTL is not the claimed sender's own.
func ruleCrossed(ev *flows.Event, c *ctx) []claim {
	var other *flows.LadderEntry
	switch {
	case c.trigger != nil && c.trigger.Flags.Has(capture.RST) && c.latency >= 0 && c.latency <= crossedWindow &&
		len(c.ladder) > 0 && c.ladder[len(c.ladder)-1].Frame == c.trigger.Frame:
		other = c.trigger
	case len(c.after) > 0: // the next packet, with nothing between
		p := &c.after[0]
		if p.Dir == c.receiver && p.Flags.Has(capture.RST) && p.Time.Sub(c.rst.Time) <= crossedWindow {
			other = p
		}
	}
	if other == nil {
		return nil
	}
	gap := other.Time.Sub(c.rst.Time)
	if gap < 0 {
		gap = -gap
	}
	s := medium
	same := other.TTL == c.rst.TTL && (!c.ipv4 || other.IPID == c.rst.IPID)
	d := fmt.Sprintf("a RST claiming the %s (frame %d) came %s from this one with nothing between: stacks never answer a RST with a RST, so one device on the path sent both",
		c.receiverName, other.Frame, dur(gap))
	if ref, ok := c.senderTTL(); same && ok && ref.distance(c.rst.TTL) > 0 {
		s = strong
		d += fmt.Sprintf("; both carry TTL %d", c.rst.TTL)
		if c.ipv4 {
			d += fmt.Sprintf(" and IP ID %d", c.rst.IPID)
		}
		d += fmt.Sprintf(", unlike the %s's own packets (TTL %s)", c.senderName, ref.String())
	}
	return []claim{middlebox(SignalCrossedRST, s, d, c.rst.Frame, other.Frame)}
}

// ruleBurst: several distinct RSTs within a few ms, none answering a
// packet of the receiver, with seq jumps (GFW: +0/+1460/+4380).
func ruleBurst(ev *flows.Event, c *ctx) []claim {
	var out []claim
	if len(c.dups) > 0 {
		// Identical RSTs are copies of one, unless the receiver sent as
		// many segments for them to answer: a socketless stack answers
		// each with the same RST (Linux: IP ID 0, seq = the segment's ack).
		last := c.rst.Time
		for _, r := range ev.RSTs {
			if slices.Contains(c.dups, r.Frame) && r.Time.After(last) {
				last = r.Time
			}
		}
		if segs := c.segmentsToAnswer(last); len(segs) >= 1+len(c.dups) {
			out = append(out, noteOf(fmt.Sprintf("frame(s) %s repeat frame %d (same seq, ack and IP ID) but answer %d later segments of the %s one by one: a closed socket's stack answering each, not copies of one RST",
				frameList(c.dups), c.rst.Frame, len(segs)-1, c.receiverName), c.dups...))
		} else {
			out = append(out, noteOf(fmt.Sprintf("frame(s) %s repeat frame %d (same seq, ack and IP ID): one RST captured twice, not a burst",
				frameList(c.dups), c.rst.Frame), c.dups...))
		}
	}
	if len(c.rsts) < 2 {
		return out
	}
	burst := c.rsts[:1]
	for _, r := range c.rsts[1:] {
		if r.Time.Sub(c.rst.Time) > 50*time.Millisecond {
			break
		}
		burst = append(burst, r)
	}
	if len(burst) < 2 {
		return out
	}
	last := burst[len(burst)-1]
	for _, p := range c.after {
		if p.Dir == c.receiver && p.Time.Before(last.Time) {
			return out // the RSTs answer the receiver's packets one by one
		}
	}
	if c.answersEach(burst) {
		return append(out, noteOf(fmt.Sprintf("%d RSTs within %s each answer one segment of the %s (seq = its ack, the %s's TTL): a closed socket's stack answering segment by segment (BSD does), not an injector's burst",
			len(burst), dur(last.Time.Sub(c.rst.Time)), c.receiverName, c.senderName), rstFrames(burst)...))
	}
	frames := make([]uint64, len(burst))
	deltas := make([]string, len(burst))
	gfw, moved, ahead := true, false, false
	for i, r := range burst {
		frames[i] = r.Frame
		d := r.Seq.Sub(c.rst.Seq)
		deltas[i] = fmt.Sprintf("%+d", d)
		switch d {
		case 0, 1460, 2920, 4380:
		default:
			gfw = false
		}
		if d != 0 {
			moved = true
		}
		if c.sp != nil && c.sp.SeqValid && c.sp.NextSeq.LessThan(r.Seq) {
			ahead = true
		}
	}
	span := dur(last.Time.Sub(c.rst.Time))
	switch {
	case moved && gfw:
		out = append(out, middlebox(SignalRSTBurst, strong, fmt.Sprintf("%d RSTs within %s with seq %s: the GFW-style triple (+0/+1460/+4380)",
			len(burst), span, strings.Join(deltas, "/")), frames...))
	case moved && ahead:
		out = append(out, middlebox(SignalRSTBurst, medium, fmt.Sprintf("%d RSTs within %s with seq %s, beyond anything the %s sent",
			len(burst), span, strings.Join(deltas, "/"), c.senderName), frames...))
	case moved:
		out = append(out, middlebox(SignalRSTBurst, weak, fmt.Sprintf("%d RSTs within %s with different seq (%s)",
			len(burst), span, strings.Join(deltas, "/")), frames...))
	case c.ipv4 && unrelatedIPIDs(burst):
		out = append(out, middlebox(SignalRSTBurst, weak, fmt.Sprintf("%d RSTs within %s with identical seq and unrelated IP IDs (GFW 2023 shape)",
			len(burst), span), frames...))
	}
	return out
}

// segmentsToAnswer lists the receiver's segments (data, FIN or SYN) since
// the claimed sender's last packet that was not a RST, up to until: what a
// closed socket's stack answers one RST each.
func (c *ctx) segmentsToAnswer(until time.Time) []flows.LadderEntry {
	var out []flows.LadderEntry
	start := 0
	for i := len(c.ladder) - 1; i >= 0; i-- {
		p := &c.ladder[i]
		if p.Dir == c.sender && !p.Flags.Has(capture.RST) {
			start = i + 1
			break
		}
	}
	calls := func(p *flows.LadderEntry) bool {
		return p.Dir == c.receiver && !p.Flags.Has(capture.RST) &&
			(p.Len > 0 || p.Flags.Has(capture.FIN) || p.Flags.Has(capture.SYN))
	}
	for i := start; i < len(c.ladder); i++ {
		if p := &c.ladder[i]; calls(p) && !p.Time.After(c.rst.Time) {
			out = append(out, *p)
		}
	}
	for i := range c.after {
		if p := &c.after[i]; calls(p) && !p.Time.After(until) {
			out = append(out, *p)
		}
	}
	return out
}

// answersEach reports whether the RSTs answer the receiver's segments one
// each: as many segments to answer, every RST's seq the ack of one of them,
// and the claimed sender's own TTL.
func (c *ctx) answersEach(burst []flows.RSTPacket) bool {
	segs := c.segmentsToAnswer(burst[len(burst)-1].Time)
	if len(segs) < len(burst) {
		return false
	}
	ref, ok := c.senderTTL()
	if !ok {
		return false
	}
	for _, r := range burst {
		if ref.distance(r.TTL) != 0 {
			return false
		}
		acked := false
		for _, p := range segs {
			acked = acked || (p.Flags.Has(capture.ACK) && p.Ack == r.Seq)
		}
		if !acked {
			return false
		}
	}
	return true
}

func rstFrames(rs []flows.RSTPacket) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Frame
	}
	return out
}

// unrelatedIPIDs reports whether the RSTs' IP IDs are non-zero and not one
// counter's consecutive values.
func unrelatedIPIDs(rs []flows.RSTPacket) bool {
	for i, r := range rs {
		if r.IPID == 0 {
			return false
		}
		if i > 0 {
			d := ipIDDelta(rs[i-1].IPID, r.IPID)
			if d > -16 && d < 16 {
				return false
			}
		}
	}
	return true
}

// ruleIPID compares the RST's IP ID with the claimed sender's series.
// Linux continues a socket's counter in its RSTs; a RST without a socket
// (closed port, data to a closed socket) has IP ID 0 with DF, which is
// therefore never evidence of anything.
func ruleIPID(ev *flows.Event, c *ctx) []claim {
	if !c.ipv4 || c.sp == nil {
		return nil
	}
	id := c.rst.IPID
	if id == 0 {
		if c.rst.DF && c.sp.IPID.Model == flows.IPIDIncrementing {
			return []claim{noteOf("RST IP ID 0 with DF: a kernel RST sent without a socket (normal for Linux), not compared", c.rst.Frame)}
		}
		return nil
	}
	m := &c.sp.IPID
	if m.Model == flows.IPIDIncrementing && m.Samples >= 3 {
		step := max(int(m.Step), 1)
		bound := max(64, 16*step)
		d := ipIDDelta(m.Last, id)
		switch {
		case d > 0 && d <= bound:
			return []claim{genuine(SignalIPIDConsistent, medium, fmt.Sprintf("RST IP ID 0x%04x continues the %s's sequence (last 0x%04x, %+d)",
				id, c.senderName, m.Last, d), c.rst.Frame)}
		case d > 1024 || d < -1024:
			return []claim{middlebox(SignalIPIDMismatch, weak, fmt.Sprintf("RST IP ID 0x%04x is far from the %s's sequence (last 0x%04x, step %d)",
				id, c.senderName, m.Last, step), c.rst.Frame)}
		}
		return nil
	}
	// No model before the RST: compare with the sender's next packet.
	for _, p := range c.senderAfter {
		if p.IPID == 0 {
			continue
		}
		d := ipIDDelta(id, p.IPID)
		switch {
		case d > 0 && d <= 64:
			return []claim{genuine(SignalIPIDConsistent, medium, fmt.Sprintf("RST IP ID 0x%04x precedes the %s's next packet (frame %d, IP ID 0x%04x)",
				id, c.senderName, p.Frame, p.IPID), c.rst.Frame, p.Frame)}
		case d > 1024 || d < -1024:
			return []claim{middlebox(SignalIPIDMismatch, weak, fmt.Sprintf("RST IP ID 0x%04x is far from the %s's own packets (frame %d: 0x%04x)",
				id, c.senderName, p.Frame, p.IPID), c.rst.Frame, p.Frame)}
		}
		return nil
	}
	return nil
}

// ruleTimestamp: the sender used TCP timestamps on every segment; the RST
// has none (weak: Linux RSTs sent without a socket carry none), or a TSval
// far from the sender's clock.
func ruleTimestamp(ev *flows.Event, c *ctx) []claim {
	sp := c.sp
	if sp == nil || sp.TSPackets < 3 || sp.TSPackets+uint64(sp.RSTs) < sp.Packets {
		return nil
	}
	if !c.rst.Opts.HasTS {
		if c.ipv4 && c.rst.IPID == 0 {
			return []claim{noteOf(fmt.Sprintf("RST has no timestamps although the %s used them: normal for a kernel RST without a socket (IP ID 0)",
				c.senderName), c.rst.Frame)}
		}
		return []claim{middlebox(SignalTimestampMismatch, weak, fmt.Sprintf("the %s sent TCP timestamps on all %d packets; the RST has none",
			c.senderName, sp.TSPackets), c.rst.Frame)}
	}
	d := int64(int32(c.rst.Opts.TSVal - sp.LastTSVal))
	var elapsed int64
	if !sp.Last.IsZero() {
		elapsed = max(c.rst.Time.Sub(sp.Last).Milliseconds(), 0)
	}
	switch {
	case d >= -1 && d <= elapsed+1000:
		return []claim{genuine(SignalTSConsistent, medium, fmt.Sprintf("RST TSval %d follows the %s's last TSval %d (%+d)",
			c.rst.Opts.TSVal, c.senderName, sp.LastTSVal, d), c.rst.Frame)}
	case d < -10 || d > 10*elapsed+10000:
		return []claim{middlebox(SignalTimestampMismatch, medium, fmt.Sprintf("RST TSval %d is far from the %s's clock (last TSval %d, %+d after %s)",
			c.rst.Opts.TSVal, c.senderName, sp.LastTSVal, d, dur(time.Duration(elapsed)*time.Millisecond)), c.rst.Frame)}
	}
	return nil
}

// ruleMAC: a different L2 source than the sender's other packets.
func ruleMAC(ev *flows.Event, c *ctx) []claim {
	sp := c.sp
	if sp == nil || !c.rst.HasMAC || !sp.HasMAC || sp.MACChanged || c.rst.SrcMAC == sp.MAC {
		return nil
	}
	return []claim{middlebox(SignalMACMismatch, medium, fmt.Sprintf("RST source MAC %s differs from the %s's packets (%s)",
		macString(c.rst.SrcMAC), c.senderName, macString(sp.MAC)), c.rst.Frame)}
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// ruleShape: header shapes of injectors that are weak alone.
func ruleShape(ev *flows.Event, c *ctx) []claim {
	var out []claim
	if c.rst.Reserved != 0 {
		out = append(out, middlebox(SignalInjectorShape, weak, fmt.Sprintf("reserved TCP header bits set (0x%x): real stacks send zero", c.rst.Reserved), c.rst.Frame))
	}
	if c.ipv4 && c.rst.IPID != 0 && c.trigger != nil && c.trigger.IPID == c.rst.IPID && !c.sendsIPID(c.rst.IPID) {
		out = append(out, middlebox(SignalInjectorShape, medium, fmt.Sprintf("RST IP ID 0x%04x equals that of %s (frame %d): copied by an injector",
			c.rst.IPID, describe(ev, c.trigger), c.trigger.Frame), c.rst.Frame, c.trigger.Frame))
	}
	return out
}

// ruleTooFast: the RST came sooner after its trigger than a reply from
// the real peer can (the path RTT from the handshake), so it was made
// between the capture point and the peer.
func ruleTooFast(ev *flows.Event, c *ctx) []claim {
	if c.trigger == nil || !c.known() {
		return nil
	}
	t := c.trigger
	if t.Len == 0 && !t.Flags.Has(capture.SYN) && !t.Flags.Has(capture.FIN) {
		return nil // an ACK does not call for an answer
	}
	// A host is never too fast for itself: a RST with the sender's own TTL
	// at its initial value (0 hops, as all its packets in this flow) was
	// captured on the sender, and the handshake leg measured there is the
	// sender's own delay (a delayed ACK), not a path.
	if ref, ok := c.senderTTL(); ok && !ref.host && hops(ref.mode) == 0 && ref.min == ref.max && c.rst.TTL == ref.mode {
		return nil
	}
	var rtt time.Duration
	var leg string
	switch c.sender {
	case flows.FromServer:
		rtt, leg = ev.Flow.ClientRTT, "SYN to SYN/ACK"
	case flows.FromClient:
		rtt, leg = ev.Flow.ServerRTT, "SYN/ACK to ACK"
	}
	// Below 2 ms the timestamps' precision and scheduling noise decide;
	// above 900 ms the handshake was probably retransmitted.
	if rtt < 2*time.Millisecond || rtt > 900*time.Millisecond || c.latency < 0 || c.latency*3 >= rtt {
		return nil
	}
	return []claim{middlebox(SignalTooFast, medium, fmt.Sprintf("RST came %s after %s (frame %d), but the %s is %s away (%s)",
		dur(c.latency), describe(ev, t), t.Frame, c.senderName, dur(rtt), leg), t.Frame, c.rst.Frame)}
}

// ruleFingerprint: known injector and firewall shapes (REFERENCE.md
// section 6). The Linux REJECT shape is also a Linux closed port's shape,
// so it counts only when the TTL says the RST came from a nearer hop.
func ruleFingerprint(ev *flows.Event, c *ctx) []claim {
	r := c.rst
	var out []claim
	if c.ipv4 && r.Window == 1 && !r.DF {
		out = append(out, middlebox(SignalFingerprint, medium, "window 1 and DF clear: the shape of ISP injectors (PerfTech)", r.Frame))
	}
	// nf_reject: IPv4 ID 0 and DF; IPv6 has neither field to show.
	if (!c.ipv4 || (r.IPID == 0 && r.DF)) && r.Window == 0 && r.Opts.Count == 0 && r.Len == 0 {
		// Nearer by two hops or more, or by one from a TTL that never
		// varied in the flow (a firewall right in front of the sender).
		ref, ok := c.senderTTL()
		d := ref.distance(r.TTL)
		steady := !ref.host && ref.min == ref.max
		if ok && ref.stable() && (d >= 2 || (d == 1 && steady)) && hops(r.TTL) < hops(ref.mode) &&
			(!ref.host || ref.acrossFlows() || d >= 2) {
			shape := "IP ID 0, DF, window 0, no options"
			if !c.ipv4 {
				shape = "window 0, no options"
			}
			out = append(out, middlebox(SignalFingerprint, medium, fmt.Sprintf("%s, %d hops away while the %s is %d: Linux iptables/nftables REJECT --reject-with tcp-reset at a nearer hop",
				shape, hops(r.TTL), c.senderName, hops(ref.mode)), r.Frame))
		}
	}
	return out
}

// frameList prints frames as "41, 42".
func frameList(fs []uint64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%d", f)
	}
	return strings.Join(s, ", ")
}

// sendsIPID reports whether the claimed sender itself used IP ID id (or a
// constant IP ID) on its other packets: then an equal IP ID in the RST
// proves nothing.
func (c *ctx) sendsIPID(id uint16) bool {
	if c.sp != nil && c.sp.IPID.Samples > 0 && (c.sp.IPID.Last == id || c.sp.IPID.Model == flows.IPIDZero) {
		return true
	}
	if c.sp != nil && c.sp.IPID.Samples >= 2 && c.sp.IPID.Small == 0 && c.sp.IPID.Large == 0 {
		return true // constant
	}
	if h := &c.senderHost.IPID; h.Samples > 0 && h.Last == id {
		return true
	}
	if h := &c.receiverHost.IPID; h.Samples >= 2 && h.Small == 0 && h.Large == 0 {
		return true // the receiver's host uses one IP ID for everything
	}
	for _, p := range c.after { // any later packet of the sender's host
		if p.Dir == c.sender && p.IPID == id {
			return true
		}
	}
	return false
}

// unchecked reports whether nothing in the capture tells what the claimed
// sender's own packets look like: no packet of it in the flow and no
// steady TTL across its other flows. The origin is then taken on trust.
func (c *ctx) unchecked() bool {
	if c.sender == flows.DirUnknown {
		return false
	}
	ref, ok := c.senderTTL()
	return !ok || (ref.host && !ref.acrossFlows())
}

// onLink reports whether the RST came with its initial TTL (0 hops) to a
// capture taken at the receiver (whose own packets leave at 0 hops too):
// whoever sent it is on the receiver's link.
// A claimed sender that shares the receiver's /24 (IPv4) or /64 (IPv6),
// or a loopback address, is plausibly on that link itself: not counted.
func (c *ctx) onLink() bool {
	// The receiver's own TTL: its packets in the flow, or the SYN the RST
	// answers when the capture recorded it just after the RST.
	var own uint8
	switch {
	case c.rp != nil && c.rp.TTL.Count > 0:
		if c.rp.TTL.Min != c.rp.TTL.Max {
			return false
		}
		own = c.rp.TTL.Mode
	case c.lateSYN != nil:
		own = c.lateSYN.TTL
	}
	if own == 0 || hops(own) != 0 || c.rst.TTL == 0 || hops(c.rst.TTL) != 0 {
		return false
	}
	s, r := c.ev.Flow.Server.Addr(), c.ev.Flow.Client.Addr()
	if c.sender == flows.FromClient {
		s, r = r, s
	}
	if !s.IsValid() || !r.IsValid() || s.IsLoopback() || r.IsLoopback() {
		return false
	}
	bits := 24
	if !s.Unmap().Is4() {
		bits = 64
	}
	ps, err1 := s.Unmap().Prefix(bits)
	pr, err2 := r.Unmap().Prefix(bits)
	return err1 == nil && err2 == nil && ps != pr
}

// routerMAC reports whether the RST's link-layer source is a router's:
// two or more hosts other than the claimed sender had their first packets
// from that MAC (flows.Event.RSTMACHosts), and gives their number.
func (c *ctx) routerMAC() (uint32, bool) {
	if !c.rst.HasMAC {
		return 0, false
	}
	n := c.ev.RSTMACHosts
	if h := c.senderHost; h != nil && h.HasMAC && h.MAC == c.rst.SrcMAC && n > 0 {
		n-- // the claimed sender's own address
	}
	return n, n >= 2
}

// subnetPhrase names the prefix length onLink compares: "/24" or "/64".
func (c *ctx) subnetPhrase() string {
	if c.ipv4 {
		return "/24"
	}
	return "/64"
}

// ruleBaseline says what could not be checked when the capture holds
// nothing of the claimed sender to compare the RST with (the engine caps
// the origin's confidence, see combine). A RST sent on the receiver's own
// link (0 hops at a capture on the receiver) from an address outside the
// receiver's subnet is one medium middlebox signal: a gateway or firewall
// there is likelier than the server sharing that link. When the link layer
// shows more (the RST's source MAC also brought the first packets of two
// or more other addresses: a router's), a RST with its initial TTL was
// made at that router: a MAC signal, strong when the address is also
// outside the receiver's subnet (then it is not the router's own), else
// medium; the origin stays capped (no baseline of the claimed sender).
func ruleBaseline(ev *flows.Event, c *ctx) []claim {
	if !c.unchecked() {
		return nil
	}
	who := c.senderName
	if c.senderAddr != "" {
		who += " " + c.senderAddr
	}
	d := fmt.Sprintf("no other packet from the %s in the capture: the RST's TTL, IP ID and timestamps could not be checked against its own (at most medium confidence)", who)
	if ref, ok := c.senderTTL(); ok && ref.host {
		d = fmt.Sprintf("the %s sent nothing else in this flow and its TTL in %s may be one socket's own: the RST's origin could not be checked", who, ref.flowsPhrase())
	}
	out := []claim{noteOf(d, c.rst.Frame)}
	if n, ok := c.routerMAC(); ok && c.rst.TTL != 0 && hops(c.rst.TTL) == 0 {
		// The link layer shows the device that sent the frame forwards
		// other hosts' traffic; a RST with its initial TTL was made
		// there. Stronger when the address is also outside the
		// receiver's subnet (then it cannot be that router's own on this
		// link).
		s, where := medium, ""
		if c.onLink() {
			s, where = strong, fmt.Sprintf(", and the %s's address is outside the %s's subnet (%s)", c.senderName, c.receiverName, c.subnetPhrase())
		}
		out = append(out, middlebox(SignalMACMismatch, s, fmt.Sprintf("RST TTL %d is an initial TTL (0 hops) and its source MAC %s is a router's: the first packets of %d other addresses in this capture came from it%s: the router or a firewall there made the RST, the %s only if it is that router",
			c.rst.TTL, macString(c.rst.SrcMAC), n, where, c.senderName), c.rst.Frame))
		return out
	}
	if c.onLink() {
		// Weighed as one medium TTL signal: alone it makes a middlebox
		// origin of low confidence, the most likely of two readings.
		out = append(out, middlebox(SignalTTLMismatch, medium, fmt.Sprintf("RST TTL %d is an initial TTL (0 hops) at a capture on the %s: it was sent on the %s's own link, but the %s's address is outside the %s's subnet (%s): likely a gateway or firewall there, the %s only if it shares that link",
			c.rst.TTL, c.receiverName, c.receiverName, c.senderName, c.receiverName, c.subnetPhrase(), c.senderName), c.rst.Frame))
	}
	return out
}
