// Command labpeer is the client and server of the rstscope network-namespace lab
// (pcaps/lab). It is a test helper, not part of rstscope: each mode makes the
// Linux kernel send one kind of real TCP RST.
//
//	labpeer server -listen ADDR[,ADDR...] -mode MODE [flags]
//	labpeer client -connect ADDR -mode MODE [flags]
//
// The server prints "listening" on stdout once every address accepts
// connections, then serves until SIGTERM/SIGINT or -life. The client runs one
// exchange and prints one line "outcome=WORD" on stdout, WORD being what the
// application saw (ok, ECONNREFUSED, ECONNRESET, EOF, EPIPE, timeout,
// tls_alert:..., or error:...). Every operation has a deadline.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labpeer server|client [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "labpeer: unknown role %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labpeer: %v\n", err)
		os.Exit(1)
	}
}

// opTimeout bounds every single read, write and dial.
const opTimeout = 10 * time.Second

// ---------------------------------------------------------------- server

type serverConfig struct {
	mode      string
	keepalive time.Duration // respond: close an idle keep-alive connection after this
	resetPath string        // respond: a request for a path with this prefix is answered by SO_LINGER 0 close
	delay     time.Duration // respond: wait this long before each response
	tlsMin    uint16
	tlsMax    uint16
	certReq   bool
	tlsConfig *tls.Config
}

// Server modes:
//
//	respond  HTTP/1.1 keep-alive: answer each request (GET /big: 1 MiB, slowly;
//	         GET /burst: 16 KiB in one write;
//	         GET /secret: a body with the word SECRET), close (FIN) when the
//	         client closes or after -keepalive idle; -delay waits before each
//	         response; a path starting with -reset-path is answered by a
//	         SO_LINGER 0 close (RST) instead
//	unread   read the first bytes only, send a complete 413 response, close with
//	         the rest of the request unread (the kernel sends RST, not FIN)
//	linger0  read the whole request, set SO_LINGER 0 and close without a response
//	hold     accept and keep the connection open, never answering
//	tls      TLS handshake with -tls-min/-tls-max/-client-cert, then respond
func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	listen := fs.String("listen", "", "comma-separated listen addresses (host:port)")
	mode := fs.String("mode", "respond", "respond, unread, linger0, hold or tls")
	keepalive := fs.Duration("keepalive", 30*time.Second, "idle keep-alive timeout (respond, tls)")
	life := fs.Duration("life", 120*time.Second, "exit after this long")
	tlsMin := fs.String("tls-min", "1.2", "minimum TLS version (1.2 or 1.3)")
	tlsMax := fs.String("tls-max", "1.3", "maximum TLS version (1.2 or 1.3)")
	certReq := fs.Bool("client-cert", false, "require a client certificate")
	resetPath := fs.String("reset-path", "", "reset (SO_LINGER 0) requests for paths with this prefix (respond)")
	delay := fs.Duration("delay", 0, "wait before each response (respond)")
	gtsm := fs.String("gtsm", "", "one more listen address whose connections send with TTL (hop limit) 255, as a GTSM (RFC 5082) BGP speaker does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := &serverConfig{mode: *mode, keepalive: *keepalive, certReq: *certReq, resetPath: *resetPath, delay: *delay}
	var err error
	if cfg.tlsMin, err = tlsVersion(*tlsMin); err != nil {
		return err
	}
	if cfg.tlsMax, err = tlsVersion(*tlsMax); err != nil {
		return err
	}
	switch cfg.mode {
	case "respond", "unread", "linger0", "hold":
	case "tls":
		if cfg.tlsConfig, err = serverTLS(cfg); err != nil {
			return err
		}
	default:
		return fmt.Errorf("server: unknown mode %q", cfg.mode)
	}
	if *listen == "" {
		return errors.New("server: -listen is required")
	}
	var lns []net.Listener
	for _, a := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		lns = append(lns, ln)
	}
	if *gtsm != "" {
		// accepted sockets inherit the listener's TTL, SYN/ACK included
		lc := net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if strings.HasSuffix(network, "6") {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, 255)
				} else {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, 255)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		ln, err := lc.Listen(context.Background(), "tcp", *gtsm)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		lns = append(lns, ln)
	}
	fmt.Println("listening")
	for _, ln := range lns {
		go acceptLoop(ln, cfg)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(*life):
	}
	return nil
}

