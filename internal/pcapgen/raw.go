package pcapgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Hand-made frames and files for hostile inputs: a classic pcap writer and
// a pcapng writer that take frames as the caller built them (any link
// type, any time order, records cut or empty), and AppendTCP, which builds
// an IP+TCP packet whose every header field, the absurd ones included,
// comes from the caller.

// RawWriter writes a classic pcap (microsecond timestamps, little-endian)
// of caller-built frames, in the order and with the times given.
type RawWriter struct {
	w   *bufio.Writer
	err error
	rec [16]byte
	n   int
}

// NewRaw writes a classic pcap file header with the given LINKTYPE and
// snaplen to w and returns a writer for its records.
func NewRaw(w io.Writer, linkType uint32, snaplen uint32) *RawWriter {
	r := &RawWriter{w: bufio.NewWriterSize(w, 1<<20)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := r.w.Write(h[:]); err != nil {
		r.err = fmt.Errorf("pcapgen: raw file header: %w", err)
	}
	return r
}

// Write writes one record: frame is what was captured, wire the original
// length (it may be larger than len(frame), a snaplen cut).
func (r *RawWriter) Write(t time.Time, frame []byte, wire int) {
	if r.err != nil {
		return
	}
	us := t.UnixMicro()
	binary.LittleEndian.PutUint32(r.rec[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(r.rec[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(r.rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(r.rec[12:], uint32(wire))
	r.n++
	if _, err := r.w.Write(r.rec[:]); err != nil {
		r.err = fmt.Errorf("pcapgen: raw record %d: %w", r.n, err)
		return
	}
	if _, err := r.w.Write(frame); err != nil {
		r.err = fmt.Errorf("pcapgen: raw record %d: %w", r.n, err)
	}
}

// Close flushes the buffered records; the underlying writer is not closed.
func (r *RawWriter) Close() error {
	if r.err == nil {
		if err := r.w.Flush(); err != nil {
			r.err = fmt.Errorf("pcapgen: raw flush: %w", err)
		}
	}
	return r.err
}

// NGWriter writes a pcapng file (little-endian, one section) block by
// block: interfaces, enhanced packet blocks and arbitrary blocks, in the
// order called.
type NGWriter struct {
	w      *bufio.Writer
	err    error
	ifaces int
}

// NewNG writes a section header block to w.
func NewNG(w io.Writer) *NGWriter {
	n := &NGWriter{w: bufio.NewWriterSize(w, 1<<16)}
	var body [16]byte
	binary.LittleEndian.PutUint32(body[0:], 0x1a2b3c4d)
	binary.LittleEndian.PutUint16(body[4:], 1)
	binary.LittleEndian.PutUint64(body[8:], ^uint64(0)) // section length unknown
	n.Block(0x0a0d0d0a, body[:])
	return n
}

// Block writes one block of type typ; body is padded to 32 bits.
func (n *NGWriter) Block(typ uint32, body []byte) {
	if n.err != nil {
		return
	}
	pad := (4 - len(body)%4) % 4
	total := uint32(12 + len(body) + pad)
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], total)
	n.w.Write(h[:])
	n.w.Write(body)
	n.w.Write(make([]byte, pad))
	if _, err := n.w.Write(h[4:8]); err != nil {
		n.err = fmt.Errorf("pcapgen: pcapng block %#x: %w", typ, err)
	}
}

// Interface writes an interface description block and returns its index.
// Timestamps are in microseconds (the default if_tsresol).
func (n *NGWriter) Interface(linkType uint16, snaplen uint32) int {
	var body [8]byte
	binary.LittleEndian.PutUint16(body[0:], linkType)
	binary.LittleEndian.PutUint32(body[4:], snaplen)
	n.Block(1, body[:])
	n.ifaces++
	return n.ifaces - 1
}

// Packet writes an enhanced packet block on interface iface.
func (n *NGWriter) Packet(iface int, t time.Time, frame []byte, wire int) {
	body := make([]byte, 20, 20+len(frame))
	us := uint64(t.UnixMicro())
	binary.LittleEndian.PutUint32(body[0:], uint32(iface))
	binary.LittleEndian.PutUint32(body[4:], uint32(us>>32))
	binary.LittleEndian.PutUint32(body[8:], uint32(us))
	binary.LittleEndian.PutUint32(body[12:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(body[16:], uint32(wire))
	n.Block(6, append(body, frame...))
}

// Close flushes; the underlying writer is not closed.
func (n *NGWriter) Close() error {
	if n.err == nil {
		if err := n.w.Flush(); err != nil {
			n.err = fmt.Errorf("pcapgen: pcapng flush: %w", err)
		}
	}
	return n.err
}

// RawTCP describes one IP+TCP packet for AppendTCP. Every field is written
// as given: nothing is checked, so that hostile packets can be made.
type RawTCP struct {
	Src, Dst netip.AddrPort // both IPv4 or both IPv6
	Flags    Flags
	Seq, Ack uint32
	Window   uint16
	TTL      uint8
	IPID     uint16
	// DataOffset is the TCP header length field in 32-bit words (0: as
	// long as the header and Options; values past 15 are masked).
	DataOffset uint8
	// Options are written after the 20-byte header as they are (not
	// padded): with DataOffset they may disagree with the header length.
	Options []byte
	// IPv6Ext is a chain of IPv6 extension headers placed between the
	// IPv6 header and TCP; IPv6Next is the next-header value of the IPv6
	// header (the chain's first type). The chain's last header must say
	// 6 (TCP). Ignored for IPv4.
	IPv6Ext  []byte
	IPv6Next uint8
	Payload  []byte
}

// AppendTCP appends p as an IPv4 or IPv6 packet (no link header) with
// correct checksums and returns the extended slice.
func AppendTCP(b []byte, p RawTCP) []byte {
	tcpLen := 20 + len(p.Options) + len(p.Payload)
	src, dst := p.Src.Addr(), p.Dst.Addr()
	var ps uint64
	if src.Is4() {
		start := len(b)
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+tcpLen))
		b = binary.BigEndian.AppendUint16(b, p.IPID)
		b = append(b, 0x40, 0, p.TTL, 6, 0, 0)
		s4, d4 := src.As4(), dst.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		binary.BigEndian.PutUint16(b[start+10:], ^fold(csum(b[start:], 0)))
		ps = csum(b[start+12:start+20], 0) + uint64(tcpLen) + 6
	} else {
		next := uint8(6)
		if len(p.IPv6Ext) > 0 {
			next = p.IPv6Next
		}
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.IPv6Ext)+tcpLen))
		b = append(b, next, p.TTL)
		start := len(b)
		s16, d16 := src.As16(), dst.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
		ps = csum(b[start:], 0) + uint64(tcpLen) + 6
		b = append(b, p.IPv6Ext...)
	}
	off := p.DataOffset
	if off == 0 {
		off = uint8((20 + len(p.Options) + 3) / 4)
	}
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, p.Src.Port())
	b = binary.BigEndian.AppendUint16(b, p.Dst.Port())
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint32(b, p.Ack)
	b = append(b, off<<4, byte(p.Flags))
	b = binary.BigEndian.AppendUint16(b, p.Window)
	b = append(b, 0, 0, 0, 0) // checksum, urgent pointer
	b = append(b, p.Options...)
	b = append(b, p.Payload...)
	binary.BigEndian.PutUint16(b[start+16:], ^fold(csum(b[start:], ps)))
	return b
}

// AppendEthernet appends an Ethernet II header (zero MACs but for the
// locally administered bit) for ethertype etype.
func AppendEthernet(b []byte, etype uint16) []byte {
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1)
	return binary.BigEndian.AppendUint16(b, etype)
}
