package flows

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// write is one Write call of a TLS endpoint.
type write struct {
	from Dir
	b    []byte
}

type recConn struct {
	net.Conn
	from Dir
	mu   *sync.Mutex
	log  *[]write
}

func (c *recConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	*c.log = append(*c.log, write{c.from, append([]byte(nil), b...)})
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example.com"},
		DNSNames:     []string{"example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsExchange runs a real crypto/tls handshake over a pipe and returns
// every write in order. The client closes (close_notify) after a
// successful handshake.
func tlsExchange(t testing.TB, ccfg, scfg *tls.Config) []write {
	t.Helper()
	a, b := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	var mu sync.Mutex
	var log []write
	cc := tls.Client(&recConn{a, FromClient, &mu, &log}, ccfg)
	sc := tls.Server(&recConn{b, FromServer, &mu, &log}, scfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if sc.Handshake() == nil {
			io.Copy(io.Discard, sc)
		}
		b.Close()
	}()
	if cc.Handshake() == nil {
		cc.Close()
	} else {
		a.Close()
	}
	<-done
	return log
}

// tlsPackets turns a handshake plus the writes into packets (segments of
// at most mss bytes), followed by extra ladder lines whose seq/ack are
// filled in: "C>S FA" and "S>C R" style lines get the current seqs.
func tlsPackets(t testing.TB, writes []write, mss int, tail ...string) []capture.Packet {
	t.Helper()
	pk := ladder(t, handshake...)
	next := map[Dir]uint32{FromClient: 101, FromServer: 301}
	add := func(from Dir, flags capture.TCPFlags, b []byte) {
		p := capture.Packet{Index: uint64(len(pk) + 1), Time: t0.Add(time.Duration(len(pk)+1) * time.Millisecond),
			Flags: flags, Window: 1000, Seq: next[from], Ack: next[from.Reverse()]}
		p.Src, p.Dst, p.TTL = cliAddr, srvAddr, 64
		if from == FromServer {
			p.Src, p.Dst, p.TTL = srvAddr, cliAddr, 52
		}
		withPayload(&p, b)
		next[from] += uint32(len(b))
		if flags&capture.FIN != 0 {
			next[from]++
		}
		pk = append(pk, p)
	}
	for _, w := range writes {
		for b := w.b; len(b) > 0; {
			n := min(len(b), mss)
			add(w.from, capture.PSH|capture.ACK, b[:n])
			b = b[n:]
		}
	}
	for _, l := range tail {
		from := FromClient
		if l[0] == 'S' {
			from = FromServer
		}
		var fl capture.TCPFlags
		for _, c := range l[4:] {
			switch c {
			case 'F':
				fl |= capture.FIN
			case 'R':
				fl |= capture.RST
			case 'A':
				fl |= capture.ACK
			}
		}
		add(from, fl, nil)
	}
	return pk
}

func TestTLS_clientHello(t *testing.T) {
	writes := tlsExchange(t, &tls.Config{ServerName: "example.com", NextProtos: []string{"h2", "http/1.1"}, InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{testCert(t)}, SessionTicketsDisabled: true})
	hello := writes[0].b
	if writes[0].from != FromClient || classify(hello) != PayloadTLSClientHello {
		t.Fatalf("first write: got %v %v, want the client's ClientHello", writes[0].from, classify(hello))
	}
	check := func(t *testing.T, r Request, wantCut bool) {
		t.Helper()
		if r.Kind != PayloadTLSClientHello || r.SNI != "example.com" || r.ALPN != "h2" || r.TLSVersion != 0x0303 || r.TLSMaxVersion != 0x0304 || r.Cut != wantCut {
			t.Errorf("got %+v, want SNI example.com, ALPN h2, versions 0x0303/0x0304, cut %v", r, wantCut)
		}
	}
	t.Run("parse", func(t *testing.T) {
		var r Request
		r.Kind = PayloadTLSClientHello
		parseClientHello(hello, &r)
		check(t, r, false)
	})
	t.Run("cut_everywhere_no_panic", func(t *testing.T) {
		for n := range len(hello) {
			var r Request
			parseClientHello(hello[:n], &r)
			if n < len(hello) && !r.Cut && n > 43 {
				t.Errorf("cut at %d: Cut false, want true", n)
			}
		}
	})
	t.Run("one_segment", func(t *testing.T) {
		e := run(t, Options{}, tlsPackets(t, writes[:1], 1<<16, "S>C RA")).one(t)
		check(t, e.Flow.Dirs[0].Request, false)
		if e.Flow.Dirs[0].Request.Frame != 4 {
			t.Errorf("request frame: got %d, want 4", e.Flow.Dirs[0].Request.Frame)
		}
	})
	t.Run("two_segments", func(t *testing.T) {
		// Split the ClientHello right after its first 100 bytes: SNI is
		// in the second segment and must be found.
		pk := tlsPackets(t, writes[:1], 100, "S>C RA")
		var first Request
		parseClientHello(hello[:100], &first)
		if first.SNI != "" || !first.Cut {
			t.Fatalf("first 100 bytes alone: got SNI %q cut %v, want no SNI, cut", first.SNI, first.Cut)
		}
		e := run(t, Options{}, pk).one(t)
		check(t, e.Flow.Dirs[0].Request, false)
	})
	t.Run("rst_before_rest_of_hello", func(t *testing.T) {
		pk := tlsPackets(t, writes[:1], 100)
		pk = append(pk[:4], pk[len(pk)-1]) // first segment, then skip to the last
		rst := pk[4]
		rst.Index, rst.Flags, rst.Len, rst.Payload = 5, capture.RST|capture.ACK, 0, nil
		rst.Src, rst.Dst, rst.Seq = srvAddr, cliAddr, 301
		pk[4] = rst
		e := run(t, Options{}, pk).one(t)
		r := e.Flow.Dirs[0].Request
		if r.Kind != PayloadTLSClientHello || !r.Cut || r.SNI != "" {
			t.Errorf("got %+v, want a cut ClientHello without SNI", r)
		}
	})
}

func TestTLS_serverHelloAndCandidate(t *testing.T) {
	writes := tlsExchange(t, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{testCert(t)}, SessionTicketsDisabled: true})
	last := writes[len(writes)-1]
	if last.from != FromClient || len(last.b) != 5+19 || last.b[0] != TLSApplicationData {
		t.Fatalf("last write: got %d bytes type %d from %v, want the client's 24-byte encrypted close_notify", len(last.b), last.b[0], last.from)
	}
	pk := tlsPackets(t, writes, 1400, "C>S FA", "S>C A", "C>S RA")
	var fin uint64
	for i := range pk {
		if pk[i].Flags&capture.FIN != 0 {
			fin = pk[i].Index
		}
	}
	e := run(t, Options{}, pk).one(t)
	c, s := &e.Flow.Dirs[0], &e.Flow.Dirs[1]
	if s.FirstPayload != PayloadTLSServerHello || s.TLSVersion != 0x0304 {
		t.Errorf("server: got first payload %v version %#x, want tls_server_hello 0x0304", s.FirstPayload, s.TLSVersion)
	}
	if !c.AlertSeen || !c.Alert.Encrypted || !c.Alert.Candidate || c.Alert.Length != 19 || c.Alert.Frame != fin-1 {
		t.Errorf("client alert: got seen %v %+v, want an encrypted candidate of 19 bytes at frame %d", c.AlertSeen, c.Alert, fin-1)
	}
	if s.AlertSeen {
		t.Errorf("server alert: got %+v, want none", s.Alert)
	}
	if c.TLSRecords != 1<<(TLSChangeCipherSpec-20)|1<<(TLSHandshake-20)|1<<(TLSApplicationData-20) {
		t.Errorf("client record types: got %04b, want CCS, handshake, application_data", c.TLSRecords)
	}
	if c.TLSBroken || s.TLSBroken {
		t.Errorf("tracking broken: client %v server %v", c.TLSBroken, s.TLSBroken)
	}
}

func TestTLS_candidateBeforeRST(t *testing.T) {
	// The client's encrypted close_notify followed directly by its RST
	// (no FIN): the candidate is marked at the RST, before the snapshot.
	writes := tlsExchange(t, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{testCert(t)}, SessionTicketsDisabled: true})
	pk := tlsPackets(t, writes, 1400, "C>S RA")
	e := run(t, Options{}, pk).one(t)
	c := &e.Flow.Dirs[0]
	if want := pk[len(pk)-2].Index; !c.AlertSeen || !c.Alert.Candidate || c.Alert.Frame != want {
		t.Errorf("client alert: got %v %+v, want a candidate at frame %d", c.AlertSeen, c.Alert, want)
	}
	// Data after the small record: no candidate.
	pk = tlsPackets(t, append(writes, write{FromClient, []byte{0x17, 0x03, 0x03, 0x00, 0x01, 0x00}}), 1400, "C>S RA")
	e = run(t, Options{}, pk).one(t)
	if c := &e.Flow.Dirs[0]; c.AlertSeen {
		t.Errorf("with a record after it: got alert %+v, want none", c.Alert)
	}
}

