package pcapgen

import (
	"fmt"
	"net/netip"
	"time"
)

// Dir is the sending side of a segment within a Conn. Zero means unknown.
type Dir uint8

// Directions.
const (
	DirUnknown Dir = iota
	FromClient
	FromServer
)

// String gives "client", "server" or "unknown".
func (d Dir) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	}
	return "unknown"
}

// Reverse gives the other direction.
func (d Dir) Reverse() Dir {
	switch d {
	case FromClient:
		return FromServer
	case FromServer:
		return FromClient
	}
	return DirUnknown
}

// Flags are TCP control bits as in the header's 13th byte.
type Flags uint8

// TCP flags.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// IPIDMode says how a host numbers its IPv4 packets.
type IPIDMode uint8

// IP ID modes. The zero value is per-socket incrementing (modern Linux).
const (
	IPIDDefault   IPIDMode = iota // same as IPIDPerSocket
	IPIDPerSocket                 // a per-connection counter, +1 per packet
	IPIDZero                      // always 0
	IPIDRandom                    // a fresh random value per packet
)

// Host describes one end's stack as seen at the capture point. Zero fields
// take the defaults named.
type Host struct {
	MAC        [6]byte  // zero: derived from the address
	TTL        uint8    // TTL / hop limit as captured; 0 means 64
	IPID       IPIDMode // IPv4 ID numbering
	IPIDStart  uint16   // first per-socket IP ID; 0 means random
	DF         bool     // set IPv4 don't-fragment
	Window     uint16   // window field after the SYN; 0 means 502
	SYNWindow  uint16   // window in SYN and SYN/ACK; 0 means 64240 (IPv6 64800)
	MSS        uint16   // MSS announced in the SYN; 0 means 1460 (IPv6 1440)
	WScale     uint8    // window scale announced; 0 means 7
	Timestamps bool     // use TCP timestamps (on the connection iff both ends do)
	TSStart    uint32   // TSval of the first packet; 0 means random
	TSRate     uint32   // TSval ticks per second; 0 means 1000
	SACKPerm   bool     // announce SACK permitted
	ISN        uint32   // initial sequence number; 0 means random
}

// Segment holds every header value of one TCP segment before it is written.
// Options (Opt) edit it after the Conn has filled in its defaults.
type Segment struct {
	Flags     Flags
	Seq       uint32
	Ack       uint32
	Window    uint16
	TTL       uint8
	IPID      uint16
	DF        bool
	TS        bool // include the timestamps option
	TSVal     uint32
	TSEcr     uint32
	MSS       uint16 // SYN segments: MSS option when non-zero
	WScale    uint8  // SYN segments: window scale option when HasWScale
	HasWScale bool
	SACKPerm  bool // SYN segments: SACK-permitted option
	SrcMAC    [6]byte
	// Payload holds the first payload bytes; Fill more filler bytes follow.
	// Payload is kept, not copied, until the segment is written.
	Payload     []byte
	Fill        int
	BadChecksum bool // write a wrong TCP checksum
}

// Len is the payload length.
func (s *Segment) Len() int { return len(s.Payload) + s.Fill }

// Opt edits a segment.
type Opt func(*Segment)

// Seq sets the sequence number.
func Seq(v uint32) Opt { return func(s *Segment) { s.Seq = v } }

// SeqDelta moves the sequence number by d (wrapping).
func SeqDelta(d int64) Opt { return func(s *Segment) { s.Seq = uint32(int64(s.Seq) + d) } }

// Ack sets the acknowledgment number and the ACK flag.
func Ack(v uint32) Opt { return func(s *Segment) { s.Ack = v; s.Flags |= ACK } }

// NoAck clears the ACK flag and the acknowledgment number.
func NoAck() Opt { return func(s *Segment) { s.Ack = 0; s.Flags &^= ACK } }

// SetFlags replaces the flags.
func SetFlags(f Flags) Opt { return func(s *Segment) { s.Flags = f } }

// AddFlags sets more flags.
func AddFlags(f Flags) Opt { return func(s *Segment) { s.Flags |= f } }

// TTL sets the TTL or hop limit.
func TTL(v uint8) Opt { return func(s *Segment) { s.TTL = v } }

// IPID sets the IPv4 ID.
func IPID(v uint16) Opt { return func(s *Segment) { s.IPID = v } }

// DF sets or clears don't-fragment.
func DF(on bool) Opt { return func(s *Segment) { s.DF = on } }

// Window sets the window field.
func Window(v uint16) Opt { return func(s *Segment) { s.Window = v } }

// NoTS drops the timestamps option.
func NoTS() Opt { return func(s *Segment) { s.TS = false } }

