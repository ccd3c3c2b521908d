package capture

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// Decoding is hand-written, bounds-checked parsing of the frame bytes, with
// no gopacket layers on the hot path. gopacket's DecodingLayerParser over
// preallocated layers was measured against it (BenchmarkDecode/gopacket_*):
// it is 2-3 times slower, and it lacks NFLOG, Cisco HDLC, ERSPAN III and
// Aruba GRE. TestDecode_gopacket keeps Decode in agreement with gopacket's
// decoding of the same bytes (test frames and the whole corpus).

// Limits on nesting, so that a crafted frame cannot make Decode loop or
// recurse without bound.
// They are set well above what real networks stack (a tunnel in a tunnel
// in a mirror session, QinQ on QinQ, MPLS with segment routing, an IPv6
// segment routing header among options): a frame past them is counted as
// undecodable (Stats.Undecodable and FirstErrors name the limit).
const (
	maxTunnels    = 8  // tunnels opened in one frame
	maxLayers     = 32 // link and IP headers in one frame, tunnels included
	maxTags       = 16 // 802.1Q tags in a row
	maxLabels     = 32 // MPLS labels in a stack
	maxExtHeaders = 32 // IPv6 extension headers in a chain
)

// Ethertypes (also GRE protocol types and SLL protocol fields).
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	etherVLAN     = 0x8100
	etherQinQ     = 0x88a8
	etherQinQOld  = 0x9100
	etherMPLS     = 0x8847
	etherMPLSMult = 0x8848
	etherPPPoE    = 0x8864
	etherTEB      = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
	etherERSPAN2  = 0x88be // ERSPAN type I (no header) and II
	etherERSPAN3  = 0x22eb
	etherAruba    = 0x8200 // Aruba WLAN: an 802.11 frame in GRE
	etherPPTP     = 0x880b // PPP in enhanced GRE (PPTP)

	// Ethertypes known not to carry IP: not counted as hiding TCP.
	etherARP       = 0x0806
	etherRARP      = 0x8035
	etherWOL       = 0x0842
	etherIPX       = 0x8137
	etherPPPoEDisc = 0x8863
	etherPROFINET  = 0x8892
	etherEtherCAT  = 0x88a4
	etherAoE       = 0x88a2
	etherEAPOL     = 0x888e
	etherHomePlug  = 0x88e1
	etherLLDP      = 0x88cc
	etherSlow      = 0x8809 // LACP, marker, OAM
	etherCFM       = 0x8902
	etherPTP       = 0x88f7
	etherNCSI      = 0x88f8
	etherTDLS      = 0x890d
	etherFCoE      = 0x8906
	etherFIP       = 0x8914
	etherLoopback  = 0x9000
)

// IP protocol numbers.
const (
	protoHopByHop = 0
	protoIPIP     = 4
	protoTCP      = 6
	protoUDP      = 17
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoGRE      = 47
	protoESP      = 50
	protoAH       = 51
	protoNoNext   = 59
	protoDstOpts  = 60
	protoEtherIP  = 97
	protoL2TP     = 115
	protoMobility = 135
	protoMPLSIP   = 137
	protoHIP      = 139
	protoShim6    = 140
)

// UDP ports of the tunnels Decode opens.
const (
	portVXLAN      = 4789
	portVXLANLinux = 8472 // Linux's pre-IANA default
	portGeneve     = 6081
	portGTPU       = 2152
	portAYIYA      = 5072
	portL2TP       = 1701
	portVXLANGPE   = 4790
	portTeredo     = 3544
	portGREUDP     = 4754 // GRE in UDP (RFC 8086)
)

// ErrNotTCP reports a frame that decoded fine but carries no TCP segment.
var ErrNotTCP = errors.New("not a tcp segment")

// ErrUnsupportedLinkType is wrapped by the error Decode returns for a link
// type it cannot read; the error's text names the link type.
var ErrUnsupportedLinkType = errors.New("unsupported link type")

// ErrMalformed is matched (errors.Is) by every error Decode returns for a
// frame that claims IP or TCP but does not decode.
var ErrMalformed = errors.New("malformed frame")

// malformed is the error type of frames that do not decode. Its values are
// constants, so returning one does not allocate.
type malformed string

func (e malformed) Error() string        { return string(e) }
func (e malformed) Is(target error) bool { return target == ErrMalformed }

const (
	errLinkShort    malformed = "link header cut short"
	errTooDeep      malformed = "too many nested headers"
	errTooManyTags  malformed = "too many vlan tags"
	errMPLSShort    malformed = "mpls label stack cut short"
	errMPLSDeep     malformed = "mpls label stack too deep"
	errIPVersion    malformed = "ip version is neither 4 nor 6"
	errIPv4Short    malformed = "ipv4 header cut short"
	errIPv4IHL      malformed = "ipv4 header length below 20 bytes"
	errIPv4Total    malformed = "ipv4 total length below header length"
	errIPv6Short    malformed = "ipv6 header cut short"
	errIPv6Ext      malformed = "ipv6 extension header cut short"
	errIPv6ExtDeep  malformed = "ipv6 extension header chain too long"
	errTunnelShort  malformed = "tunnel header cut short"
	errNFLOGTLV     malformed = "nflog tlv length out of bounds"
	errTCPSegment   malformed = "tcp segment shorter than 20 bytes"
	errTCPCut       malformed = "tcp header cut short"
	errTCPOffset    malformed = "tcp data offset below 20 bytes"
	errTCPOffsetBig malformed = "tcp data offset beyond the segment"
)

