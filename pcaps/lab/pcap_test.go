package lab

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

// A pcap reader of its own (standard library only), so that the packet facts
// the lab asserts (who sent each RST, with which TTL) do not come from the
// code under test.

// tcpPacket is one TCP segment of a capture.
type tcpPacket struct {
	Index    int // 1-based frame number, as tshark's frame.number
	Time     time.Time
	Src, Dst netip.AddrPort
	TTL      uint8  // TTL or hop limit
	IPID     uint16 // IPv4 only
	DF       bool
	Flags    uint8
	Seq, Ack uint32
	Window   uint16
	Len      int // TCP payload bytes
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

func (p tcpPacket) has(f uint8) bool { return p.Flags&f != 0 }

func (p tcpPacket) flagString() string {
	s := ""
	for _, f := range []struct {
		bit  uint8
		name string
	}{{tcpSYN, "S"}, {tcpFIN, "F"}, {tcpRST, "R"}, {tcpPSH, "P"}, {tcpACK, "A"}} {
		if p.has(f.bit) {
			s += f.name
		}
	}
	return s
}

// readPcap returns the TCP packets of a classic pcap file (Ethernet, raw IP,
// Linux SLL or SLL2 link types) and the number of frames in it.
func readPcap(path string) ([]tcpPacket, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 24 {
		return nil, 0, fmt.Errorf("%s: %w", path, io.ErrUnexpectedEOF)
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, 0, fmt.Errorf("%s: not a pcap file (magic %#x)", path, b[:4])
	}
	link := bo.Uint32(b[20:]) & 0x0fffffff
	var out []tcpPacket
	off, frame := 24, 0
	for off < len(b) {
		if len(b)-off < 16 {
			return out, frame, fmt.Errorf("%s: record header cut after frame %d", path, frame)
		}
		sec, sub := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if incl > len(b)-off {
			return out, frame, fmt.Errorf("%s: frame %d cut", path, frame+1)
		}
		data := b[off : off+incl]
		off += incl
		frame++
		ns := int64(sub) * 1000
		if nano {
			ns = int64(sub)
		}
		p, ok := decodeFrame(link, data)
		if !ok {
			continue
		}
		p.Index = frame
		p.Time = time.Unix(int64(sec), ns).UTC()
		out = append(out, p)
	}
	return out, frame, nil
}

func decodeFrame(link uint32, d []byte) (tcpPacket, bool) {
	var ethType uint16
	switch link {
	case 1: // Ethernet
		if len(d) < 14 {
			return tcpPacket{}, false
		}
		ethType, d = binary.BigEndian.Uint16(d[12:]), d[14:]
		for ethType == 0x8100 || ethType == 0x88a8 {
			if len(d) < 4 {
				return tcpPacket{}, false
			}
			ethType, d = binary.BigEndian.Uint16(d[2:]), d[4:]
		}
	case 101, 12: // raw IP
		if len(d) < 1 {
			return tcpPacket{}, false
		}
		ethType = 0x0800
		if d[0]>>4 == 6 {
			ethType = 0x86dd
		}
	case 113: // Linux SLL
		if len(d) < 16 {
			return tcpPacket{}, false
		}
		ethType, d = binary.BigEndian.Uint16(d[14:]), d[16:]
	case 276: // Linux SLL2
		if len(d) < 20 {
			return tcpPacket{}, false
		}
		ethType, d = binary.BigEndian.Uint16(d[0:]), d[20:]
	default:
		return tcpPacket{}, false
	}
	var p tcpPacket
	var src, dst netip.Addr
	var seg []byte
	switch ethType {
	case 0x0800:
		if len(d) < 20 || d[0]>>4 != 4 {
			return p, false
		}
		ihl := int(d[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(d[2:]))
		if d[9] != 6 || ihl < 20 || total < ihl || total > len(d) {
			return p, false
		}
		p.IPID = binary.BigEndian.Uint16(d[4:])
		p.DF = d[6]&0x40 != 0
		p.TTL = d[8]
		src = netip.AddrFrom4([4]byte(d[12:16]))
		dst = netip.AddrFrom4([4]byte(d[16:20]))
		seg = d[ihl:total]
	case 0x86dd:
		if len(d) < 40 || d[0]>>4 != 6 {
			return p, false
		}
		plen := int(binary.BigEndian.Uint16(d[4:]))
		if d[6] != 6 || 40+plen > len(d) { // no extension headers in the lab
			return p, false
		}
		p.TTL = d[7]
		src = netip.AddrFrom16([16]byte(d[8:24]))
		dst = netip.AddrFrom16([16]byte(d[24:40]))
		seg = d[40 : 40+plen]
	default:
		return p, false
	}
	if len(seg) < 20 {
		return p, false
	}
	doff := int(seg[12]>>4) * 4
	if doff < 20 || doff > len(seg) {
		return p, false
	}
	p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(seg[0:]))
	p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(seg[2:]))
	p.Seq = binary.BigEndian.Uint32(seg[4:])
	p.Ack = binary.BigEndian.Uint32(seg[8:])
	p.Flags = seg[13]
	p.Window = binary.BigEndian.Uint16(seg[14:])
	p.Len = len(seg) - doff
	return p, true
}
