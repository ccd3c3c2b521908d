package pcapgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Link is the link-layer header written before each IP packet.
type Link uint8

// Link types. Zero means Ethernet.
const (
	LinkDefault  Link = iota
	LinkEthernet      // DLT_EN10MB; with Options.VLAN an 802.1Q tag
	LinkSLL           // Linux cooked capture v1 (113)
	LinkSLL2          // Linux cooked capture v2 (276)
	LinkRaw           // raw IP (101): IPv4 or IPv6 by the version nibble
)

// String gives the name used on rstgen's command line.
func (l Link) String() string {
	switch l {
	case LinkDefault, LinkEthernet:
		return "ethernet"
	case LinkSLL:
		return "sll"
	case LinkSLL2:
		return "sll2"
	case LinkRaw:
		return "raw"
	}
	return fmt.Sprintf("link(%d)", uint8(l))
}

// ParseLink reads a link name: ethernet, vlan (Ethernet with VLAN 100), sll,
// sll2 or raw. The VLAN ID is returned separately (0 if none).
func ParseLink(s string) (Link, uint16, error) {
	switch s {
	case "ethernet", "eth", "en10mb":
		return LinkEthernet, 0, nil
	case "vlan", "dot1q":
		return LinkEthernet, 100, nil
	case "sll":
		return LinkSLL, 0, nil
	case "sll2":
		return LinkSLL2, 0, nil
	case "raw":
		return LinkRaw, 0, nil
	}
	return 0, 0, fmt.Errorf("unknown link type %q (want ethernet, vlan, sll, sll2 or raw)", s)
}

// dlt gives the pcap LINKTYPE value.
func (l Link) dlt() uint32 {
	switch l {
	case LinkSLL:
		return 113
	case LinkSLL2:
		return 276
	case LinkRaw:
		return 101
	}
	return 1
}

// Options configure a Generator.
type Options struct {
	Link Link
	// VLAN, when non-zero on an Ethernet link, adds an 802.1Q tag with this ID.
	VLAN uint16
	// Snaplen cuts every frame to this many bytes (the record's original
	// length stays the wire length). 0 means 65535.
	Snaplen int
	// Seed seeds the PCG used for ISNs, random IP IDs and MAC-less defaults.
	Seed uint64
	// Pad pads Ethernet frames shorter than 60 bytes with zeros, as frames
	// received from the wire appear in captures.
	Pad bool
}

// Stats counts what a Generator wrote.
type Stats struct {
	Packets    int   // records written
	TCPPackets int   // TCP segments written
	RSTs       int   // TCP segments with RST set
	Flows      int   // TCP connections created with Conn
	FileBytes  int64 // bytes of the pcap file, header included
	WireBytes  int64 // sum of the records' original lengths
}

// Generator writes one pcap file. It is not safe for concurrent use.
type Generator struct {
	opts  Options
	w     *bufio.Writer
	err   error
	rng   *rand.Rand
	q     *queue // where new segments go
	main  queue
	buf   []byte
	stats Stats
	wrote bool     // file header written
	rec   [24]byte // record (and file) header scratch, kept off the stack
}

// New makes a Generator that writes a classic pcap (microsecond
// timestamps, little-endian) to w. Errors are kept and returned by Flush and
// Close; once one happens nothing more is written.
func New(w io.Writer, o Options) *Generator {
	if o.Link == LinkDefault {
		o.Link = LinkEthernet
	}
	if o.Snaplen <= 0 || o.Snaplen > 262144 {
		o.Snaplen = 65535
	}
	g := &Generator{
		opts: o,
		w:    bufio.NewWriterSize(w, 1<<20),
		rng:  rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		buf:  make([]byte, 0, 70000),
	}
	g.q = &g.main
	return g
}

// Options returns the options in effect (defaults filled in).
func (g *Generator) Options() Options { return g.opts }

// Rand is the Generator's deterministic source, for callers that want their
// choices to follow the same seed.
func (g *Generator) Rand() *rand.Rand { return g.rng }

// Stats reports what has been written so far.
func (g *Generator) Stats() Stats { return g.stats }

// Err returns the first write error, if any.
func (g *Generator) Err() error { return g.err }

// Flush writes every queued segment in time order, then flushes the
// buffered writer.
func (g *Generator) Flush() error {
	for g.main.len() > 0 {
		g.writeItem(g.main.pop())
	}
	g.main.reset()
	g.header()
	if g.err == nil {
		if err := g.w.Flush(); err != nil {
			g.err = fmt.Errorf("pcapgen: flush: %w", err)
		}
	}
	return g.err
}

// Close is Flush; the underlying writer is not closed.
func (g *Generator) Close() error { return g.Flush() }

func (g *Generator) header() {
	if g.wrote || g.err != nil {
		return
	}
	g.wrote = true
	h := g.rec[:24]
	clear(h)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(g.opts.Snaplen))
	binary.LittleEndian.PutUint32(h[20:], g.opts.Link.dlt())
	if _, err := g.w.Write(h); err != nil {
		g.err = fmt.Errorf("pcapgen: write file header: %w", err)
		return
	}
	g.stats.FileBytes += 24
}

// writeRecord writes one record: frame is the captured part, wire the
// original length.
func (g *Generator) writeRecord(at int64, frame []byte, wire int) {
	g.header()
	if g.err != nil {
		return
	}
	h := g.rec[:16]
	sec := at / 1e9
	usec := (at - sec*1e9) / 1e3
	if at < 0 && usec != 0 {
		sec--
		usec += 1e6
	}
	binary.LittleEndian.PutUint32(h[0:], uint32(sec))
	binary.LittleEndian.PutUint32(h[4:], uint32(usec))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(h[12:], uint32(wire))
	if _, err := g.w.Write(h); err != nil {
		g.err = fmt.Errorf("pcapgen: write record %d: %w", g.stats.Packets+1, err)
		return
	}
	if _, err := g.w.Write(frame); err != nil {
		g.err = fmt.Errorf("pcapgen: write record %d: %w", g.stats.Packets+1, err)
		return
	}
	g.stats.Packets++
	g.stats.FileBytes += int64(16 + len(frame))
	g.stats.WireBytes += int64(wire)
}

// macFor derives a stable locally administered MAC from an address.
func macFor(a netip.Addr) [6]byte {
	b := a.As16()
	var h uint32 = 2166136261
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return [6]byte{0x02, 0x42, byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)}
}

// Time is a convenience for fixtures: a fixed UTC instant plus an offset.
func Time(offset time.Duration) time.Time {
	return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(offset)
}
