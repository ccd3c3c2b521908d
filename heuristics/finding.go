package heuristics

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// build fills a Finding from the verdict and the claims.
func build(ev *flows.Event, c *ctx, v verdict, claims []claim, ts []Testimony) Finding {
	f := Finding{
		Cause:        v.cause,
		Origin:       v.origin,
		Confidence:   v.confidence,
		Stage:        ev.Stage.String(),
		Errno:        errnoFor(c, v.cause),
		Alternatives: v.alts,
		Flow:         flowInfo(ev),
		RST:          rstInfo(ev, c),
		Request:      requestInfo(ev),
		Evidence:     evidence(v, claims),
	}
	f.Packets = packetRows(ev, c, cited(claims, f.Request, c))
	if f.Alternatives == nil {
		f.Alternatives = []Cause{}
	}
	if first, last := witnessEvidence(ts); len(first)+len(last) > 0 {
		f.Evidence = append(append(first, f.Evidence...), last...)
	}
	for _, t := range ts {
		if t.Correlation != nil {
			f.Correlation = t.Correlation
		}
		if t.Kernel != nil {
			f.Kernel = t.Kernel
		}
	}
	if dir, a := c.lastAlert(); a != nil {
		t := &TLSAlertJSON{From: sideOf(dir), Packet: a.Frame, Encrypted: a.Encrypted}
		if !a.Encrypted {
			code := a.Description
			t.Level = alertLevel(a.Level)
			t.Description = alertNames[a.Description]
			t.Code = &code
		}
		f.TLSAlert = t
	}
	if g, ok := c.idleGap(); ok {
		f.Gap = Gap{g.gap}
		f.GapSeconds = Seconds{g.gap}
		if g.known != nil {
			f.KnownTimeout = fmt.Sprintf("%s (%s)", g.known.name, dur(g.known.d))
		}
	}
	f.Summary = summary(ev, c, v, claims)
	if p := v.proof; p != nil && p.Summary != "" && (p.Attest == AttestForged || v.overturned || v.recaused) {
		f.Summary += "; " + p.Summary
	}
	f.Advice = advice(c, v)
	f.AdviceTime = adviceInstant(c, f.Advice)
	return f
}

// history is the flow's Zeek-style history and conn_state as the table
// saw them when it decided the event (RST included), or else those of the
// snapshot before the RST.
func history(ev *flows.Event) (h, state string) {
	if ev.History != "" {
		return ev.History, ev.ConnState
	}
	return ev.Flow.History(), ev.Flow.ConnState()
}

func flowInfo(ev *flows.Event) FlowInfo {
	fl := &ev.Flow
	h, st := history(ev)
	return FlowInfo{
		Client:        fl.Client,
		Server:        fl.Server,
		RolesFrom:     fl.RolesFrom.String(),
		Start:         Instant{fl.Start},
		ClientBytes:   fl.Dirs[0].Bytes,
		ServerBytes:   fl.Dirs[1].Bytes,
		ClientPackets: fl.Dirs[0].Packets,
		ServerPackets: fl.Dirs[1].Packets,
		Tunnel:        fl.Tunnel.String(),
		VLAN:          fl.VLAN,
		History:       h,
		ConnState:     st,
	}
}

func rstInfo(ev *flows.Event, c *ctx) RSTInfo {
	r := c.rst
	info := RSTInfo{
		Time:       Instant{r.Time},
		Packet:     r.Frame,
		Input:      r.Input,
		From:       sideOf(c.sender),
		Count:      max(ev.Count, 1),
		Flags:      r.Flags.String(),
		Seq:        uint32(r.Seq),
		Ack:        uint32(r.Ack),
		Window:     r.Window,
		TTL:        r.TTL,
		SeqCheck:   r.SeqCheck.String(),
		PayloadLen: r.Len,
		Payload:    r.Payload,
	}
	if r.IsIPv4 {
		id := r.IPID
		info.IPID = &id
	}
	if ev.Count > 1 {
		n := min(ev.Count, len(ev.RSTs))
		for i := range n {
			if ev.RSTs[i].Frame != 0 {
				info.Frames = append(info.Frames, ev.RSTs[i].Frame)
			}
		}
	}
	return info
}

