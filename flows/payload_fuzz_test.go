package flows

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/internal/pcapgen"
)

// Fuzz targets of the payload parsers (HTTP request line and Host, HTTP
// response status and framing, TLS ClientHello and ServerHello) and of the
// TLS record tracker. Each must never panic nor read out of bounds (the
// fuzzer's slices have cap == len, so any read past the end panics), and
// every string it copies out must be a bounded substring of the input.

// seedPayloads passes to add the first few payloads of some corpus
// captures that keep(payload) accepts.
func seedPayloads(f *testing.F, add func([]byte), keep func([]byte) bool, files ...string) {
	f.Helper()
	for _, name := range files {
		src, err := capture.OpenFile(filepath.Join(corpusDir, name), 0, capture.FileOptions{})
		if err != nil {
			f.Fatalf("seed %s: %v", name, err)
		}
		var p capture.Packet
		n := 0
		for n < 4 {
			err := src.Next(&p)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Fatalf("seed %s: %v", name, err)
			}
			if len(p.Payload) > 0 && keep(p.Payload) {
				add(bytes.Clone(p.Payload))
				n++
			}
		}
		src.Close()
	}
}

// exact returns b with cap == len, so that a read past the end panics.
func exact(b []byte) []byte { return b[:len(b):len(b)] }

// checkSub fails unless s is empty or a substring of b of at most n bytes.
func checkSub(t *testing.T, field, s string, b []byte, n int) {
	t.Helper()
	if len(s) > n {
		t.Fatalf("%s: got %d bytes, want at most %d", field, len(s), n)
	}
	if s != "" && !bytes.Contains(b, []byte(s)) {
		t.Fatalf("%s: got %q, not a substring of the payload", field, s)
	}
}

func FuzzHTTPRequest(f *testing.F) {
	f.Add([]byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"))
	f.Add([]byte("POST /api HTTP/1.1\r\nhOsT:   api.example.com  \r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nAccept: */*\r\nHo"))
	f.Add([]byte("GET /a"))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\nbody"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\ncontent-length: 99999999999999999999\r\n\r\n"))
	f.Add(pcapgen.HTTPRequest("GET", "example.org", "/x?y=z"))
	f.Add(pcapgen.HTTPResponseHeader(503, 10, false))
	seedPayloads(f, func(b []byte) { f.Add(b) }, func(b []byte) bool { return classify(b) == PayloadHTTPRequest || classify(b) == PayloadHTTPResponse },
		"zeek/Traces/http/get.pcap", "zeek/Traces/http/curl_http_09.pcap", "filesamples/simple_http_sll2.pcap")
	f.Fuzz(func(t *testing.T, b []byte) {
		b = exact(b)
		k := classify(b)
		var r Request
		parseHTTPRequest(b, &r)
		if ml := httpMethodLen(b); ml == 0 {
			if r != (Request{}) {
				t.Fatalf("not a request line, got %+v, want nothing parsed", r)
			}
		} else {
			if k != PayloadHTTPRequest && k != PayloadHTTPResponse {
				t.Fatalf("request line classified %v", k)
			}
			if r.Method != string(b[:ml]) {
				t.Fatalf("method: got %q, want %q", r.Method, b[:ml])
			}
			checkSub(t, "path", r.Path, b, maxPath)
			checkSub(t, "host", r.Host, b, maxHost)
			if strings.ContainsAny(r.Path, " \n") || strings.ContainsAny(r.Host, "\n") {
				t.Fatalf("path %q / host %q span a separator", r.Path, r.Host)
			}
			if h := r.Host; h != "" && (h[0] == ' ' || h[0] == '\t' || (len(h) < maxHost && strings.ContainsAny(h[len(h)-1:], " \t\r"))) {
				t.Fatalf("host %q not trimmed", r.Host)
			}
			if !r.Cut && !bytes.Contains(b, []byte("\n")) {
				t.Fatalf("no line end in %q, but not Cut", b)
			}
		}
		if st := parseHTTPStatus(b); st > 999 {
			t.Fatalf("status: got %d, want at most 999", st)
		}
		start, length := parseHTTPFraming(b)
		if int(start) > min(len(b), maxHeaderScan) || (start > 0 && b[start-1] != '\n') {
			t.Fatalf("body start %d: not just after a line end within %d bytes", start, len(b))
		}
		if length < -1 || (start == 0 && length != -1) {
			t.Fatalf("content length %d with body start %d", length, start)
		}
	})
}

func FuzzClientHello(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	f.Add(pcapgen.TLSClientHello("example.com", rng), 0)
	f.Add(pcapgen.TLSClientHello(strings.Repeat("a", 300), rng), 7)
	f.Add(pcapgen.TLSServerHello(true, rng), 0)
	f.Add(pcapgen.TLSServerHello(false, rng), 3)
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03}, 1)
	seedPayloads(f, func(b []byte) { f.Add(b, len(b)/2) }, func(b []byte) bool {
		k := classify(b)
		return k == PayloadTLSClientHello || k == PayloadTLSServerHello
	}, "zeek/Traces/tls/dhe.pcap", "ndpi/tls_alert.pcap", "suricata-verify/tls/tls13-draft19/tls13_draft19.pcap",
		"zeek/Traces/tls/tls-1.2-handshake-failure.pcap")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		b = exact(b)
		var r Request
		parseClientHello(b, &r)
		checkSub(t, "sni", r.SNI, b, maxSNI)
		checkSub(t, "alpn", r.ALPN, b, maxALPN)
		if isGREASE(r.TLSMaxVersion) {
			t.Fatalf("max version %#x is GREASE", r.TLSMaxVersion)
		}
		// A prefix parses to the same values or to nothing: an extension
		// is read only when its whole body is there.
		if len(b) > 0 {
			n := int(uint(cut) % uint(len(b)))
			var p Request
			parseClientHello(exact(b[:n]), &p)
			if (p.SNI != "" && p.SNI != r.SNI) || (p.ALPN != "" && p.ALPN != r.ALPN) ||
				(p.TLSMaxVersion != 0 && p.TLSMaxVersion != r.TLSMaxVersion) {
				t.Fatalf("prefix of %d/%d bytes: got sni %q alpn %q max %#x, whole gives %q %q %#x",
					n, len(b), p.SNI, p.ALPN, p.TLSMaxVersion, r.SNI, r.ALPN, r.TLSMaxVersion)
			}
			if n >= 6 && p.SNI != r.SNI && !p.Cut {
				t.Fatalf("prefix of %d/%d bytes lost the sni %q without Cut", n, len(b), r.SNI)
			}
		}
		parseServerHello(b)
		helloRecordLen(b)
	})
}

