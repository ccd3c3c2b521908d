package flows

import "time"

// PayloadKind classifies the first payload of a direction.
type PayloadKind uint8

// Payload kinds. Zero means no payload seen yet.
const (
	PayloadNone PayloadKind = iota
	PayloadHTTPRequest
	PayloadHTTPResponse
	PayloadTLSClientHello
	PayloadTLSServerHello
	PayloadTLSOther // a TLS record that is not a hello (e.g. mid-stream)
	PayloadOpaque
)

// String gives a short name: "http_request", "tls_client_hello", ...
func (k PayloadKind) String() string {
	switch k {
	case PayloadHTTPRequest:
		return "http_request"
	case PayloadHTTPResponse:
		return "http_response"
	case PayloadTLSClientHello:
		return "tls_client_hello"
	case PayloadTLSServerHello:
		return "tls_server_hello"
	case PayloadTLSOther:
		return "tls"
	case PayloadOpaque:
		return "opaque"
	}
	return "none"
}

// TLS record content types (RFC 8446 section 5.1).
const (
	TLSChangeCipherSpec = 20
	TLSAlert            = 21
	TLSHandshake        = 22
	TLSApplicationData  = 23
)

// TLSAlertInfo is a TLS alert record seen in one direction.
//
// Three shapes are recorded:
//   - plaintext: an alert record (type 21) of length 2; Level and
//     Description are read from its body (both 0 when the snaplen cut it).
//   - encrypted: an alert record (type 21) of any other length: it carries
//     a MAC or AEAD tag, i.e. it was sent after this direction's
//     ChangeCipherSpec (TLS <= 1.2); Level/Description are unknown.
//   - candidate: TLS 1.3 hides alerts in application_data records. An
//     application_data record of 19..40 bytes that is the last record a
//     direction sent before its FIN or RST is marked Encrypted with
//     Candidate set (an encrypted alert is 19 bytes: 2 alert bytes, the
//     inner type and a 16-byte AEAD tag; more with padding). It may also
//     be a small application message. Not used when the ServerHello chose
//     TLS <= 1.2.
type TLSAlertInfo struct {
	Frame       uint64    // frame that completed the alert record
	Time        time.Time // time of that frame
	Encrypted   bool      // body is encrypted: a post-CCS alert (TLS <= 1.2) or a candidate (TLS 1.3)
	Candidate   bool      // TLS 1.3 guess: a short application_data record right before FIN/RST (implies Encrypted)
	Level       uint8     // 1 warning, 2 fatal; valid iff !Encrypted
	Description uint8     // RFC 8446 AlertDescription; valid iff !Encrypted
	Length      uint16    // record length (2 for a plaintext alert)
}

// Request is what the first payload of the client said, when it could be
// parsed. Strings are copied once per flow and capped in length.
type Request struct {
	Kind   PayloadKind
	Frame  uint64
	Time   time.Time
	Method string // HTTP
	Path   string // HTTP
	Host   string // HTTP Host header
	SNI    string // TLS ClientHello server_name
	// TLS versions: the record/legacy version and, when present, the
	// highest version in supported_versions (e.g. 0x0304 for TLS 1.3).
	TLSVersion    uint16
	TLSMaxVersion uint16
	ALPN          string // first ALPN protocol offered, if any
	// Status is the HTTP status code of a response (server direction,
	// Kind == PayloadHTTPResponse), 0 otherwise.
	Status uint16
	// BodyStart and ContentLength describe an HTTP response's framing
	// (server direction): the response's first body byte is at
	// Frame's seq + BodyStart, and the body is ContentLength bytes long.
	// ContentLength is -1 when unknown (no header, chunked, or not in the
	// first segment). Only the first response of a flow is parsed.
	BodyStart     uint32
	ContentLength int64
	// StartSeq is the sequence number of the first payload byte (the
	// first payload's seq), for HTTP and TLS alike.
	StartSeq Seq
	// Cut is set when the payload ended before the request line/headers
	// (HTTP) or the ClientHello extensions (TLS) could be read in full, so
	// a missing Host or SNI may just not have been captured.
	Cut bool
}

// tlsTracker follows TLS record boundaries in one direction without
// buffering payload: it keeps how many bytes of the current record remain
// and up to 5 header bytes of a record header split across segments.
type tlsTracker struct {
	active    bool   // the direction looks like TLS
	broken    bool   // lost sync (gap, garbage); stop tracking
	expect    Seq    // next in-order sequence number the tracker wants
	remaining uint32 // body bytes of the current record still to come
	hdr       [5]byte
	hdrLen    uint8
	body      [2]byte // first two body bytes of an alert record
	bodyLen   uint8
	curType   uint8
	curLen    uint16
	// last completed record
	lastType  uint8
	lastLen   uint16
	lastFrame uint64
	lastNs    int64 // time, Unix ns (a time.Time would take 24 bytes)
}
