package pcapgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
)

// item is one queued packet.
type item struct {
	at  int64 // Unix ns
	c   *Conn
	dir Dir
	seg Segment
}

// queue keeps items sorted by time (stable: equal times keep push order).
type queue struct {
	items []item
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }

func (q *queue) push(it item) {
	q.items = append(q.items, it)
	i := len(q.items) - 1
	if i > q.head && q.items[i-1].at > it.at {
		for i > q.head && q.items[i-1].at > it.at {
			q.items[i] = q.items[i-1]
			i--
		}
		q.items[i] = it
	}
}

// first is the earliest item's time; the queue must not be empty.
func (q *queue) first() int64 { return q.items[q.head].at }

// pop removes the earliest item. The pointer is valid until the next push.
func (q *queue) pop() *item {
	it := &q.items[q.head]
	q.head++
	return it
}

// reset empties the queue, keeping its storage, once everything is popped.
func (q *queue) reset() {
	clear(q.items[:q.head])
	q.items = q.items[:0]
	q.head = 0
}

// The filler: 64 KiB of fixed pseudo-random bytes and, for each alignment,
// prefix sums of their 16-bit one's-complement contributions, so the
// checksum of any filler range costs O(1).
const fillLen = 1 << 16

var (
	fillOnce sync.Once
	fillData []byte
	fillPre  [2][]uint64
)

func filler() {
	fillOnce.Do(func() {
		r := rand.New(rand.NewPCG(0x5eed, 0xf111))
		fillData = make([]byte, fillLen)
		for i := range fillData {
			fillData[i] = byte(r.Uint32())
		}
		for p := range 2 {
			pre := make([]uint64, fillLen+1)
			for j, b := range fillData {
				v := uint64(b)
				if j&1 == p {
					v <<= 8
				}
				pre[j+1] = pre[j] + v
			}
			fillPre[p] = pre
		}
	})
}

// fillSum is the one's-complement contribution of n filler bytes starting at
// filler offset off, placed at payload offset k0 (even offsets are high bytes).
func fillSum(off uint32, n, k0 int) uint64 {
	a := int(off & (fillLen - 1))
	var s uint64
	for n > 0 {
		m := min(n, fillLen-a)
		p := (a + k0) & 1
		s += fillPre[p][a+m] - fillPre[p][a]
		k0 += m
		n -= m
		a = 0
	}
	return s
}

// appendFill appends n filler bytes from offset off.
func appendFill(b []byte, off uint32, n int) []byte {
	a := int(off & (fillLen - 1))
	for n > 0 {
		m := min(n, fillLen-a)
		b = append(b, fillData[a:a+m]...)
		n -= m
		a = 0
	}
	return b
}

// csum adds b as big-endian 16-bit words (a final odd byte is a high byte).
func csum(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherARP  = 0x0806
)

// link appends the link-layer header for a packet from side d.
func (g *Generator) link(b []byte, c *Conn, d Dir, src [6]byte, etype uint16) []byte {
	dst := c.side(d.Reverse()).mac
	switch g.opts.Link {
	case LinkRaw:
		return b
	case LinkSLL:
		pt := uint16(0) // to us
		if d == FromClient {
			pt = 4 // outgoing
		}
		b = binary.BigEndian.AppendUint16(b, pt)
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = binary.BigEndian.AppendUint16(b, 6)
		b = append(b, src[:]...)
		b = append(b, 0, 0)
		return binary.BigEndian.AppendUint16(b, etype)
	case LinkSLL2:
		b = binary.BigEndian.AppendUint16(b, etype)
		b = append(b, 0, 0)
		b = binary.BigEndian.AppendUint32(b, 2) // interface index
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		pt := byte(0)
		if d == FromClient {
			pt = 4
		}
		b = append(b, pt, 6)
		b = append(b, src[:]...)
		return append(b, 0, 0)
	}
	if etype == etherARP && d == FromClient {
		dst = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	if g.opts.VLAN != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, g.opts.VLAN&0x0fff)
	}
	return binary.BigEndian.AppendUint16(b, etype)
}

// ipHeader appends an IPv4 or IPv6 header for l4len bytes of protocol proto
// and returns the pseudo-header checksum contribution.
func ipHeader(b []byte, c *Conn, d Dir, seg *Segment, proto byte, l4len int) ([]byte, uint64) {
	src, dst := c.side(d).ap.Addr(), c.side(d.Reverse()).ap.Addr()
	if c.v6 {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(l4len))
		b = append(b, proto, seg.TTL)
		s16, d16 := src.As16(), dst.As16()
		start := len(b)
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
		ps := csum(b[start:], 0) + uint64(l4len) + uint64(proto)
		return b, ps
	}
	start := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+l4len))
	b = binary.BigEndian.AppendUint16(b, seg.IPID)
	ff := uint16(0)
	if seg.DF {
		ff = 0x4000
	}
	b = binary.BigEndian.AppendUint16(b, ff)
	b = append(b, seg.TTL, proto, 0, 0)
	s4, d4 := src.As4(), dst.As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	binary.BigEndian.PutUint16(b[start+10:], ^fold(csum(b[start:start+20], 0)))
	ps := csum(b[start+12:start+20], 0) + uint64(l4len) + uint64(proto)
	return b, ps
}