func requestInfo(ev *flows.Event) *RequestInfo {
	r, earlier := lastRequest(ev)
	if r == nil {
		return nil
	}
	switch r.Kind {
	case flows.PayloadHTTPRequest:
		return &RequestInfo{Kind: "http", Method: r.Method, Path: r.Path, Host: r.Host, Frame: r.Frame, Earlier: earlier}
	case flows.PayloadTLSClientHello:
		return &RequestInfo{Kind: "tls", SNI: r.SNI, ALPN: r.ALPN, Frame: r.Frame}
	}
	return nil
}

// evidence orders the claims: the winning cause's, then the origin's
// (the winning side first), then the other causes', then notes.
func evidence(v verdict, claims []claim) []Evidence {
	rank := func(cl claim) int {
		switch {
		case cl.strength == note:
			return 5
		case cl.kind == causeClaim && cl.cause == v.cause:
			return 0
		case cl.kind == originClaim && cl.genuine == (v.origin != OriginMiddlebox):
			return 1
		case cl.kind == originClaim:
			return 2
		}
		return 3
	}
	// Stable by rank: rank by rank, in claim order.
	out := make([]Evidence, 0, len(claims))
	for r := range 6 {
		for _, cl := range claims {
			if rank(cl) == r {
				out = append(out, Evidence{Signal: cl.signal, Detail: cl.detail, Frames: cl.frames})
			}
		}
	}
	return out
}

// cited lists the frames the finding names: its claims' frames, the
// request's and the last TLS alert's.
func cited(claims []claim, req *RequestInfo, c *ctx) []uint64 {
	n := 2 // the request's and the alert's
	for _, cl := range claims {
		n += len(cl.frames)
	}
	fr := make([]uint64, 0, n) // one allocation, not one per doubling
	for _, cl := range claims {
		fr = append(fr, cl.frames...)
	}
	if req != nil && req.Frame != 0 {
		fr = append(fr, req.Frame)
	}
	if _, a := c.lastAlert(); a != nil && a.Frame != 0 {
		fr = append(fr, a.Frame)
	}
	return fr
}

// recalled is what the flow's facts say about a frame that has left its
// ladder (the last 16 packets): when, from which side, and the flags the
// fact implies ("" when it implies none).
type recalled struct {
	time  time.Time
	dir   flows.Dir
	flags string
}

// recall finds frame among the facts the flow keeps about single packets:
// each side's SYN, FIN, first payload and last data, and the first
// packets after the RST.
func recall(ev *flows.Event, c *ctx, frame uint64) (recalled, bool) {
	for i, d := range [2]flows.Dir{flows.FromClient, flows.FromServer} {
		pr := &ev.Flow.Dirs[i]
		switch {
		case pr.SYNSeen && pr.SYNFrame == frame:
			fl := "S"
			if d == flows.FromServer {
				fl = "SA"
			}
			return recalled{pr.SYNTime, d, fl}, true
		case pr.FINSeen && pr.FINFrame == frame:
			return recalled{pr.FINTime, d, "F"}, true
		case pr.Request.Frame == frame && !pr.Request.Time.IsZero():
			return recalled{pr.Request.Time, d, ""}, true
		case pr.LastDataFrame == frame && !pr.LastData.IsZero():
			return recalled{pr.LastData, d, ""}, true
		}
	}
	a := &ev.After
	switch {
	case a.SenderFirstFrame == frame && !a.SenderFirst.IsZero():
		return recalled{a.SenderFirst, c.sender, ""}, true
	case a.ReceiverFirstFrame == frame && !a.ReceiverFirst.IsZero():
		return recalled{a.ReceiverFirst, c.sender.Reverse(), ""}, true
	}
	return recalled{}, false
}

