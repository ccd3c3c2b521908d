package flows

// TLS record-boundary tracking. A direction whose first payload starts
// like a TLS record header (or, failing that, whose first later segment
// starts with a plausible record header: STARTTLS, SSLv2-format hellos,
// midstream flows) is followed record by record across segments,
// in sequence order, without buffering: the tracker keeps at most a split
// 5-byte header and the first two bytes of an alert's body. Segments that
// end at or before the tracked position (retransmissions) are skipped; a
// gap (a segment starting beyond the tracked position, e.g. a lost or
// reordered packet), a snaplen cut inside a header, or bytes that are not
// a record header stop tracking for the direction (TLSBroken).

// maxTLSRecord is the largest record length accepted (2^14 plus the 2048
// bytes of expansion TLS 1.2 allows); longer means lost sync.
const maxTLSRecord = 1<<14 + 2048

// Encrypted-alert candidate bounds (see TLSAlertInfo).
const (
	minEncAlert = 19
	maxEncAlert = 40
)

// looksTLSHeader reports whether b starts with a plausible TLS record
// header: type 20..23, version 3.0 to 3.4, length within bounds.
func looksTLSHeader(b []byte) bool {
	return len(b) >= 5 && looksTLS(b) && b[2] <= 4 && int(b[3])<<8|int(b[4]) <= maxTLSRecord
}

// start starts record tracking at seq, the first payload byte of the
// direction.
func (p *tlsState) start(seq Seq) {
	p.tr = tlsTracker{active: true, expect: seq}
}

// feed advances the tracker over one non-RST segment: seq and wireLen
// describe the segment on the wire, payload is what was captured of it.
func (p *tlsState) feed(seq Seq, payload []byte, wireLen int, frame uint64, t int64) {
	tr := &p.tr
	if !tr.active || tr.broken || wireLen <= 0 {
		return
	}
	end := seq.Add(uint32(wireLen))
	if end.LessThanEq(tr.expect) {
		return // already seen: retransmission
	}
	if tr.expect.LessThan(seq) {
		p.tlsBreak() // gap: a segment is missing or reordered
		return
	}
	off := int(tr.expect.Sub(seq))
	tr.expect = end
	if off < len(payload) {
		p.tlsWalk(payload[off:], frame, t)
		off = len(payload)
	}
	if uncaptured := wireLen - off; uncaptured > 0 && !tr.broken {
		// Snaplen cut: skip body bytes blind; a header in the cut is lost.
		if tr.hdrLen != 0 || uint32(uncaptured) > tr.remaining {
			p.tlsBreak()
			return
		}
		tr.remaining -= uint32(uncaptured)
		if tr.remaining == 0 {
			p.tlsComplete(frame, t)
		}
	}
}

func (p *tlsState) tlsBreak() {
	p.tr.broken = true
	p.broken = true
}

// tlsWalk consumes in-order record bytes.
func (p *tlsState) tlsWalk(b []byte, frame uint64, t int64) {
	tr := &p.tr
	for len(b) > 0 {
		if tr.remaining == 0 {
			n := copy(tr.hdr[tr.hdrLen:], b)
			tr.hdrLen += uint8(n)
			b = b[n:]
			if tr.hdrLen < 5 {
				return
			}
			tr.hdrLen = 0
			typ := tr.hdr[0]
			l := uint16(tr.hdr[3])<<8 | uint16(tr.hdr[4])
			if typ < TLSChangeCipherSpec || typ > TLSApplicationData || tr.hdr[1] != 3 || l > maxTLSRecord {
				p.tlsBreak()
				return
			}
			tr.curType, tr.curLen, tr.remaining, tr.bodyLen = typ, l, uint32(l), 0
			p.records |= 1 << (typ - TLSChangeCipherSpec)
			if typ == TLSChangeCipherSpec {
				p.ccsSeen = true
			}
			if l == 0 {
				p.tlsComplete(frame, t)
			}
			continue
		}
		n := min(int(tr.remaining), len(b))
		if tr.curType == TLSAlert && tr.bodyLen < 2 {
			tr.bodyLen += uint8(copy(tr.body[tr.bodyLen:], b[:n]))
		}
		tr.remaining -= uint32(n)
		b = b[n:]
		if tr.remaining == 0 {
			p.tlsComplete(frame, t)
		}
	}
}

// tlsComplete records the end of the current record.
func (p *tlsState) tlsComplete(frame uint64, t int64) {
	tr := &p.tr
	tr.lastType, tr.lastLen, tr.lastFrame, tr.lastNs = tr.curType, tr.curLen, frame, t
	if tr.curType != TLSAlert {
		return
	}
	a := TLSAlertInfo{Frame: frame, Time: nsTime(t), Length: tr.curLen}
	if tr.curLen != 2 {
		// Encrypted alerts carry a MAC or AEAD tag: never 2 bytes.
		a.Encrypted = true
	} else if tr.bodyLen == 2 {
		a.Level, a.Description = tr.body[0], tr.body[1]
	}
	if p.alertSeen && !p.alert.Encrypted && p.alert.Level == 2 && !a.Encrypted && a.Level != 2 {
		return // a fatal alert says more than a later warning (close_notify)
	}
	p.alert = a
	p.alertSeen = true
}

// markCandidate marks the last record of the direction as a TLS 1.3
// encrypted-alert candidate when it was an application_data record of
// 19..40 bytes and nothing was sent after it up to at (the seq of the
// direction's FIN or RST). serverVersion is the ServerHello's selected
// version (0 unknown): TLS <= 1.2 never hides alerts in application_data.
func (p *tlsState) markCandidate(at Seq, serverVersion uint16) {
	tr := &p.tr
	if !tr.active || tr.broken || p.alertSeen || tr.remaining != 0 || tr.hdrLen != 0 {
		return
	}
	if tr.expect != at || tr.lastType != TLSApplicationData || tr.lastLen < minEncAlert || tr.lastLen > maxEncAlert {
		return
	}
	if serverVersion != 0 && serverVersion < 0x0304 {
		return
	}
	p.alert = TLSAlertInfo{Frame: tr.lastFrame, Time: nsTime(tr.lastNs), Encrypted: true, Candidate: true, Length: tr.lastLen}
	p.alertSeen = true
}