// tcpOptions appends the segment's TCP options (a multiple of 4 bytes).
func tcpOptions(b []byte, s *Segment) []byte {
	syn := s.Flags&SYN != 0
	if syn && s.MSS != 0 {
		b = append(b, 2, 4, byte(s.MSS>>8), byte(s.MSS))
	}
	sack := syn && s.SACKPerm
	if sack && s.TS {
		b = append(b, 4, 2)
	} else if sack {
		b = append(b, 1, 1, 4, 2)
	} else if s.TS {
		b = append(b, 1, 1)
	}
	if s.TS {
		b = append(b, 8, 10)
		b = binary.BigEndian.AppendUint32(b, s.TSVal)
		b = binary.BigEndian.AppendUint32(b, s.TSEcr)
	}
	if syn && s.HasWScale {
		b = append(b, 1, 3, 3, s.WScale)
	}
	return b
}

func (g *Generator) writeItem(it *item) {
	if g.err != nil {
		return
	}
	switch it.c.kind {
	case kindTCP:
		g.writeTCP(it)
	case kindUDP:
		g.writeUDP(it)
	case kindARP:
		g.writeARP(it)
	}
}

// finish pads, cuts to the snaplen and writes the frame in g.buf.
func (g *Generator) finish(at int64, b []byte, wire int) {
	if g.opts.Link == LinkEthernet && g.opts.Pad && wire < 60 {
		for len(b) < 60 {
			b = append(b, 0)
		}
		wire = 60
	}
	if len(b) > g.opts.Snaplen {
		b = b[:g.opts.Snaplen]
	}
	g.buf = b[:0]
	g.writeRecord(at, b, wire)
}

func (g *Generator) writeTCP(it *item) {
	filler()
	c, d, seg := it.c, it.dir, &it.seg
	etype := uint16(etherIPv4)
	if c.v6 {
		etype = etherIPv6
	}
	b := g.link(g.buf[:0], c, d, seg.SrcMAC, etype)
	var optBuf [40]byte
	opts := tcpOptions(optBuf[:0], seg)
	hlen := 20 + len(opts)
	plen := seg.Len()
	l4 := hlen + plen
	ipLen := 20
	if c.v6 {
		ipLen = 40
	}
	if ipLen+l4 > 65535 {
		g.err = fmt.Errorf("pcapgen: segment of %d bytes does not fit an IP packet", plen)
		return
	}
	b, ps := ipHeader(b, c, d, seg, 6, l4)
	ts := len(b)
	s, p := c.side(d), c.side(d.Reverse())
	b = binary.BigEndian.AppendUint16(b, s.ap.Port())
	b = binary.BigEndian.AppendUint16(b, p.ap.Port())
	b = binary.BigEndian.AppendUint32(b, seg.Seq)
	b = binary.BigEndian.AppendUint32(b, seg.Ack)
	b = append(b, byte(hlen/4)<<4, byte(seg.Flags))
	b = binary.BigEndian.AppendUint16(b, seg.Window)
	b = append(b, 0, 0, 0, 0)
	b = append(b, opts...)
	sum := csum(b[ts:], ps) + csum(seg.Payload, 0)
	fillOff := seg.Seq - s.isn - 1 + uint32(len(seg.Payload))
	if seg.Fill > 0 {
		sum += fillSum(fillOff, seg.Fill, len(seg.Payload))
	}
	ck := ^fold(sum)
	if seg.BadChecksum {
		ck ^= 0x5a5a
	}
	binary.BigEndian.PutUint16(b[ts+16:], ck)
	wire := len(b) + plen
	room := g.opts.Snaplen - len(b)
	if room > 0 {
		h := seg.Payload
		if len(h) > room {
			h = h[:room]
		}
		b = append(b, h...)
		room -= len(h)
		if room > 0 && seg.Fill > 0 {
			b = appendFill(b, fillOff, min(room, seg.Fill))
		}
	}
	g.stats.TCPPackets++
	if seg.Flags&RST != 0 {
		g.stats.RSTs++
	}
	g.finish(it.at, b, wire)
}

func (g *Generator) writeUDP(it *item) {
	c, d, seg := it.c, it.dir, &it.seg
	etype := uint16(etherIPv4)
	if c.v6 {
		etype = etherIPv6
	}
	b := g.link(g.buf[:0], c, d, seg.SrcMAC, etype)
	l4 := 8 + len(seg.Payload)
	b, ps := ipHeader(b, c, d, seg, 17, l4)
	us := len(b)
	b = binary.BigEndian.AppendUint16(b, c.side(d).ap.Port())
	b = binary.BigEndian.AppendUint16(b, c.side(d.Reverse()).ap.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(l4))
	b = append(b, 0, 0)
	b = append(b, seg.Payload...)
	ck := ^fold(csum(b[us:], ps))
	if ck == 0 {
		ck = 0xffff
	}
	binary.BigEndian.PutUint16(b[us+6:], ck)
	g.finish(it.at, b, len(b))
}

func (g *Generator) writeARP(it *item) {
	c, d := it.c, it.dir
	s, p := c.side(d), c.side(d.Reverse())
	b := g.link(g.buf[:0], c, d, s.mac, etherARP)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1)
	if d == FromServer {
		b[len(b)-1] = 2 // reply
	}
	sa, ta := s.ap.Addr().As4(), p.ap.Addr().As4()
	b = append(b, s.mac[:]...)
	b = append(b, sa[:]...)
	if d == FromServer {
		b = append(b, p.mac[:]...)
	} else {
		b = append(b, 0, 0, 0, 0, 0, 0)
	}
	b = append(b, ta[:]...)
	g.finish(it.at, b, len(b))
}
