package heuristics

import (
	"fmt"
	"sort"
	"time"

	"github.com/rstscope/rstscope/flows"
)

// build fills a Finding from the verdict and the claims.
func build(ev *flows.Event, c *ctx, v verdict, claims []claim) Finding {
	f := Finding{
		Cause:        v.cause,
		Origin:       v.origin,
		Confidence:   v.confidence,
		Stage:        ev.Stage.String(),
		Errno:        errnoFor(ev, c, v.cause),
		Alternatives: v.alts,
		Flow:         flowInfo(ev),
		RST:          rstInfo(ev, c),
		Request:      requestInfo(ev),
		Evidence:     evidence(v, claims),
		Packets:      packetRows(ev, c),
	}
	if f.Alternatives == nil {
		f.Alternatives = []Cause{}
	}
	if dir, a := lastAlert(ev, c); a != nil {
		t := &TLSAlertJSON{From: dir.String(), Packet: a.Frame, Encrypted: a.Encrypted}
		if !a.Encrypted {
			code := a.Description
			t.Level = alertLevel(a.Level)
			t.Description = alertNames[a.Description]
			t.Code = &code
		}
		f.TLSAlert = t
	}
	if g, ok := findIdleGap(ev, c); ok {
		f.Gap = gapString(g.gap)
		k, ok := matchTimeout(g.gap, spontaneousKinds)
		if !g.spontaneous {
			k, ok = exceededTimeout(g.gap, answeredKinds)
		}
		if ok {
			f.KnownTimeout = fmt.Sprintf("%s (%s)", k.name, dur(k.d))
		}
	}
	f.Summary = summary(ev, c, v, claims)
	f.Advice = advice(ev, c, v, claims)
	return f
}

