package pcapgen

import (
	"fmt"
	"net/netip"
	"time"
)

// MixOptions shape the benchmark capture.
type MixOptions struct {
	// Flows is the number of TCP connections (default 280,000).
	Flows int
	// Packets is the packet count aimed at (default 10,200,000); long
	// transfers are sized so the total lands within a few percent.
	Packets int
	// Duration is the capture's span (default 10 minutes).
	Duration time.Duration
	// ResetFraction of flows run a named RST scenario (default 0.02).
	ResetFraction float64
	// Start is the first packet's time (default Time(0)).
	Start time.Time
}

// MixStats adds per-scenario counts to Stats.
type MixStats struct {
	Stats
	ScenarioFlows map[string]int // flows per scenario name
	LongFlows     int
}

// flow kinds in the mix.
const (
	flowHTTP uint8 = iota + 1
	flowTLS
	flowScenario
	flowNoise
)

// flow phases.
const (
	phOpen uint8 = iota
	phTLSFlight
	phResponse
	phNextRequest
	phClose
	phDone
)

const maxReqs = 4

type flow struct {
	c     *Conn
	q     queue
	kind  uint8
	phase uint8
	t     int64 // time of the last emitted packet
	rtt   int64
	gap   int64 // between server data segments
	think int64
	reqs  [maxReqs]int32 // response body sizes
	nreq  int
	cur   int // current request index
	left  int // response bytes left
	first bool
	mss   int
	req   []byte
	hello []byte
	hdr   []byte // HTTP response header of the current response
	rec   [2][5]byte
	idx   int // heap index
}

// mixer holds the pools and counters of one Mix run.
type mixer struct {
	g        *Generator
	o        MixOptions
	clients4 []hostAddr
	clients6 []hostAddr
	servers4 []hostAddr
	servers6 []hostAddr
	resolver hostAddr
	reqs     [][]byte
	hellos   [][]byte
	hdrs     map[int][]byte
	names    []string
	dnsQ     [][]byte
	dnsR     [][]byte
	scen     []Scenario
	heap     []*flow
	free     []*flow
	st       MixStats
	planned  int // packets planned so far (estimates)
	normal   int // normal flows created
	normPkts int // their planned packets
}

type hostAddr struct {
	addr netip.Addr
	host Host
	port uint16 // next ephemeral port (clients)
}

// response body sizes and weights (per mille).
var respSizes = []struct {
	size int
	w    int
}{{0, 40}, {320, 300}, {1400, 200}, {4200, 180}, {16000, 150}, {64000, 100}, {200000, 30}}