// linkTypeError names a link type Decode cannot read.
type linkTypeError int

func (e linkTypeError) Error() string { return "unsupported link type " + strconv.Itoa(int(e)) }

func (e linkTypeError) Unwrap() error { return ErrUnsupportedLinkType }

// Decoder turns one link-layer frame into a Packet. One per Source; not safe
// for concurrent use.
type Decoder struct {
	// The general path's scratch for the frame it decodes, set up at its
	// start (the fast path leaves them alone): addresses of the latest
	// (innermost) IP header, headers entered and tunnels opened, whether
	// p.VLAN holds the outermost tag, whether a tunnel header was
	// recognised.
	src, dst netip.Addr
	layers   int
	tunnels  int
	vlanSet  bool
	opened   bool
	frags    [maxFragHeads]fragHead
	fragNext int      // the next frags slot to fill
	fragBuf  [60]byte // a TCP header put together from fragments
	// hidden names what the frame stopped at, after a Decode that found
	// no TCP, when the frame may carry TCP that Decode does not reach
	// (zero otherwise).
	hidden HiddenReason
	// hash and route are FlowHash and RouteHash of the current frame's
	// endpoints when the fast path computed them from the header bytes,
	// else 0 (see fastpath.go).
	hash, route uint64
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode fills p from frame (link type = pcap LINKTYPE_ value). It sets
// every Packet field except Index, Input, Time, CapLen, WireLen, which the
// caller sets. It returns ErrNotTCP when the frame decoded fine but carries
// no TCP segment (ARP, UDP, ICMP, non-first IP fragments, unknown
// ethertype...), an error wrapping ErrUnsupportedLinkType (naming the link
// type) for a link type it cannot read, and an error matching ErrMalformed
// when the frame claims IP/TCP but is malformed. p.Payload and p.Frame alias
// frame.
//
// Tunnels (GRE, ERSPAN, VXLAN, Geneve, IP-in-IP, 6in4, IPv6-in-IPv6) are
// opened: p.Tunnel names the outermost one, and the addresses, TTL, IP ID
// and DF come from the innermost IP header. p.VLAN is the outermost 802.1Q
// tag; p.SrcMAC the innermost Ethernet source address (or the SLL/NFLOG
// hardware address when it is a MAC). The first fragment of a fragmented IP
// packet is decoded (later ones are ErrNotTCP); its Len counts only the
// bytes of that fragment. When an IPv4 first fragment holds less than the
// 20-byte TCP header, its bytes are held (a few, in a bounded table) and
// the segment is decoded from the fragment that completes the header.
func (d *Decoder) Decode(linkType int, frame []byte, p *Packet) error {
	if d.fast(linkType, frame, p) {
		return nil
	}
	return d.decode(linkType, frame, p)
}

// decode is Decode's general path, the reference for the fast path.
func (d *Decoder) decode(linkType int, frame []byte, p *Packet) error {
	d.hash, d.route = 0, 0
	*p = Packet{
		Index:    p.Index,
		Input:    p.Input,
		Time:     p.Time,
		CapLen:   p.CapLen,
		WireLen:  p.WireLen,
		LinkType: linkType,
		Frame:    frame,
	}
	d.layers, d.tunnels, d.vlanSet, d.opened, d.hidden = 0, 0, false, false, HiddenReason{}
	if linkType >= 0 && linkType < len(linkDecoders) {
		if dec := linkDecoders[linkType]; dec != nil {
			return dec(d, frame, p)
		}
	}
	d.hidden = HiddenReason{Kind: HiddenLinkType, Value: uint32(linkType)}
	return linkTypeError(linkType)
}

// chdlc decodes a Cisco HDLC frame: address, control, ethertype.
func (d *Decoder) chdlc(b []byte, p *Packet) error {
	if len(b) < 4 {
		return errLinkShort
	}
	return d.etherType(be16(b[2:]), b[4:], p)
}

// mpacket decodes an 802.3br mPacket: preamble and SMD before Ethernet.
func (d *Decoder) mpacket(b []byte, p *Packet) error {
	if len(b) < 8 {
		return errLinkShort
	}
	if b[7] != 0xd5 { // not an express frame: a preemptable fragment
		return ErrNotTCP
	}
	return d.ethernet(b[8:], p)
}

// radiotap decodes an 802.11 frame after its radiotap header.
func (d *Decoder) radiotap(b []byte, p *Packet) error {
	if len(b) < 4 {
		return errLinkShort
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	if n < 4 || n > len(b) {
		return errLinkShort
	}
	return d.wlan(b[n:], p)
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// enter counts one more nested header and fails past maxLayers.
func (d *Decoder) enter() error {
	d.layers++
	if d.layers > maxLayers {
		return errTooDeep
	}
	return nil
}

// tunnel records an opened tunnel of kind t.
func (d *Decoder) tunnel(t Tunnel, p *Packet) error {
	d.tunnels++
	d.opened = true
	if d.tunnels > maxTunnels {
		return errTooDeep
	}
	if p.Tunnel == TunnelNone {
		p.Tunnel = t
	}
	return nil
}

// ethernet decodes an Ethernet II (or 802.3 LLC/SNAP) frame.
func (d *Decoder) ethernet(b []byte, p *Packet) error {
	if err := d.enter(); err != nil {
		return err
	}
	if len(b) < 14 {
		return errLinkShort
	}
	p.HasMAC = true
	copy(p.SrcMAC[:], b[6:12])
	t := be16(b[12:])
	b = b[14:]
	if t <= 1500 { // 802.3 length field: only LLC/SNAP carries an ethertype
		if int(t) < len(b) {
			b = b[:t]
		}
		if len(b) < 8 || b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 {
			return ErrNotTCP
		}
		t = be16(b[6:])
		b = b[8:]
	}
	return d.etherType(t, b, p)
}

// etherType decodes b as the protocol that ethertype t names, stepping over
// VLAN tags and MPLS labels.
func (d *Decoder) etherType(t uint16, b []byte, p *Packet) error {
	for tags := 0; ; tags++ {
		switch t {
		case etherIPv4:
			return d.ipv4(b, p)
		case etherIPv6:
			return d.ipv6(b, p)
		case etherVLAN, etherQinQ, etherQinQOld:
			if tags >= maxTags {
				return errTooManyTags
			}
			if len(b) < 4 {
				return errLinkShort
			}
			if !d.vlanSet {
				p.VLAN = be16(b) & 0x0fff
				d.vlanSet = true
			}
			t = be16(b[2:])
			b = b[4:]
		case etherMPLS, etherMPLSMult:
			return d.mpls(b, p)
		case etherTEB:
			return d.ethernet(b, p)
		case etherARP, etherRARP, etherLLDP, etherEAPOL, etherPTP, etherLoopback, etherPPPoEDisc,
			etherSlow, etherCFM, etherIPX, etherAoE, etherFCoE, etherFIP, etherHomePlug, etherTDLS,
			etherWOL, etherPROFINET, etherEtherCAT, etherNCSI:
			return ErrNotTCP // known not to carry IP
		case etherPPPoE:
			if len(b) < 6 {
				return errLinkShort
			}
			if n := int(be16(b[4:])); n < len(b)-6 {
				b = b[:6+n]
			}
			if b[1] != 0 { // discovery stage, not session data
				return ErrNotTCP
			}
			return d.ppp(b[6:], p)
		default:
			return d.hide(HiddenEtherType, int(t))
		}
	}
}

// mpls steps over a label stack; what follows the bottom label is guessed
// from its first nibble: IPv4, IPv6, a pseudowire control word (0) before
// Ethernet, or else Ethernet without a control word.
func (d *Decoder) mpls(b []byte, p *Packet) error {
	for n := 0; ; n++ {
		if n >= maxLabels {
			return errMPLSDeep
		}
		if len(b) < 4 {
			return errMPLSShort
		}
		bottom := b[2]&1 != 0
		b = b[4:]
		if bottom {
			break
		}
	}
	if len(b) == 0 {
		return errMPLSShort
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b, p)
	case 6:
		return d.ipv6(b, p)
	case 0:
		if len(b) < 4 {
			return errMPLSShort
		}
		return d.ethernet(b[4:], p)
	}
	return d.ethernet(b, p)
}

// sll decodes a Linux cooked (v1) header.
func (d *Decoder) sll(b []byte, p *Packet) error {
	if len(b) < 16 {
		return errLinkShort
	}
	if hatype, alen := be16(b[2:]), be16(b[4:]); hatype == 1 && alen == 6 { // ARPHRD_ETHER
		p.HasMAC = true
		copy(p.SrcMAC[:], b[6:12])
	}
	return d.sllProto(be16(b[2:]), be16(b[14:]), b[16:], p)
}

// sll2 decodes a Linux cooked v2 header.
func (d *Decoder) sll2(b []byte, p *Packet) error {
	if len(b) < 20 {
		return errLinkShort
	}
	hatype := be16(b[8:])
	if hatype == 1 && b[11] == 6 {
		p.HasMAC = true
		copy(p.SrcMAC[:], b[12:18])
	}
	return d.sllProto(hatype, be16(b), b[20:], p)
}

// sllProto decodes the payload of an SLL or SLL2 header.
func (d *Decoder) sllProto(hatype, proto uint16, b []byte, p *Packet) error {
	if hatype == 824 { // ARPHRD_NETLINK: the protocol is a netlink family
		return ErrNotTCP
	}
	return d.etherType(proto, b, p)
}

// null decodes BSD null/loopback (host byte order) and OpenBSD loop
// (network byte order) headers: a 4-byte address family.
func (d *Decoder) null(b []byte, p *Packet) error {
	if len(b) < 4 {
		return errLinkShort
	}
	af := binary.LittleEndian.Uint32(b)
	if af&0xffff0000 != 0 {
		af = binary.BigEndian.Uint32(b)
	}
	switch af {
	case 2: // AF_INET
		return d.ipv4(b[4:], p)
	case 24, 28, 30: // AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
		return d.ipv6(b[4:], p)
	}
	return ErrNotTCP
}

// ppp decodes a PPP frame, with or without the HDLC address and control
// bytes, with a one- or two-byte protocol field.
func (d *Decoder) ppp(b []byte, p *Packet) error {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) == 0 {
		return errLinkShort
	}
	var proto uint16
	if b[0]&1 != 0 {
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			return errLinkShort
		}
		proto, b = be16(b), b[2:]
	}
	switch proto {
	case 0x0021:
		return d.ipv4(b, p)
	case 0x0057:
		return d.ipv6(b, p)
	}
	return ErrNotTCP
}