// FuzzHelloReassembly splits a ClientHello into segments fed to a Table
// (the first may be a single byte): when the handshake message fits
// maxHello, the SNI the flow ends with must be the one parsing the whole
// message gives (its records joined, see helloDefrag); and nothing may
// panic.
func FuzzHelloReassembly(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	f.Add(pcapgen.TLSClientHello("split.example.com", rng), []byte{10, 50, 3})
	f.Add(pcapgen.TLSClientHello(strings.Repeat("b", 200), rng), []byte{1, 1, 1, 1, 255})
	f.Fuzz(func(t *testing.T, hello []byte, cuts []byte) {
		hello = exact(hello)
		if classify(hello) != PayloadTLSClientHello {
			return
		}
		var segs [][]byte
		rest := hello
		for _, c := range cuts {
			if len(rest) == 0 {
				break
			}
			n := min(len(rest), int(c)+1)
			segs = append(segs, exact(rest[:n]))
			rest = rest[n:]
		}
		if len(rest) > 0 {
			segs = append(segs, rest)
		}
		c := netip.MustParseAddrPort("10.0.0.1:40000")
		s := netip.MustParseAddrPort("10.0.0.2:443")
		var got *Request
		tb := NewTable(Options{OnFlowEnd: func(fl *Flow) {
			r := fl.Profile(FromClient).Request
			got = &r
		}})
		seq := uint32(1001)
		for i, b := range segs {
			p := capture.Packet{Index: uint64(i + 1), Src: c, Dst: s, Flags: capture.ACK | capture.PSH,
				Seq: seq, Ack: 5001, Len: len(b), Payload: b, Time: t0.Add(time.Duration(i) * time.Millisecond), TTL: 64}
			tb.Add(&p)
			seq += uint32(len(b))
		}
		tb.Close()
		if tb.helloBytes != 0 {
			t.Fatalf("after Close: %d ClientHello bytes still accounted, want 0", tb.helloBytes)
		}
		if got == nil {
			t.Fatal("no flow ended")
		}
		checkSub(t, "sni", got.SNI, hello, maxSNI)
		var want Request
		need, _ := helloNeed(hello)
		whole := hello
		if need < len(whole) {
			whole = whole[:need]
		}
		parseClientHello(helloDefrag(whole), &want)
		if need <= maxHello+5 && got.SNI != want.SNI {
			t.Fatalf("%d segments: sni %q, want %q (the whole record's)", len(segs), got.SNI, want.SNI)
		}
	})
}

// FuzzTLSTracker feeds a byte stream cut into segments (some sent twice,
// some skipped, some cut by a snaplen) to the record tracker: it must not
// panic, must keep a split header shorter than 5 bytes, and the alert it
// reports must come from a frame it was given.
func FuzzTLSTracker(f *testing.F) {
	stream := append(append(pcapgen.TLSRecordHeader(22, 4), 1, 0, 0, 0), pcapgen.TLSAlert(2, 40)...)
	f.Add(stream, []byte{3, 1, 7, 2, 9})
	f.Add([]byte{0x17, 0x03, 0x03, 0x00, 0x13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, []byte{2, 0x85, 4, 0x41})
	f.Add([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28, 0x14, 0x03, 0x03, 0x00, 0x01, 0x01}, []byte{0xc4, 0x02})
	f.Fuzz(func(t *testing.T, data []byte, ops []byte) {
		data = exact(data)
		var p tlsState
		const isn = 0xfffffff0 // wraps inside the stream
		p.start(Seq(isn))
		off := 0
		frame := uint64(0)
		for _, op := range ops {
			if off >= len(data) {
				break
			}
			n := min(len(data)-off, int(op&0x3f)+1)
			seg := exact(data[off : off+n])
			captured := seg
			switch op >> 6 {
			case 1: // snaplen cut: half captured
				captured = exact(seg[:n/2])
			case 2: // lost: skipped
				off += n
				continue
			case 3: // sent twice
				frame++
				p.feed(Seq(isn).Add(uint32(off)), seg, n, frame, t0.UnixNano())
			}
			frame++
			p.feed(Seq(isn).Add(uint32(off)), captured, n, frame, t0.UnixNano())
			off += n
			if p.tr.hdrLen >= 5 || p.tr.remaining > maxTLSRecord {
				t.Fatalf("frame %d: split header %d bytes, %d remaining", frame, p.tr.hdrLen, p.tr.remaining)
			}
		}
		p.markCandidate(Seq(isn).Add(uint32(off)), 0x0304)
		if p.alertSeen && (p.alert.Frame == 0 || p.alert.Frame > frame) {
			t.Fatalf("alert from frame %d, only %d fed", p.alert.Frame, frame)
		}
		if p.alertSeen && !p.alert.Encrypted && p.alert.Length != 2 {
			t.Fatalf("plaintext alert of %d bytes", p.alert.Length)
		}
	})
}
