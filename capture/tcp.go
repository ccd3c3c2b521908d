package capture

import "net/netip"

// tcp decodes a TCP header into p. b is what was captured of the segment
// (already trimmed to the IP length), wire the segment's length by the IP
// header. A payload cut by the snaplen is fine. So is a header whose data
// offset is bogus (below 20, or beyond the segment) or whose options the
// capture cut: like tshark, we keep the 20-byte fixed header (ports, seq,
// ack, flags, window), set Opts.Bad and take no payload, so that such a
// segment is still counted and tracked. Less than 20 bytes is an error.
func (d *Decoder) tcp(b []byte, wire int, p *Packet) error {
	if wire < 20 {
		return errTCPSegment
	}
	if len(b) < 20 {
		return errTCPCut
	}
	off := int(b[12]>>4) * 4
	p.Src = netip.AddrPortFrom(d.src, be16(b))
	p.Dst = netip.AddrPortFrom(d.dst, be16(b[2:]))
	p.Seq = be32(b[4:])
	p.Ack = be32(b[8:])
	p.Flags = TCPFlags(b[13]) | TCPFlags(b[12]&1)<<8
	p.Reserved = (b[12] >> 1) & 7
	p.Window = be16(b[14:])
	p.DataOffset = uint8(off)
	if off < 20 || off > wire || off > len(b) {
		p.Opts = Options{Bad: true}
		p.Len = 0
		p.Payload = b[20:20]
		return nil
	}
	p.Len = wire - off
	payload := b[off:]
	if len(payload) > p.Len {
		payload = payload[:p.Len]
	}
	p.Payload = payload
	parseOptions(b[20:off], &p.Opts)
	return nil
}

// TCP option kinds.
const (
	optEOL      = 0
	optNOP      = 1
	optMSS      = 2
	optWScale   = 3
	optSACKPerm = 4
	optSACK     = 5
	optTS       = 8
)

// parseOptions walks the TCP options area b into o. A length byte that is
// missing, below 2 or runs past the header stops the walk and sets Bad; a
// known option with the wrong length sets Bad and is skipped.
func parseOptions(b []byte, o *Options) {
	*o = Options{}
	for len(b) > 0 {
		kind := b[0]
		if kind == optEOL {
			return
		}
		if kind == optNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			o.Bad = true
			return
		}
		n := int(b[1])
		if n < 2 || n > len(b) {
			o.Bad = true
			return
		}
		if o.Count < 255 {
			o.Count++
		}
		v := b[2:n]
		switch kind {
		case optMSS:
			if len(v) != 2 {
				o.Bad = true
				break
			}
			o.MSS = be16(v)
			o.HasMSS = true
		case optWScale:
			if len(v) != 1 {
				o.Bad = true
				break
			}
			o.WScale = v[0]
			o.HasWScale = true
		case optSACKPerm:
			if len(v) != 0 {
				o.Bad = true
				break
			}
			o.SACKPerm = true
		case optSACK:
			if len(v) == 0 || len(v)%8 != 0 {
				o.Bad = true
				break
			}
			o.HasSACK = true
		case optTS:
			if len(v) != 8 {
				o.Bad = true
				break
			}
			o.TSVal = be32(v)
			o.TSEcr = be32(v[4:])
			o.HasTS = true
		}
		b = b[n:]
	}
}
