package flows

import "bytes"

// Payload classification and parsing of the first payload of a direction:
// HTTP request line and Host header, HTTP response status, TLS ClientHello
// (SNI, versions, ALPN) and ServerHello (selected version). Every parser
// works on a byte slice that may be cut anywhere and checks every bound.

// Caps on strings copied out of payloads.
const (
	maxMethod = 16
	maxPath   = 256
	maxHost   = 256
	maxSNI    = 255
	maxALPN   = 64
	// maxHeaderScan is how far into an HTTP request the Host header is
	// looked for.
	maxHeaderScan = 4096
	// maxHello caps the bytes buffered to complete a ClientHello that
	// spans several segments.
	maxHello = 16 << 10
	// maxHelloTotal caps the bytes buffered for ClientHellos of all flows
	// together: past it a new ClientHello is parsed from its first segment
	// alone (Cut), so a flood of flows that each announce a long hello and
	// never finish it cannot grow memory by 16 KiB a flow.
	maxHelloTotal = 64 << 20
)

// httpMethods are the request methods recognised at the start of a payload.
var httpMethods = [...]string{
	"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI",
}

// looksTLS reports whether b starts like a TLS record header: content type
// 20..23 and major version 3.
func looksTLS(b []byte) bool {
	return len(b) >= 2 && b[0] >= TLSChangeCipherSpec && b[0] <= TLSApplicationData && b[1] == 3
}