// Mix writes the benchmark mix: many interleaved HTTP and TLS connections
// of varied sizes, a few long transfers, DNS and ARP noise, and
// ResetFraction of flows running the named RST scenarios (every kind). It
// writes packets in time order as it goes; the Generator's queue must be
// empty. Flush the Generator afterwards.
func Mix(g *Generator, o MixOptions) (MixStats, error) {
	if o.Flows <= 0 {
		o.Flows = 280000
	}
	if o.Packets <= 0 {
		o.Packets = 10200000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.ResetFraction <= 0 {
		o.ResetFraction = 0.02
	}
	if o.Start.IsZero() {
		o.Start = Time(0)
	}
	if g.main.len() > 0 {
		return MixStats{}, fmt.Errorf("pcapgen: mix: %d packets still queued", g.main.len())
	}
	filler()
	m := &mixer{g: g, o: o, hdrs: map[int][]byte{}, st: MixStats{ScenarioFlows: map[string]int{}}}
	m.pools()
	err := m.run()
	g.q = &g.main
	m.st.Stats = g.Stats()
	return m.st, err
}

func (m *mixer) pools() {
	r := m.g.rng
	mk := func(n int, v6 bool, server bool) []hostAddr {
		out := make([]hostAddr, n)
		for i := range out {
			var a netip.Addr
			if v6 {
				var b [16]byte
				b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
				if server {
					b[5] = 1
				}
				b[14], b[15] = byte(i>>8), byte(i)+1
				a = netip.AddrFrom16(b)
			} else if server {
				a = netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i) | 1})
			} else {
				a = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)%254 + 1})
			}
			h := Host{DF: true, SACKPerm: true}
			switch x := r.IntN(10); {
			case x < 6: // Linux
				h.TTL, h.Timestamps = 64, true
			case x < 8: // Windows: no timestamps, 128
				h.TTL, h.Window = 128, 1026
				h.WScale = 8
			case x < 9: // BSD/macOS
				h.TTL, h.Timestamps, h.WScale = 64, true, 6
			default: // network appliance
				h.TTL, h.IPID = 255, IPIDZero
			}
			if server {
				h.TTL -= uint8(3 + r.IntN(18))
				if r.IntN(20) == 0 {
					h.IPID = IPIDRandom
				}
			}
			out[i] = hostAddr{addr: a, host: h, port: uint16(32768 + r.IntN(20000))}
		}
		return out
	}
	m.clients4 = mk(4000, false, false)
	m.clients6 = mk(400, true, false)
	m.servers4 = mk(2000, false, true)
	m.servers6 = mk(200, true, true)
	m.resolver = hostAddr{addr: netip.AddrFrom4([4]byte{10, 255, 0, 53}), host: Host{TTL: 64, DF: true}}
	tlds := []string{"com", "net", "org", "io", "cn", "de"}
	words := []string{"api", "cdn", "www", "static", "img", "auth", "login", "video", "shop", "news", "mail", "search"}
	for i := range 128 {
		m.names = append(m.names, fmt.Sprintf("%s%d.%s-%d.%s", words[i%len(words)], i/len(words), words[(i*7)%len(words)], i, tlds[i%len(tlds)]))
	}
	paths := []string{"/", "/index.html", "/api/v1/items?page=2", "/static/app.js", "/img/logo.png", "/video/seg-1042.ts", "/login", "/search?q=tcp+reset"}
	for i := range 256 {
		m.reqs = append(m.reqs, HTTPRequest("GET", m.names[i%len(m.names)], paths[i%len(paths)]))
		m.hellos = append(m.hellos, TLSClientHello(m.names[(i*5)%len(m.names)], r))
	}
	for i := range 64 {
		n := m.names[i]
		m.dnsQ = append(m.dnsQ, DNSQuery(uint16(i*977), n))
		m.dnsR = append(m.dnsR, DNSResponse(uint16(i*977), n, [4]byte{198, 18, byte(i), 1}))
	}
	m.scen = Scenarios()
}

func (m *mixer) respSize() int32 {
	x := m.g.rng.IntN(1000)
	for _, s := range respSizes {
		if x < s.w {
			return int32(s.size)
		}
		x -= s.w
	}
	return 320
}

func (m *mixer) httpHeader(body int) []byte {
	if h, ok := m.hdrs[body]; ok {
		return h
	}
	h := HTTPResponseHeader(200, body, true)
	m.hdrs[body] = h
	return h
}

// heap of flows by their next packet time.
func (m *mixer) less(i, j int) bool { return m.heap[i].q.first() < m.heap[j].q.first() }

func (m *mixer) swap(i, j int) {
	m.heap[i], m.heap[j] = m.heap[j], m.heap[i]
	m.heap[i].idx, m.heap[j].idx = i, j
}

func (m *mixer) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			break
		}
		m.swap(i, p)
		i = p
	}
}

func (m *mixer) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && m.less(r, l) {
			j = r
		}
		if !m.less(j, i) {
			return
		}
		m.swap(i, j)
		i = j
	}
}

func (m *mixer) push(f *flow) {
	f.idx = len(m.heap)
	m.heap = append(m.heap, f)
	m.up(f.idx)
}

func (m *mixer) popTop() {
	n := len(m.heap) - 1
	m.swap(0, n)
	m.heap[n] = nil
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
}

