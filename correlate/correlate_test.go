package correlate

import (
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/internal/pcapgen"
)

// sliceSource is a capture.Source over packets built in code.
type sliceSource struct {
	pkts []capture.Packet
	i    int
}

func (s *sliceSource) Next(p *capture.Packet) error {
	if s.i >= len(s.pkts) {
		return io.EOF
	}
	*p = s.pkts[s.i]
	s.i++
	return nil
}
func (s *sliceSource) Stats() capture.Stats { return capture.Stats{} }
func (s *sliceSource) Close() error         { return nil }

// pair builds one TCP connection as two captures: "main" at the client's
// side (its clock is the reference) and "peer" at the server's side, whose
// clock runs offset ahead. Packets take delay between the capture points
// and lose 4 TTL on the way; the peer may see the client behind a NAT.
type pair struct {
	cli, srv   netip.AddrPort // as the main capture shows them
	pcli       netip.AddrPort // the client as the peer capture shows it
	offset     time.Duration
	delay      time.Duration
	ts         bool      // TCP timestamps on every segment
	dseq       [2]uint32 // a NAT's sequence number offsets (client, server) at the peer
	seq        [2]uint32
	tsval      [2]uint32
	t          time.Time
	main, peer []capture.Packet
}

func newPair(offset, delay time.Duration) *pair {
	return &pair{
		cli:    netip.MustParseAddrPort("10.0.0.2:40000"),
		srv:    netip.MustParseAddrPort("192.0.2.10:80"),
		pcli:   netip.MustParseAddrPort("10.0.0.2:40000"),
		offset: offset, delay: delay,
		seq:   [2]uint32{1000, 900000},
		tsval: [2]uint32{5000, 7000},
		t:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// what happens to one segment
type fate uint8

const (
	delivered fate = iota
	lost           // sent, never arrives at the other capture
	injected       // appears only at the main capture, claiming the server
)

// send emits a segment from the client (fromServer false) or the server
// after a pause; it advances that side's sequence by n (plus SYN/FIN).
func (p *pair) send(fromServer bool, pause time.Duration, flags capture.TCPFlags, n int, how fate) {
	p.t = p.t.Add(pause)
	s := 0
	if fromServer {
		s = 1
	}
	pk := capture.Packet{Flags: flags, Seq: p.seq[s], Len: n, Window: 500}
	if flags.Has(capture.ACK) {
		pk.Ack = p.seq[1-s]
	}
	if p.ts && flags&capture.RST == 0 {
		p.tsval[s] += 10
		pk.Opts.HasTS, pk.Opts.TSVal = true, p.tsval[s]
	}
	if n > 0 {
		pk.Payload = make([]byte, n)
		for i := range pk.Payload {
			pk.Payload[i] = byte(pk.Seq>>(i%4*8)) + byte(i)
		}
	}
	if flags.Has(capture.SYN) || flags.Has(capture.FIN) {
		p.seq[s]++
	}
	p.seq[s] += uint32(n)
	atMain, atPeer := p.t, p.t.Add(p.offset+p.delay) // client sends at p.t
	mainTTL, peerTTL := uint8(64), uint8(60)
	if fromServer {
		atPeer, atMain = p.t.Add(p.offset), p.t.Add(p.delay)
		mainTTL, peerTTL = 60, 64
	}
	m, q := pk, pk
	if fromServer {
		m.Src, m.Dst, q.Src, q.Dst = p.srv, p.cli, p.srv, p.pcli
	} else {
		m.Src, m.Dst, q.Src, q.Dst = p.cli, p.srv, p.pcli, p.srv
	}
	m.Time, m.TTL, q.Time, q.TTL = atMain, mainTTL, atPeer, peerTTL
	q.Seq += p.dseq[s]
	if flags.Has(capture.ACK) {
		q.Ack += p.dseq[1-s]
	}
	switch how {
	case injected:
		m.TTL, m.Time = 61, p.t // forged near the client
		p.main = append(p.main, m)
	case lost:
		if fromServer {
			p.peer = append(p.peer, q)
		} else {
			p.main = append(p.main, m)
		}
	default:
		p.main = append(p.main, m)
		p.peer = append(p.peer, q)
	}
}

func (p *pair) handshake() {
	p.send(false, time.Millisecond, capture.SYN, 0, delivered)
	p.send(true, 2*p.delay, capture.SYN|capture.ACK, 0, delivered)
	p.send(false, 2*p.delay, capture.ACK, 0, delivered)
}

// finish sorts each capture by time and numbers its frames.
func finish(pk []capture.Packet) []capture.Packet {
	slices.SortStableFunc(pk, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
	for i := range pk {
		pk[i].Index = uint64(i + 1)
	}
	return pk
}

// run correlates the pair's main capture with its peer capture and returns
// the findings.
func (p *pair) run(t *testing.T) []heuristics.Finding {
	t.Helper()
	main, peerPkts := finish(p.main), finish(p.peer)
	peer, err := LoadSource("server.pcap", &sliceSource{pkts: peerPkts}, Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var out []heuristics.Finding
	engine := &heuristics.Engine{}
	table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) {
		f := engine.Judge(ev, peer)
		out = append(out, f)
	}})
	for i := range main {
		peer.Observe(&main[i])
		table.Add(&main[i])
	}
	table.Close()
	return out
}

func evidenceOf(f *heuristics.Finding, s heuristics.Signal) []heuristics.Evidence {
	var out []heuristics.Evidence
	for _, e := range f.Evidence {
		if e.Signal == s {
			out = append(out, e)
		}
	}
	return out
}

func one(t *testing.T, fs []heuristics.Finding) *heuristics.Finding {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1", len(fs))
	}
	if fs[0].Correlation == nil {
		t.Fatalf("frame %d: no correlation", fs[0].RST.Packet)
	}
	return &fs[0]
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestClock_offsetAndDelay: a peer clock 250 ms ahead and 10 ms each way
// are recovered from the matched packets, through a NAT.
func TestClock_offsetAndDelay(t *testing.T) {
	p := newPair(250*time.Millisecond, 10*time.Millisecond)
	p.pcli = netip.MustParseAddrPort("203.0.113.7:61000")
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered)
	p.send(true, 20*time.Millisecond, capture.ACK, 0, delivered)
	p.send(true, 5*time.Millisecond, capture.RST|capture.ACK, 0, delivered)
	f := one(t, p.run(t))
	c := f.Correlation
	if c.Clock != "two_way" || !near(c.Offset.MS(), 250, 0.001) || !near(c.OneWay.MS(), 10, 0.001) {
		t.Errorf("clock: got %s offset %.3f ms one-way %.3f ms, want two_way 250 ms 10 ms", c.Clock, c.Offset.MS(), c.OneWay.MS())
	}
	if c.MatchedBy != "isn" || c.PeerClient.String() != "203.0.113.7:61000" || c.PeerServer.String() != "192.0.2.10:80" {
		t.Errorf("match: got %s %s > %s, want isn 203.0.113.7:61000 > 192.0.2.10:80", c.MatchedBy, c.PeerClient, c.PeerServer)
	}
	if c.RST != "present_at_sender" || f.Origin != heuristics.OriginServer || len(evidenceOf(f, heuristics.SignalPresentAtSender)) != 1 {
		t.Errorf("frame %d: got rst %s origin %s, want present_at_sender server", f.RST.Packet, c.RST, f.Origin)
	}
	if !slices.Equal(c.PeerFrames, []uint64{6}) {
		t.Errorf("peer frames: got %v, want [6]", c.PeerFrames)
	}
	if c.Lost != 0 {
		t.Errorf("lost: got %d, want 0", c.Lost)
	}
}