// errnoFor is what the receiver's application saw.
func errnoFor(ev *flows.Event, c *ctx, cause Cause) string {
	switch cause {
	case CauseRefused:
		return "ECONNREFUSED"
	case CauseIgnoredRST:
		return "none"
	case CauseClientAbort:
		if !ev.Flow.Established && ev.Flow.SYNACKSeen && c.sender == flows.FromClient {
			return "none" // the server's listener drops the half-open connection
		}
	}
	return "ECONNRESET"
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
		Client:        addrString(fl.Client),
		Server:        addrString(fl.Server),
		RolesFrom:     fl.RolesFrom.String(),
		Start:         fl.Start,
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
		Time:     r.Time,
		Packet:   r.Frame,
		Input:    r.Input,
		From:     c.senderName,
		Count:    max(ev.Count, 1),
		Flags:    r.Flags.String(),
		Seq:      uint32(r.Seq),
		Ack:      uint32(r.Ack),
		Window:   r.Window,
		TTL:      r.TTL,
		SeqCheck: r.SeqCheck.String(),
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
	r := &ev.Flow.Dirs[0].Request
	switch r.Kind {
	case flows.PayloadHTTPRequest:
		return &RequestInfo{Kind: "http", Method: r.Method, Path: r.Path, Host: r.Host, Frame: r.Frame}
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
	sorted := make([]claim, len(claims))
	copy(sorted, claims)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	out := make([]Evidence, 0, len(sorted))
	for _, cl := range sorted {
		out = append(out, Evidence{Signal: cl.signal, Detail: cl.detail, Frames: cl.frames})
	}
	return out
}

// packetRows is the ladder: the flow's last packets, the event's RSTs and
// what followed, in time order, offsets relative to the first RST.
func packetRows(ev *flows.Event, c *ctx) []PacketRow {
	var rows []PacketRow
	t0 := c.rst.Time
	add := func(p flows.LadderEntry, rst, after bool) {
		row := PacketRow{
			Packet:       p.Frame,
			TimeOffsetMS: float64(p.Time.Sub(t0)) / float64(time.Millisecond),
			From:         p.Dir.String(),
			Flags:        p.Flags.String(),
			Seq:          uint32(p.Seq),
			Ack:          uint32(p.Ack),
			Len:          p.Len,
			TTL:          p.TTL,
			Window:       p.Window,
			RST:          rst,
			After:        after,
		}
		if c.ipv4 {
			id := p.IPID
			row.IPID = &id
		}
		rows = append(rows, row)
	}
	for _, p := range ev.Packets() {
		add(p.LadderEntry, p.RST, p.After)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].TimeOffsetMS != rows[j].TimeOffsetMS {
			return rows[i].TimeOffsetMS < rows[j].TimeOffsetMS
		}
		return rows[i].Packet < rows[j].Packet
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
	after := ""
	if c.trigger != nil {
		after = fmt.Sprintf(" %s after %s (frame %d)", dur(c.latency), describe(ev, c.trigger), c.trigger.Frame)
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
			g, _ := findIdleGap(ev, c)
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
			if after == "" {
				return fmt.Sprintf("%s arrived%s%s: forged on the path (the %s sees ECONNRESET)", s, pre, post, c.receiverName)
			}
			return fmt.Sprintf("%s arrived%s%s%s", s, pre, after, post)
		}
		if ok {
			return fmt.Sprintf("%s arrived%s%s%s; %s", s, pre, after, post, first.detail)
		}
		return fmt.Sprintf("%s arrived%s%s%s", s, pre, after, post)
	}
	switch {
	case v.cause == CauseUnknown:
		return fmt.Sprintf("%s%s; no rule is confident about why", s, after)
	case !ok:
		return s
	}
	tail := ""
	switch e := errnoFor(ev, c, v.cause); e {
	case "none":
		tail = fmt.Sprintf(" (the %s sees no error)", c.receiverName)
	default:
		tail = fmt.Sprintf(" (the %s sees %s)", c.receiverName, e)
	}
	return fmt.Sprintf("%s: %s%s", s, first.detail, tail)
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
		if ref, ok := c.senderTTL(ev); ok {
			return fmt.Sprintf(" with TTL %d (%s: %d)", c.rst.TTL, ref.from, ref.mode), ""
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

// advice is one concrete line.
func advice(ev *flows.Event, c *ctx, v verdict, claims []claim) string {
	if v.origin == OriginMiddlebox {
		switch v.cause {
		case CauseRefused:
			return "a firewall between the capture point and the server rejects this port: check its rules (the server itself was not asked)"
		case CauseIdleTimeout:
			g, _ := findIdleGap(ev, c)
			return fmt.Sprintf("send TCP keepalives or application pings more often than the path's idle timeout (silence here: %s), or raise that timeout", dur(g.gap))
		}
		return fmt.Sprintf("the reset came from the path, not the %s: compare with a capture taken at the %s", c.senderName, c.senderName)
	}
	switch v.cause {
	case CauseRefused:
		return "nothing listens on that port (or the host's own firewall rejects it): check the service is up and bound to this address"
	case CauseServerResetAfterRequest:
		req := "request"
		if r := requestInfo(ev); r != nil {
			switch {
			case r.SNI != "":
				req = "TLS handshake for " + r.SNI
			case r.Method != "":
				req = r.Method + " " + r.Path
			}
		}
		return fmt.Sprintf("check the server's logs at %s for the %s: it was rejected or the process aborted (crash, limit, TLS policy)",
			c.rst.Time.UTC().Format("15:04:05.000"), req)
	case CauseTLSAlert:
		if _, a := lastAlert(ev, c); a != nil && !a.Encrypted {
			return fmt.Sprintf("fix the TLS mismatch named by the alert (%s): versions, ciphers, SNI, ALPN or certificates", alertName(a.Description))
		}
		return "the TLS session was closed by an alert before the reset: check certificate validation and TLS settings on both sides"
	case CauseIdleTimeout:
		g, _ := findIdleGap(ev, c)
		return fmt.Sprintf("the %s resets connections idle this long (%s): send TCP keepalives or pings more often, or close idle connections sooner on the other side", c.senderName, dur(g.gap))
	case CauseStaleKeepalive:
		f, _ := senderFIN(ev, c)
		if f.spontaneous() && f.sinceData > 0 {
			return fmt.Sprintf("client pool idle timeout must be shorter than the server's keep-alive timeout (FIN seen %s after the last response)", dur(f.sinceData))
		}
		return "the client reused a connection the server had closed: make the pool's idle timeout shorter than the server's keep-alive timeout and retry idempotent requests"
	case CauseAbortiveClose:
		return fmt.Sprintf("the %s closes with RST (SO_LINGER 0 or unread data): drain input before close and avoid zero linger unless intended", c.senderName)
	case CauseClientAbort:
		return "the client gave up (timeout, cancel or probe): compare its timeout with the server's response time"
	case CauseIgnoredRST:
		return fmt.Sprintf("the RST was dropped by the %s's stack and reset nothing; look for what else ended the connection", c.receiverName)
	}
	return "no rule is confident: read the packet ladder and evidence; a capture at the other end helps"
}