func (m *mixer) run() error {
	g, o := m.g, m.o
	start := o.Start.UnixNano()
	span := int64(o.Duration)
	slot := span / int64(o.Flows)
	nLong := max(1, o.Flows/250)
	longEvery := o.Flows / nLong
	created := 0
	next := start + g.rng.Int64N(max(slot, 1)) // start of the next flow, -1 when all started
	for {
		for next >= 0 && (len(m.heap) == 0 || next <= m.heap[0].q.first()) {
			long := created%longEvery == longEvery/2 && created/longEvery < nLong
			m.startFlow(created, next, long, nLong-created/longEvery)
			created++
			next = -1
			if created < o.Flows {
				next = start + int64(created)*slot + g.rng.Int64N(max(slot, 1))
			}
			if g.err != nil {
				return g.err
			}
		}
		if len(m.heap) == 0 {
			if created >= o.Flows {
				return g.err
			}
			continue
		}
		f := m.heap[0]
		g.writeItem(f.q.pop())
		if g.err != nil {
			return g.err
		}
		if f.q.len() == 0 {
			f.q.reset()
			g.q = &f.q
			m.step(f)
			if f.q.len() == 0 {
				m.popTop()
				m.release(f)
				continue
			}
		}
		m.down(0)
	}
}

func (m *mixer) alloc() *flow {
	if n := len(m.free); n > 0 {
		f := m.free[n-1]
		m.free = m.free[:n-1]
		return f
	}
	return &flow{}
}

func (m *mixer) release(f *flow) {
	q := f.q
	q.reset()
	*f = flow{q: q}
	m.free = append(m.free, f)
}

// pickClient returns a client address with a fresh ephemeral port.
func (m *mixer) pickClient(v6 bool) (netip.AddrPort, Host) {
	pool := m.clients4
	if v6 {
		pool = m.clients6
	}
	c := &pool[m.g.rng.IntN(len(pool))]
	p := c.port
	c.port++
	if c.port >= 61000 {
		c.port = 32768
	}
	return netip.AddrPortFrom(c.addr, p), c.host
}

func (m *mixer) pickServer(v6 bool, port uint16) (netip.AddrPort, Host) {
	pool := m.servers4
	if v6 {
		pool = m.servers6
	}
	s := pool[m.g.rng.IntN(len(pool))]
	return netip.AddrPortFrom(s.addr, port), s.host
}

