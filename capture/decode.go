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
const (
	maxTunnels    = 4  // tunnels opened in one frame
	maxLayers     = 12 // link and IP headers in one frame, tunnels included
	maxTags       = 8  // 802.1Q tags in a row
	maxLabels     = 16 // MPLS labels in a stack
	maxExtHeaders = 16 // IPv6 extension headers in a chain
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
	protoMobility = 135
	protoHIP      = 139
	protoShim6    = 140
)

// UDP ports of the tunnels Decode opens.
const (
	portVXLAN      = 4789
	portVXLANLinux = 8472 // Linux's pre-IANA default
	portGeneve     = 6081
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
	src, dst netip.Addr // addresses of the latest (innermost) IP header
	layers   int        // headers entered in the current frame
	tunnels  int        // tunnels opened in the current frame
	vlanSet  bool       // p.VLAN holds the outermost tag of the current frame
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
// bytes of that fragment.
func (d *Decoder) Decode(linkType int, frame []byte, p *Packet) error {
	*p = Packet{
		Index:    p.Index,
		Input:    p.Input,
		Time:     p.Time,
		CapLen:   p.CapLen,
		WireLen:  p.WireLen,
		LinkType: linkType,
		Frame:    frame,
	}
	d.layers, d.tunnels, d.vlanSet = 0, 0, false
	if linkType >= 0 && linkType < len(linkDecoders) {
		if dec := linkDecoders[linkType]; dec != nil {
			return dec(d, frame, p)
		}
	}
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
			return ErrNotTCP
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
	if be16(b[6:])&0x1fff != 0 { // a non-first fragment
		return ErrNotTCP
	}
	p.TTL = b[8]
	p.IPID = be16(b[4:])
	p.DF = b[6]&0x40 != 0
	p.FlowLabel = 0
	d.src = netip.AddrFrom4([4]byte(b[12:16]))
	d.dst = netip.AddrFrom4([4]byte(b[16:20]))
	return d.ipPayload(b[9], b[ihl:], total-ihl, p)
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

// udp decodes a UDP header and opens VXLAN or Geneve by destination port.
// A header that does not fit the tunnel's format leaves the frame plain UDP.
func (d *Decoder) udp(b []byte, p *Packet) error {
	if len(b) < 8 {
		return ErrNotTCP
	}
	port := be16(b[2:])
	if n := int(be16(b[4:])); n >= 8 && n < len(b) {
		b = b[:n]
	}
	b = b[8:]
	switch port {
	case portVXLAN, portVXLANLinux:
		if len(b) < 8 || b[0]&0x08 == 0 { // I flag: a valid VNI
			return ErrNotTCP
		}
		if err := d.tunnel(TunnelVXLAN, p); err != nil {
			return err
		}
		return d.ethernet(b[8:], p)
	case portGeneve:
		if len(b) < 8 || b[0]>>6 != 0 {
			return ErrNotTCP
		}
		n := 8 + int(b[0]&0x3f)*4
		if len(b) < n {
			return ErrNotTCP
		}
		if err := d.tunnel(TunnelGeneve, p); err != nil {
			return err
		}
		return d.etherType(be16(b[2:]), b[n:], p)
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
