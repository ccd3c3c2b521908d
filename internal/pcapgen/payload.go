package pcapgen

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

// HTTPRequest builds an HTTP/1.1 request with a Host header.
func HTTPRequest(method, host, path string) []byte {
	b := make([]byte, 0, 96+len(host)+len(path))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"...)
	return b
}

// HTTPResponseHeader builds an HTTP/1.1 response header for a body of
// bodyLen bytes (send the body as filler after it with SendFill).
func HTTPResponseHeader(status int, bodyLen int, keepAlive bool) []byte {
	b := make([]byte, 0, 160)
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText(status)...)
	b = append(b, "\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(bodyLen), 10)
	if keepAlive {
		b = append(b, "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5"...)
	} else {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	return b
}

func statusText(s int) string {
	switch s {
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 304:
		return "Not Modified"
	case 404:
		return "Not Found"
	case 502:
		return "Bad Gateway"
	}
	return "Status"
}

// TLS record content types.
const (
	TLSChangeCipherSpec byte = 20
	TLSAlertRecord      byte = 21
	TLSHandshake        byte = 22
	TLSApplicationData  byte = 23
)

// TLS alert levels and some descriptions (RFC 8446 section 6).
const (
	AlertWarning          byte = 1
	AlertFatal            byte = 2
	AlertCloseNotify      byte = 0
	AlertHandshakeFailure byte = 40
	AlertBadCertificate   byte = 42
	AlertUnknownCA        byte = 48
	AlertProtocolVersion  byte = 70
	AlertInternalError    byte = 80
	AlertUnrecognizedName byte = 112
)

// TLSRecordHeader is the 5-byte header of a TLS 1.2-framed record of n bytes.
func TLSRecordHeader(typ byte, n int) []byte {
	return []byte{typ, 3, 3, byte(n >> 8), byte(n)}
}

// TLSAlert is a plaintext alert record: 15 03 03 00 02 level desc.
func TLSAlert(level, desc byte) []byte {
	return []byte{TLSAlertRecord, 3, 3, 0, 2, level, desc}
}

// TLSEncryptedAlertLen is the on-wire size of a TLS 1.3 encrypted alert
// with an AEAD tag of 16 bytes: a 5-byte header and 19 bytes of record.
const TLSEncryptedAlertLen = 5 + 19

// TLSClientHello builds a TLS 1.3-capable ClientHello record with the given
// SNI (omitted when empty), ALPN h2/http1.1, x25519 key share. r supplies
// the random and key bytes (nil: fixed bytes).
func TLSClientHello(sni string, r *rand.Rand) []byte {
	var rnd [32 + 32 + 32]byte
	fillRand(rnd[:], r)
	body := make([]byte, 0, 512)
	body = append(body, 3, 3)
	body = append(body, rnd[:32]...)
	body = append(body, 32)
	body = append(body, rnd[32:64]...)
	suites := []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	body = binary.BigEndian.AppendUint16(body, uint16(2*len(suites)))
	for _, s := range suites {
		body = binary.BigEndian.AppendUint16(body, s)
	}
	body = append(body, 1, 0) // compression: null
	ext := make([]byte, 0, 256)
	if sni != "" {
		n := len(sni)
		ext = binary.BigEndian.AppendUint16(ext, 0x0000)
		ext = binary.BigEndian.AppendUint16(ext, uint16(n+5))
		ext = binary.BigEndian.AppendUint16(ext, uint16(n+3))
		ext = append(ext, 0)
		ext = binary.BigEndian.AppendUint16(ext, uint16(n))
		ext = append(ext, sni...)
	}
	ext = append(ext, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00) // ec_point_formats
	ext = append(ext, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18)
	ext = append(ext, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/', '1', '.', '1')
	ext = append(ext, 0x00, 0x0d, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03)
	ext = append(ext, 0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03) // supported_versions 1.3, 1.2
	ext = append(ext, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01)                   // psk_key_exchange_modes
	ext = append(ext, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20)
	ext = append(ext, rnd[64:96]...)
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	return handshakeRecord(1, body, 1)
}

// TLSServerHello builds a ServerHello record. With tls13 it carries
// supported_versions 1.3 and a key share and is followed by a
// ChangeCipherSpec record; otherwise it is a TLS 1.2 ServerHello.
func TLSServerHello(tls13 bool, r *rand.Rand) []byte {
	var rnd [32 + 32 + 32]byte
	fillRand(rnd[:], r)
	body := make([]byte, 0, 128)
	body = append(body, 3, 3)
	body = append(body, rnd[:32]...)
	body = append(body, 32)
	body = append(body, rnd[32:64]...)
	if tls13 {
		body = append(body, 0x13, 0x01, 0)
		ext := []byte{0x00, 0x2b, 0x00, 0x02, 0x03, 0x04, 0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20}
		ext = append(ext, rnd[64:96]...)
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
		rec := handshakeRecord(2, body, 3)
		return append(rec, TLSChangeCipherSpec, 3, 3, 0, 1, 1)
	}
	body = append(body, 0xc0, 0x2f, 0)
	ext := []byte{0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	return handshakeRecord(2, body, 3)
}

// TLSServerHelloDone is a TLS 1.2 ServerHelloDone record.
func TLSServerHelloDone() []byte { return handshakeRecord(14, nil, 3) }

// TLSCertificateHeader is the start of a TLS 1.2 Certificate record whose
// whole size on the wire is n bytes (send the rest as filler with SendFill).
func TLSCertificateHeader(n int) []byte {
	body := n - 5
	hs := body - 4
	list := hs - 3
	cert := list - 3
	return []byte{TLSHandshake, 3, 3, byte(body >> 8), byte(body), 11, byte(hs >> 16), byte(hs >> 8), byte(hs),
		byte(list >> 16), byte(list >> 8), byte(list), byte(cert >> 16), byte(cert >> 8), byte(cert)}
}

func handshakeRecord(typ byte, body []byte, minor byte) []byte {
	n := len(body)
	rec := make([]byte, 0, 9+n)
	rec = append(rec, TLSHandshake, 3, minor, byte((n+4)>>8), byte(n+4))
	rec = append(rec, typ, byte(n>>16), byte(n>>8), byte(n))
	return append(rec, body...)
}

func fillRand(b []byte, r *rand.Rand) {
	for i := range b {
		if r != nil {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = byte(i*37 + 11)
		}
	}
}

// DNSQuery builds a DNS query for an A record.
func DNSQuery(id uint16, name string) []byte {
	b := make([]byte, 0, 32+len(name))
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0)
	b = appendDNSName(b, name)
	return append(b, 0, 1, 0, 1)
}

// DNSResponse answers DNSQuery(id, name) with one A record.
func DNSResponse(id uint16, name string, a [4]byte) []byte {
	b := make([]byte, 0, 48+len(name))
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0)
	b = appendDNSName(b, name)
	b = append(b, 0, 1, 0, 1)
	b = append(b, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4)
	return append(b, a[:]...)
}

func appendDNSName(b []byte, name string) []byte {
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			if i > start {
				b = append(b, byte(i-start))
				b = append(b, name[start:i]...)
			}
			start = i + 1
		}
	}
	return append(b, 0)
}