// TSVal adds the timestamps option with this TSval (TSecr unchanged).
func TSVal(v uint32) Opt { return func(s *Segment) { s.TS = true; s.TSVal = v } }

// SrcMAC sets the source MAC (Ethernet and SLL links).
func SrcMAC(m [6]byte) Opt { return func(s *Segment) { s.SrcMAC = m } }

// Payload replaces the payload with b.
func Payload(b []byte) Opt { return func(s *Segment) { s.Payload = b; s.Fill = 0 } }

// BadChecksum writes a wrong TCP checksum.
func BadChecksum() Opt { return func(s *Segment) { s.BadChecksum = true } }

type side struct {
	ap     netip.AddrPort
	h      Host
	mac    [6]byte
	isn    uint32
	nxt    uint32
	ipid   uint16
	tsBase uint32
	tsLast uint32
}

// Conn is one TCP connection (or a UDP/ARP pair for noise). Its methods
// emit segments at the times given; state (next sequence numbers, IP ID
// counters, timestamps) follows the genuine segments in call order.
type Conn struct {
	g     *Generator
	q     *queue
	kind  uint8
	v6    bool
	ts    bool // timestamps on the connection (both hosts)
	t0    int64
	begun bool
	s     [2]side
	// RTT is the client-side round trip used by Handshake (default 20 ms).
	RTT time.Duration
	// Gap separates the segments of one Send (default 12 µs).
	Gap time.Duration
	// AckDelay is how long after the SYN/ACK the client's ACK comes (default 40 µs).
	AckDelay time.Duration
}

const (
	kindTCP uint8 = iota + 1
	kindUDP
	kindARP
)

// Conn makes a TCP connection between client and server. Both addresses
// must be of one family. The Conn emits into the Generator's queue.
func (g *Generator) Conn(client, server netip.AddrPort, ch, sh Host) *Conn {
	c := g.newConn(kindTCP, client, server, ch, sh)
	g.stats.Flows++
	return c
}

// UDP makes a UDP pair for noise traffic; send with Datagram.
func (g *Generator) UDP(a, b netip.AddrPort, ha, hb Host) *Conn {
	return g.newConn(kindUDP, a, b, ha, hb)
}

func (g *Generator) newConn(kind uint8, client, server netip.AddrPort, ch, sh Host) *Conn {
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	c := &Conn{g: g, q: g.q, kind: kind, v6: client.Addr().Is6(),
		RTT: 20 * time.Millisecond, Gap: 12 * time.Microsecond, AckDelay: 40 * time.Microsecond}
	if client.Addr().Is6() != server.Addr().Is6() && g.err == nil {
		g.err = fmt.Errorf("pcapgen: conn %v-%v: mixed address families", client, server)
	}
	c.ts = ch.Timestamps && sh.Timestamps
	c.s[0] = g.newSide(client, ch, c.v6)
	c.s[1] = g.newSide(server, sh, c.v6)
	return c
}

func (g *Generator) newSide(ap netip.AddrPort, h Host, v6 bool) side {
	if h.TTL == 0 {
		h.TTL = 64
	}
	if h.Window == 0 {
		h.Window = 502
	}
	if h.SYNWindow == 0 {
		h.SYNWindow = 64240
		if v6 {
			h.SYNWindow = 64800
		}
	}
	if h.MSS == 0 {
		h.MSS = 1460
		if v6 {
			h.MSS = 1440
		}
	}
	if h.WScale == 0 {
		h.WScale = 7
	}
	if h.TSRate == 0 {
		h.TSRate = 1000
	}
	s := side{ap: ap, h: h, mac: h.MAC}
	if s.mac == ([6]byte{}) {
		s.mac = macFor(ap.Addr())
	}
	s.isn = h.ISN
	if s.isn == 0 {
		s.isn = g.rng.Uint32() | 1
	}
	s.nxt = s.isn
	s.ipid = h.IPIDStart
	if s.ipid == 0 {
		s.ipid = uint16(g.rng.Uint32())
	}
	s.tsBase = h.TSStart
	if s.tsBase == 0 {
		s.tsBase = g.rng.Uint32() >> 1
	}
	return s
}

// Client is the client's address.
func (c *Conn) Client() netip.AddrPort { return c.s[0].ap }

// Server is the server's address.
func (c *Conn) Server() netip.AddrPort { return c.s[1].ap }

// Host gives the host settings of one side (defaults filled in).
func (c *Conn) Host(d Dir) Host { return c.side(d).h }

// ISN is the side's initial sequence number.
func (c *Conn) ISN(d Dir) uint32 { return c.side(d).isn }

// Next is the side's next sequence number (SND.NXT): what the other side
// acknowledges and what an exact RST from this side carries.
func (c *Conn) Next(d Dir) uint32 { return c.side(d).nxt }

