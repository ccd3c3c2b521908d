package flows

import (
	"slices"

	"github.com/rstscope/rstscope/capture"
)

// apply updates flow e with packet p sent in direction d (check is the
// RST's SeqCheck when p is an RST). See Profile for what each field counts.
func (t *Table) apply(e *entry, d Dir, p *capture.Packet, check SeqCheck) {
	f := &e.flow
	pr, other := f.Profile(d), f.Profile(d.Reverse())
	fl := p.Flags

	if !f.Last.IsZero() {
		if g := p.Time.Sub(f.Last); g > f.MaxGap {
			f.MaxGap = g
		}
	}
	if p.Time.After(f.Last) {
		f.Last = p.Time
	}
	pr.Packets++
	if pr.First.IsZero() {
		pr.First = p.Time
	}
	pr.Last = p.Time

	var retrans, zeroWin bool
	if fl&capture.RST != 0 {
		pr.RSTs++
		if check == SeqExact || check == SeqUnknown {
			f.reset = true
		}
		if check != SeqOutOfWindow {
			f.closed = true
		}
	} else {
		retrans, zeroWin = t.applyData(e, d, p)
	}
	f.historyPacket(d, p, retrans, zeroWin)
	f.Ladder.Push(ladderEntry(p, d))
	if pr.FINSeen && other.FINSeen {
		f.closed = true
	}
}

// applyData applies a non-RST packet. It reports whether p was a data
// retransmission and whether it advertised a zero window.
func (t *Table) applyData(e *entry, d Dir, p *capture.Packet) (retrans, zeroWin bool) {
	f := &e.flow
	pr, other := f.Profile(d), f.Profile(d.Reverse())
	fl := p.Flags
	seq := Seq(p.Seq)

	pr.TTL.Add(p.TTL)
	host := e.hosts[d-1]
	if t.replaying {
		host = nil // the host saw this SYN when it arrived (see newSyn)
	}
	if host != nil {
		host.TTL.Add(p.TTL)
	}
	if p.Src.Addr().Is4() {
		pr.IPID.Add(p.IPID)
		if host != nil {
			host.IPID.Add(p.IPID)
		}
	}
	if p.Opts.HasTS {
		pr.TSPackets++
		pr.LastTSVal = p.Opts.TSVal
	}
	if p.HasMAC {
		if !pr.HasMAC {
			pr.HasMAC, pr.MAC = true, p.SrcMAC
		} else if pr.MAC != p.SrcMAC {
			pr.MACChanged = true
		}
	}

	segLen := uint32(p.Len)
	if fl&capture.SYN != 0 {
		segLen++
		if !pr.SYNSeen {
			pr.SYNSeen, pr.SYNFrame, pr.SYNTime = true, p.Index, p.Time
		}
		pr.ISN = seq
		if p.Opts.HasMSS {
			pr.MSS = p.Opts.MSS
		}
		pr.HasWScale, pr.WScale = p.Opts.HasWScale, p.Opts.WScale
		if fl&capture.ACK != 0 && d == FromServer && !f.SYNACKSeen {
			f.SYNACKSeen, f.SYNACKTime = true, p.Time
			if other.SYNSeen && p.Time.After(other.SYNTime) {
				f.ClientRTT = p.Time.Sub(other.SYNTime)
			}
		}
	}
	if fl&capture.FIN != 0 {
		segLen++
		if !pr.FINSeen {
			pr.FINSeen, pr.FINFrame, pr.FINTime = true, p.Index, p.Time
			pr.FINSeq = seq.Add(uint32(p.Len))
		}
	}
	end := seq.Add(segLen)
	if p.Len > 0 {
		pr.Bytes += uint64(p.Len)
		pr.DataPackets++
		pr.LastData, pr.LastDataFrame = p.Time, p.Index
		if pr.SeqValid && seq.Add(uint32(p.Len)).LessThanEq(pr.NextSeq) {
			retrans = true
			pr.Retransmissions++
		}
	}
	if !pr.SeqValid || pr.NextSeq.LessThan(end) {
		pr.NextSeq, pr.SeqValid = end, true
	}
	if fl&capture.ACK != 0 {
		ack := Seq(p.Ack)
		if !pr.AckValid || pr.LastAck.LessThan(ack) {
			pr.LastAck, pr.AckValid = ack, true
		}
		if d == FromClient && !f.Established && f.SYNACKSeen && other.SYNSeen && other.ISN.LessThan(ack) {
			f.Established = true
			if p.Time.After(f.SYNACKTime) {
				f.ServerRTT = p.Time.Sub(f.SYNACKTime)
			}
			if pr.SYNSeen {
				f.RTT = f.ClientRTT + f.ServerRTT
			}
		}
	}
	w := uint32(p.Window)
	if fl&capture.SYN == 0 {
		if pr.HasWScale && other.HasWScale {
			w <<= min(pr.WScale, 14)
		}
		if p.Window == 0 {
			pr.ZeroWindows++
			zeroWin = true
		}
	}
	pr.Window = w

	if p.Len > 0 {
		switch {
		case pr.FirstPayload == PayloadNone && len(p.Payload) > 0:
			t.firstPayload(e, d, p)
		case e.hello != nil && e.hello.dir == d:
			t.moreHello(e, p)
		case pr.FirstPayload == PayloadHTTPRequest && !retrans && len(p.Payload) > 0 && classify(p.Payload) == PayloadHTTPRequest:
			laterRequest(pr, p)
		}
		if !pr.tls.active && looksTLSHeader(p.Payload) {
			// STARTTLS, an SSLv2-format hello, or a midstream flow: start
			// at the first segment that begins with a record header.
			t.lateTLS(e, d, p)
		}
		pr.tlsFeed(seq, p.Payload, p.Len, p.Index, p.Time)
	}
	if !f.Established && pr.DataPackets > 0 && other.DataPackets > 0 {
		f.Established = true
	}
	if fl&capture.FIN != 0 {
		pr.tlsMarkCandidate(pr.FINSeq, f.Dirs[1].TLSVersion)
	}
	return retrans, zeroWin
}