func TestTLS_alerts(t *testing.T) {
	t.Run("plaintext_server_refusal", func(t *testing.T) {
		// The client only speaks TLS 1.2, the server requires 1.3: the
		// server answers the ClientHello with a plaintext protocol_version.
		writes := tlsExchange(t, &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true},
			&tls.Config{Certificates: []tls.Certificate{testCert(t)}, MinVersion: tls.VersionTLS13})
		e := run(t, Options{}, tlsPackets(t, writes, 1400, "S>C RA")).one(t)
		s := &e.Flow.Dirs[1]
		if !s.AlertSeen || s.Alert.Encrypted || s.Alert.Level != 2 || s.Alert.Description != 70 || s.Alert.Frame != 5 {
			t.Errorf("server alert: got %+v, want plaintext fatal protocol_version(70) at frame 5", s.Alert)
		}
	})
	t.Run("plaintext_across_two_segments", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"C>S PA seq=101 ack=301 len=6",
			"S>C PA seq=301 ack=107 len=4",
			"S>C PA seq=305 ack=107 len=3",
			"S>C R seq=308",
		})...)
		copy(pk[3].Payload, []byte{0x16, 0x03, 0x01, 0x00, 0x01, 0x01})
		copy(pk[4].Payload, []byte{0x15, 0x03, 0x03, 0x00})
		copy(pk[5].Payload, []byte{0x02, 0x02, 0x28})
		e := run(t, Options{}, pk).one(t)
		s := &e.Flow.Dirs[1]
		if !s.AlertSeen || s.Alert.Encrypted || s.Alert.Level != 2 || s.Alert.Description != 40 || s.Alert.Frame != 6 {
			t.Errorf("got %+v, want plaintext fatal handshake_failure(40) completed at frame 6", s.Alert)
		}
	})
	t.Run("fatal_then_close_notify_keeps_the_fatal", func(t *testing.T) {
		// A stack that sends its fatal alert and then close_notify: the
		// fatal one says why the session ended (issue 13 class 1).
		pk := ladder(t, lines(handshake, []string{
			"C>S PA seq=101 ack=301 len=6",
			"S>C PA seq=301 ack=107 len=7",
			"S>C PA seq=308 ack=107 len=7",
			"S>C R seq=315",
		})...)
		copy(pk[3].Payload, []byte{0x16, 0x03, 0x01, 0x00, 0x01, 0x01})
		copy(pk[4].Payload, []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46})
		copy(pk[5].Payload, []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00})
		e := run(t, Options{}, pk).one(t)
		s := &e.Flow.Dirs[1]
		if !s.AlertSeen || s.Alert.Level != 2 || s.Alert.Description != 70 || s.Alert.Frame != 5 {
			t.Errorf("got %+v, want the fatal protocol_version(70) of frame 5", s.Alert)
		}
	})
	t.Run("retransmission_and_gap", func(t *testing.T) {
		pk := ladder(t, lines(handshake, []string{
			"S>C PA seq=301 ack=101 len=4",
			"S>C PA seq=301 ack=101 len=4", // retransmission: skipped
			"S>C PA seq=305 ack=101 len=3",
			"S>C PA seq=400 ack=101 len=7", // gap: tracking stops
			"S>C R seq=407",
		})...)
		copy(pk[3].Payload, []byte{0x15, 0x03, 0x03, 0x00})
		copy(pk[4].Payload, []byte{0x15, 0x03, 0x03, 0x00})
		copy(pk[5].Payload, []byte{0x02, 0x01, 0x00})
		copy(pk[6].Payload, []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50})
		e := run(t, Options{}, pk).one(t)
		s := &e.Flow.Dirs[1]
		if s.Alert.Level != 1 || s.Alert.Description != 0 || !s.TLSBroken {
			t.Errorf("got alert %+v broken %v, want warning close_notify and broken tracking", s.Alert, s.TLSBroken)
		}
	})
	t.Run("encrypted_tls12", func(t *testing.T) {
		writes := tlsExchange(t, &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true},
			&tls.Config{Certificates: []tls.Certificate{testCert(t)}, SessionTicketsDisabled: true})
		e := run(t, Options{}, tlsPackets(t, writes, 1400, "C>S RA")).one(t)
		c := &e.Flow.Dirs[0]
		if !c.CCSSeen || !c.AlertSeen || !c.Alert.Encrypted || c.Alert.Candidate || c.Alert.Length <= 2 {
			t.Errorf("client: got CCS %v alert %+v, want an encrypted (non-candidate) alert after CCS", c.CCSSeen, c.Alert)
		}
		if v := e.Flow.Dirs[1].TLSVersion; v != 0x0303 {
			t.Errorf("server version: got %#x, want 0x0303", v)
		}
	})
	t.Run("no_candidate_when_tls12", func(t *testing.T) {
		// A 19-byte application_data record before FIN under TLS 1.2 is
		// just data.
		var p tlsState
		p.start(1)
		rec := append([]byte{0x17, 0x03, 0x03, 0x00, 19}, make([]byte, 19)...)
		p.feed(1, rec, len(rec), 9, t0.UnixNano())
		p.markCandidate(Seq(1+len(rec)), 0x0303)
		if p.alertSeen {
			t.Errorf("got alert %+v, want none", p.alert)
		}
		p.markCandidate(Seq(1+len(rec)), 0)
		if !p.alertSeen || !p.alert.Candidate || p.alert.Frame != 9 {
			t.Errorf("unknown version: got %+v, want a candidate at frame 9", p.alert)
		}
	})
}

func TestTLS_snaplenCut(t *testing.T) {
	// A 100-byte record whose body the snaplen cut, then an alert.
	var p tlsState
	p.start(1)
	seg := append([]byte{0x17, 0x03, 0x03, 0x00, 100}, make([]byte, 10)...)
	p.feed(1, seg, 105, 1, t0.UnixNano())
	alert := []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x30}
	p.feed(106, alert, len(alert), 2, t0.UnixNano())
	if p.broken || !p.alertSeen || p.alert.Description != 48 {
		t.Errorf("got broken %v alert %+v, want unknown_ca(48) after a cut body", p.broken, p.alert)
	}
	// A cut inside a header loses sync.
	p.feed(113, alert[:3], 7, 3, t0.UnixNano())
	if !p.broken {
		t.Errorf("cut header: got not broken, want broken")
	}
}