// TestEstimate: asymmetric samples (offset -3 ms, 7 ms one way) and an
// outlier that the median ignores.
func TestEstimate(t *testing.T) {
	ms := int64(time.Millisecond)
	ss := []sample{
		{d: 4 * ms, toPeer: true}, {d: 4 * ms, toPeer: true}, {d: 900 * ms, toPeer: true},
		{d: 10 * ms}, {d: 10 * ms},
	}
	k := estimate(ss)
	if k.kind != "two_way" || k.offset != -3*ms || k.delay != 7*ms || k.samples != 5 {
		t.Errorf("got %s offset %v delay %v samples %d, want two_way -3ms 7ms 5", k.kind, time.Duration(k.offset), time.Duration(k.delay), k.samples)
	}
	k = estimate(ss[:3])
	if k.kind != "one_way" || k.offset != 0 || k.delay != 4*ms {
		t.Errorf("one direction: got %s offset %v delay %v, want one_way 0 4ms", k.kind, time.Duration(k.offset), time.Duration(k.delay))
	}
	if k = estimate(nil); k.kind != "none" {
		t.Errorf("no samples: got %s, want none", k.kind)
	}
}

// TestForged: a RST that reaches the client but that the server's capture
// never shows leaving the server is a middlebox's, with high confidence,
// even where the single-capture rules see nothing wrong; the client's
// request it answered never reached the server either.
func TestForged(t *testing.T) {
	p := newPair(-40*time.Millisecond, 3*time.Millisecond)
	p.pcli = netip.MustParseAddrPort("203.0.113.7:61000")
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, lost)
	p.send(true, time.Millisecond, capture.RST|capture.ACK, 0, injected)
	f := one(t, p.run(t))
	c := f.Correlation
	if f.Origin != heuristics.OriginMiddlebox || f.Confidence != heuristics.High || f.Cause != heuristics.CauseMiddleboxInjected {
		t.Errorf("frame %d: got %s/%s %s, want middlebox_injected/middlebox high", f.RST.Packet, f.Cause, f.Origin, f.Confidence)
	}
	ab := evidenceOf(f, heuristics.SignalAbsentAtSender)
	if len(ab) != 1 || !slices.Equal(ab[0].Frames, []uint64{5}) || f.Evidence[0].Signal != heuristics.SignalAbsentAtSender {
		t.Errorf("absent_at_sender: got %+v (first evidence %s), want one on frame 5, first", ab, f.Evidence[0].Signal)
	}
	if c.RST != "absent_at_sender" || c.MatchedBy != "isn" {
		t.Errorf("correlation: got rst %s matched_by %s, want absent_at_sender isn", c.RST, c.MatchedBy)
	}
	lp := evidenceOf(f, heuristics.SignalLostInPath)
	if c.Lost != 1 || len(lp) != 1 || !slices.Equal(lp[0].Frames, []uint64{4}) {
		t.Errorf("lost: got %d %+v, want 1 on frame 4", c.Lost, lp)
	}
	if !near(c.Offset.MS(), -40, 0.001) || !near(c.OneWay.MS(), 3, 0.001) {
		t.Errorf("clock: got offset %.3f one-way %.3f, want -40 3", c.Offset.MS(), c.OneWay.MS())
	}
}

