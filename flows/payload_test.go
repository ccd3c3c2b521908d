package flows

import (
	"strconv"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want PayloadKind
	}{
		{"GET / HTTP/1.1\r\n", PayloadHTTPRequest},
		{"PRI * HTTP/2.0\r\n", PayloadHTTPRequest},
		{"HTTP/1.1 200 OK\r\n", PayloadHTTPResponse},
		{"\x16\x03\x01\x00\x05\x01", PayloadTLSClientHello},
		{"\x16\x03\x03\x00\x05\x02", PayloadTLSServerHello},
		{"\x17\x03\x03\x00\x05", PayloadTLSOther},
		{"GETX / HTTP/1.1", PayloadOpaque},
		{"SSH-2.0-OpenSSH_9.6\r\n", PayloadOpaque},
		{"", PayloadNone},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseHTTPRequest(t *testing.T) {
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name, in           string
		method, path, host string
		cut                bool
	}{
		{"basic", "GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nHost: example.com\r\n\r\n", "GET", "/index.html", "example.com", false},
		{"host_case_and_spaces", "POST /api HTTP/1.1\r\nhOsT:   api.example.com  \r\n\r\n", "POST", "/api", "api.example.com", false},
		{"no_host", "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", "GET", "/", "", false},
		{"cut_in_headers", "GET /a HTTP/1.1\r\nAccept: */*\r\nHo", "GET", "/a", "", true},
		{"cut_in_line", "GET /abc", "GET", "/abc", "", true},
		{"long_path", "GET /" + string(long) + " HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/" + string(long[:maxPath-1]), "h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			parseHTTPRequest([]byte(tt.in), &r)
			if r.Method != tt.method || r.Path != tt.path || r.Host != tt.host || r.Cut != tt.cut {
				t.Errorf("got %q %q host %q cut %v, want %q %q host %q cut %v", r.Method, r.Path, r.Host, r.Cut, tt.method, tt.path, tt.host, tt.cut)
			}
		})
	}
	if got := parseHTTPStatus([]byte("HTTP/1.1 503 Service Unavailable\r\n")); got != 503 {
		t.Errorf("status: got %d, want 503", got)
	}
	if got := parseHTTPStatus([]byte("HTTP/1.1 5")); got != 0 {
		t.Errorf("cut status: got %d, want 0", got)
	}
}

func TestTable_httpRequest(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=1",
		"S>C PA seq=301 ack=140 len=1",
		"S>C R seq=320",
	})...)
	withPayload(&pk[3], []byte("GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n"))
	withPayload(&pk[4], []byte("HTTP/1.1 200 OK\r\n\r\n"))
	e := run(t, Options{}, pk).one(t)
	c, s := e.Flow.Dirs[0].Request, e.Flow.Dirs[1].Request
	if c.Kind != PayloadHTTPRequest || c.Method != "GET" || c.Path != "/x" || c.Host != "a.example" || c.Frame != 4 {
		t.Errorf("client request: got %+v, want GET /x Host a.example at frame 4", c)
	}
	if s.Kind != PayloadHTTPResponse || s.Status != 200 || s.Frame != 5 {
		t.Errorf("server response: got %+v, want status 200 at frame 5", s)
	}
}

func TestParseHTTPFraming(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     string
		start  uint32
		length int64
	}{
		{"content_length", "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\nbody", 44, 1048576},
		{"case_and_spaces", "HTTP/1.1 200 OK\r\ncontent-length:   12 \r\nX: y\r\n\r\n", 48, 12},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", 47, -1},
		{"no_length", "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 38, -1},
		{"headers_cut", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", 0, -1},
		{"garbage_length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 39, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			start, n := parseHTTPFraming([]byte(c.in))
			if start != c.start || n != c.length {
				t.Errorf("got body start %d length %d, want %d %d", start, n, c.start, c.length)
			}
		})
	}
}

// TestLastRequest: on a keep-alive connection the last HTTP request before
// the RST is kept beside the first, with the count (issue 13 class 6); a
// retransmission of a request is not another one.
func TestLastRequest(t *testing.T) {
	reqs := []string{"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n", "GET /about.html HTTP/1.1\r\nHost: a\r\n\r\n", "GET /forbidden/secret.html HTTP/1.1\r\nHost: a\r\n\r\n"}
	seq := 101
	var l []string
	for i, r := range reqs {
		l = append(l, "C>S PA seq="+strconv.Itoa(seq)+" ack=301 len="+strconv.Itoa(len(r)))
		if i == 1 { // a retransmission of the second request
			l = append(l, "C>S PA seq="+strconv.Itoa(seq)+" ack=301 len="+strconv.Itoa(len(r)))
		}
		seq += len(r)
		l = append(l, "S>C PA seq=301 ack="+strconv.Itoa(seq)+" len=0")
	}
	l = append(l, "S>C R seq=301")
	pk := ladder(t, lines(handshake, l)...)
	// frames 4, 6 and 7 (its retransmission), 9: the three requests
	for frame, r := range map[int]string{4: reqs[0], 6: reqs[1], 7: reqs[1], 9: reqs[2]} {
		copy(pk[frame-1].Payload, r)
	}
	e := run(t, Options{}, pk).one(t)
	c := &e.Flow.Dirs[0]
	if c.Request.Path != "/index.html" || c.LastRequest == nil || c.LastRequest.Path != "/forbidden/secret.html" ||
		c.LastRequest.Frame != 9 || c.Requests != 3 {
		t.Errorf("got first %q, last %+v, %d requests; want /index.html, /forbidden/secret.html at frame 9, 3", c.Request.Path, c.LastRequest, c.Requests)
	}
}

// TestParseClientHello_repeatedVersions: a hello that repeats
// supported_versions (which TLS forbids) is read by its first copy, as
// server_name and ALPN are, so that cutting the later copy off does not
// change the answer (FuzzClientHello found a prefix that read 0x3030
// where the whole read 0x3130).
func TestParseClientHello_repeatedVersions(t *testing.T) {
	versions := func(v uint16) []byte { return []byte{0x00, 0x2b, 0x00, 0x03, 0x02, byte(v >> 8), byte(v)} }
	ext := append(versions(0x0303), versions(0x0304)...)
	body := []byte{0x03, 0x03}               // legacy_version
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{0x01, 0x00, byte(len(body) >> 8), byte(len(body))}, body...)
	rec := append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	for _, n := range []int{len(rec), len(rec) - 3} { // whole; the second copy cut
		var r Request
		parseClientHello(rec[:n], &r)
		if r.TLSMaxVersion != 0x0303 {
			t.Errorf("%d of %d bytes: max version %#x, want the first copy's 0x0303", n, len(rec), r.TLSMaxVersion)
		}
	}
}