// nflog decodes a Linux NFLOG frame: a 4-byte header, then netlink TLVs
// whose length and type are in the capturing host's byte order.
// NFULA_PAYLOAD holds the IP packet; NFULA_HWADDR the source MAC.
func (d *Decoder) nflog(b []byte, p *Packet) error {
	if len(b) < 4 {
		return errLinkShort
	}
	b = b[4:]
	// The first TLV (NFULA_PACKET_HDR) is short: its length's high byte is 0.
	bigEndian := len(b) >= 2 && b[0] == 0 && b[1] != 0
	for len(b) >= 4 {
		n, typ := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		if bigEndian {
			n, typ = be16(b), be16(b[2:])
		}
		if n < 4 || int(n) > len(b) {
			return errNFLOGTLV
		}
		v := b[4:n]
		switch typ & 0x3fff { // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
		case 8: // NFULA_HWADDR: be16 length, 2 pad bytes, address
			if len(v) >= 10 && be16(v) == 6 {
				p.HasMAC = true
				copy(p.SrcMAC[:], v[4:10])
			}
		case 9: // NFULA_PAYLOAD
			return d.ip(v, p)
		}
		next := (int(n) + 3) &^ 3
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return ErrNotTCP
}

// wlan decodes an IEEE 802.11 data frame with an LLC/SNAP header (as found
// in Aruba's GRE tunnels, and in 802.11 captures).
func (d *Decoder) wlan(b []byte, p *Packet) error {
	if err := d.enter(); err != nil {
		return err
	}
	if len(b) < 24 {
		return errLinkShort
	}
	fc0, fc1 := b[0], b[1]
	if (fc0>>2)&3 != 2 || fc0&0x40 != 0 || fc1&0x40 != 0 {
		return ErrNotTCP // not data, a null-data subtype, or encrypted
	}
	n := 24
	switch fc1 & 3 { // ToDS, FromDS
	case 0, 1:
		copy(p.SrcMAC[:], b[10:16]) // addr2
	case 2:
		copy(p.SrcMAC[:], b[16:22]) // addr3
	case 3:
		n += 6
		if len(b) < 30 {
			return errLinkShort
		}
		copy(p.SrcMAC[:], b[24:30]) // addr4
	}
	p.HasMAC = true
	if fc0&0x80 != 0 { // QoS data
		n += 2
		if fc1&0x80 != 0 { // +HTC
			n += 4
		}
	}
	if len(b) < n+8 {
		return errLinkShort
	}
	b = b[n:]
	if b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 {
		return ErrNotTCP
	}
	return d.etherType(be16(b[6:]), b[8:], p)
}

// ip decodes an IPv4 or IPv6 header, picked by the version nibble.
func (d *Decoder) ip(b []byte, p *Packet) error {
	if len(b) == 0 {
		return errIPv4Short
	}
	switch b[0] >> 4 {
	case 4:
		return d.ipv4(b, p)
	case 6:
		return d.ipv6(b, p)
	}
	return errIPVersion
}

// ipv4 decodes an IPv4 header and what it carries.
func (d *Decoder) ipv4(b []byte, p *Packet) error {
	if err := d.enter(); err != nil {
		return err
	}
	if len(b) < 20 {
		return errIPv4Short
	}
	if b[0]>>4 != 4 {
		return errIPVersion
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return errIPv4IHL
	}
	if len(b) < ihl {
		return errIPv4Short
	}
	total := int(be16(b[2:]))
	switch {
	case total == 0: // segmentation offload: the NIC fills the length in
		total = len(b)
	case total < ihl:
		return errIPv4Total
	case total < len(b): // link-layer padding
		b = b[:total]
	}
	p.TTL = b[8]
	p.IPID = be16(b[4:])
	p.DF = b[6]&0x40 != 0
	p.FlowLabel = 0
	d.src = netip.AddrFrom4([4]byte(b[12:16]))
	d.dst = netip.AddrFrom4([4]byte(b[16:20]))
	if frag := be16(b[6:]); frag&0x3fff != 0 { // a fragment
		switch off := int(frag&0x1fff) * 8; {
		case off != 0 && b[9] == protoTCP:
			return d.fragmentTail(b, ihl, off, frag&0x2000 == 0, p)
		case off != 0: // a non-first fragment of something else
			return ErrNotTCP
		case b[9] == protoTCP && frag&0x2000 != 0 && total-ihl < 20 && len(b)-ihl < 20:
			d.fragmentHead(b, ihl)
			return ErrNotTCP
		}
	}
	return d.ipPayload(b[9], b[ihl:], total-ihl, p)
}

// fragHead holds the start of a TCP segment whose first IPv4 fragment was
// shorter than the 20-byte TCP header, until the next fragment completes
// it (tiny fragments: an evasion, or a path with a very small MTU).
type fragHead struct {
	src, dst [4]byte
	id       uint16
	n        uint8    // bytes held: the segment's first n bytes
	b        [20]byte // what the fixed header needs
}

// maxFragHeads bounds the first fragments a Decoder holds; a new one
// replaces the oldest.
const maxFragHeads = 8

// fragmentHead keeps the TCP bytes of a first fragment (less than 20).
func (d *Decoder) fragmentHead(b []byte, ihl int) {
	h := &d.frags[d.fragNext%maxFragHeads]
	d.fragNext++
	h.src, h.dst, h.id = [4]byte(b[12:16]), [4]byte(b[16:20]), be16(b[4:])
	h.n = uint8(copy(h.b[:], b[ihl:]))
}

// fragmentTail decodes the TCP segment whose header a held first fragment
// started and this fragment (at byte offset off of the segment) completes;
// the fragment's own bytes give the payload. last is set on the last
// fragment. Without a matching held fragment it is ErrNotTCP.
func (d *Decoder) fragmentTail(b []byte, ihl, off int, last bool, p *Packet) error {
	for i := range d.frags {
		h := &d.frags[i]
		if h.n == 0 || int(h.n) != off || h.id != be16(b[4:]) || h.src != [4]byte(b[12:16]) || h.dst != [4]byte(b[16:20]) {
			continue
		}
		data := b[ihl:]
		var hdr [20]byte
		n := copy(hdr[:], h.b[:h.n])
		n += copy(hdr[n:], data)
		if n < 20 {
			if !last && off+len(data) < 20 && int(be16(b[2:]))-ihl == len(data) {
				h.n = uint8(copy(h.b[:], hdr[:n])) // still short: wait for the next one
			} else {
				h.n = 0
			}
			return ErrNotTCP
		}
		h.n = 0
		// The segment as far as known: all of it on the last fragment.
		wire := off + max(len(data), int(be16(b[2:]))-ihl)
		n = copy(d.fragBuf[:], h.b[:off])
		n += copy(d.fragBuf[n:], data)
		if err := d.tcp(d.fragBuf[:n], wire, p); err != nil {
			return err
		}
		// The payload comes from this fragment: it must alias the frame.
		if start := int(p.DataOffset) - off; p.Opts.Bad || start < 0 || start > len(data) {
			p.Payload = data[len(data):]
		} else {
			p.Payload = data[start:]
			if len(p.Payload) > p.Len {
				p.Payload = p.Payload[:p.Len]
			}
		}
		return nil
	}
	return ErrNotTCP
}

// ipv6 decodes an IPv6 header, its extension header chain and what it
// carries.
func (d *Decoder) ipv6(b []byte, p *Packet) error {
	if err := d.enter(); err != nil {
		return err
	}
	if len(b) < 40 {
		return errIPv6Short
	}
	if b[0]>>4 != 6 {
		return errIPVersion
	}
	p.TTL = b[7]
	p.IPID = 0
	p.DF = false
	p.FlowLabel = be32(b) & 0x000fffff
	d.src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	d.dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	next := b[6]
	wire := int(be16(b[4:]))
	b = b[40:]
	switch {
	case wire == 0: // a jumbogram, or segmentation offload
		wire = len(b)
	case wire < len(b): // link-layer padding
		b = b[:wire]
	}
	for i := 0; ; i++ {
		if i >= maxExtHeaders {
			return errIPv6ExtDeep
		}
		var n int
		switch next {
		case protoHopByHop, protoRouting, protoDstOpts, protoMobility, protoHIP, protoShim6:
			if len(b) < 8 {
				return errIPv6Ext
			}
			n = (int(b[1]) + 1) * 8
		case protoFragment:
			if len(b) < 8 {
				return errIPv6Ext
			}
			if be16(b[2:])&0xfff8 != 0 { // a non-first fragment
				return ErrNotTCP
			}
			n = 8
		case protoAH:
			if len(b) < 8 {
				return errIPv6Ext
			}
			n = (int(b[1]) + 2) * 4
		case protoNoNext, protoESP:
			return ErrNotTCP
		default:
			return d.ipPayload(next, b, wire, p)
		}
		if n > len(b) {
			return errIPv6Ext
		}
		next = b[0]
		b = b[n:]
		wire -= n
	}
}

// ipPayload decodes the payload of an IP header: b is what was captured of
// it, wire its length by the IP header.
func (d *Decoder) ipPayload(proto uint8, b []byte, wire int, p *Packet) error {
	switch proto {
	case protoTCP:
		return d.tcp(b, wire, p)
	case protoIPIP:
		if err := d.tunnel(TunnelIPIP, p); err != nil {
			return err
		}
		return d.ipv4(b, p)
	case protoIPv6:
		if err := d.tunnel(TunnelIPIP, p); err != nil {
			return err
		}
		return d.ipv6(b, p)
	case protoGRE:
		return d.gre(b, p)
	case protoUDP:
		return d.udp(b, p)
	case protoL2TP:
		if len(b) < 4 {
			return d.hide(HiddenIPProto, protoL2TP)
		}
		if be32(b) == 0 { // session 0: a control message
			return ErrNotTCP
		}
		return d.l2tpv3(b[4:], p, protoL2TP, HiddenIPProto)
	case protoESP, protoEtherIP, protoMPLSIP:
		return d.hide(HiddenIPProto, int(proto))
	}
	return ErrNotTCP
}

// gre decodes a GRE header (RFC 2784/2890, PPTP's enhanced GRE) and what
// it carries: IP, Ethernet (0x6558), ERSPAN II/III, Aruba 802.11, MPLS.
func (d *Decoder) gre(b []byte, p *Packet) error {
	if len(b) < 4 {
		return ErrNotTCP
	}
	flags, proto := be16(b), be16(b[2:])
	n := 4
	switch flags & 7 { // version
	case 0:
		if flags&0x4000 != 0 { // RFC 1701 source routing: obsolete
			return ErrNotTCP
		}
		if flags&0x8000 != 0 { // checksum
			n += 4
		}
		if flags&0x2000 != 0 { // key
			n += 4
		}
		if flags&0x1000 != 0 { // sequence number
			n += 4
		}
	case 1: // enhanced GRE: key always, sequence and ack optional
		if proto != etherPPTP {
			return ErrNotTCP
		}
		n += 4
		if flags&0x1000 != 0 {
			n += 4
		}
		if flags&0x0080 != 0 {
			n += 4
		}
	default:
		return ErrNotTCP
	}
	if len(b) < n {
		return errTunnelShort
	}
	b = b[n:]
	kind := TunnelGRE
	if proto == etherERSPAN2 || proto == etherERSPAN3 {
		kind = TunnelERSPAN
	}
	if err := d.tunnel(kind, p); err != nil {
		return err
	}
	switch proto {
	case etherERSPAN2:
		if flags&0x1000 != 0 { // type II: 8-byte header (type I has none)
			if len(b) < 8 {
				return errTunnelShort
			}
			b = b[8:]
		}
		return d.ethernet(b, p)
	case etherERSPAN3:
		if len(b) < 12 {
			return errTunnelShort
		}
		n := 12
		if b[11]&1 != 0 { // O bit: platform-specific subheader follows
			n += 8
		}
		if len(b) < n {
			return errTunnelShort
		}
		return d.ethernet(b[n:], p)
	case etherAruba:
		return d.wlan(b, p)
	case etherPPTP:
		return d.ppp(b, p)
	}
	return d.etherType(proto, b, p)
}

// udp decodes a UDP header and opens the tunnel its port names: VXLAN,
// Geneve, GTP-U, AYIYA, L2TP, VXLAN-GPE, Teredo, GRE in UDP. The
// destination port is tried first, then the source port (GTP-U, AYIYA and
// L2TP peers may answer from another port). A header that does not fit the
// tunnel's format leaves the frame plain UDP, counted as hiding what it
// carries (see Stats.Hidden).
func (d *Decoder) udp(b []byte, p *Packet) error {
	if len(b) < 8 {
		return ErrNotTCP
	}
	src, dst := be16(b), be16(b[2:])
	if n := int(be16(b[4:])); n >= 8 && n < len(b) {
		b = b[:n]
	}
	b = b[8:]
	for _, port := range [...]uint16{dst, src} {
		var err error
		switch port {
		case portVXLAN, portVXLANLinux:
			if len(b) < 8 || b[0]&0x08 == 0 { // I flag: a valid VNI
				return d.hide(HiddenUDPPort, int(port))
			}
			if err := d.tunnel(TunnelVXLAN, p); err != nil {
				return err
			}
			return d.ethernet(b[8:], p)
		case portGeneve:
			if len(b) < 8 || b[0]>>6 != 0 || len(b) < 8+int(b[0]&0x3f)*4 {
				return d.hide(HiddenUDPPort, int(port))
			}
			if err := d.tunnel(TunnelGeneve, p); err != nil {
				return err
			}
			return d.etherType(be16(b[2:]), b[8+int(b[0]&0x3f)*4:], p)
		case portGTPU:
			err = d.gtpu(b, p)
		case portAYIYA:
			err = d.ayiya(b, p)
		case portL2TP:
			err = d.l2tpUDP(b, p)
		case portVXLANGPE:
			err = d.vxlanGPE(b, p)
		case portTeredo:
			err = d.teredo(b, p)
		case portGREUDP:
			err = d.gre(b, p)
		default:
			continue
		}
		if err == ErrNotTCP && d.hidden.Kind == 0 && !d.opened {
			// The header did not fit the tunnel's format (a control
			// message sets opened): plain UDP to a tunnel port.
			d.hidden = HiddenReason{Kind: HiddenUDPPort, Value: uint32(port)}
		}
		return err
	}
	switch {
	case hidingPort(dst):
		return d.hide(HiddenUDPPort, int(dst))
	case hidingPort(src):
		return d.hide(HiddenUDPPort, int(src))
	}
	return ErrNotTCP
}

// gtpu decodes a GTP-U v1 header (3GPP TS 29.281) with its optional
// sequence number, N-PDU number and extension headers; a G-PDU (message
// type 255) carries an IP packet. Other messages (echo, error indication,
// end marker) carry none.
func (d *Decoder) gtpu(b []byte, p *Packet) error {
	if len(b) < 8 || b[0]>>5 != 1 || b[0]&0x10 == 0 { // version 1, protocol type GTP
		return ErrNotTCP
	}
	if b[1] != 0xff {
		d.opened = true
		return ErrNotTCP
	}
	n := 8
	if b[0]&0x07 != 0 { // E, S or PN: the optional 4 bytes are present
		if len(b) < 12 {
			return ErrNotTCP
		}
		n = 12
		next := byte(0)
		if b[0]&0x04 != 0 {
			next = b[11]
		}
		for i := 0; next != 0; i++ {
			if i >= maxExtHeaders || len(b) <= n {
				return ErrNotTCP
			}
			l := int(b[n]) * 4
			if l == 0 || len(b) < n+l {
				return ErrNotTCP
			}
			next = b[n+l-1]
			n += l
		}
	}
	if err := d.tunnel(TunnelGTPU, p); err != nil {
		return err
	}
	b = b[n:]
	if len(b) == 0 || (b[0]>>4 != 4 && b[0]>>4 != 6) { // an Ethernet or unstructured PDU
		return d.hide(HiddenUDPPort, portGTPU)
	}
	return d.ip(b, p)
}

// ayiya decodes an AYIYA header (draft-massar-v6ops-ayiya): identity of
// 2^n bytes and a signature of 4*m bytes after 8 fixed bytes; opcode 1
// forwards the packet named by the next header field.
func (d *Decoder) ayiya(b []byte, p *Packet) error {
	if len(b) < 8 {
		return ErrNotTCP
	}
	n := 8 + 1<<(b[0]>>4) + int(b[1]>>4)*4
	if len(b) < n {
		return ErrNotTCP
	}
	if b[2]&0x0f != 1 { // not "forward": a heartbeat or a query
		d.opened = true
		return ErrNotTCP
	}
	switch b[3] {
	case protoIPv6:
		if err := d.tunnel(TunnelAYIYA, p); err != nil {
			return err
		}
		d.opened = true
		return d.ipv6(b[n:], p)
	case protoIPIP:
		if err := d.tunnel(TunnelAYIYA, p); err != nil {
			return err
		}
		d.opened = true
		return d.ipv4(b[n:], p)
	}
	return ErrNotTCP
}

// l2tpUDP decodes an L2TP header over UDP: version 2 (RFC 2661, PPP
// inside) or 3 (RFC 3931, a session header then the pseudowire). Control
// messages (the T bit) carry no data.
func (d *Decoder) l2tpUDP(b []byte, p *Packet) error {
	if len(b) < 2 {
		return ErrNotTCP
	}
	flags := be16(b)
	switch flags & 0x0f {
	case 2:
		if flags&0x8000 != 0 {
			d.opened = true
			return ErrNotTCP
		}
		n := 6 // flags, tunnel ID, session ID
		if flags&0x4000 != 0 {
			n += 2 // length
		}
		if flags&0x0800 != 0 {
			n += 4 // Ns, Nr
		}
		if flags&0x0200 != 0 { // offset size, then that many bytes of padding
			if len(b) < n+2 {
				return ErrNotTCP
			}
			n += 2 + int(be16(b[n:]))
		}
		if len(b) < n {
			return ErrNotTCP
		}
		if err := d.tunnel(TunnelL2TP, p); err != nil {
			return err
		}
		d.opened = true
		return d.ppp(b[n:], p)
	case 3:
		if flags&0x8000 != 0 {
			d.opened = true
			return ErrNotTCP
		}
		if len(b) < 8 {
			return ErrNotTCP
		}
		return d.l2tpv3(b[8:], p, portL2TP, HiddenUDPPort)
	}
	return ErrNotTCP
}

// l2tpv3 decodes what follows an L2TPv3 session ID: a cookie of 0, 4 or 8
// bytes and an optional 4-byte L2-specific sublayer, whose sizes are
// configured, not sent; then the pseudowire, Ethernet or PPP. The first
// offset at which an IP packet (raw, in Ethernet, or in PPP) fits its own
// length is taken; when none fits, the frame counts as hidden (kind, value).
func (d *Decoder) l2tpv3(b []byte, p *Packet, value int, kind HiddenKind) error {
	for _, off := range [...]int{0, 4, 8, 12} {
		if len(b) < off+20 {
			break
		}
		c := b[off:]
		if ipFits(c) {
			if err := d.tunnel(TunnelL2TP, p); err != nil {
				return err
			}
			d.opened = true
			return d.ip(c, p)
		}
		if len(c) >= 14+20 && ipFits(c[14:]) && (be16(c[12:]) == etherIPv4 || be16(c[12:]) == etherIPv6) {
			if err := d.tunnel(TunnelL2TP, p); err != nil {
				return err
			}
			d.opened = true
			return d.ethernet(c, p)
		}
		if c[0] == 0xff && c[1] == 0x03 && ipFits(c[4:]) {
			if err := d.tunnel(TunnelL2TP, p); err != nil {
				return err
			}
			d.opened = true
			return d.ppp(c, p)
		}
	}
	return d.hide(kind, value)
}

// ipFits reports whether b starts with an IPv4 or IPv6 header whose length
// fields agree with len(b) (link padding of up to 4 bytes allowed): a test
// that a guessed offset is right.
func ipFits(b []byte) bool {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4 && b[0]&0x0f >= 5:
		n := int(be16(b[2:]))
		return n >= int(b[0]&0x0f)*4 && n <= len(b) && len(b)-n <= 4
	case len(b) >= 40 && b[0]>>4 == 6:
		n := 40 + int(be16(b[4:]))
		return n <= len(b) && len(b)-n <= 4
	}
	return false
}