// TestForged_idleWordsAgree: an idle reset that looks genuine in the main
// capture alone (the server's TTL, an unprompted RST after a silence) but
// that the server's capture never shows leaving the server. The peer's
// claim is weighed before the summary and advice are written, so they name
// the path, not the server: no "RST from server ... the server resets
// connections idle this long" beside absent_at_sender.
func TestForged_idleWordsAgree(t *testing.T) {
	p := newPair(0, 3*time.Millisecond)
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered)
	p.send(true, 10*time.Millisecond, capture.PSH|capture.ACK, 300, delivered)
	p.send(false, 10*time.Millisecond, capture.ACK, 0, delivered)
	p.send(true, 30*time.Second, capture.RST|capture.ACK, 0, injected)

	// The main capture alone: the server, idle.
	engine := &heuristics.Engine{}
	var alone heuristics.Finding
	table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) { alone = engine.Judge(ev) }})
	main := finish(slices.Clone(p.main))
	for i := range main {
		table.Add(&main[i])
	}
	table.Close()
	if alone.Cause != heuristics.CauseIdleTimeout || alone.Origin != heuristics.OriginServer ||
		!strings.HasPrefix(alone.Summary, "RST from server") || !strings.Contains(alone.Advice, "the server resets connections idle") {
		t.Fatalf("alone: got %s/%s %q advice %q, want idle_timeout from the server", alone.Cause, alone.Origin, alone.Summary, alone.Advice)
	}

	f := one(t, p.run(t))
	if f.Cause != heuristics.CauseIdleTimeout || f.Origin != heuristics.OriginMiddlebox || f.Confidence != heuristics.High ||
		f.Correlation.RST != "absent_at_sender" || f.Evidence[0].Signal != heuristics.SignalAbsentAtSender {
		t.Fatalf("frame %d: got %s/%s %s rst %s, want idle_timeout/middlebox high absent_at_sender first", f.RST.Packet, f.Cause, f.Origin, f.Confidence, f.Correlation.RST)
	}
	wantSum := "RST claimed from server 192.0.2.10:80 came unprompted after 30.0 s of silence with TTL 61 (server's packets: 60): a load balancer, NAT or firewall dropped the idle connection (the client sees ECONNRESET); server.pcap shows the RST never left the server"
	// The one-hop TTL difference is evidence too (issue 13 class 3): the
	// summary names it.
	if f.Summary != wantSum {
		t.Errorf("summary:\n got %q\nwant %q", f.Summary, wantSum)
	}
	if strings.Contains(f.Advice, "the server resets") || !strings.Contains(f.Advice, "the path's idle timeout (silence here: 30.0 s)") {
		t.Errorf("advice: got %q, want the path's idle timeout, not the server's", f.Advice)
	}
}