// classify gives the kind of a first payload.
func classify(b []byte) PayloadKind {
	if len(b) == 0 {
		return PayloadNone
	}
	if looksTLS(b) {
		if b[0] == TLSHandshake && len(b) >= 6 {
			switch b[5] {
			case 1:
				return PayloadTLSClientHello
			case 2:
				return PayloadTLSServerHello
			}
		}
		return PayloadTLSOther
	}
	if hasPrefix(b, "HTTP/1.") || hasPrefix(b, "HTTP/2") {
		return PayloadHTTPResponse
	}
	if httpMethodLen(b) > 0 {
		return PayloadHTTPRequest
	}
	return PayloadOpaque
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// httpMethodLen gives the length of the method at the start of b when it is
// followed by a space, 0 otherwise.
func httpMethodLen(b []byte) int {
	for _, m := range httpMethods {
		if len(b) > len(m) && string(b[:len(m)]) == m && b[len(m)] == ' ' {
			return len(m)
		}
	}
	return 0
}

// capString copies at most n bytes of b into a new string.
func capString(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// parseHTTPRequest fills r's Method, Path and Host from an HTTP/1 request
// start. Cut is set when the header block did not end inside b (so a
// missing Host may not have been captured).
func parseHTTPRequest(b []byte, r *Request) {
	ml := httpMethodLen(b)
	if ml == 0 {
		return
	}
	r.Method = capString(b[:ml], maxMethod)
	rest := b[ml+1:]
	end := bytes.IndexByte(rest, ' ')
	eol := bytes.IndexByte(rest, '\n')
	if end < 0 || (eol >= 0 && eol < end) {
		end = eol
	}
	if end < 0 {
		r.Path = capString(trimCR(rest), maxPath)
		r.Cut = true
		return
	}
	r.Path = capString(trimCR(rest[:end]), maxPath)
	if eol < 0 {
		r.Cut = true
		return
	}
	// Header lines.
	h := rest[eol+1:]
	if len(h) > maxHeaderScan {
		h = h[:maxHeaderScan]
	}
	for len(h) > 0 {
		nl := bytes.IndexByte(h, '\n')
		line := h
		if nl >= 0 {
			line = h[:nl]
			h = h[nl+1:]
		} else {
			h = nil
			r.Cut = true
		}
		line = trimCR(line)
		if len(line) == 0 {
			return // end of headers
		}
		if len(line) >= 5 && equalFoldASCII(line[:5], "host:") {
			r.Host = capString(trimSpace(line[5:]), maxHost)
			if nl < 0 {
				r.Cut = true
			}
			return
		}
	}
	r.Cut = true
}

// parseHTTPStatus returns the status code of an "HTTP/1.x NNN" line, or 0.
func parseHTTPStatus(b []byte) uint16 {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 || len(b) < sp+4 {
		return 0
	}
	var n uint16
	for _, c := range b[sp+1 : sp+4] {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint16(c-'0')
	}
	return n
}

// parseHTTPFraming finds, in the start of an HTTP/1 response, where the
// body starts and the Content-Length. It returns length -1 when the header
// block does not end inside b, has no Content-Length, or is chunked.
func parseHTTPFraming(b []byte) (bodyStart uint32, length int64) {
	length = -1
	h := b
	if len(h) > maxHeaderScan {
		h = h[:maxHeaderScan]
	}
	chunked := false
	pos := 0
	for {
		nl := bytes.IndexByte(h[pos:], '\n')
		if nl < 0 {
			return 0, -1 // header block not complete here
		}
		line := trimCR(h[pos : pos+nl])
		pos += nl + 1
		if len(line) == 0 {
			break
		}
		if len(line) > 15 && equalFoldASCII(line[:15], "content-length:") {
			v := trimSpace(line[15:])
			var n int64
			for i, c := range v {
				if c < '0' || c > '9' || i > 15 {
					n = -1
					break
				}
				n = n*10 + int64(c-'0')
			}
			if len(v) > 0 {
				length = n
			}
		}
		if len(line) > 18 && equalFoldASCII(line[:18], "transfer-encoding:") {
			chunked = true
		}
	}
	if chunked {
		return uint32(pos), -1
	}
	return uint32(pos), length
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// reader is a bounds-checked big-endian cursor. Any read past the end sets
// short and returns zeros.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.short = true
		r.b = nil
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.short = true
		r.b = nil
		return 0
	}
	v := uint16(r.b[0])<<8 | uint16(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) u24() int {
	if len(r.b) < 3 {
		r.short = true
		r.b = nil
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

// bytes returns the next n bytes, or what is left (setting short) when
// fewer remain.
func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		v := r.b
		r.short = true
		r.b = nil
		return v
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// isGREASE reports whether v is a GREASE value (RFC 8701: 0x?a?a).
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// helloRecordLen returns the length of the TLS record starting at b
// including its 5-byte header, or 0 when b is shorter than a header.
func helloRecordLen(b []byte) int {
	if len(b) < 5 {
		return 0
	}
	return 5 + (int(b[3])<<8 | int(b[4]))
}

// parseClientHello fills r's TLS fields from a TLS record holding a
// ClientHello (b starts at the record header). It reads what b holds;
// Cut is set when the extensions did not end inside b.
func parseClientHello(b []byte, r *Request) {
	rd := reader{b: b}
	rd.bytes(5) // record header
	if rd.u8() != 1 {
		return
	}
	rd.u24()                // handshake length
	r.TLSVersion = rd.u16() // legacy_version
	rd.bytes(32)            // random
	rd.bytes(int(rd.u8()))  // session id
	rd.bytes(int(rd.u16()))
	rd.bytes(int(rd.u8())) // compression methods
	extLen := int(rd.u16())
	if rd.short {
		r.Cut = true
		return
	}
	ext := reader{b: rd.bytes(extLen)}
	if rd.short {
		r.Cut = true
	}
	// Only the first supported_versions counts, as only the first
	// server_name and ALPN do: a hello may not repeat an extension (RFC
	// 8446 section 4.2), and one that does must not read differently
	// once its later copy is cut off.
	versionsSeen := false
	for len(ext.b) > 0 && !ext.short {
		typ := ext.u16()
		body := reader{b: ext.bytes(int(ext.u16()))}
		if ext.short {
			r.Cut = true
			return // a cut extension body is not parsed
		}
		if typ == 43 {
			if versionsSeen {
				continue
			}
			versionsSeen = true
		}
		switch typ {
		case 0: // server_name
			body.u16() // list length
			for len(body.b) > 0 && !body.short {
				nt := body.u8()
				name := body.bytes(int(body.u16()))
				if !body.short && nt == 0 && r.SNI == "" {
					r.SNI = capString(name, maxSNI)
				}
			}
		case 16: // ALPN
			body.u16()
			p := body.bytes(int(body.u8()))
			if !body.short && r.ALPN == "" {
				r.ALPN = capString(p, maxALPN)
			}
		case 43: // supported_versions
			n := int(body.u8())
			for i := 0; i+1 < n && !body.short; i += 2 {
				v := body.u16()
				if !body.short && !isGREASE(v) && v > r.TLSMaxVersion {
					r.TLSMaxVersion = v
				}
			}
		}
	}
	if ext.short {
		r.Cut = true
	}
}

// parseServerHello returns the version a ServerHello selected:
// supported_versions when present, else legacy_version; 0 when b is not
// a ServerHello or too short to tell.
func parseServerHello(b []byte) uint16 {
	rd := reader{b: b}
	rd.bytes(5)
	if rd.u8() != 2 {
		return 0
	}
	rd.u24()
	legacy := rd.u16()
	rd.bytes(32)
	rd.bytes(int(rd.u8())) // session id
	rd.u16()               // cipher suite
	rd.u8()                // compression
	if rd.short {
		return legacy
	}
	ext := reader{b: rd.bytes(int(rd.u16()))}
	for len(ext.b) > 0 && !ext.short {
		typ := ext.u16()
		body := reader{b: ext.bytes(int(ext.u16()))}
		if typ == 43 {
			if v := body.u16(); !body.short {
				return v
			}
		}
	}
	return legacy
}

// maxHelloRaw caps the bytes of stream buffered to complete one
// ClientHello: maxHello of handshake plus the headers of the records it
// may be split into.
const maxHelloRaw = maxHello + 5 + 64*5

// helloPrefix reports whether b (a first payload) may be the start of a
// TLS handshake record that holds a ClientHello: it agrees with a record
// header as far as it goes (type 22, major version 3, handshake type 1).
func helloPrefix(b []byte) bool {
	return len(b) > 0 && b[0] == TLSHandshake && (len(b) < 2 || b[1] == 3) && (len(b) < 6 || b[5] == 1)
}

// helloNeed walks the TLS records at the start of b, a stream that begins
// with a handshake record, and gives how many bytes of stream the first
// handshake message needs (its records' headers included) as far as b
// tells, and whether b holds it all. A message split over several
// records (RFC 8446 section 5.1 allows any fragmentation) needs every
// record up to its last byte. Until the message's header has arrived,
// need asks only for that header: a record may claim far more than the
// message it holds. A record that is not a handshake record
// ends the walk: need is then len(b) and done true (nothing more can be
// added to the message).
func helloNeed(b []byte) (need int, done bool) {
	var hdr [4]byte // the handshake message header, across records
	hn, got, total := 0, 0, -1
	for o := 0; ; {
		if len(b) < o+5 {
			return o + 5, false
		}
		if b[o] != TLSHandshake || b[o+1] != 3 {
			return len(b), true
		}
		rlen := int(b[o+3])<<8 | int(b[o+4])
		body := b[o+5 : min(o+5+rlen, len(b))]
		for _, c := range body {
			if hn == len(hdr) {
				break
			}
			hdr[hn] = c
			hn++
		}
		if hn == len(hdr) && total < 0 {
			total = 4 + (int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3]))
		}
		if total >= 0 && got+rlen >= total {
			need = o + 5 + total - got
			return need, len(b) >= need
		}
		if len(body) < rlen {
			if total < 0 {
				// The message's length is not known yet: ask only for the
				// rest of its header, not for a record that may be far
				// longer than the message (or than maxHelloRaw).
				return o + 5 + min(rlen, len(body)+len(hdr)-hn), false
			}
			return o + 5 + rlen, false
		}
		got += rlen
		o += 5 + rlen
	}
}

// helloDefrag gives the first handshake message of the records at the
// start of b as one record (header, then the message's bytes, up to
// maxHello of them): what parseClientHello reads. A message that fits its
// first record is b itself.
func helloDefrag(b []byte) []byte {
	if len(b) < 9 || helloRecordLen(b) >= len(b) {
		return b
	}
	if rlen := helloRecordLen(b) - 5; 4+(int(b[6])<<16|int(b[7])<<8|int(b[8])) <= rlen {
		return b // the message fits its first record
	}
	out := make([]byte, 5, 5+min(len(b), maxHello))
	copy(out, b[:3])
	for o := 0; o+5 <= len(b) && b[o] == TLSHandshake && len(out) < 5+maxHello; {
		rlen := int(b[o+3])<<8 | int(b[o+4])
		body := b[o+5 : min(o+5+rlen, len(b))]
		out = append(out, body[:min(len(body), 5+maxHello-len(out))]...)
		o += 5 + rlen
	}
	n := len(out) - 5
	out[3], out[4] = byte(n>>8), byte(n)
	return out
}