// vxlanGPE decodes a VXLAN-GPE header (draft-ietf-nvo3-vxlan-gpe): the
// next protocol field names IPv4, IPv6, Ethernet, NSH or MPLS.
func (d *Decoder) vxlanGPE(b []byte, p *Packet) error {
	if len(b) < 8 || (b[0]>>4)&3 != 0 { // version 0
		return ErrNotTCP
	}
	next := byte(3) // no P bit: Ethernet, as in VXLAN
	if b[0]&0x04 != 0 {
		next = b[3]
	}
	if err := d.tunnel(TunnelVXLANGPE, p); err != nil {
		return err
	}
	d.opened = true
	b = b[8:]
	if next == 4 { // NSH (RFC 8300): length in 4-byte words
		if len(b) < 8 || b[0]>>6 != 0 {
			return ErrNotTCP
		}
		n := int(b[1]&0x3f) * 4
		if n < 8 || len(b) < n {
			return ErrNotTCP
		}
		next = b[3]
		b = b[n:]
	}
	switch next {
	case 1:
		return d.ipv4(b, p)
	case 2:
		return d.ipv6(b, p)
	case 3:
		return d.ethernet(b, p)
	case 5:
		return d.mpls(b, p)
	}
	return ErrNotTCP
}

// teredo decodes Teredo (RFC 4380): optional authentication and origin
// indication headers, then an IPv6 packet that must fill the datagram.
func (d *Decoder) teredo(b []byte, p *Packet) error {
	if len(b) >= 4 && be16(b) == 1 { // authentication
		n := 4 + int(b[2]) + int(b[3]) + 9
		if len(b) < n {
			return ErrNotTCP
		}
		b = b[n:]
	}
	if len(b) >= 8 && be16(b) == 0 { // origin indication
		b = b[8:]
	}
	if len(b) < 40 || b[0]>>4 != 6 || int(be16(b[4:]))+40 != len(b) {
		return ErrNotTCP
	}
	if err := d.tunnel(TunnelTeredo, p); err != nil {
		return err
	}
	d.opened = true
	return d.ipv6(b, p)
}