// TestSilentDrop: near the reset, one client segment never reached the
// server and one server segment never reached the client; the RST itself
// is genuine.
func TestSilentDrop(t *testing.T) {
	p := newPair(0, 5*time.Millisecond)
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered) // main 4
	p.send(true, 20*time.Millisecond, capture.PSH|capture.ACK, 1000, lost)   // peer only
	p.send(false, 20*time.Millisecond, capture.PSH|capture.ACK, 50, lost)    // main 5
	p.send(true, 20*time.Millisecond, capture.RST|capture.ACK, 0, delivered)
	f := one(t, p.run(t))
	c := f.Correlation
	if c.RST != "present_at_sender" || f.Origin != heuristics.OriginServer {
		t.Errorf("frame %d: got rst %s origin %s, want present_at_sender server", f.RST.Packet, c.RST, f.Origin)
	}
	lp := evidenceOf(f, heuristics.SignalLostInPath)
	if c.Lost != 2 || len(lp) != 2 {
		t.Fatalf("lost: got %d %+v, want 2 (one each way)", c.Lost, lp)
	}
	if !slices.Equal(lp[0].Frames, []uint64{5}) {
		t.Errorf("client->server: got frames %v, want [5]: %s", lp[0].Frames, lp[0].Detail)
	}
	// the server's lost segment is the peer's frame 5 (SYN, SYN/ACK, ACK, data, it)
	if want := "server.pcap frame 5"; !strings.Contains(lp[1].Detail, want) {
		t.Errorf("server->client: got %q, want it to name %q", lp[1].Detail, want)
	}
}