// laterRequest records an HTTP request after the first on a keep-alive
// connection: a new Request each time (an event's snapshot may share the
// previous one), and the count.
func laterRequest(pr *Profile, p *capture.Packet) {
	r := &Request{Kind: PayloadHTTPRequest, Frame: p.Index, Time: p.Time, StartSeq: Seq(p.Seq)}
	parseHTTPRequest(p.Payload, r)
	pr.LastRequest = r
	if pr.Requests < ^uint16(0) {
		pr.Requests++
	}
}

// firstPayload classifies and parses the first payload of direction d.
func (t *Table) firstPayload(e *entry, d Dir, p *capture.Packet) {
	pr := e.flow.Profile(d)
	b := p.Payload
	k := classify(b)
	if len(b) < 6 && helloPrefix(b) {
		// Too short to tell (a ClientHello split after its first bytes,
		// as anti-censorship tools do): taken as a ClientHello while it is
		// completed; finishHello reclassifies it if it was not one.
		k = PayloadTLSClientHello
	}
	pr.FirstPayload = k
	r := &pr.Request
	r.Kind, r.Frame, r.Time, r.StartSeq = k, p.Index, p.Time, Seq(p.Seq)
	switch k {
	case PayloadHTTPRequest:
		parseHTTPRequest(b, r)
		pr.Requests = 1
	case PayloadHTTPResponse:
		r.Status = parseHTTPStatus(b)
		r.BodyStart, r.ContentLength = parseHTTPFraming(b)
	case PayloadTLSClientHello:
		t.clientHello(e, d, p)
	case PayloadTLSServerHello:
		pr.TLSVersion = parseServerHello(b)
	}
	if looksTLS(b) || helloPrefix(b) {
		pr.tlsStart(Seq(p.Seq))
	}
}

// clientHello parses the ClientHello that starts p's payload into the
// Request of direction d and, when the handshake message continues past
// the segment (a longer record, or more records: see helloNeed), starts
// buffering the stream (up to maxHelloRaw) to complete it from the next
// in-order segments.
func (t *Table) clientHello(e *entry, d Dir, p *capture.Packet) {
	pr := e.flow.Profile(d)
	b := p.Payload
	parseClientHello(helloDefrag(b), &pr.Request)
	pr.TLSVersion = pr.Request.TLSVersion
	need, done := helloNeed(b)
	if !done && len(b) == p.Len && need <= maxHelloRaw && e.hello == nil && t.helloBytes+need <= maxHelloTotal {
		t.helloBytes += need
		e.hello = &helloBuf{b: append(make([]byte, 0, need), b...), need: need, next: Seq(p.Seq).Add(uint32(p.Len)), dir: d}
	}
}

// lateTLS starts TLS tracking of direction d at p, a later segment that
// begins with a record header. A ClientHello replaces an opaque first
// request (STARTTLS: the SNI matters more than "EHLO"); a ServerHello
// gives the selected version.
func (t *Table) lateTLS(e *entry, d Dir, p *capture.Packet) {
	pr := e.flow.Profile(d)
	switch classify(p.Payload) {
	case PayloadTLSClientHello:
		if k := pr.Request.Kind; k == PayloadOpaque || k == PayloadNone {
			pr.Request = Request{Kind: PayloadTLSClientHello, Frame: p.Index, Time: p.Time}
			t.clientHello(e, d, p)
		}
	case PayloadTLSServerHello:
		if pr.TLSVersion == 0 {
			pr.TLSVersion = parseServerHello(p.Payload)
		}
	}
	pr.tlsStart(Seq(p.Seq))
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
	pr := e.flow.Profile(e.hello.dir)
	r := &pr.Request
	*r = Request{Kind: r.Kind, Frame: r.Frame, Time: r.Time, StartSeq: r.StartSeq}
	_, done := helloNeed(e.hello.b)
	switch k := classify(e.hello.b); {
	case k == PayloadTLSClientHello || len(e.hello.b) < 6:
		parseClientHello(helloDefrag(e.hello.b), r)
		pr.TLSVersion = r.TLSVersion
		if !done {
			r.Cut = true
		}
	default: // began like one but is not a ClientHello (see firstPayload)
		r.Kind = k
		if pr.FirstPayload == PayloadTLSClientHello {
			pr.FirstPayload = k
		}
		if k == PayloadTLSServerHello {
			pr.TLSVersion = parseServerHello(e.hello.b)
		}
	}
	t.helloBytes -= e.hello.need
	e.hello = nil
}