// NextIPID is the IP ID the side's next genuine packet carries (per-socket mode).
func (c *Conn) NextIPID(d Dir) uint16 { return c.side(d).ipid }

// LastTSVal is the side's last TSval sent.
func (c *Conn) LastTSVal(d Dir) uint32 { return c.side(d).tsLast }

func (c *Conn) side(d Dir) *side {
	if d == FromServer {
		return &c.s[1]
	}
	return &c.s[0]
}

func (c *Conn) tsval(s *side, at int64) uint32 {
	if !c.begun {
		c.begun = true
		c.t0 = at
	}
	ms := (at - c.t0) * int64(s.h.TSRate) / 1e9
	return s.tsBase + uint32(ms)
}

// base fills a genuine segment's defaults.
func (c *Conn) base(d Dir, at int64, flags Flags) Segment {
	s, p := c.side(d), c.side(d.Reverse())
	seg := Segment{Flags: flags, Seq: s.nxt, Window: s.h.Window, TTL: s.h.TTL, DF: s.h.DF,
		SrcMAC: s.mac, TS: c.ts}
	if flags&ACK != 0 {
		seg.Ack = p.nxt
	}
	if seg.TS {
		seg.TSVal = c.tsval(s, at)
		seg.TSEcr = p.tsLast
	}
	return seg
}

// nextIPID returns the genuine IP ID for the side and advances its counter.
func (c *Conn) nextIPID(s *side) uint16 {
	switch s.h.IPID {
	case IPIDZero:
		return 0
	case IPIDRandom:
		return uint16(c.g.rng.Uint32())
	}
	v := s.ipid
	s.ipid++
	return v
}

// genuine finishes a segment sent by the side's own stack: IP ID, options,
// then state, then the queue.
func (c *Conn) genuine(d Dir, at int64, seg *Segment, opts []Opt) {
	s := c.side(d)
	seg.IPID = c.nextIPID(s)
	applyOpts(seg, opts)
	n := uint32(seg.Len())
	if seg.Flags&SYN != 0 {
		n++
	}
	if seg.Flags&FIN != 0 {
		n++
	}
	if end := seg.Seq + n; int32(end-s.nxt) > 0 {
		s.nxt = end
	}
	if seg.TS {
		s.tsLast = seg.TSVal
	}
	c.push(d, at, seg)
}

// applyOpts runs opts on a heap copy of seg, so that seg itself (on the
// caller's stack) does not escape when there are no opts.
func applyOpts(seg *Segment, opts []Opt) {
	if len(opts) == 0 {
		return
	}
	s := new(Segment)
	*s = *seg
	for _, o := range opts {
		o(s)
	}
	*seg = *s
}

func (c *Conn) push(d Dir, at int64, seg *Segment) {
	c.q.push(item{at: at, c: c, dir: d, seg: *seg})
}

// SYN emits the client's SYN.
func (c *Conn) SYN(t time.Time, opts ...Opt) {
	at := t.UnixNano()
	s := c.side(FromClient)
	seg := c.base(FromClient, at, SYN)
	seg.Seq = s.isn
	seg.Window = s.h.SYNWindow
	seg.MSS, seg.WScale, seg.HasWScale, seg.SACKPerm = s.h.MSS, s.h.WScale, true, s.h.SACKPerm
	seg.TS = s.h.Timestamps
	if seg.TS {
		seg.TSVal = c.tsval(s, at)
		seg.TSEcr = 0
	}
	c.genuine(FromClient, at, &seg, opts)
}

// SYNACK emits the server's SYN/ACK.
func (c *Conn) SYNACK(t time.Time, opts ...Opt) {
	at := t.UnixNano()
	s := c.side(FromServer)
	seg := c.base(FromServer, at, SYN|ACK)
	seg.Seq = s.isn
	seg.Window = s.h.SYNWindow
	seg.MSS, seg.WScale, seg.HasWScale = s.h.MSS, s.h.WScale, true
	seg.SACKPerm = s.h.SACKPerm && c.s[0].h.SACKPerm
	c.genuine(FromServer, at, &seg, opts)
}

// Handshake emits SYN at t, SYN/ACK one RTT later and the client's ACK
// AckDelay after that. It returns the time of the ACK.
func (c *Conn) Handshake(t time.Time) time.Time {
	c.SYN(t)
	t = t.Add(c.RTT)
	c.SYNACK(t)
	t = t.Add(c.AckDelay)
	c.ACK(FromClient, t)
	return t
}

// ACK emits a pure ACK.
func (c *Conn) ACK(d Dir, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	seg := c.base(d, at, ACK)
	c.genuine(d, at, &seg, opts)
}