// packetRows is the ladder: the flow's last packets, the event's RSTs and
// what followed (flows.Event.Packets), in time order, offsets relative
// to the first RST. A frame in cites that none of those hold is added as
// a partial row from the flow's facts (recall), so that the ladder shows
// every frame the finding names.
func packetRows(ev *flows.Event, c *ctx, cites []uint64) []PacketRow {
	rows := make([]PacketRow, 0, len(c.packets)+len(cites))
	var ipIDs []uint16 // the rows' IP IDs, one allocation
	if c.ipv4 {
		ipIDs = make([]uint16, 0, len(c.packets))
	}
	t0 := c.rst.Time
	add := func(p flows.LadderEntry, rst, after bool) {
		row := PacketRow{
			Packet:     p.Frame,
			TimeOffset: Millis{p.Time.Sub(t0)},
			From:       sideOf(p.Dir),
			Flags:      p.Flags.String(),
			Seq:        uint32(p.Seq),
			Ack:        uint32(p.Ack),
			Len:        p.Len,
			TTL:        p.TTL,
			Window:     p.Window,
			RST:        rst,
			After:      after,
		}
		if c.ipv4 {
			ipIDs = append(ipIDs, p.IPID)
			row.IPID = &ipIDs[len(ipIDs)-1]
		}
		rows = append(rows, row)
	}
	for _, p := range c.packets {
		add(p.LadderEntry, p.RST, p.After)
	}
	// A cited frame is of the RST's input; the packets' rows are each
	// (input, frame) once.
	shown := func(fr uint64) bool {
		for _, p := range c.packets {
			if p.Frame == fr && p.Input == c.rst.Input {
				return true
			}
		}
		for _, r := range rows[len(c.packets):] {
			if r.Packet == fr {
				return true
			}
		}
		return false
	}
	for _, fr := range cites {
		if fr == 0 || shown(fr) {
			continue
		}
		r, ok := recall(ev, c, fr)
		if !ok {
			continue
		}
		rows = append(rows, PacketRow{Packet: fr, TimeOffset: Millis{r.time.Sub(t0)}, From: sideOf(r.dir),
			Flags: r.flags, After: r.time.After(t0), Partial: true})
	}
	slices.SortStableFunc(rows, func(a, b PacketRow) int {
		return cmp.Or(cmp.Compare(a.TimeOffset.Duration, b.TimeOffset.Duration), cmp.Compare(a.Packet, b.Packet))
	})
	return rows
}

// topClaim is the strongest claim matching keep, first in rule order on
// ties.
func topClaim(claims []claim, keep func(claim) bool) (claim, bool) {
	var best claim
	found := false
	for _, cl := range claims {
		if !keep(cl) {
			continue
		}
		if !found || cl.strength > best.strength {
			best, found = cl, true
		}
	}
	return best, found
}

// subject opens the summary: who sent (or claims to have sent) the RST.
func subject(ev *flows.Event, c *ctx, v verdict) string {
	who := c.senderAddr
	if who == "" {
		who = "an unknown side"
	} else if c.sender != flows.DirUnknown {
		who = c.senderName + " " + who
	}
	if v.origin == OriginMiddlebox {
		return "RST claimed from " + who
	}
	return "RST from " + who
}

