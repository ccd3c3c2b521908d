package capture

import (
	"encoding/binary"
	"net/netip"
)

// The fast path. Nine frames in ten on a typical capture are Ethernet II
// (or a Linux cooked capture's SLL/SLL2 header) carrying IPv4 (not a
// fragment) or IPv6 (no extension header) carrying a TCP segment with a
// sane header. fast decodes those in one function, straight into the
// Packet, where the general path walks the same bytes through a chain of
// calls (Decode, the link-type table's indirect call, ethernet, etherType,
// ipv4 or ipv6, ipPayload, tcp), each with its nesting count and error
// returns, after zeroing the whole 256-byte Packet. Anything it does not
// take (two VLAN tags, MPLS, a fragment, a tunnel, lengths that need the
// general path's care) it leaves untouched for the general path, which
// stays the reference: TestDecode_fastPath decodes every test frame and
// every corpus frame of these link types both ways, with distortions
// (snaplen cuts, IP lengths, mapped addresses, data offsets), and
// requires the same Packet, every field; FuzzDecodeFastPath checks the
// same on arbitrary frames.
//
// The fast path also hashes the flow (FlowHash) from the header bytes as
// they are, into Decoder.hash, which the Sources pass on in
// Packet.FlowHash: computing it from the netip.AddrPort values afterwards
// costs several times more (their 16-byte form goes through memory;
// BenchmarkFlowHash).
//
// Measured (doc.go has the whole reading goroutine): Decode on the bench
// capture ~90 ns per packet before, ~30 ns after in the real run;
// BenchmarkDecode/ethernet 38-48 ns before, 30-39 ns after under load
// (its frame carries a SYN's five options, which the walk still parses;
// ethernet_data, with the usual NOP NOP timestamps, 23-25 ns).

// fast decodes frame when it is the common case above and reports whether
// it did; when it did not, p and d are as they were. Link types: Ethernet
// II with at most one 802.1Q tag, and Linux cooked captures (SLL, SLL2:
// tcpdump -i any).
func (d *Decoder) fast(linkType int, frame []byte, p *Packet) bool {
	var (
		b      []byte // from the IP header on
		et     uint16 // its ethertype
		vlan   uint16
		hasMAC bool
		mac    [6]byte
	)
	switch linkType {
	case linkEthernet:
		if len(frame) < 18 {
			return false
		}
		et, b = be16(frame[12:]), frame[14:]
		if et == etherVLAN {
			vlan, et, b = be16(b)&0x0fff, be16(b[2:]), b[4:]
		}
		hasMAC, mac = true, [6]byte(frame[6:12])
	case linkSLL:
		if len(frame) < 16 {
			return false
		}
		switch hatype := be16(frame[2:]); {
		case hatype == 1 && be16(frame[4:]) == 6: // ARPHRD_ETHER
			hasMAC, mac = true, [6]byte(frame[6:12])
		case hatype == 824: // ARPHRD_NETLINK
			return false
		}
		et, b = be16(frame[14:]), frame[16:]
	case linkSLL2:
		if len(frame) < 20 {
			return false
		}
		switch hatype := be16(frame[8:]); {
		case hatype == 1 && frame[11] == 6:
			hasMAC, mac = true, [6]byte(frame[12:18])
		case hatype == 824:
			return false
		}
		et, b = be16(frame), frame[20:]
	default:
		return false
	}
	if len(b) < 20+20 {
		return false
	}
	var (
		seg       []byte // the TCP segment as captured, trimmed to the IP length
		wire      int    // the segment's length by the IP header
		src, dst  netip.Addr
		ttl       uint8
		ipID      uint16
		df        bool
		flowLabel uint32
		v4, v6    bool   // which header; v6 hashes from the bytes only when neither address is IPv4-mapped
		x, y      uint64 // IPv4: the addresses; IPv6: the high halves
		xlo, ylo  uint64 // IPv6: the low halves
	)
	switch et {
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
		src, dst = addr4(a), addr4(c)
		x, y, v4 = uint64(a), uint64(c), true
	case etherIPv6:
		if b[0]>>4 != 6 || b[6] != protoTCP {
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
		v6 = !(x == 0 && xlo>>32 == 0xffff) && !(y == 0 && ylo>>32 == 0xffff)
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
	// is written, as Decode's general path leaves them. Of the Decoder,
	// only hash: the rest is the general path's scratch for one frame
	// (see Decoder).
	sport, dport := be16(seg), be16(seg[2:])
	switch {
	case v4:
		a, b := x<<16|uint64(sport), y<<16|uint64(dport)
		d.hash, d.route = flowHash4(a, b), routeHash4(a, b)
	case v6:
		d.hash = flowHash16(endpointHash16(x, xlo, sport) + endpointHash16(y, ylo, dport))
		d.route = routeHash16(routeEndpoint16(x, xlo, sport) + routeEndpoint16(y, ylo, dport))
	default:
		d.hash, d.route = 0, 0
	}
	p.LinkType, p.Frame = linkType, frame
	p.Src, p.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	p.TTL, p.IPID, p.DF, p.FlowLabel = ttl, ipID, df, flowLabel
	p.Tunnel, p.VLAN = TunnelNone, vlan
	p.HasMAC, p.SrcMAC = hasMAC, mac
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
	p.FlowHash, p.RouteHash = 0, 0
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
