package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// A capture rewriter for the variation harness (variations_test.go): it
// decodes a lab capture's frames (Ethernet, optionally 802.1Q, IPv4 or IPv6
// without extension headers, TCP) into editable values and writes them back
// as a classic pcap with nanosecond timestamps and correct checksums. It is
// standard library only, so that what a variation changes does not depend
// on the code under test.

// labFrame is one TCP frame of a capture, decoded for rewriting.
type labFrame struct {
	orig     int // 1-based frame number in the original capture
	time     time.Time
	macs     [12]byte // destination, source
	vlan     bool     // an 802.1Q tag with TCI tci follows the MACs
	tci      uint16
	v6       bool
	src, dst netip.Addr
	tos      uint8  // IPv4 TOS or IPv6 traffic class
	label    uint32 // IPv6 flow label
	frag     uint16 // IPv4 flags and fragment offset (DF is 0x4000)
	ipid     uint16 // IPv4 only
	ttl      uint8  // TTL or hop limit
	sport    uint16
	dport    uint16
	seq, ack uint32
	flags    uint16 // TCP flags, NS in bit 8
	window   uint16
	urgent   uint16
	opts     []byte // TCP options, a multiple of 4 bytes; shared: replace, never edit
	payload  []byte // shared: replace, never edit
	keep     int    // payload bytes captured (a snaplen cut); -1: all

	// Set by the harness from the original capture's verdicts.
	side   int  // the side whose address the frame carries: sideClient or sideServer
	forged bool // made by a router on the path, claiming side
}

const (
	sideClient = 0
	sideServer = 1
)

// TCP flag bits, as in the header.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

func (f *labFrame) has(bits uint16) bool { return f.flags&bits == bits }

// pcapRecord is one record of a classic pcap file.
type pcapRecord struct {
	time time.Time
	data []byte
}

// pcapRecords splits a classic pcap file of Ethernet frames into records,
// none of them cut by a snaplen.
func pcapRecords(b []byte) ([]pcapRecord, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("short file header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("not a classic pcap")
	}
	if lt := bo.Uint32(b[20:]) & 0x0fffffff; lt != 1 {
		return nil, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	var out []pcapRecord
	for off, n := 24, 1; off < len(b); n++ {
		if len(b)-off < 16 {
			return nil, fmt.Errorf("record header of frame %d cut", n)
		}
		sec, sub, incl := bo.Uint32(b[off:]), bo.Uint32(b[off+4:]), int(bo.Uint32(b[off+8:]))
		wire := int(bo.Uint32(b[off+12:]))
		off += 16
		if incl > len(b)-off {
			return nil, fmt.Errorf("frame %d cut", n)
		}
		if incl != wire {
			return nil, fmt.Errorf("frame %d: %d of %d bytes captured", n, incl, wire)
		}
		ns := int64(sub)
		if !nano {
			ns *= 1000
		}
		out = append(out, pcapRecord{time.Unix(int64(sec), ns).UTC(), b[off : off+incl]})
		off += incl
	}
	return out, nil
}

// readLabCapture reads a classic pcap file of Ethernet frames carrying TCP.
func readLabCapture(path string) ([]labFrame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fs, err := parseLabCapture(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fs, nil
}

// parseLabCapture decodes every record of a classic pcap file.
func parseLabCapture(b []byte) ([]labFrame, error) {
	recs, err := pcapRecords(b)
	if err != nil {
		return nil, err
	}
	out := make([]labFrame, len(recs))
	for i, r := range recs {
		f, err := decodeLabFrame(r.data)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i+1, err)
		}
		f.orig, f.time = i+1, r.time
		out[i] = f
	}
	return out, nil
}