func acceptLoop(ln net.Listener, cfg *serverConfig) {
	for {
		c, err := ln.Accept()
		if err != nil {
			logf("accept: %v", err)
			return
		}
		go func() {
			if err := serve(c.(*net.TCPConn), cfg); err != nil {
				logf("%s: %v", c.RemoteAddr(), err)
			}
		}()
	}
}

func serve(c *net.TCPConn, cfg *serverConfig) error {
	switch cfg.mode {
	case "unread":
		// Read a few bytes of the request, answer, close with the rest unread:
		// RFC 2525 2.17, the kernel resets instead of FIN (TCPAbortOnClose).
		buf := make([]byte, 32)
		c.SetDeadline(time.Now().Add(opTimeout))
		if _, err := io.ReadFull(c, buf); err != nil {
			c.Close()
			return err
		}
		body := "request body too large\n"
		resp := "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := c.Write([]byte(resp)); err != nil {
			c.Close()
			return err
		}
		// let the response reach the client (and be acknowledged) first: a
		// reset discards what is still queued
		time.Sleep(200 * time.Millisecond)
		return c.Close()
	case "linger0":
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(opTimeout))
		if _, err := readRequest(br); err != nil {
			c.Close()
			return err
		}
		time.Sleep(20 * time.Millisecond)
		c.SetLinger(0)
		return c.Close()
	case "hold":
		// never answer; the connection stays until the client goes or -life ends
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		io.Copy(io.Discard, c)
		return c.Close()
	case "tls":
		tc := tls.Server(c, cfg.tlsConfig)
		tc.SetDeadline(time.Now().Add(opTimeout))
		if err := tc.Handshake(); err != nil {
			// crypto/tls has sent its alert; Close sends FIN (or RST if
			// part of the client's flight is still unread)
			c.Close()
			return fmt.Errorf("tls handshake: %w", err)
		}
		// a TLS close is close_notify, then FIN
		return respond(tc, c, bufio.NewReader(tc), cfg)
	default:
		return respond(c, c, bufio.NewReader(c), cfg)
	}
}

// respond serves HTTP/1.1 keep-alive requests until the client closes or the
// connection idles for keepalive; then it closes normally (FIN). tcp is the
// connection under c (c itself, or under TLS) for the reset of -reset-path.
func respond(c net.Conn, tcp *net.TCPConn, br *bufio.Reader, cfg *serverConfig) error {
	defer c.Close()
	for {
		c.SetReadDeadline(time.Now().Add(cfg.keepalive))
		path, err := readRequest(br)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil // idle keep-alive timeout: close (FIN)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if cfg.resetPath != "" && strings.HasPrefix(path, cfg.resetPath) {
			time.Sleep(20 * time.Millisecond)
			tcp.SetLinger(0)
			return nil // the deferred Close resets
		}
		time.Sleep(cfg.delay)
		c.SetWriteDeadline(time.Now().Add(opTimeout))
		if path == "/big" {
			// 1 MiB announced, sent in 16 KiB chunks 50 ms apart, so a client
			// can abort in the middle of the response
			const total, chunk = 1 << 20, 16 << 10
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", total); err != nil {
				return err
			}
			data := bytes.Repeat([]byte("x"), chunk)
			for sent := 0; sent < total; sent += chunk {
				if _, err := c.Write(data); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		if path == "/burst" {
			// 16 KiB, head and body in one write: a window's worth of
			// back-to-back segments
			const n = 16 << 10
			resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", n, bytes.Repeat([]byte("x"), n))
			if _, err := io.WriteString(c, resp); err != nil {
				return err
			}
			continue
		}
		body := "hello from the lab server\n"
		if path == "/secret" {
			body = "SECRET lab data\n"
		}
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			return err
		}
	}
}

// readRequest reads one request head (up to the empty line) and returns its path.
func readRequest(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", fmt.Errorf("bad request line %q", line)
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if h == "\r\n" || h == "\n" {
			return f[1], nil
		}
	}
}

func serverTLS(cfg *serverConfig) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "lab.test"},
		DNSNames:     []string{"lab.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   cfg.tlsMin,
		MaxVersion:   cfg.tlsMax,
	}
	if cfg.certReq {
		tc.ClientAuth = tls.RequireAnyClientCert
	}
	return tc, nil
}