// TestMatch_withoutHandshake: mid-stream captures are matched by TSval and
// seq (through a NAT) when both use timestamps, else by a payload
// fingerprint, else by the tuple.
func TestMatch_withoutHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ts      bool
		nat     bool
		payload bool // payload bytes captured (else headers only)
		want    string
	}{
		{"tsval_behind_nat", true, true, false, "tsval"},
		{"payload_behind_nat", false, true, true, "payload"},
		{"tuple", false, false, false, "tuple"},
		{"none_behind_nat", false, true, false, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(0, 2*time.Millisecond)
			p.ts = tc.ts
			if tc.nat {
				p.pcli = netip.MustParseAddrPort("203.0.113.7:61000")
			}
			// another connection's handshake gives the clock
			q := newPair(0, 2*time.Millisecond)
			q.cli, q.pcli = netip.MustParseAddrPort("10.0.0.2:40001"), netip.MustParseAddrPort("10.0.0.2:40001")
			if tc.nat {
				q.pcli = netip.MustParseAddrPort("203.0.113.7:61001")
			}
			q.seq = [2]uint32{5555, 6666}
			q.handshake()
			p.t = q.t
			p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered)
			p.send(true, 10*time.Millisecond, capture.PSH|capture.ACK, 200, delivered)
			p.send(false, 10*time.Millisecond, capture.ACK, 0, delivered)
			p.send(true, 10*time.Millisecond, capture.RST|capture.ACK, 0, delivered)
			if !tc.payload {
				for _, pk := range [][]capture.Packet{p.main, p.peer} {
					for i := range pk {
						pk[i].Payload = nil // as with -s 54: headers only
					}
				}
			}
			p.main, p.peer = append(p.main, q.main...), append(p.peer, q.peer...)
			f := one(t, p.run(t))
			c := f.Correlation
			if c.MatchedBy != tc.want {
				t.Errorf("frame %d: got matched_by %s, want %s", f.RST.Packet, c.MatchedBy, tc.want)
			}
			wantRST, wantOrigin := "present_at_sender", heuristics.OriginServer
			if tc.want == "none" {
				// not found, and without a handshake here the flow could
				// not be looked up: no verdict, the origin stays
				wantRST, wantOrigin = "unknown", f.Origin
				if f.Origin == heuristics.OriginMiddlebox {
					t.Errorf("frame %d: unmatched mid-stream flow made a middlebox", f.RST.Packet)
				}
			}
			if c.RST != wantRST || f.Origin != wantOrigin {
				t.Errorf("frame %d: got rst %s origin %s, want %s %s", f.RST.Packet, c.RST, f.Origin, wantRST, wantOrigin)
			}
		})
	}
}

// TestUnrelatedPeer: a peer capture sharing no packet with the main one
// changes nothing but adds a note.
func TestUnrelatedPeer(t *testing.T) {
	p := newPair(0, time.Millisecond)
	p.handshake()
	p.send(true, time.Millisecond, capture.RST|capture.ACK, 0, delivered)
	q := newPair(0, time.Millisecond)
	q.seq = [2]uint32{1, 2}
	q.cli, q.pcli = netip.MustParseAddrPort("10.9.9.9:1234"), netip.MustParseAddrPort("10.9.9.9:1234")
	q.srv = netip.MustParseAddrPort("10.9.9.10:22")
	q.handshake()
	p.peer = q.peer
	f := one(t, p.run(t))
	if f.Correlation.RST != "unknown" || f.Origin != heuristics.OriginServer || len(evidenceOf(f, heuristics.SignalNote)) == 0 {
		t.Errorf("frame %d: got rst %s origin %s, want unknown, server, a note", f.RST.Packet, f.Correlation.RST, f.Origin)
	}
	if len(evidenceOf(f, heuristics.SignalAbsentAtSender))+len(evidenceOf(f, heuristics.SignalLostInPath)) != 0 {
		t.Errorf("frame %d: unrelated peer gave absent/lost evidence: %+v", f.RST.Packet, f.Evidence)
	}
}