// startFlow creates flow number i at time at and emits its first packets.
func (m *mixer) startFlow(i int, at int64, long bool, longLeft int) {
	g, o := m.g, m.o
	r := g.rng
	f := m.alloc()
	f.t = at
	g.q = &f.q
	end := o.Start.UnixNano() + int64(o.Duration)
	// DNS lookup before some connections, ARP now and then.
	if r.IntN(100) < 25 {
		m.noise(at)
		f.t = at + int64(2*time.Millisecond)
	}
	v6 := r.IntN(100) < 8
	early := at-o.Start.UnixNano() < int64(o.Duration)*35/100
	if !long && early && r.Float64() < o.ResetFraction/0.35 {
		s := m.scen[r.IntN(len(m.scen))]
		cl, _ := m.pickClient(s.Client.Addr().Is6())
		sv, _ := m.pickServer(s.Server.Addr().Is6(), s.Server.Port())
		s.Run(g, Endpoints{Client: cl, Server: sv}, tm(f.t))
		m.st.ScenarioFlows[s.Name]++
		f.kind, f.phase = flowScenario, phDone
		m.planned += f.q.len()
		m.push(f)
		return
	}
	tls := r.IntN(100) < 55
	port := uint16(80)
	if tls {
		port = 443
	}
	cl, ch := m.pickClient(v6)
	sv, sh := m.pickServer(v6, port)
	c := g.Conn(cl, sv, ch, sh)
	f.c = c
	f.rtt = int64(2*time.Millisecond) + r.Int64N(int64(150*time.Millisecond))
	c.RTT = time.Duration(f.rtt)
	f.mss = c.SegmentSize(FromServer)
	f.gap = int64(10*time.Microsecond) + r.Int64N(int64(200*time.Microsecond))
	f.think = int64(time.Millisecond) + r.Int64N(int64(2*time.Second))
	f.kind = flowHTTP
	f.req = m.reqs[r.IntN(len(m.reqs))]
	if tls {
		f.kind = flowTLS
		f.hello = m.hellos[r.IntN(len(m.hellos))]
	}
	if long {
		// Size the transfer so the capture lands near o.Packets.
		avg := 28
		if m.normal > 0 {
			avg = m.normPkts / m.normal
		}
		remainingNormal := o.Flows - i - longLeft
		budget := o.Packets - m.planned - avg*max(remainingNormal, 0) - (o.Flows-i)/4*2
		pk := budget / max(longLeft, 1)
		segs := (pk - 12) * 2 / 3
		if segs > 50 {
			f.nreq = 1
			f.reqs[0] = int32(min(segs*f.mss, 1<<31-1))
			dur := min(int64(20*time.Second)+r.Int64N(int64(200*time.Second)), end-at-int64(2*time.Second))
			if dur > int64(time.Second) {
				f.gap = dur / int64(segs)
			}
			f.think = int64(time.Millisecond)
			m.st.LongFlows++
			m.planned += m.estimate(f)
			m.step(f)
			m.push(f)
			return
		}
	}
	f.nreq = 1
	for f.nreq < maxReqs && r.IntN(100) < 30 {
		f.nreq++
	}
	for k := range f.nreq {
		f.reqs[k] = m.respSize()
	}
	est := m.estimate(f)
	m.planned += est
	m.normal++
	m.normPkts += est
	m.step(f)
	m.push(f)
}

// noise emits a DNS query/answer pair (and sometimes an ARP exchange).
func (m *mixer) noise(at int64) {
	r := m.g.rng
	cl, ch := m.pickClient(false)
	u := m.g.UDP(cl, netip.AddrPortFrom(m.resolver.addr, 53), ch, m.resolver.host)
	k := r.IntN(len(m.dnsQ))
	t := tm(at)
	u.Datagram(FromClient, m.dnsQ[k], t)
	u.Datagram(FromServer, m.dnsR[k], t.Add(time.Duration(300+r.IntN(3000))*time.Microsecond))
	m.planned += 2
	if r.IntN(20) == 0 {
		m.g.ARP(cl.Addr(), netip.AddrFrom4([4]byte{10, 0, 0, 1}), ch, Host{}, t)
		if m.g.opts.Link != LinkRaw {
			m.planned += 2
		}
	}
}

// estimate is the packet count step will emit for a normal flow.
func (m *mixer) estimate(f *flow) int {
	n := 3 + 3 // handshake, close
	if f.kind == flowTLS {
		n += 1 + 1 + 2 + 1 + 1 // ClientHello, ServerHello, flight (2 segs), ACK, Finished
	}
	for k := range f.nreq {
		segs := m.respSegs(f, int(f.reqs[k]))
		n += 1 + segs + (segs+1)/2
	}
	return n
}

// respSegs is the number of server segments of a response with body size.
func (m *mixer) respSegs(f *flow, body int) int {
	total := m.respLen(f, body)
	return (total + f.mss - 1) / f.mss
}

// respLen is the bytes on the wire of a response: HTTP header + body, or
// body in TLS records of one segment each (5-byte headers).
func (m *mixer) respLen(f *flow, body int) int {
	if f.kind == flowTLS {
		per := f.mss - 5
		recs := max(1, (body+per-1)/per)
		return body + 5*recs
	}
	return len(m.httpHeader(body)) + body
}