func tlsVersion(s string) (uint16, error) {
	switch s {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q", s)
}

// ---------------------------------------------------------------- client

// Client modes:
//
//	get      one GET -path, read the response, close (FIN); with -linger0 close
//	         with SO_LINGER 0 instead (RST after a complete response)
//	connect  connect only (a refused port gives ECONNREFUSED)
//	post     send a request head and a -body byte body in one write, read the
//	         response until EOF or reset
//	abort    GET /big, read -read bytes of the response, wait -pause, close
//	         with the rest unread (the kernel resets: a client abort mid-response)
//	reuse    GET, wait -gap, GET again on the same connection (stale keep-alive
//	         or a middlebox's forgotten state)
//	fire     write GET -path and close at once (FIN), reading nothing
//	keepalive  GET each of -paths on one connection, -gap apart (outcome
//	         "N:WORD" when request N failed)
//	pipeline write a GET for each of -paths, 10 ms apart, then read the
//	         responses
//	tls      TLS handshake (-tls-max); after a failed handshake wait -late and
//	         write on the TCP connection, as an application would: a few
//	         bytes (-late-write data) or a plaintext warning close_notify
//	         alert (-late-write close_notify); after a good handshake GET /,
//	         and with -second GET again after -gap
//
// -timeout bounds the wait for a response (get, keepalive, pipeline).
func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("connect", "", "server address (host:port)")
	mode := fs.String("mode", "get", "get, connect, post, abort, reuse or tls")
	path := fs.String("path", "/", "request path")
	body := fs.Int("body", 4000, "request body size (post)")
	readN := fs.Int("read", 10000, "response bytes to read before aborting (abort)")
	pause := fs.Duration("pause", 25*time.Millisecond, "wait after reading, before the close (abort)")
	gap := fs.Duration("gap", 2*time.Second, "pause between requests (reuse)")
	linger0 := fs.Bool("linger0", false, "close with SO_LINGER 0 (get)")
	tlsMax := fs.String("tls-max", "1.3", "maximum TLS version (tls)")
	paths := fs.String("paths", "/", "comma-separated request paths (keepalive, pipeline)")
	timeout := fs.Duration("timeout", opTimeout, "wait for a response at most this long")
	late := fs.Duration("late", 100*time.Millisecond, "wait after a failed handshake before the write (tls)")
	lateWrite := fs.String("late-write", "data", "what to write after a failed handshake: data or close_notify (tls)")
	second := fs.Bool("second", false, "a second request after -gap (tls)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("client: -connect is required")
	}
	var outcome string
	switch *mode {
	case "get", "connect", "post", "abort", "reuse", "fire":
		outcome = plainClient(*mode, *addr, *path, *body, *readN, *gap, *pause, *timeout, *linger0)
	case "keepalive", "pipeline":
		outcome = seriesClient(*mode, *addr, strings.Split(*paths, ","), *gap, *timeout)
	case "tls":
		v, err := tlsVersion(*tlsMax)
		if err != nil {
			return err
		}
		if *lateWrite != "data" && *lateWrite != "close_notify" {
			return fmt.Errorf("client: unknown -late-write %q", *lateWrite)
		}
		outcome = tlsClient(*addr, v, *late, *lateWrite, *second, *gap)
	default:
		return fmt.Errorf("client: unknown mode %q", *mode)
	}
	fmt.Printf("outcome=%s\n", outcome)
	return nil
}