// TestObserve_allocs: the per-packet hook allocates nothing.
func TestObserve_allocs(t *testing.T) {
	p := newPair(0, time.Millisecond)
	p.handshake()
	peer, err := LoadSource("x", &sliceSource{pkts: finish(p.peer)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	main := finish(p.main)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range main {
			peer.Observe(&main[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Observe: got %v allocations per run, want 0", allocs)
	}
}

// TestLoad_pcapgenPair writes the two captures of two connections with
// pcapgen (client side and server side, the server's clock 1.5 s ahead, 4
// ms between them, the client behind a NAT at the server) and correlates
// the files: the server's own RST is present at the sender, the RST forged
// on the second connection is absent there.
func TestLoad_pcapgenPair(t *testing.T) {
	const off, delay = 1500 * time.Millisecond, 4 * time.Millisecond
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	write := func(name string, atPeer bool) string {
		path := filepath.Join(dir, name)
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		g := pcapgen.New(fh, pcapgen.Options{Link: pcapgen.LinkRaw, Seed: 1})
		for i, forged := range []bool{false, true} {
			cli := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(40000+i))
			srv := netip.MustParseAddrPort("192.0.2.10:443")
			ch := pcapgen.Host{TTL: 64, ISN: uint32(1000 + i*100000), DF: true}
			sh := pcapgen.Host{TTL: 60, ISN: uint32(5000000 + i*100000), DF: true}
			// when a packet from the client (c) or the server is captured
			at := func(fromClient bool, sent time.Time) time.Time {
				switch {
				case atPeer && fromClient:
					return sent.Add(off + delay)
				case atPeer:
					return sent.Add(off)
				case fromClient:
					return sent
				}
				return sent.Add(delay)
			}
			if atPeer {
				cli = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(50000+i))
				ch.TTL, sh.TTL = 60, 64
			}
			c := g.Conn(cli, srv, ch, sh)
			base := t0.Add(time.Duration(i) * time.Second)
			c.SYN(at(true, base))
			c.SYNACK(at(false, base.Add(delay)))
			c.ACK(pcapgen.FromClient, at(true, base.Add(2*delay)))
			c.Data(pcapgen.FromClient, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, at(true, base.Add(3*delay)))
			switch {
			case !forged:
				c.RST(pcapgen.FromServer, at(false, base.Add(5*delay)))
			case !atPeer:
				c.Inject(pcapgen.FromServer, base.Add(3*delay+100*time.Microsecond), pcapgen.TTL(63))
			}
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mainPath, peerPath := write("client.pcap", false), write("server.pcap", true)
	peer, err := Load(peerPath, Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if peer.Name() != "server.pcap" || len(peer.flows) != 2 {
		t.Fatalf("load: got %s with %d flows, want server.pcap with 2", peer.Name(), len(peer.flows))
	}
	src, err := capture.OpenFile(mainPath, 0, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []heuristics.Finding
	engine := &heuristics.Engine{}
	table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) {
		f := engine.Judge(ev, peer)
		got = append(got, f)
	}})
	var pk capture.Packet
	for src.Next(&pk) == nil {
		peer.Observe(&pk)
		table.Add(&pk)
	}
	table.Close()
	if len(got) != 2 {
		t.Fatalf("got %d findings, want 2", len(got))
	}
	slices.SortFunc(got, func(a, b heuristics.Finding) int { return a.RST.Time.Compare(b.RST.Time.Time) })
	for i, want := range []struct {
		rst    string
		origin heuristics.Origin
		client string
	}{
		{"present_at_sender", heuristics.OriginServer, "198.51.100.1:50000"},
		{"absent_at_sender", heuristics.OriginMiddlebox, "198.51.100.1:50001"},
	} {
		f := &got[i]
		c := f.Correlation
		if c.RST != want.rst || f.Origin != want.origin || c.MatchedBy != "isn" || c.PeerClient.String() != want.client {
			t.Errorf("frame %d: got rst %s origin %s matched_by %s peer_client %s, want %s %s isn %s",
				f.RST.Packet, c.RST, f.Origin, c.MatchedBy, c.PeerClient, want.rst, want.origin, want.client)
		}
		if c.Clock != "two_way" || !near(c.Offset.MS(), 1500, 0.001) || !near(c.OneWay.MS(), 4, 0.001) {
			t.Errorf("frame %d: got clock %s offset %.3f one-way %.3f, want two_way 1500 4", f.RST.Packet, c.Clock, c.Offset.MS(), c.OneWay.MS())
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.pcap"), Options{}); err == nil || !strings.HasPrefix(err.Error(), "peer: ") {
		t.Errorf("missing file: got %v, want a peer: error", err)
	}
}

// TestMatch_payloadThroughISNRewrite: a NAT that rewrites sequence numbers
// (e.g. pf's modulate state) hides the ISNs; the flow is found by the
// payload fingerprint of its request, and packets are compared with the
// NAT's offsets: the genuine RST is present at the sender, a lost client
// segment is lost_in_path.
func TestMatch_payloadThroughISNRewrite(t *testing.T) {
	p := newPair(30*time.Millisecond, 2*time.Millisecond)
	p.pcli = netip.MustParseAddrPort("203.0.113.7:61000")
	p.dseq = [2]uint32{0x10000000, 0xfff00000}
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 300, delivered)
	p.send(true, 10*time.Millisecond, capture.PSH|capture.ACK, 800, delivered)
	p.send(false, 10*time.Millisecond, capture.PSH|capture.ACK, 20, lost) // main frame 6
	p.send(true, 10*time.Millisecond, capture.RST|capture.ACK, 0, delivered)
	f := one(t, p.run(t))
	c := f.Correlation
	if c.MatchedBy != "payload" || c.PeerClient.String() != "203.0.113.7:61000" {
		t.Errorf("frame %d: got matched_by %s peer_client %s, want payload 203.0.113.7:61000", f.RST.Packet, c.MatchedBy, c.PeerClient)
	}
	if c.RST != "present_at_sender" || f.Origin != heuristics.OriginServer || !slices.Equal(c.PeerFrames, []uint64{6}) {
		t.Errorf("frame %d: got rst %s origin %s peer frames %v, want present_at_sender server [6]", f.RST.Packet, c.RST, f.Origin, c.PeerFrames)
	}
	lp := evidenceOf(f, heuristics.SignalLostInPath)
	if c.Lost != 1 || len(lp) != 1 || !slices.Equal(lp[0].Frames, []uint64{6}) {
		t.Errorf("lost: got %d %+v, want 1 on frame 6", c.Lost, lp)
	}
	// no handshake matched: the clock comes from this flow's packets
	if c.Clock != "two_way" || !near(c.Offset.MS(), 30, 0.001) || !near(c.OneWay.MS(), 2, 0.001) {
		t.Errorf("clock: got %s offset %.3f one-way %.3f, want two_way 30 2", c.Clock, c.Offset.MS(), c.OneWay.MS())
	}
}

// TestObserve_dataAllocs: data segments of a flow already matched by
// payload allocate nothing.
func TestObserve_dataAllocs(t *testing.T) {
	p := newPair(0, time.Millisecond)
	p.handshake()
	for range 4 {
		p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered)
	}
	peer, err := LoadSource("x", &sliceSource{pkts: finish(p.peer)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	main := finish(p.main)
	peer.Observe(&main[3]) // the first data segment matches its flow
	allocs := testing.AllocsPerRun(100, func() {
		for i := range main {
			peer.Observe(&main[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Observe: got %v allocations per run, want 0", allocs)
	}
	if len(peer.mainPay) != 1 {
		t.Errorf("payload matches: got %d, want 1", len(peer.mainPay))
	}
}

// TestLongFlow_cutRecords: a peer flow longer than maxRecords keeps only
// its newest records; a RST among the dropped ones is not called absent.
func TestLongFlow_cutRecords(t *testing.T) {
	p := newPair(0, time.Millisecond)
	p.handshake()
	p.send(false, time.Millisecond, capture.PSH|capture.ACK, 100, delivered)
	p.send(true, time.Millisecond, capture.RST|capture.ACK, 0, delivered)
	for range maxRecords + 100 {
		p.send(false, 200*time.Microsecond, capture.ACK, 0, delivered)
	}
	fs := p.run(t)
	if len(fs) == 0 {
		t.Fatal("got no findings, want the server's RST")
	}
	f := &fs[0]
	if f.RST.Packet != 9 || f.Correlation.RST != "unknown" || f.Origin == heuristics.OriginMiddlebox {
		t.Errorf("frame %d: got rst %s origin %s, want frame 9 unknown (the peer dropped those records), not middlebox",
			f.RST.Packet, f.Correlation.RST, f.Origin)
	}
}