// hide records that the frame stops at something that may carry TCP and
// returns ErrNotTCP.
func (d *Decoder) hide(kind HiddenKind, value int) error {
	if d.hidden.Kind == 0 {
		d.hidden = HiddenReason{Kind: kind, Value: uint32(value)}
	}
	return ErrNotTCP
}

// pflog decodes an OpenBSD/FreeBSD pflog header (DLT_PFLOG): its first
// byte is the header length (padded to 4 bytes), its second the address
// family of the logged packet, as in BSD null headers.
func (d *Decoder) pflog(b []byte, p *Packet) error {
	if len(b) < 4 {
		return errLinkShort
	}
	n := (int(b[0]) + 3) &^ 3
	if n < minPflogHeader || n > len(b) {
		return errLinkShort
	}
	switch b[1] {
	case 2: // AF_INET
		return d.ipv4(b[n:], p)
	case 24, 28, 30: // AF_INET6 on OpenBSD/NetBSD, FreeBSD, Darwin
		return d.ipv6(b[n:], p)
	}
	return ErrNotTCP
}

// minPflogHeader is the shortest pflog header: tcpdump's MIN_PFLOG_HDRLEN
// (45), padded to 4 bytes.
const minPflogHeader = 48

// hidingPort reports whether UDP to port carries traffic that may hide TCP
// and that Decode cannot open (encrypted, or not implemented).
func hidingPort(port uint16) bool {
	switch port {
	case 4500, 51820, 1194, 5247, 4341, 6635:
		return true
	}
	return false
}

// Names of the tunnels in Stats.Hidden's reasons.
var (
	udpPortNames = map[uint32]string{
		portVXLAN: "VXLAN", portVXLANLinux: "VXLAN", portGeneve: "Geneve", portGTPU: "GTP-U",
		portAYIYA: "AYIYA", portL2TP: "L2TP", portVXLANGPE: "VXLAN-GPE", portTeredo: "Teredo",
		portGREUDP: "GRE-in-UDP", 4500: "IPsec NAT-T", 51820: "WireGuard", 1194: "OpenVPN",
		5247: "CAPWAP data", 4341: "LISP data", 6635: "MPLS-in-UDP",
	}
	etherTypeNames = map[uint32]string{0x88e5: "MACsec", 0x86dd: "IPv6", 0x0800: "IPv4"}
	ipProtoNames   = map[uint32]string{protoESP: "ESP", protoEtherIP: "EtherIP", protoL2TP: "L2TPv3", protoMPLSIP: "MPLS-in-IP"}
)