func plainClient(mode, addr, path string, bodyN, readN int, gap, pause, timeout time.Duration, linger0 bool) string {
	d := net.Dialer{Timeout: opTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return word(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	if mode == "connect" {
		return "ok"
	}
	br := bufio.NewReader(c)
	req := "GET " + path + " HTTP/1.1\r\nHost: lab.test\r\n\r\n"
	switch mode {
	case "fire":
		if _, err := io.WriteString(c, req); err != nil {
			return word(err)
		}
		return "ok" // the deferred Close sends FIN: nothing arrived unread
	case "post":
		req = "POST " + path + " HTTP/1.1\r\nHost: lab.test\r\nContent-Length: " +
			strconv.Itoa(bodyN) + "\r\n\r\n" + strings.Repeat("b", bodyN)
		if _, err := io.WriteString(c, req); err != nil {
			return word(err)
		}
		// the response, then EOF or the reset
		if _, err := readResponse(br); err != nil {
			return "response:" + word(err)
		}
		_, err := br.ReadByte()
		return "response+" + word(err)
	case "abort":
		if _, err := io.WriteString(c, req); err != nil {
			return word(err)
		}
		buf := make([]byte, readN)
		if _, err := io.ReadFull(br, buf); err != nil {
			return word(err)
		}
		// close between two of the server's chunks: one RST, and no segment
		// in flight to draw the kernel's further no-socket RSTs
		time.Sleep(pause)
		return "aborted" // deferred Close with unread data: RST
	}
	if _, err := io.WriteString(c, req); err != nil {
		return word(err)
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	if _, err := readResponse(br); err != nil {
		return word(err)
	}
	switch mode {
	case "get":
		if linger0 {
			c.SetLinger(0)
		}
		return "ok"
	case "reuse":
		time.Sleep(gap)
		c.SetDeadline(time.Now().Add(opTimeout))
		if _, err := io.WriteString(c, req); err != nil {
			return "second:" + word(err)
		}
		// give the answer (a reset) time to arrive before reading
		time.Sleep(200 * time.Millisecond)
		if _, err := readResponse(br); err != nil {
			return "second:" + word(err)
		}
		return "ok"
	}
	return "error:unreachable"
}

// seriesClient sends a GET for each path on one connection: one after the
// other's response (keepalive), or all at once (pipeline).
func seriesClient(mode, addr string, paths []string, gap, timeout time.Duration) string {
	d := net.Dialer{Timeout: opTimeout}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return word(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	br := bufio.NewReader(c)
	req := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: lab.test\r\n\r\n" }
	if mode == "pipeline" {
		for i, p := range paths {
			if i > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := io.WriteString(c, req(p)); err != nil {
				return fmt.Sprintf("%d:%s", i+1, word(err))
			}
		}
	}
	for i, p := range paths {
		if mode == "keepalive" {
			if i > 0 {
				time.Sleep(gap)
			}
			if _, err := io.WriteString(c, req(p)); err != nil {
				return fmt.Sprintf("%d:%s", i+1, word(err))
			}
		}
		c.SetReadDeadline(time.Now().Add(timeout))
		if _, err := readResponse(br); err != nil {
			return fmt.Sprintf("%d:%s", i+1, word(err))
		}
	}
	return "ok"
}

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(br *bufio.Reader) (int, error) {
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(h), "content-length:"); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
		return 0, err
	}
	f := strings.Fields(status)
	if len(f) < 2 {
		return 0, fmt.Errorf("bad status line %q", status)
	}
	return strconv.Atoi(f[1])
}

func tlsClient(addr string, maxVersion uint16, late time.Duration, lateWrite string, second bool, gap time.Duration) string {
	d := net.Dialer{Timeout: opTimeout}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return word(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(opTimeout))
	tc := tls.Client(nc, &tls.Config{
		ServerName: "lab.test",
		// the lab server's certificate is made at its start; nothing to verify against
		InsecureSkipVerify: true,
		MaxVersion:         maxVersion,
	})
	herr := tc.Handshake()
	if herr == nil {
		br := bufio.NewReader(tc)
		req := "GET / HTTP/1.1\r\nHost: lab.test\r\n\r\n"
		if _, err := io.WriteString(tc, req); err != nil {
			return word(err)
		}
		if _, err := readResponse(br); err != nil {
			return word(err)
		}
		if !second {
			return "ok"
		}
		// the server may have closed (close_notify, FIN) in the meantime:
		// this write races with its close, as a pooled client's does
		time.Sleep(gap)
		nc.SetDeadline(time.Now().Add(opTimeout))
		if _, err := io.WriteString(tc, req); err != nil {
			return "second:" + word(err)
		}
		time.Sleep(200 * time.Millisecond)
		if _, err := readResponse(br); err != nil {
			return "second:" + word(err)
		}
		return "ok"
	}
	// The server alerted and closed. An application that does not notice
	// writes again; the server's kernel answers that with a RST. A TLS
	// library that does notice may still send its own close_notify: without
	// keys after a failed handshake, a plaintext alert record (warning 1,
	// close_notify 0).
	time.Sleep(late)
	if lateWrite == "close_notify" {
		nc.Write([]byte{21, 3, 3, 0, 2, 1, 0})
	} else {
		nc.Write([]byte("hello?\r\n"))
	}
	time.Sleep(200 * time.Millisecond)
	var ae tls.AlertError
	if errors.As(herr, &ae) {
		return "tls_alert:" + strings.ReplaceAll(ae.Error(), " ", "_")
	}
	return "tls:" + strings.ReplaceAll(herr.Error(), " ", "_")
}

// word names what the application saw.
func word(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "error:" + strings.ReplaceAll(err.Error(), " ", "_")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "labpeer: "+format+"\n", args...)
}