func tm(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// step emits the flow's next few packets into f.q.
func (m *mixer) step(f *flow) {
	c := f.c
	switch f.phase {
	case phOpen:
		c.SYN(tm(f.t))
		f.t += f.rtt
		c.SYNACK(tm(f.t))
		f.t += int64(40 * time.Microsecond)
		c.ACK(FromClient, tm(f.t))
		f.t += int64(30 * time.Microsecond)
		if f.kind == flowTLS {
			c.Data(FromClient, f.hello, 0, tm(f.t))
			f.phase = phTLSFlight
			return
		}
		c.Data(FromClient, f.req, 0, tm(f.t))
		m.newResponse(f)
	case phTLSFlight:
		f.t += f.rtt
		sh := tlsServerHello13
		c.Data(FromServer, sh, 0, tm(f.t), SetFlags(ACK))
		f.t += f.gap
		f.rec[0] = [5]byte{TLSApplicationData, 3, 3, byte((f.mss - 5) >> 8), byte(f.mss - 5)}
		c.Data(FromServer, f.rec[0][:], f.mss-5, tm(f.t), SetFlags(ACK))
		f.t += f.gap
		n := 1200 + int(f.rtt%1800)
		f.rec[1] = [5]byte{TLSApplicationData, 3, 3, byte((n - 5) >> 8), byte(n - 5)}
		c.Data(FromServer, f.rec[1][:], n-5, tm(f.t))
		f.t += int64(40 * time.Microsecond)
		c.ACK(FromClient, tm(f.t))
		f.t += int64(200 * time.Microsecond)
		c.Data(FromClient, tlsFinished[:], 69, tm(f.t))
		f.phase = phNextRequest
	case phNextRequest:
		if f.kind == flowTLS && f.cur == 0 {
			f.t += int64(20 * time.Microsecond)
		} else {
			f.t += f.think
		}
		if f.kind == flowTLS {
			c.Data(FromClient, tlsRequest[:], 250, tm(f.t))
		} else {
			c.Data(FromClient, f.req, 0, tm(f.t))
		}
		m.newResponse(f)
	case phResponse:
		if f.first {
			f.t += f.rtt
			f.first = false
		} else {
			f.t += f.gap
		}
		for k := 0; k < 2 && f.left > 0; k++ {
			if k > 0 {
				f.t += f.gap
			}
			n := min(f.mss, f.left)
			f.left -= n
			flags := SetFlags(ACK)
			if f.left == 0 {
				flags = SetFlags(ACK | PSH)
			}
			var head []byte
			switch {
			case f.kind == flowTLS:
				f.rec[k] = [5]byte{TLSApplicationData, 3, 3, byte((n - 5) >> 8), byte(n - 5)}
				head = f.rec[k][:]
			case f.hdr != nil:
				head = f.hdr
				if len(head) > n {
					head = head[:n]
				}
				f.hdr = nil
			}
			c.Data(FromServer, head, n-len(head), tm(f.t), flags)
		}
		f.t += int64(40 * time.Microsecond)
		c.ACK(FromClient, tm(f.t))
		if f.left == 0 {
			f.cur++
			if f.cur < f.nreq {
				f.phase = phNextRequest
			} else {
				f.phase = phClose
			}
		}
	case phClose:
		f.t += f.think / 4
		closer := FromClient
		if f.rtt%3 == 0 {
			closer = FromServer
		}
		c.FIN(closer, tm(f.t))
		f.t += f.rtt
		c.FIN(closer.Reverse(), tm(f.t))
		f.t += int64(40 * time.Microsecond)
		c.ACK(closer, tm(f.t))
		f.phase = phDone
	}
}

// newResponse starts the response to the current request.
func (m *mixer) newResponse(f *flow) {
	body := int(f.reqs[f.cur])
	f.left = m.respLen(f, body)
	f.first = true
	f.hdr = nil
	if f.kind == flowHTTP {
		f.hdr = m.httpHeader(body)
	}
	f.phase = phResponse
}

var (
	tlsServerHello13 = TLSServerHello(true, nil)
	tlsFinished      = [5]byte{TLSApplicationData, 3, 3, 0, 69}
	tlsRequest       = [5]byte{TLSApplicationData, 3, 3, 0, 250}
)