func decodeLabFrame(d []byte) (labFrame, error) {
	f := labFrame{keep: -1}
	if len(d) < 14 {
		return f, fmt.Errorf("short Ethernet header")
	}
	copy(f.macs[:], d)
	etype, d := binary.BigEndian.Uint16(d[12:]), d[14:]
	if etype == 0x8100 {
		if len(d) < 4 {
			return f, fmt.Errorf("short 802.1Q tag")
		}
		f.vlan, f.tci = true, binary.BigEndian.Uint16(d)
		etype, d = binary.BigEndian.Uint16(d[2:]), d[4:]
	}
	var seg []byte
	switch etype {
	case 0x0800:
		if len(d) < 20 || d[0] != 0x45 || d[9] != 6 {
			return f, fmt.Errorf("not IPv4 (no options) carrying TCP")
		}
		total := int(binary.BigEndian.Uint16(d[2:]))
		if total < 20 || total > len(d) {
			return f, fmt.Errorf("IPv4 total length %d of %d bytes", total, len(d))
		}
		f.tos, f.ipid, f.frag, f.ttl = d[1], binary.BigEndian.Uint16(d[4:]), binary.BigEndian.Uint16(d[6:]), d[8]
		f.src, f.dst = netip.AddrFrom4([4]byte(d[12:16])), netip.AddrFrom4([4]byte(d[16:20]))
		seg = d[20:total]
	case 0x86dd:
		if len(d) < 40 || d[0]>>4 != 6 || d[6] != 6 {
			return f, fmt.Errorf("not IPv6 carrying TCP without extension headers")
		}
		plen := int(binary.BigEndian.Uint16(d[4:]))
		if 40+plen > len(d) {
			return f, fmt.Errorf("IPv6 payload length %d of %d bytes", plen, len(d)-40)
		}
		f.v6 = true
		vtf := binary.BigEndian.Uint32(d)
		f.tos, f.label, f.ttl = uint8(vtf>>20), vtf&0xfffff, d[7]
		f.src, f.dst = netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
		seg = d[40 : 40+plen]
	default:
		return f, fmt.Errorf("ethertype %#04x", etype)
	}
	if len(seg) < 20 {
		return f, fmt.Errorf("short TCP header")
	}
	doff := int(seg[12]>>4) * 4
	if doff < 20 || doff > len(seg) {
		return f, fmt.Errorf("TCP data offset %d", doff)
	}
	f.sport, f.dport = binary.BigEndian.Uint16(seg), binary.BigEndian.Uint16(seg[2:])
	f.seq, f.ack = binary.BigEndian.Uint32(seg[4:]), binary.BigEndian.Uint32(seg[8:])
	f.flags = uint16(seg[13]) | uint16(seg[12]&1)<<8
	f.window, f.urgent = binary.BigEndian.Uint16(seg[14:]), binary.BigEndian.Uint16(seg[18:])
	f.opts, f.payload = seg[20:doff], seg[doff:]
	return f, nil
}

// encode builds the frame with correct checksums: the captured bytes (cut
// after keep payload bytes) and the length on the wire.
func (f *labFrame) encode(b []byte) (frame []byte, wire int) {
	b = append(b[:0], f.macs[:]...)
	if f.vlan {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, f.tci)
	}
	tcpLen := 20 + len(f.opts) + len(f.payload)
	var pseudo uint32
	if f.v6 {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		b = binary.BigEndian.AppendUint32(b, 6<<28|uint32(f.tos)<<20|f.label&0xfffff)
		b = binary.BigEndian.AppendUint16(b, uint16(tcpLen))
		b = append(b, 6, f.ttl)
		s, d := f.src.As16(), f.dst.As16()
		start := len(b)
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		pseudo = onesSum(b[start:], 0) + uint32(tcpLen) + 6
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		start := len(b)
		b = append(b, 0x45, f.tos)
		b = binary.BigEndian.AppendUint16(b, uint16(20+tcpLen))
		b = binary.BigEndian.AppendUint16(b, f.ipid)
		b = binary.BigEndian.AppendUint16(b, f.frag)
		b = append(b, f.ttl, 6, 0, 0)
		s, d := f.src.As4(), f.dst.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		binary.BigEndian.PutUint16(b[start+10:], ^fold16(onesSum(b[start:], 0)))
		pseudo = onesSum(b[start+12:start+20], 0) + uint32(tcpLen) + 6
	}
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, f.sport)
	b = binary.BigEndian.AppendUint16(b, f.dport)
	b = binary.BigEndian.AppendUint32(b, f.seq)
	b = binary.BigEndian.AppendUint32(b, f.ack)
	b = append(b, byte((20+len(f.opts))/4)<<4|byte(f.flags>>8&1), byte(f.flags))
	b = binary.BigEndian.AppendUint16(b, f.window)
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, f.urgent)
	b = append(b, f.opts...)
	b = append(b, f.payload...)
	binary.BigEndian.PutUint16(b[start+16:], ^fold16(onesSum(b[start:], pseudo)))
	wire = len(b)
	if f.keep >= 0 && f.keep < len(f.payload) {
		b = b[:len(b)-len(f.payload)+f.keep]
	}
	return b, wire
}

// onesSum adds b as big-endian 16-bit words to s (the Internet checksum's sum).
func onesSum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold16(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// labPcap writes frames as a classic pcap (little-endian, nanosecond
// timestamps, Ethernet).
func labPcap(frames []labFrame) []byte {
	out := make([]byte, 24, 24+len(frames)*128)
	binary.LittleEndian.PutUint32(out, 0xa1b23c4d)
	binary.LittleEndian.PutUint16(out[4:], 2)
	binary.LittleEndian.PutUint16(out[6:], 4)
	binary.LittleEndian.PutUint32(out[16:], 262144)
	binary.LittleEndian.PutUint32(out[20:], 1)
	var buf []byte
	for i := range frames {
		var wire int
		buf, wire = frames[i].encode(buf)
		ns := frames[i].time.UnixNano()
		out = binary.LittleEndian.AppendUint32(out, uint32(ns/1e9))
		out = binary.LittleEndian.AppendUint32(out, uint32(ns%1e9))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(buf)))
		out = binary.LittleEndian.AppendUint32(out, uint32(wire))
		out = append(out, buf...)
	}
	return out
}