// Data emits one segment (flags PA) carrying head followed by fill filler bytes.
func (c *Conn) Data(d Dir, head []byte, fill int, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	seg := c.base(d, at, PSH|ACK)
	seg.Payload, seg.Fill = head, fill
	c.genuine(d, at, &seg, opts)
}

// Send emits payload split at the peer's MSS (less 12 with timestamps),
// Gap apart, PSH on the last segment. It returns the last segment's time.
func (c *Conn) Send(d Dir, payload []byte, t time.Time, opts ...Opt) time.Time {
	return c.SendFill(d, payload, len(payload), t, opts...)
}

// SendFill is Send for a message of n bytes: head, then filler.
// n below len(head) means len(head).
func (c *Conn) SendFill(d Dir, head []byte, n int, t time.Time, opts ...Opt) time.Time {
	if n < len(head) {
		n = len(head)
	}
	mss := c.SegmentSize(d)
	for off := 0; off < n; off += mss {
		m := min(mss, n-off)
		var h []byte
		if off < len(head) {
			h = head[off:min(len(head), off+m)]
		}
		at := t.UnixNano()
		flags := ACK
		if off+m == n {
			flags |= PSH
		}
		seg := c.base(d, at, flags)
		seg.Payload, seg.Fill = h, m-len(h)
		c.genuine(d, at, &seg, opts)
		if off+m < n {
			t = t.Add(c.Gap)
		}
	}
	return t
}

// SegmentSize is the largest payload side d sends in one segment.
func (c *Conn) SegmentSize(d Dir) int {
	mss := int(c.side(d.Reverse()).h.MSS)
	if c.ts {
		mss -= 12
	}
	return mss
}

// FIN emits a FIN/ACK.
func (c *Conn) FIN(d Dir, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	seg := c.base(d, at, FIN|ACK)
	c.genuine(d, at, &seg, opts)
}

// RST emits a reset from the side's own stack: RST/ACK, seq = SND.NXT,
// ack = RCV.NXT, window 0, the side's TTL, DF and next IP ID, timestamps as
// on the connection. Opts reshape it (SetFlags(RST), Seq(0), IPID(0), ...).
func (c *Conn) RST(d Dir, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	seg := c.base(d, at, RST|ACK)
	seg.Window = 0
	c.genuine(d, at, &seg, opts)
}

// Retransmit re-emits stream bytes from seq: head then fill filler bytes,
// flags PA. It is a genuine segment (new IP ID) that does not move SND.NXT
// backwards.
func (c *Conn) Retransmit(d Dir, seq uint32, head []byte, fill int, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	seg := c.base(d, at, PSH|ACK)
	seg.Seq = seq
	seg.Payload, seg.Fill = head, fill
	c.genuine(d, at, &seg, opts)
}

// Inject emits a packet forged by a middlebox that claims to come from side
// d: by default RST, seq = d's SND.NXT, no ACK, window 0, the claimed side's
// TTL and MAC, a random IP ID, no DF, no timestamps. Connection state does
// not change. Opts give the injector's own shape (TTL, IPID, DF, SeqDelta...).
func (c *Conn) Inject(d Dir, t time.Time, opts ...Opt) {
	at := t.UnixNano()
	s := c.side(d)
	seg := Segment{Flags: RST, Seq: s.nxt, TTL: s.h.TTL, SrcMAC: s.mac,
		IPID: uint16(c.g.rng.Uint32())}
	applyOpts(&seg, opts)
	c.push(d, at, &seg)
}

// Datagram emits a UDP datagram on a UDP pair (FromClient: a to b).
func (c *Conn) Datagram(d Dir, payload []byte, t time.Time) {
	at := t.UnixNano()
	s := c.side(d)
	seg := Segment{TTL: s.h.TTL, DF: s.h.DF, SrcMAC: s.mac, Payload: payload}
	seg.IPID = c.nextIPID(s)
	c.push(d, at, &seg)
}

// ARP emits an ARP request from sender for target's address at t and the
// reply 200 µs later. Links without Ethernet addresses (raw) skip it.
func (g *Generator) ARP(sender, target netip.Addr, hs, ht Host, t time.Time) {
	if g.opts.Link == LinkRaw || !sender.Is4() || !target.Is4() {
		return
	}
	c := g.newConn(kindARP, netip.AddrPortFrom(sender, 0), netip.AddrPortFrom(target, 0), hs, ht)
	at := t.UnixNano()
	c.push(FromClient, at, &Segment{SrcMAC: c.s[0].mac})
	c.push(FromServer, at+200e3, &Segment{SrcMAC: c.s[1].mac})
}
