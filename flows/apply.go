package flows

import (
	"slices"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// apply updates flow e with packet p sent in direction d at ns (Unix
// ns; check is the RST's SeqCheck when p is an RST). See Profile for
// what each field counts.
func (t *Table) apply(e *entry, d Dir, p *capture.Packet, check SeqCheck, ns int64) {
	f := &e.st
	pr, other := f.dirPair(d)
	fl := p.Flags

	if f.packets() > 0 {
		if g := time.Duration(ns - f.last); g > f.maxGap {
			f.maxGap = g
		}
		if ns > f.last {
			f.last = ns
		}
	} else {
		f.last = ns
	}
	if pr.packets == 0 {
		pr.first = ns
	}
	base := f.slotBase()
	t.ladders.next(&f.ladder, f.packets()).fill(p, d, ns, &base)
	pr.packets++
	f.npk++
	pr.last = ns

	var retrans, zeroWin bool
	if fl&capture.RST != 0 {
		pr.rsts++
		if check == SeqExact || check == SeqUnknown {
			f.reset = true
		}
		if check != SeqOutOfWindow {
			f.closed = true
		}
	} else {
		retrans, zeroWin = t.applyData(e, d, pr, other, p, ns)
	}
	f.hist.historyPacket(d, p, retrans, zeroWin, pr)
	// Only a FIN can complete the pair (and closed is never unset): the
	// other direction's state is not read for other packets.
	if fl&capture.FIN != 0 && pr.finSeen && other.finSeen {
		f.closed = true
	}
}

// applyData applies a non-RST packet (at ns) sent in direction d, whose
// state is pr (other: the other direction's). It reports whether p was a
// data retransmission and whether it advertised a zero window.
func (t *Table) applyData(e *entry, d Dir, pr, other *dirState, p *capture.Packet, ns int64) (retrans, zeroWin bool) {
	f := &e.st
	fl := p.Flags
	seq := Seq(p.Seq)

	firstTTL := pr.ttl.Count == 0 // the sender's first non-RST packet of the flow
	pr.ttl.Add(p.TTL)
	host := e.hosts[(d-1)&1] // as flowState.dir
	if t.replaying {
		host = nil // the host saw this SYN when it arrived (see newSyn)
	}
	if host != nil {
		host.TTL.Add(p.TTL)
		if firstTTL {
			host.TTLFlows++
		}
		t.hostMAC(host, p)
	} else if firstTTL && t.keepEmitted && !t.replaying {
		// On a shard: the reader keeps the hosts (see Sharded.countFlows).
		t.created = append(t.created, flowCreated{client: p.Src.Addr(), seq: t.emitSeq, ttlFlow: true})
	}
	if p.Src.Addr().Is4() {
		pr.ipid.Add(p.IPID)
		if host != nil {
			host.IPID.Add(p.IPID)
		}
	}
	if p.Opts.HasTS {
		pr.tsPackets = sat32(pr.tsPackets)
		pr.lastTSVal = p.Opts.TSVal
	}
	if p.HasMAC {
		if !pr.hasMAC {
			pr.hasMAC, pr.mac = true, p.SrcMAC
		} else if pr.mac != p.SrcMAC {
			pr.macChanged = true
		}
	}

	segLen := uint32(p.Len)
	if fl&capture.SYN != 0 {
		segLen++
		if !pr.synSeen {
			pr.synSeen, pr.synFrame, pr.synNs = true, f.frameOff(p.Index), ns
		}
		pr.isn = seq
		if p.Opts.HasMSS {
			pr.mss = p.Opts.MSS
		}
		pr.hasWScale, pr.wscale = p.Opts.HasWScale, p.Opts.WScale
		f.wsBoth = pr.hasWScale && other.hasWScale
		if fl&capture.ACK != 0 && d == FromServer && !f.synackSeen {
			f.synackSeen, f.synackNs = true, ns
			if other.synSeen && ns > other.synNs {
				f.clientRTT = time.Duration(ns - other.synNs)
			}
		}
	}
	if fl&capture.FIN != 0 {
		segLen++
		if !pr.finSeen {
			pr.finSeen, pr.finFrame, pr.finNs = true, f.frameOff(p.Index), ns
			pr.finSeq = seq.Add(uint32(p.Len))
		}
	}
	end := seq.Add(segLen)
	if p.Len > 0 {
		pr.bytes += uint64(p.Len)
		pr.dataPackets = sat32(pr.dataPackets)
		if len(p.Payload) < p.Len {
			pr.cutPayloads = sat32(pr.cutPayloads)
		}
		f.anyData = true
		pr.lastData, pr.lastDataFrame = ns, f.frameOff(p.Index)
		if pr.seqValid && seq.Add(uint32(p.Len)).LessThanEq(pr.nextSeq) {
			retrans = true
			pr.retrans++
		}
	}
	if !pr.seqValid || pr.nextSeq.LessThan(end) {
		pr.nextSeq, pr.seqValid = end, true
	}
	if fl&capture.ACK != 0 {
		ack := Seq(p.Ack)
		if !pr.ackValid || pr.lastAck.LessThan(ack) {
			pr.lastAck, pr.ackValid = ack, true
		}
		if d == FromClient && !f.established && f.synackSeen && other.synSeen && other.isn.LessThan(ack) {
			f.established = true
			if ns > f.synackNs {
				f.serverRTT = time.Duration(ns - f.synackNs)
			}
			f.rttSeen = pr.synSeen
		}
	}
	w := uint32(p.Window)
	if fl&capture.SYN == 0 {
		if f.wsBoth {
			w <<= min(pr.wscale, 14)
		}
		if p.Window == 0 {
			pr.zeroWindows++
			zeroWin = true
		}
	}
	pr.window = w

	if p.Len > 0 {
		switch {
		case pr.firstPay == PayloadNone && len(p.Payload) > 0:
			t.firstPayload(e, d, p, ns)
		case e.hello != nil && e.hello.dir == d:
			t.moreHello(e, p)
		case pr.firstPay == PayloadHTTPRequest && !retrans && len(p.Payload) > 0 && classify(p.Payload) == PayloadHTTPRequest:
			t.laterRequest(pr, p, ns)
		}
		if looksTLSHeader(p.Payload) && (pr.tls == nil || !pr.tls.tr.active) {
			// STARTTLS, an SSLv2-format hello, or a midstream flow: start
			// at the first segment that begins with a record header.
			t.lateTLS(e, d, p, ns)
		}
		if pr.tls != nil {
			pr.tls.feed(seq, p.Payload, p.Len, p.Index, ns)
		}
	}
	if !f.established && pr.dataPackets > 0 && other.dataPackets > 0 {
		f.established = true
	}
	if fl&capture.FIN != 0 && pr.tls != nil {
		pr.tls.markCandidate(pr.finSeq, f.dirs[1].tlsVersion)
	}
	return retrans, zeroWin
}

// laterRequest records an HTTP request after the first on a keep-alive
// connection: a new Request each time (an event's snapshot may share the
// previous one), and the count.
func (t *Table) laterRequest(pr *dirState, p *capture.Packet, ns int64) {
	r := &Request{Kind: PayloadHTTPRequest, Frame: p.Index, Time: nsTime(ns), StartSeq: Seq(p.Seq)}
	parseHTTPRequest(p.Payload, r)
	t.request(pr) // the first request's state holds it
	pr.req.last = r
	if pr.requests < ^uint16(0) {
		pr.requests++
	}
}

// firstPayload classifies and parses the first payload of direction d.
func (t *Table) firstPayload(e *entry, d Dir, p *capture.Packet, ns int64) {
	pr := e.st.dir(d)
	b := p.Payload
	k := classify(b)
	if len(b) < 6 && helloPrefix(b) {
		// Too short to tell (a ClientHello split after its first bytes,
		// as anti-censorship tools do): taken as a ClientHello while it is
		// completed; finishHello reclassifies it if it was not one.
		k = PayloadTLSClientHello
	}
	pr.firstPay = k
	pr.reqKind, pr.reqFrame, pr.reqNs, pr.reqStart = k, e.st.frameOff(p.Index), ns, Seq(p.Seq)
	switch k {
	case PayloadHTTPRequest:
		parseHTTPRequest(b, t.request(pr))
		pr.requests = 1
	case PayloadHTTPResponse:
		r := t.request(pr)
		r.Status = parseHTTPStatus(b)
		r.BodyStart, r.ContentLength = parseHTTPFraming(b)
	case PayloadTLSClientHello:
		t.clientHello(e, d, p)
	case PayloadTLSServerHello:
		pr.tlsVersion = parseServerHello(b)
	}
	if looksTLS(b) || helloPrefix(b) {
		t.tlsStart(pr, Seq(p.Seq))
	}
}

// clientHello parses the ClientHello that starts p's payload into the
// Request of direction d and, when the handshake message continues past
// the segment (a longer record, or more records: see helloNeed), starts
// buffering the stream (up to maxHelloRaw) to complete it from the next
// in-order segments.
func (t *Table) clientHello(e *entry, d Dir, p *capture.Packet) {
	pr := e.st.dir(d)
	b := p.Payload
	r := t.request(pr)
	need, done := helloNeed(b)
	msg := b
	if need < len(msg) {
		msg = msg[:need] // what follows the message is not part of it
	}
	parseClientHello(helloDefrag(msg), r)
	pr.tlsVersion = r.TLSVersion
	if !done && len(b) == p.Len && need <= maxHelloRaw && e.hello == nil && t.helloBytes+need <= maxHelloTotal {
		t.helloBytes += need
		e.hello = &helloBuf{b: append(make([]byte, 0, need), b...), need: need, next: Seq(p.Seq).Add(uint32(p.Len)), dir: d}
	}
}

// lateTLS starts TLS tracking of direction d at p, a later segment that
// begins with a record header. A ClientHello replaces an opaque first
// request (STARTTLS: the SNI matters more than "EHLO"); a ServerHello
// gives the selected version.
func (t *Table) lateTLS(e *entry, d Dir, p *capture.Packet, ns int64) {
	pr := e.st.dir(d)
	switch classify(p.Payload) {
	case PayloadTLSClientHello:
		if k := pr.reqKind; k == PayloadOpaque || k == PayloadNone {
			if pr.req != nil {
				pr.req.Request = Request{}
			}
			pr.reqKind, pr.reqFrame, pr.reqNs, pr.reqStart = PayloadTLSClientHello, e.st.frameOff(p.Index), ns, 0
			t.clientHello(e, d, p)
		}
	case PayloadTLSServerHello:
		if pr.tlsVersion == 0 {
			pr.tlsVersion = parseServerHello(p.Payload)
		}
	}
	t.tlsStart(pr, Seq(p.Seq))
}

// moreHello appends the next in-order segment to a ClientHello being
// completed; a gap or a snaplen cut ends the attempt with what is there.
func (t *Table) moreHello(e *entry, p *capture.Packet) {
	seq := Seq(p.Seq)
	end := seq.Add(uint32(p.Len))
	if end.LessThanEq(e.hello.next) {
		return // retransmission
	}
	if seq != e.hello.next || len(p.Payload) < p.Len {
		t.finishHello(e)
		return
	}
	for b := p.Payload; len(b) > 0; {
		n := min(e.hello.need-len(e.hello.b), len(b))
		e.hello.b = append(e.hello.b, b[:n]...)
		b = b[n:]
		need, done := helloNeed(e.hello.b)
		if done {
			break
		}
		if need > maxHelloRaw || t.helloBytes+need-e.hello.need > maxHelloTotal {
			t.finishHello(e) // too long, or no room: parse what arrived
			return
		}
		if need > e.hello.need {
			// The message goes on in a further record: reserve it.
			t.helloBytes += need - e.hello.need
			e.hello.need = need
			e.hello.b = slices.Grow(e.hello.b, need-len(e.hello.b))
		}
	}
	e.hello.next = end
	if _, done := helloNeed(e.hello.b); done {
		t.finishHello(e)
	}
}

// finishHello parses a ClientHello being completed with what it holds and
// drops the buffer.
func (t *Table) finishHello(e *entry) {
	if e.hello == nil {
		return
	}
	pr := e.st.dir(e.hello.dir)
	r := t.request(pr)
	*r = Request{}
	_, done := helloNeed(e.hello.b)
	switch k := classify(e.hello.b); {
	case k == PayloadTLSClientHello || len(e.hello.b) < 6:
		parseClientHello(helloDefrag(e.hello.b), r)
		pr.tlsVersion = r.TLSVersion
		if !done {
			r.Cut = true
		}
	default: // began like one but is not a ClientHello (see firstPayload)
		pr.reqKind = k
		if pr.firstPay == PayloadTLSClientHello {
			pr.firstPay = k
		}
		if k == PayloadTLSServerHello {
			pr.tlsVersion = parseServerHello(e.hello.b)
		}
	}
	t.helloBytes -= e.hello.need
	e.hello = nil
}