// summary is one sentence with the concrete numbers.
func summary(ev *flows.Event, c *ctx, v verdict, claims []claim) string {
	s := subject(ev, c, v)
	// after is the phrase on the trigger, built only where a sentence has
	// it: most findings' have not, and its formatting was 0.5 us of each
	// (a port scan's 300,000 refusals: 160 ms).
	after := func() string {
		if c.trigger == nil {
			return ""
		}
		return fmt.Sprintf(" %s after %s (frame %d)", dur(c.latency), describe(ev, c.trigger), c.trigger.Frame)
	}
	first, ok := firstClaim(claims, v.cause)
	if v.cause == CauseIdleTimeout {
		if k, found := firstClaim(claims, SignalKnownTimeout); found {
			first.detail += "; " + k.detail
		}
	}
	if v.origin == OriginMiddlebox {
		mb, _ := topClaim(claims, func(cl claim) bool { return cl.kind == originClaim && !cl.genuine && cl.strength > note })
		if ttl, found := topClaim(claims, func(cl claim) bool { return cl.signal == SignalTTLMismatch && cl.strength > note }); found {
			mb = ttl // the TTL gives the most concrete numbers
		}
		pre, post := middleboxPhrase(ev, c, mb)
		switch v.cause {
		case CauseRefused:
			syn := ""
			if c.trigger != nil {
				syn = fmt.Sprintf(" (frame %d) after %s", c.trigger.Frame, dur(c.latency))
			}
			return fmt.Sprintf("%s answered the client's SYN%s%s%s: a firewall on the path rejected the connection (the client sees ECONNREFUSED)", s, syn, pre, post)
		case CauseIdleTimeout:
			g, _ := c.idleGap()
			what := fmt.Sprintf("came unprompted after %s of silence", dur(g.gap))
			if !g.spontaneous {
				what = fmt.Sprintf("answered the %s's first packet (frame %d) after %s of silence", c.receiverName, g.answered, dur(g.gap))
			}
			known := ""
			if k, found := firstClaim(claims, SignalKnownTimeout); found {
				known = " (" + k.detail + ")"
			}
			return fmt.Sprintf("%s %s%s%s: a load balancer, NAT or firewall dropped the idle connection%s (the %s sees ECONNRESET)", s, what, pre, post, known, c.receiverName)
		case CauseMiddleboxInjected:
			if a := after(); a != "" {
				return fmt.Sprintf("%s arrived%s%s%s", s, pre, a, post)
			}
			return fmt.Sprintf("%s arrived%s%s: forged on the path (the %s sees ECONNRESET)", s, pre, post, c.receiverName)
		}
		if ok {
			return fmt.Sprintf("%s arrived%s%s%s; %s", s, pre, after(), post, first.detail)
		}
		return fmt.Sprintf("%s arrived%s%s%s", s, pre, after(), post)
	}
	switch {
	case v.cause == CauseUnknown:
		return s + after() + "; no rule is confident about why"
	case !ok:
		return s
	}
	e := errnoFor(c, v.cause)
	if e == "none" {
		e = "no error"
	}
	return s + ": " + first.detail + " (the " + c.receiverName + " sees " + e + ")"
}

// firstClaim is the first counted claim, in rule order, for a cause (key
// of type Cause) or with a signal (key of type Signal).
func firstClaim[K Cause | Signal](claims []claim, key K) (claim, bool) {
	for _, cl := range claims {
		if cl.strength == note {
			continue
		}
		switch k := any(key).(type) {
		case Cause:
			if cl.kind == causeClaim && cl.cause == k {
				return cl, true
			}
		case Signal:
			if cl.signal == k {
				return cl, true
			}
		}
	}
	return claim{}, false
}

// middleboxPhrase says what gave the forged RST away, for the summary: a
// part that follows the verb and a part that ends the sentence.
func middleboxPhrase(ev *flows.Event, c *ctx, top claim) (pre, post string) {
	switch top.signal {
	case SignalTTLMismatch:
		if ref, ok := c.senderTTL(); ok {
			return fmt.Sprintf(" with TTL %d (%s: %d)", c.rst.TTL, ref.from, ref.mode), ""
		}
		if c.onLink() {
			return fmt.Sprintf(" with TTL %d (0 hops: sent on the %s's own link)", c.rst.TTL, c.receiverName), ""
		}
	case SignalDataAfterRST:
		return "", fmt.Sprintf(", while the %s kept sending after it", c.senderName)
	case SignalRSTBurst:
		return fmt.Sprintf(" as a burst of %d RSTs", len(c.rsts)), ""
	case SignalIPIDMismatch:
		return fmt.Sprintf(" with IP ID 0x%04x outside the %s's sequence", c.rst.IPID, c.senderName), ""
	case SignalTimestampMismatch:
		return fmt.Sprintf(" with TCP timestamps unlike the %s's", c.senderName), ""
	case SignalMACMismatch:
		if c.sp != nil {
			return fmt.Sprintf(" from MAC %s (the %s's: %s)", macString(c.rst.SrcMAC), c.senderName, macString(c.sp.MAC)), ""
		}
	case SignalTooFast:
		return "", ", sooner than the real peer could answer"
	case SignalFingerprint, SignalInjectorShape:
		return " with a known injector's header shape", ""
	}
	return "", ""
}
