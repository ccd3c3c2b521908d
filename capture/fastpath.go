package capture

import (
	"encoding/binary"
	"net/netip"
)

// The fast path. Nine frames in ten on a typical capture are Ethernet II
// carrying IPv4 (not a fragment) or IPv6 (no extension header) carrying a
// TCP segment with a sane header. fastEthernet decodes those in one
// function, straight into the Packet, where the general path walks the
// same bytes through a chain of calls (Decode, the link-type table's
// indirect call, ethernet, etherType, ipv4 or ipv6, ipPayload, tcp), each
// with its nesting count and error returns, after zeroing the whole
// 256-byte Packet. Anything it does not take (a VLAN tag, a fragment, a
// tunnel, options or lengths that need the general path's care) it
// leaves untouched for the general path, which stays the reference:
// TestDecode_fastPath decodes every test frame and every corpus frame
// both ways and requires the same Packet, every field, and FuzzDecode
// checks the same on arbitrary frames.
//
// The fast path also hashes the flow (FlowHash) from the header bytes as
// they are, into Decoder.hash, for Prefetch: computing it from the
// netip.AddrPort values afterwards costs several times more (their
// 16-byte form goes through memory).
//
// Measured on the 10.2 M-packet bench capture (see doc.go): Decode from
// ~50 to ~20 ns per frame, BenchmarkDecode/ethernet from 31 to 13 ns.

// fastEthernet decodes frame when it is the common case above and reports
// whether it did; when it did not, p and d are as they were.
func (d *Decoder) fastEthernet(frame []byte, p *Packet) bool {
	if len(frame) < 14+20+20 {
		return false
	}
	b := frame[14:]
	var (
		seg        []byte // the TCP segment as captured, trimmed to the IP length
		wire       int    // the segment's length by the IP header
		src, dst   netip.Addr
		ttl        uint8
		ipID       uint16
		df         bool
		flowLabel  uint32
		hash       bool // the endpoints can be hashed from the bytes
		x, y       uint64
		xlo, ylo   uint64 // IPv6: the low halves
		isV4, isV6 bool
	)
	switch be16(frame[12:]) {
	case etherIPv4:
		v := b[0]
		ihl := int(v&0x0f) * 4
		if v>>4 != 4 || ihl < 20 || len(b) < ihl {
			return false
		}
		total := int(be16(b[2:]))
		switch {
		case total == 0: // segmentation offload
			total = len(b)
		case total < ihl:
			return false
		case total < len(b): // link-layer padding
			b = b[:total]
		}
		if be16(b[6:])&0x3fff != 0 || b[9] != protoTCP {
			return false
		}
		seg, wire = b[ihl:], total-ihl
		ttl, ipID, df = b[8], be16(b[4:]), b[6]&0x40 != 0
		a, c := be32(b[12:]), be32(b[16:])
		src = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		dst = netip.AddrFrom4([4]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
		x, y, hash, isV4 = uint64(a), uint64(c), true, true
	case etherIPv6:
		if len(b) < 40 || b[0]>>4 != 6 || b[6] != protoTCP {
			return false
		}
		ttl, flowLabel = b[7], be32(b)&0x000fffff
		wire = int(be16(b[4:]))
		seg = b[40:]
		switch {
		case wire == 0: // a jumbogram, or segmentation offload
			wire = len(seg)
		case wire < len(seg): // link-layer padding
			seg = seg[:wire]
		}
		x, xlo = binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
		y, ylo = binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[32:])
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
		// IPv4-mapped addresses are unmapped, and two IPv4 endpoints hash
		// differently: leave those to FlowHash.
		hash = !(x == 0 && xlo>>32 == 0xffff) && !(y == 0 && ylo>>32 == 0xffff)
		isV6 = true
	default:
		return false
	}
	if wire < 20 || len(seg) < 20 {
		return false
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > wire || off > len(seg) {
		return false
	}
	// Committed: every field but Index, Input, Time, CapLen and WireLen
	// is written, as Decode's general path leaves them.
	sport, dport := be16(seg), be16(seg[2:])
	d.layers, d.tunnels, d.vlanSet, d.opened, d.hidden = 2, 0, false, false, HiddenReason{}
	d.src, d.dst = src, dst
	d.hash = 0
	if hash {
		switch {
		case isV4:
			d.hash = flowHash4(x<<16|uint64(sport), y<<16|uint64(dport))
		case isV6:
			d.hash = flowHash16(endpointHash16(x, xlo, sport) + endpointHash16(y, ylo, dport))
		}
	}
	p.LinkType, p.Frame = linkEthernet, frame
	p.Src, p.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	p.TTL, p.IPID, p.DF, p.FlowLabel = ttl, ipID, df, flowLabel
	p.Tunnel, p.VLAN = TunnelNone, 0
	p.HasMAC, p.SrcMAC = true, [6]byte(frame[6:12])
	p.Seq, p.Ack = be32(seg[4:]), be32(seg[8:])
	p.Flags = TCPFlags(seg[13]) | TCPFlags(seg[12]&1)<<8
	p.Reserved = (seg[12] >> 1) & 7
	p.Window = be16(seg[14:])
	p.DataOffset = uint8(off)
	p.Len = wire - off
	payload := seg[off:]
	if len(payload) > p.Len {
		payload = payload[:p.Len]
	}
	p.Payload = payload
	p.FlowHash = 0
	opts := seg[20:off]
	switch {
	case len(opts) == 0:
		p.Opts = Options{}
	case len(opts) == 12 && be32(opts) == 0x0101080a: // NOP, NOP, timestamps: most segments of a Linux flow
		p.Opts = Options{HasTS: true, TSVal: be32(opts[4:]), TSEcr: be32(opts[8:]), Count: 1}
	default:
		parseOptions(opts, &p.Opts)
	}
	return true
}
