package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses and MACs of the test frames.
var (
	macA   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
	macIn  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x1a} // inner (tunnelled) frame
	ip4A   = netip.MustParseAddr("10.0.0.1")
	ip4B   = netip.MustParseAddr("10.0.0.2")
	ip6A   = netip.MustParseAddr("2001:db8::1")
	ip6B   = netip.MustParseAddr("2001:db8::2")
	outer4 = [2]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	outer6 = [2]netip.Addr{netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:ffff::2")}
)

// buildFrame builds a frame from layers, fixing lengths and checksums.
func buildFrame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var nl gopacket.NetworkLayer // the IP header before each TCP/UDP layer, for checksums
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.TCP:
			if err := l.SetNetworkLayerForChecksum(nl); err != nil {
				t.Fatalf("serialize: %v", err)
			}
		case *layers.UDP:
			if err := l.SetNetworkLayerForChecksum(nl); err != nil {
				t.Fatalf("serialize: %v", err)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipv4Layer(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, IHL: 5, TTL: 61, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
}

func ipv6Layer(src, dst netip.Addr, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, HopLimit: 57, FlowLabel: 0xabcde,
		NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
}

// tcpLayer is an RST/ACK with every option Decode parses.
func tcpLayer(nl gopacket.NetworkLayer) *layers.TCP {
	tcp := &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 0x01020304, Ack: 0xa0b0c0d0,
		RST: true, ACK: true, Window: 501, DataOffset: 0,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x10, 0x01, 0, 0, 0x20, 0x02}},
		},
	}
	if nl != nil {
		if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
			panic(err) // test setup only: a non-IP layer passed
		}
	}
	return tcp
}

var testPayload = gopacket.Payload("hello, world")

// wantV4 is the Packet the TCP layer of tcpLayer with testPayload decodes to
// over an IPv4 header from ipv4Layer(ip4A, ip4B).
func wantV4() Packet {
	return Packet{
		Src: netip.AddrPortFrom(ip4A, 40000), Dst: netip.AddrPortFrom(ip4B, 443),
		TTL: 61, IPID: 0x1234, DF: true,
		Flags: RST | ACK, Seq: 0x01020304, Ack: 0xa0b0c0d0, Window: 501, DataOffset: 40,
		Opts: Options{MSS: 1460, HasMSS: true, WScale: 7, HasWScale: true, SACKPerm: true,
			HasTS: true, TSVal: 0x1001, TSEcr: 0x2002, Count: 4},
		Len: len(testPayload), Payload: []byte(testPayload),
	}
}

// wantV6 is wantV4 over an IPv6 header from ipv6Layer(ip6A, ip6B).
func wantV6() Packet {
	p := wantV4()
	p.Src = netip.AddrPortFrom(ip6A, 40000)
	p.Dst = netip.AddrPortFrom(ip6B, 443)
	p.TTL, p.IPID, p.DF, p.FlowLabel = 57, 0, false, 0xabcde
	return p
}

// inner4 is an IPv4 TCP packet (no link layer).
func inner4(t testing.TB) []byte {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	return buildFrame(t, ip, tcpLayer(ip), testPayload)
}

func inner6(t testing.TB) []byte {
	ip := ipv6Layer(ip6A, ip6B, layers.IPProtocolTCP)
	return buildFrame(t, ip, tcpLayer(ip), testPayload)
}

// innerEther4 is an Ethernet frame from macIn carrying inner4.
func innerEther4(t testing.TB) []byte {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	return buildFrame(t, &layers.Ethernet{SrcMAC: macIn, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		ip, tcpLayer(ip), testPayload)
}

func ether(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

// withMAC sets the source MAC of want.
func withMAC(p Packet, mac net.HardwareAddr) Packet {
	p.HasMAC = true
	copy(p.SrcMAC[:], mac)
	return p
}

func joinBytes(parts ...[]byte) []byte {
	var out []byte
	for _, b := range parts {
		out = append(out, b...)
	}
	return out
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// sllHeader is a Linux cooked v1 header from an Ethernet device.
func sllHeader(proto uint16) []byte {
	h := joinBytes(u16(0), u16(1), u16(6), macA, []byte{0, 0}, u16(proto))
	return h
}

// sll2Header is a Linux cooked v2 header from an Ethernet device.
func sll2Header(proto uint16) []byte {
	return joinBytes(u16(proto), u16(0), []byte{0, 0, 0, 3}, u16(1), []byte{0, 6}, macA, []byte{0, 0})
}

// nflogFrame wraps an IP packet in NFLOG TLVs in the given byte order.
func nflogFrame(order binary.ByteOrder, family byte, ip []byte) []byte {
	tlv := func(typ uint16, v []byte) []byte {
		h := make([]byte, 4)
		order.PutUint16(h, uint16(4+len(v)))
		order.PutUint16(h[2:], typ)
		out := append(h, v...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		return out
	}
	return joinBytes([]byte{family, 0, 0, 1},
		tlv(1, []byte{0x08, 0x00, 3, 0}),                      // NFULA_PACKET_HDR
		tlv(10, []byte("nflog-test")),                         // NFULA_PREFIX
		tlv(8, joinBytes(u16(6), []byte{0, 0}, macA, u16(0))), // NFULA_HWADDR
		tlv(9, ip)) // NFULA_PAYLOAD
}

// gtpuHeader is a GTP-U G-PDU header before pdu: with extension headers
// (the first's type in first[0], each one's last byte the next's type) when
// any are given.
func gtpuHeader(pdu []byte, ext ...[]byte) []byte {
	body := joinBytes(ext...)
	if len(ext) == 0 {
		return joinBytes([]byte{0x30, 0xff}, u16(uint16(len(pdu))), []byte{0, 0, 0x12, 0x34}, pdu)
	}
	// The first slice's first byte is the next type field of the fixed
	// header; the rest are the extension headers themselves.
	next, exts := body[0], body[1:]
	return joinBytes([]byte{0x34, 0xff}, u16(uint16(4+len(exts)+len(pdu))), []byte{0, 0, 0x12, 0x34, 0, 0, 0, next}, exts, pdu)
}

// pflogHeader is a pflog header of length n (padded to 4 bytes) logging a
// packet of address family af (2 AF_INET, 24 OpenBSD's AF_INET6), passed
// by rule 7 on em0.
func pflogHeader(n int, af byte) []byte {
	h := make([]byte, (n+3)&^3)
	h[0], h[1], h[2] = byte(n), af, 0 // action: pass
	copy(h[4:], "em0")
	copy(h[20:], "main")
	binary.BigEndian.PutUint32(h[36:], 7)
	h[60] = 1 // direction: in
	return h
}

// mplsLabels is a stack of n labels, the last one bottom of stack.
func mplsLabels(n int) []byte {
	var out []byte
	for i := 0; i < n; i++ {
		bos := byte(0)
		if i == n-1 {
			bos = 1
		}
		out = append(out, 0x00, byte(0x10+i), 0x00|bos, 64)
	}
	return out
}

// ipv6ExtChain is an IPv6 packet with hop-by-hop, routing, fragment (first,
// more to come), destination options and AH headers before TCP.
func ipv6ExtChain(t testing.TB) []byte {
	ip := ipv6Layer(ip6A, ip6B, layers.IPProtocolIPv6HopByHop)
	hopByHop := []byte{43, 0, 1, 4, 0, 0, 0, 0}                             // next: routing; a PadN option
	routing := joinBytes([]byte{44, 2, 0, 0, 0, 0, 0, 0}, make([]byte, 16)) // (2+1)*8 bytes, no segments left
	fragment := []byte{60, 0, 0x00, 0x01, 0, 0, 0, 7}                       // next: dst opts; offset 0, M=1
	dstOpts := []byte{51, 0, 1, 4, 0, 0, 0, 0}                              // next: AH
	ah := joinBytes([]byte{6, 4, 0, 0}, make([]byte, 20))                   // next: TCP; (4+2)*4 bytes
	ext := joinBytes(hopByHop, routing, fragment, dstOpts, ah)
	return buildFrame(t, ip, gopacket.Payload(ext), tcpLayer(ip), testPayload)
}

// ipv6DstOptsChain is an IPv6 TCP packet behind n destination options
// headers.
func ipv6DstOptsChain(t testing.TB, n int) []byte {
	ip := ipv6Layer(ip6A, ip6B, layers.IPProtocolIPv6Destination)
	var ext []byte
	for i := range n {
		next := byte(60)
		if i == n-1 {
			next = 6
		}
		ext = append(ext, next, 0, 1, 4, 0, 0, 0, 0)
	}
	return buildFrame(t, ip, gopacket.Payload(ext), tcpLayer(ip), testPayload)
}

type decodeCase struct {
	name     string
	linkType int
	frame    []byte
	want     Packet
}

// decodeCases are frames of every link type and tunnel that decode to TCP.
func decodeCases(t testing.TB) []decodeCase {
	v4, v6 := wantV4(), wantV6()
	tunnelled := func(p Packet, tun Tunnel) Packet { p.Tunnel = tun; return p }
	vlan := func(p Packet, id uint16) Packet { p.VLAN = id; return p }
	outerIP4 := func(proto layers.IPProtocol) *layers.IPv4 {
		ip := ipv4Layer(outer4[0], outer4[1], proto)
		ip.TTL, ip.Id, ip.Flags = 255, 0x7777, 0
		return ip
	}
	outerIP6 := func(next layers.IPProtocol) *layers.IPv6 {
		ip := ipv6Layer(outer6[0], outer6[1], next)
		ip.HopLimit, ip.FlowLabel = 255, 0x11111
		return ip
	}
	udp := func(port layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: 51000, DstPort: port} }

	var cases []decodeCase
	add := func(name string, lt int, frame []byte, want Packet) {
		cases = append(cases, decodeCase{name, lt, frame, want})
	}

	ip4 := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	add("ethernet_ipv4", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), ip4, tcpLayer(ip4), testPayload), withMAC(v4, macA))

	// The options of Linux's segments after the handshake: NOP, NOP,
	// timestamps (the fast path reads this layout without walking it).
	ip4 = ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	tsOnly := tcpLayer(ip4)
	tsOnly.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x10, 0x01, 0, 0, 0x20, 0x02}}}
	data4 := withMAC(v4, macA)
	data4.DataOffset = 32
	data4.Opts = Options{HasTS: true, TSVal: 0x1001, TSEcr: 0x2002, Count: 1}
	add("ethernet_ipv4_timestamps", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), ip4, tsOnly, testPayload), data4)

	ip6 := ipv6Layer(ip6A, ip6B, layers.IPProtocolTCP)
	add("ethernet_ipv6", 1, buildFrame(t, ether(layers.EthernetTypeIPv6), ip6, tcpLayer(ip6), testPayload), withMAC(v6, macA))

	ip6 = ipv6Layer(ip6A, ip6B, layers.IPProtocolTCP)
	add("dot1q_ipv6", 1, buildFrame(t, ether(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv6}, ip6, tcpLayer(ip6), testPayload),
		vlan(withMAC(v6, macA), 100))

	ip4 = ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	add("qinq_88a8", 1, buildFrame(t, ether(layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeIPv4}, ip4, tcpLayer(ip4), testPayload),
		vlan(withMAC(v4, macA), 200))

	add("qinq_9100", 1, joinBytes(macB, macA, u16(0x9100), u16(0x2000|210), u16(0x8100), u16(310), u16(0x0800), inner4(t)),
		vlan(withMAC(v4, macA), 210))

	ip4 = ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	add("mpls_ipv4", 1, buildFrame(t, ether(layers.EthernetTypeMPLSUnicast),
		&layers.MPLS{Label: 16, TTL: 64}, &layers.MPLS{Label: 17, StackBottom: true, TTL: 64},
		ip4, tcpLayer(ip4), testPayload), withMAC(v4, macA))

	add("mpls_multicast_ipv6", 1, joinBytes(macB, macA, u16(0x8848), mplsLabels(1), inner6(t)), withMAC(v6, macA))

	add("mpls_pseudowire_ethernet", 1, joinBytes(macB, macA, u16(0x8847), mplsLabels(3), []byte{0, 0, 0, 1}, innerEther4(t)),
		withMAC(v4, macIn))

	// Without a control word the inner destination MAC must not start with
	// a 0 nibble (read as a control word), 4 or 6 (read as IP).
	add("mpls_ethernet_no_control_word", 1, joinBytes(macB, macA, u16(0x8847), mplsLabels(2),
		[]byte{0xa2, 0, 0, 0, 0, 1}, innerEther4(t)[6:]),
		withMAC(v4, macIn))

	add("llc_snap", 1, func() []byte {
		in := inner4(t)
		return joinBytes(macB, macA, u16(uint16(8+len(in))), []byte{0xaa, 0xaa, 0x03, 0, 0, 0}, u16(0x0800), in)
	}(), withMAC(v4, macA))

	add("pppoe", 1, func() []byte {
		in := inner4(t)
		return joinBytes(macB, macA, u16(0x8864), []byte{0x11, 0x00, 0x00, 0x01}, u16(uint16(2+len(in))), u16(0x0021), in)
	}(), withMAC(v4, macA))

	add("sll_ipv4", 113, joinBytes(sllHeader(0x0800), inner4(t)), withMAC(v4, macA))
	add("sll_vlan_ipv6", 113, joinBytes(sllHeader(0x8100), u16(42), u16(0x86dd), inner6(t)), vlan(withMAC(v6, macA), 42))
	add("sll2_ipv4", 276, joinBytes(sll2Header(0x0800), inner4(t)), withMAC(v4, macA))
	add("sll2_ipv6", 276, joinBytes(sll2Header(0x86dd), inner6(t)), withMAC(v6, macA))

	add("raw_ipv4", 101, inner4(t), v4)
	add("raw_ipv6", 101, inner6(t), v6)
	add("raw_bsd12", 12, inner4(t), v4)
	add("raw_openbsd14", 14, inner6(t), v6)
	add("ipv4", 228, inner4(t), v4)
	add("ipv6", 229, inner6(t), v6)

	ip4 = ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	add("null_ipv4", 0, buildFrame(t, &layers.Loopback{Family: layers.ProtocolFamilyIPv4}, ip4, tcpLayer(ip4), testPayload), v4)
	for _, af := range []uint32{24, 28, 30} {
		le := binary.LittleEndian.AppendUint32(nil, af)
		be := binary.BigEndian.AppendUint32(nil, af)
		add("null_ipv6_af"+string(rune('0'+af/10))+string(rune('0'+af%10)), 0, joinBytes(le, inner6(t)), v6)
		add("null_big_endian_ipv6_af"+string(rune('0'+af/10))+string(rune('0'+af%10)), 0, joinBytes(be, inner6(t)), v6)
		add("loop_ipv6_af"+string(rune('0'+af/10))+string(rune('0'+af%10)), 108, joinBytes(be, inner6(t)), v6)
	}
	add("loop_ipv4", 108, joinBytes([]byte{0, 0, 0, 2}, inner4(t)), v4)

	add("chdlc_ipv4", 104, joinBytes([]byte{0x0f, 0x00}, u16(0x0800), inner4(t)), v4)
	add("chdlc_ipv6", 104, joinBytes([]byte{0x8f, 0x00}, u16(0x86dd), inner6(t)), v6)

	add("nflog_ipv4", 239, nflogFrame(binary.LittleEndian, 2, inner4(t)), withMAC(v4, macA))
	add("nflog_ipv6_big_endian", 239, nflogFrame(binary.BigEndian, 10, inner6(t)), withMAC(v6, macA))

	add("ethernet_mpacket", 274, joinBytes([]byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5}, innerEther4(t)),
		withMAC(v4, macIn))

	add("ppp_ipv4", 9, joinBytes([]byte{0xff, 0x03}, u16(0x0021), inner4(t)), v4)
	add("ppp_compressed_ipv6", 9, joinBytes([]byte{0x57}, inner6(t)), v6)

	add("ipv6_extension_headers", 229, ipv6ExtChain(t), v6)

	add("pflog_freebsd_ipv4", 117, joinBytes(pflogHeader(61, 2), inner4(t)), v4)
	add("pflog_openbsd_ipv6", 117, joinBytes(pflogHeader(100, 24), inner6(t)), v6)
	add("ppp_hdlc_ipv4", 50, joinBytes([]byte{0xff, 0x03}, u16(0x0021), inner4(t)), v4)

	// Tunnels.
	add("gre_ipv4_key_seq", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{KeyPresent: true, Key: 99, SeqPresent: true, Seq: 5, ChecksumPresent: true, Protocol: layers.EthernetTypeIPv4},
		gopacket.Payload(inner4(t))), tunnelled(withMAC(v4, macA), TunnelGRE))

	add("gre_teb_ethernet", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging},
		gopacket.Payload(innerEther4(t))), tunnelled(withMAC(v4, macIn), TunnelGRE))

	add("gre_over_ipv6", 1, buildFrame(t, ether(layers.EthernetTypeIPv6), outerIP6(layers.IPProtocolGRE),
		&layers.GRE{Protocol: layers.EthernetTypeIPv6}, gopacket.Payload(inner6(t))), tunnelled(withMAC(v6, macA), TunnelGRE))

	add("erspan_type2", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{SeqPresent: true, Seq: 1, Protocol: layers.EthernetTypeERSPAN},
		&layers.ERSPANII{Version: 1, VLANIdentifier: 12, SessionID: 3, Index: 1},
		gopacket.Payload(innerEther4(t))), tunnelled(withMAC(v4, macIn), TunnelERSPAN))

	add("erspan_type1", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{Protocol: layers.EthernetTypeERSPAN},
		gopacket.Payload(innerEther4(t))), tunnelled(withMAC(v4, macIn), TunnelERSPAN))

	erspan3 := []byte{0x20, 0x0c, 0x00, 0x03, 1, 2, 3, 4, 0, 0, 0, 0}
	erspan3O := append(append([]byte(nil), erspan3...), 1, 2, 3, 4, 5, 6, 7, 8)
	erspan3O[11] |= 1
	add("erspan_type3", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x22eb},
		gopacket.Payload(joinBytes(erspan3, innerEther4(t)))), tunnelled(withMAC(v4, macIn), TunnelERSPAN))
	add("erspan_type3_subheader", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{SeqPresent: true, Seq: 1, Protocol: 0x22eb},
		gopacket.Payload(joinBytes(erspan3O, innerEther4(t)))), tunnelled(withMAC(v4, macIn), TunnelERSPAN))

	wlan := joinBytes([]byte{0x88, 0x01, 0, 0}, macB, macIn, macB, []byte{0, 0}, []byte{0, 0}, // QoS data, ToDS
		[]byte{0xaa, 0xaa, 0x03, 0, 0, 0}, u16(0x0800), inner4(t))
	add("ieee80211_qos_data", 105, wlan, withMAC(v4, macIn))
	add("radiotap_80211", 127, joinBytes([]byte{0, 0, 8, 0, 0, 0, 0, 0}, wlan), withMAC(v4, macIn))
	add("gre_aruba_80211", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{Protocol: 0x8200}, gopacket.Payload(wlan)), tunnelled(withMAC(v4, macIn), TunnelGRE))

	add("vxlan", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(innerEther4(t))), tunnelled(withMAC(v4, macIn), TunnelVXLAN))

	add("vxlan_linux_port", 1, buildFrame(t, ether(layers.EthernetTypeIPv6), outerIP6(layers.IPProtocolUDP), udp(8472),
		&layers.VXLAN{ValidIDFlag: true, VNI: 42}, gopacket.Payload(innerEther4(t))), tunnelled(withMAC(v4, macIn), TunnelVXLAN))

	add("geneve_options", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(6081),
		gopacket.Payload(joinBytes([]byte{0x02, 0x00}, u16(0x6558), []byte{0, 0, 42, 0},
			[]byte{0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef}, innerEther4(t)))),
		tunnelled(withMAC(v4, macIn), TunnelGeneve))

	add("geneve_ipv6", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(6081),
		gopacket.Payload(joinBytes([]byte{0x00, 0x00}, u16(0x86dd), []byte{0, 0, 42, 0}, inner6(t)))),
		tunnelled(withMAC(v6, macA), TunnelGeneve))

	add("ipip", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolIPv4), gopacket.Payload(inner4(t))),
		tunnelled(withMAC(v4, macA), TunnelIPIP))

	add("6in4", 101, buildFrame(t, outerIP4(layers.IPProtocolIPv6), gopacket.Payload(inner6(t))), tunnelled(v6, TunnelIPIP))

	add("ipv6_in_ipv6", 229, buildFrame(t, outerIP6(layers.IPProtocolIPv6), gopacket.Payload(inner6(t))), tunnelled(v6, TunnelIPIP))

	add("ipv4_in_ipv6", 229, buildFrame(t, outerIP6(layers.IPProtocolIPv4), gopacket.Payload(inner4(t))), tunnelled(v4, TunnelIPIP))

	// VXLAN inside GRE: the outermost tunnel is reported.
	add("gre_then_vxlan", 229, buildFrame(t, outerIP6(layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4},
		outerIP4(layers.IPProtocolUDP), udp(4789), &layers.VXLAN{ValidIDFlag: true, VNI: 1}, gopacket.Payload(innerEther4(t))),
		tunnelled(withMAC(v4, macIn), TunnelGRE))

	// Tunnels of issue 18: GTP-U, AYIYA, L2TP, VXLAN-GPE, Teredo, GRE in UDP.
	add("gtpu_ipv4", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(2152),
		&layers.GTPv1U{Version: 1, ProtocolType: 1, MessageType: 255, TEID: 0x1234}, gopacket.Payload(inner4(t))),
		tunnelled(withMAC(v4, macA), TunnelGTPU))
	add("gtpu_extension_headers_ipv6", 101, buildFrame(t, outerIP4(layers.IPProtocolUDP), udp(2152),
		gopacket.Payload(gtpuHeader(inner6(t), []byte{0x85}, []byte{1, 0x10, 0x01, 0x40}, []byte{2, 0, 0, 0, 0, 0, 0, 0}))),
		tunnelled(v6, TunnelGTPU))
	add("ayiya_ipv6", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(5072),
		gopacket.Payload(joinBytes([]byte{0x41, 0x52, 0x11, 41, 0x5f, 0, 0, 0}, bytes.Repeat([]byte{0xaa}, 16),
			bytes.Repeat([]byte{0xbb}, 20), inner6(t)))),
		tunnelled(withMAC(v6, macA), TunnelAYIYA))
	add("l2tpv2_ppp_ipv4", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(1701),
		gopacket.Payload(joinBytes(u16(0x4002), u16(uint16(8+4+len(inner4(t)))), u16(7), u16(9), []byte{0xff, 0x03}, u16(0x0021), inner4(t)))),
		tunnelled(withMAC(v4, macA), TunnelL2TP))
	add("l2tpv2_sequence_offset_ipv6", 101, buildFrame(t, outerIP4(layers.IPProtocolUDP), udp(1701),
		gopacket.Payload(joinBytes(u16(0x0a02), u16(7), u16(9), u16(1), u16(2), u16(3), []byte{0, 0, 0}, []byte{0xff, 0x03}, u16(0x0057), inner6(t)))),
		tunnelled(v6, TunnelL2TP))
	add("l2tpv3_udp_cookie_ethernet", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(1701),
		gopacket.Payload(joinBytes(u16(0x0003), u16(0), []byte{0, 0, 0x12, 0x34}, []byte{1, 2, 3, 4}, innerEther4(t)))),
		tunnelled(withMAC(v4, macIn), TunnelL2TP))
	add("l2tpv3_ip_cookie8_sublayer_ethernet", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(115),
		gopacket.Payload(joinBytes([]byte{0, 0, 0x12, 0x34}, []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{0x40, 0, 0, 1}, innerEther4(t)))),
		tunnelled(withMAC(v4, macIn), TunnelL2TP))
	add("l2tpv3_ip_raw_ipv6", 229, buildFrame(t, outerIP6(115), gopacket.Payload(joinBytes([]byte{0, 0, 0, 9}, inner6(t)))),
		tunnelled(v6, TunnelL2TP))
	add("vxlan_gpe_ipv4", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(4790),
		gopacket.Payload(joinBytes([]byte{0x0c, 0, 0, 1, 0, 0, 42, 0}, inner4(t)))),
		tunnelled(withMAC(v4, macA), TunnelVXLANGPE))
	add("vxlan_gpe_nsh_ethernet", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(4790),
		gopacket.Payload(joinBytes([]byte{0x0c, 0, 0, 4, 0, 0, 42, 0}, []byte{0x0f, 0xc6, 0x01, 0x03, 0, 0, 1, 0xff},
			make([]byte, 16), innerEther4(t)))),
		tunnelled(withMAC(v4, macIn), TunnelVXLANGPE))
	add("teredo_origin_indication", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(3544),
		gopacket.Payload(joinBytes([]byte{0, 0, 0xf2, 0x27, 0x3f, 0xff, 0xfd, 0xfe}, inner6(t)))),
		tunnelled(withMAC(v6, macA), TunnelTeredo))
	add("gre_in_udp", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolUDP), udp(4754),
		gopacket.Payload(joinBytes(u16(0), u16(0x0800), inner4(t)))),
		tunnelled(withMAC(v4, macA), TunnelGRE))
	add("pppoe_ipv6", 1, func() []byte {
		in := inner6(t)
		return joinBytes(macB, macA, u16(0x8864), []byte{0x11, 0x00, 0x00, 0x01}, u16(uint16(2+len(in))), u16(0x0057), in)
	}(), withMAC(v6, macA))

	// Deep stacks real networks produce (issue 14.13).
	gtp := buildFrame(t, &layers.Ethernet{SrcMAC: macIn, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		outerIP4(layers.IPProtocolIPv4), outerIP4(layers.IPProtocolUDP), udp(2152), gopacket.Payload(gtpuHeader(inner4(t))))
	geneve := buildFrame(t, &layers.Ethernet{SrcMAC: macB, DstMAC: macA, EthernetType: layers.EthernetTypeIPv6},
		outerIP6(layers.IPProtocolUDP), udp(6081), gopacket.Payload(joinBytes([]byte{0, 0}, u16(0x6558), []byte{0, 0, 9, 0}, gtp)))
	add("five_tunnels_deep", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), outerIP4(layers.IPProtocolGRE),
		&layers.GRE{Protocol: layers.EthernetTypeIPv4}, outerIP4(layers.IPProtocolUDP), udp(4789),
		&layers.VXLAN{ValidIDFlag: true, VNI: 7}, gopacket.Payload(geneve)),
		tunnelled(withMAC(v4, macIn), TunnelGRE))
	add("nine_vlan_tags", 1, joinBytes(macB, macA, bytes.Repeat(joinBytes(u16(0x8100), u16(77)), 9), u16(0x0800), inner4(t)),
		vlan(withMAC(v4, macA), 77))
	add("seventeen_mpls_labels", 1, joinBytes(macB, macA, u16(0x8847), mplsLabels(17), inner4(t)), withMAC(v4, macA))
	add("ipv6_20_extension_headers", 229, ipv6DstOptsChain(t, 20), v6)

	// IPv4 options and a first fragment (more fragments to come).
	ip4 = ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	ip4.IHL = 0
	ip4.Flags = layers.IPv4MoreFragments
	ip4.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}} // record route
	frag := withMAC(v4, macA)
	frag.DF = false
	add("ipv4_options_first_fragment", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), ip4, tcpLayer(ip4), testPayload), frag)

	return cases
}

// checkPacket compares every field Decode sets.
func checkPacket(t *testing.T, name string, got, want Packet) {
	t.Helper()
	if !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("%s: Payload got %q, want %q", name, got.Payload, want.Payload)
	}
	got.Payload, want.Payload = nil, nil
	got.Frame, want.Frame = nil, nil
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if !gv.Type().Field(i).IsExported() {
			continue // Packet's padding
		}
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %s got %+v, want %+v", name, gv.Type().Field(i).Name, g, w)
		}
	}
}

func TestDecode(t *testing.T) {
	d := NewDecoder()
	for _, c := range decodeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := Packet{Index: 7, Input: 2, CapLen: len(c.frame), WireLen: 1500,
				VLAN: 999, Tunnel: TunnelGeneve, Len: 12345} // stale values must be cleared
			if err := d.Decode(c.linkType, c.frame, &p); err != nil {
				t.Fatalf("frame %q: got error %v, want nil", c.name, err)
			}
			want := c.want
			want.Index, want.Input, want.CapLen, want.WireLen = 7, 2, len(c.frame), 1500
			want.LinkType = c.linkType
			checkPacket(t, c.name, p, want)
			if &p.Frame[0] != &c.frame[0] || len(p.Frame) != len(c.frame) {
				t.Errorf("Frame does not alias the input frame")
			}
			if !insideFrame(p.Payload, c.frame) {
				t.Errorf("Payload does not alias the input frame")
			}
		})
	}
}

// insideFrame reports whether sub is a slice of the array behind frame.
func insideFrame(sub, frame []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := range frame {
		if &frame[i] == &sub[0] {
			return i+len(sub) <= len(frame)
		}
	}
	return false
}

func TestDecode_paddedRST(t *testing.T) {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 443, DstPort: 40000, Seq: 77, RST: true, Window: 0}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	frame := buildFrame(t, ether(layers.EthernetTypeIPv4), ip, tcp)
	if len(frame) != 60 {
		t.Fatalf("frame length got %d, want 60 (padded)", len(frame))
	}
	var p Packet
	if err := NewDecoder().Decode(1, frame, &p); err != nil {
		t.Fatalf("padded rst: got error %v", err)
	}
	if p.Len != 0 || len(p.Payload) != 0 {
		t.Errorf("padded rst: got Len %d, payload %d bytes; want 0 and 0", p.Len, len(p.Payload))
	}
	if p.Flags != RST || p.Seq != 77 || p.DataOffset != 20 || p.Opts != (Options{}) {
		t.Errorf("padded rst: got flags %v seq %d offset %d opts %+v; want R 77 20 none", p.Flags, p.Seq, p.DataOffset, p.Opts)
	}
	if p.Truncated() {
		t.Errorf("padded rst: Truncated() got true, want false")
	}
}

func TestDecode_snaplen(t *testing.T) {
	body := gopacket.Payload(bytes.Repeat([]byte{'x'}, 1000))
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	full := buildFrame(t, ether(layers.EthernetTypeIPv4), ip, tcpLayer(ip), body)
	ip6 := ipv6Layer(ip6A, ip6B, layers.IPProtocolTCP)
	full6 := buildFrame(t, ether(layers.EthernetTypeIPv6), ip6, tcpLayer(ip6), body)
	vxlan := buildFrame(t, ether(layers.EthernetTypeIPv4), ipv4Layer(outer4[0], outer4[1], layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 1, DstPort: 4789}, &layers.VXLAN{ValidIDFlag: true},
		gopacket.Payload(buildFrame(t, ether(layers.EthernetTypeIPv4), ip, tcpLayer(ip), body)))
	hdr4, hdr6 := 14+20+40, 14+40+40
	hdrVXLAN := 14 + 20 + 8 + 8 + hdr4
	for _, c := range []struct {
		name  string
		frame []byte
		cut   int // captured bytes
		hdr   int
	}{
		{"ipv4_cut_in_payload", full, hdr4 + 10, hdr4},
		{"ipv4_cut_at_payload", full, hdr4, hdr4},
		{"ipv6_cut_in_payload", full6, hdr6 + 1, hdr6},
		{"vxlan_cut_in_inner_payload", vxlan, hdrVXLAN + 100, hdrVXLAN},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			if err := NewDecoder().Decode(1, c.frame[:c.cut], &p); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if p.Len != 1000 || len(p.Payload) != c.cut-c.hdr {
				t.Errorf("got Len %d payload %d, want 1000 and %d", p.Len, len(p.Payload), c.cut-c.hdr)
			}
			if !p.Truncated() {
				t.Errorf("Truncated() got false, want true")
			}
			if !p.Opts.HasTS || p.Opts.TSVal != 0x1001 {
				t.Errorf("options got %+v, want the timestamps", p.Opts)
			}
		})
	}
	// A cut inside the 20-byte fixed TCP header is an error.
	var p Packet
	if err := NewDecoder().Decode(1, full[:14+20+10], &p); !errors.Is(err, ErrMalformed) {
		t.Errorf("tcp header cut at %d: got error %v, want ErrMalformed", 14+20+10, err)
	}
	// A cut inside the options keeps the fixed header (as tshark does):
	// flags and seq are known, options are Bad, there is no payload.
	for _, cut := range []int{14 + 20 + 20, hdr4 - 1} {
		var p Packet
		if err := NewDecoder().Decode(1, full[:cut], &p); err != nil {
			t.Fatalf("options cut at %d: got error %v, want nil", cut, err)
		}
		if !p.Opts.Bad || p.Len != 0 || len(p.Payload) != 0 || p.Seq == 0 {
			t.Errorf("options cut at %d: got bad=%v len=%d payload=%d seq=%d, want bad, 0, 0, the seq", cut, p.Opts.Bad, p.Len, len(p.Payload), p.Seq)
		}
	}
}

// setTCPOffset rewrites the data offset of the TCP header at off in frame.
func setTCPOffset(frame []byte, off int, words byte) []byte {
	f := append([]byte(nil), frame...)
	f[off+12] = words<<4 | f[off+12]&0x0f
	return f
}

func TestDecode_errors(t *testing.T) {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	good := buildFrame(t, ether(layers.EthernetTypeIPv4), ip, tcpLayer(ip), testPayload)
	udp4 := ipv4Layer(ip4A, ip4B, layers.IPProtocolUDP)
	icmp4 := ipv4Layer(ip4A, ip4B, layers.IPProtocolICMPv4)
	frag := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	frag.FragOffset = 185
	ip6frag := ipv6Layer(ip6A, ip6B, layers.IPProtocolIPv6Fragment)
	noNext := ipv6Layer(ip6A, ip6B, layers.IPProtocolNoNextHeader)
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: macA, SourceProtAddress: ip4A.AsSlice(), DstHwAddress: macB, DstProtAddress: ip4B.AsSlice()}
	badIHL := append([]byte(nil), good...)
	badIHL[14] = 0x44
	badTotal := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(badTotal[16:], 19)
	badVersion := append([]byte(nil), good...)
	badVersion[14] = 0x55

	for _, c := range []struct {
		name     string
		linkType int
		frame    []byte
		want     error
	}{
		{"arp", 1, buildFrame(t, ether(layers.EthernetTypeARP), arp), ErrNotTCP},
		{"udp", 1, buildFrame(t, ether(layers.EthernetTypeIPv4), udp4, &layers.UDP{SrcPort: 53, DstPort: 53}, gopacket.Payload("dns")), ErrNotTCP},
		{"udp_to_vxlan_port_without_i_flag", 101, buildFrame(t, udp4, &layers.UDP{SrcPort: 1, DstPort: 4789}, gopacket.Payload("12345678abcdefgh")), ErrNotTCP},
		{"icmp", 101, buildFrame(t, icmp4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner4(t)[:28])), ErrNotTCP},
		{"ipv4_non_first_fragment", 101, buildFrame(t, frag, gopacket.Payload("fragment data")), ErrNotTCP},
		{"ipv6_non_first_fragment", 229, buildFrame(t, ip6frag, gopacket.Payload([]byte{6, 0, 0x05, 0x00, 0, 0, 0, 1, 'd', 'a', 't', 'a'})), ErrNotTCP},
		{"ipv6_no_next_header", 229, buildFrame(t, noNext), ErrNotTCP},
		{"unknown_ethertype", 1, joinBytes(macB, macA, u16(0x88cc), make([]byte, 46)), ErrNotTCP},
		{"llc_not_snap", 1, joinBytes(macB, macA, u16(46), []byte{0x42, 0x42, 0x03}, make([]byte, 43)), ErrNotTCP},
		{"null_unknown_family", 0, joinBytes([]byte{7, 0, 0, 0}, inner4(t)), ErrNotTCP},
		{"nflog_without_payload", 239, []byte{2, 0, 0, 1, 8, 0, 1, 0, 8, 0, 3, 0}, ErrNotTCP},
		{"gre_unknown_protocol", 101, buildFrame(t, ipv4Layer(ip4A, ip4B, layers.IPProtocolGRE), &layers.GRE{Protocol: 0x0806}, gopacket.Payload("arp")), ErrNotTCP},
		{"chdlc_slarp", 104, joinBytes([]byte{0x8f, 0}, u16(0x8035), make([]byte, 20)), ErrNotTCP},

		{"ethernet_cut", 1, good[:10], ErrMalformed},
		{"sll_cut", 113, sllHeader(0x0800)[:12], ErrMalformed},
		{"ipv4_cut", 1, good[:14+12], ErrMalformed},
		{"ipv4_ihl_below_5", 1, badIHL, ErrMalformed},
		{"ipv4_total_below_ihl", 1, badTotal, ErrMalformed},
		{"ip_version_5", 1, badVersion, ErrMalformed},
		{"raw_version_7", 101, []byte{0x70, 1, 2, 3}, ErrMalformed},
		{"ipv6_cut", 229, inner6(t)[:39], ErrMalformed},
		{"ipv6_extension_cut", 229, ipv6ExtChain(t)[:40+20], ErrMalformed},
		{"tcp_segment_below_20", 101, func() []byte {
			f := append([]byte(nil), inner4(t)...)
			binary.BigEndian.PutUint16(f[2:], 20+12)
			return f
		}(), ErrMalformed},
		{"mpls_stack_cut", 1, joinBytes(macB, macA, u16(0x8847), []byte{0, 0x10, 0, 64, 0, 0x11}), ErrMalformed},
		{"mpls_no_bottom", 1, joinBytes(macB, macA, u16(0x8847), bytes.Repeat([]byte{0, 0x10, 0, 64}, 40)), ErrMalformed},
		{"too_many_vlan_tags", 1, joinBytes(macB, macA, bytes.Repeat(joinBytes(u16(0x8100), u16(5)), maxTags+1), u16(0x0800), inner4(t)), ErrMalformed},
		{"too_many_mpls_labels", 1, joinBytes(macB, macA, u16(0x8847), mplsLabels(maxLabels+1), inner4(t)), ErrMalformed},
		{"too_many_ipv6_extension_headers", 229, ipv6DstOptsChain(t, maxExtHeaders+1), ErrMalformed},
		{"nflog_tlv_overrun", 239, []byte{2, 0, 0, 1, 8, 0, 1, 0, 8, 0, 3, 0, 0xff, 0, 9, 0, 0x45}, ErrMalformed},
		{"tunnels_too_deep", 101, func() []byte {
			f := inner4(t)
			for range maxTunnels + 1 {
				f = buildFrame(t, ipv4Layer(ip4A, ip4B, layers.IPProtocolIPv4), gopacket.Payload(f))
			}
			return f
		}(), ErrMalformed},

		{"unsupported_link_type", 147, good, ErrUnsupportedLinkType},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p Packet
			err := NewDecoder().Decode(c.linkType, c.frame, &p)
			if !errors.Is(err, c.want) {
				t.Fatalf("got error %v, want %v", err, c.want)
			}
			for _, other := range []error{ErrNotTCP, ErrMalformed, ErrUnsupportedLinkType} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
		})
	}
}

func TestDecode_unsupportedLinkTypeNamed(t *testing.T) {
	err := NewDecoder().Decode(147, []byte{1, 2, 3}, &Packet{})
	if err == nil || err.Error() != "unsupported link type 147" {
		t.Errorf("got %v, want an error naming link type 147", err)
	}
}

func TestDecode_maxTunnels(t *testing.T) {
	f := inner4(t)
	for range maxTunnels {
		f = buildFrame(t, ipv4Layer(ip4A, ip4B, layers.IPProtocolIPv4), gopacket.Payload(f))
	}
	var p Packet
	if err := NewDecoder().Decode(101, f, &p); err != nil {
		t.Fatalf("%d nested ipip tunnels: got error %v, want nil", maxTunnels, err)
	}
	if p.Tunnel != TunnelIPIP || p.Src.Addr() != ip4A || p.TTL != 61 {
		t.Errorf("got tunnel %v src %v ttl %d, want ipip %v 61", p.Tunnel, p.Src, p.TTL, ip4A)
	}
}

func TestParseOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []byte
		want Options
	}{
		{"empty", nil, Options{}},
		{"nop_padding", []byte{1, 1, 1, 1}, Options{}},
		{"mss", []byte{2, 4, 0x05, 0xb4}, Options{MSS: 1460, HasMSS: true, Count: 1}},
		{"eol_stops", []byte{0, 2, 4, 0x05, 0xb4}, Options{}},
		{"sack_two_blocks", joinBytes([]byte{1, 1, 5, 18}, make([]byte, 16)), Options{HasSACK: true, Count: 1}},
		{"unknown_kind_skipped", []byte{30, 4, 0, 0, 3, 3, 14, 0}, Options{WScale: 14, HasWScale: true, Count: 2}},
		{"length_past_end", []byte{2, 4, 0x05, 0xb4, 8, 10, 0, 0}, Options{MSS: 1460, HasMSS: true, Count: 1, Bad: true}},
		{"length_missing", []byte{1, 2}, Options{Bad: true}},
		{"length_zero", []byte{30, 0, 2, 4, 1, 1}, Options{Bad: true}},
		{"mss_wrong_length", []byte{2, 3, 5, 4, 2, 0, 0, 0}, Options{SACKPerm: true, Count: 2, Bad: true}},
		{"sack_odd_length", []byte{5, 6, 0, 0, 0, 0}, Options{Count: 1, Bad: true}},
		{"timestamps", []byte{1, 1, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, Options{HasTS: true, TSVal: 0xffffffff, TSEcr: 1, Count: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Options{MSS: 9, Bad: true} // stale values must be cleared
			parseOptions(c.opts, &got)
			if got != c.want {
				t.Errorf("options %x: got %+v, want %+v", c.opts, got, c.want)
			}
		})
	}
}

func TestDecode_flags(t *testing.T) {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, ECE: true, CWR: true, NS: true, URG: true, FIN: true, PSH: true}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	frame := buildFrame(t, ip, tcp)
	frame[20+12] |= 0x0e // the three reserved bits
	var p Packet
	if err := NewDecoder().Decode(101, frame, &p); err != nil {
		t.Fatal(err)
	}
	if want := SYN | ECE | CWR | NS | URG | FIN | PSH; p.Flags != want {
		t.Errorf("flags got %v, want %v", p.Flags, want)
	}
	if p.Reserved != 7 {
		t.Errorf("reserved got %d, want 7", p.Reserved)
	}
}

// TestDecode_segmentationOffload: an IPv4 total length of 0 (the NIC fills it
// in) takes the captured length.
func TestDecode_segmentationOffload(t *testing.T) {
	f := append([]byte(nil), inner4(t)...)
	f[2], f[3] = 0, 0
	var p Packet
	if err := NewDecoder().Decode(101, f, &p); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if p.Len != len(testPayload) || string(p.Payload) != string(testPayload) {
		t.Errorf("got Len %d payload %q, want %d %q", p.Len, p.Payload, len(testPayload), testPayload)
	}
}

// zeroAllocFrames are the hot-path frames that must decode without allocating.
func zeroAllocFrames(t testing.TB) []decodeCase {
	want := map[string]bool{"ethernet_ipv4": true, "dot1q_ipv6": true, "sll2_ipv4": true, "sll_ipv4": true,
		"raw_ipv6": true, "null_ipv4": true, "vxlan": true, "erspan_type2": true, "nflog_ipv4": true,
		"gtpu_extension_headers_ipv6": true, "ayiya_ipv6": true, "l2tpv2_ppp_ipv4": true, "l2tpv3_ip_cookie8_sublayer_ethernet": true,
		"vxlan_gpe_nsh_ethernet": true, "teredo_origin_indication": true, "pflog_freebsd_ipv4": true, "five_tunnels_deep": true}
	var out []decodeCase
	for _, c := range decodeCases(t) {
		if want[c.name] {
			out = append(out, c)
		}
	}
	if len(out) != len(want) {
		t.Fatalf("zero-alloc frames: got %d cases, want %d", len(out), len(want))
	}
	return out
}

func TestDecode_allocs(t *testing.T) {
	d := NewDecoder()
	var p Packet
	for _, c := range zeroAllocFrames(t) {
		n := testing.AllocsPerRun(100, func() {
			if err := d.Decode(c.linkType, c.frame, &p); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: got %v allocs per decode, want 0", c.name, n)
		}
	}
	// Error paths do not allocate either.
	f := joinBytes(macB, macA, u16(0x0806), make([]byte, 46))
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(1, f, &p) }); n != 0 {
		t.Errorf("arp: got %v allocs per decode, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(1, f[:5], &p) }); n != 0 {
		t.Errorf("cut frame: got %v allocs per decode, want 0", n)
	}
}

// TestDecode_bogusDataOffset: a segment whose data offset is below 20 or
// beyond the segment keeps its fixed header, like tshark, with Opts.Bad and
// no payload, so it is still counted as TCP.
func TestDecode_bogusDataOffset(t *testing.T) {
	ip := ipv4Layer(ip4A, ip4B, layers.IPProtocolTCP)
	good := buildFrame(t, ether(layers.EthernetTypeIPv4), ip, tcpLayer(ip), testPayload)
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"offset_4_words", setTCPOffset(good, 34, 4)},
		{"offset_0", setTCPOffset(good, 34, 0)},
		{"offset_beyond_segment", setTCPOffset(good[:14+20+40], 34, 15)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want, got Packet
			if err := NewDecoder().Decode(1, good, &want); err != nil {
				t.Fatal(err)
			}
			if err := NewDecoder().Decode(1, c.frame, &got); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got.Src != want.Src || got.Seq != want.Seq || got.Ack != want.Ack || got.Flags != want.Flags {
				t.Errorf("fixed header: got %v seq %d ack %d %v, want %v seq %d ack %d %v", got.Src, got.Seq, got.Ack, got.Flags, want.Src, want.Seq, want.Ack, want.Flags)
			}
			if !got.Opts.Bad || got.Len != 0 || len(got.Payload) != 0 {
				t.Errorf("got bad=%v len=%d payload=%d, want bad options and no payload", got.Opts.Bad, got.Len, len(got.Payload))
			}
		})
	}
}

// TestDecode_hidden: frames that may carry TCP inside something Decode does
// not open are ErrNotTCP with the reason recorded; frames known to carry no
// TCP (a tunnel's control messages, ARP, LLDP, DNS) have none.
func TestDecode_hidden(t *testing.T) {
	ip4 := func(proto layers.IPProtocol) *layers.IPv4 { return ipv4Layer(outer4[0], outer4[1], proto) }
	udp := func(port layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: 40000, DstPort: port} }
	udpFrame := func(port layers.UDPPort, payload []byte) []byte {
		return buildFrame(t, ip4(layers.IPProtocolUDP), udp(port), gopacket.Payload(payload))
	}
	none := HiddenReason{}
	for _, c := range []struct {
		name     string
		linkType int
		frame    []byte
		want     HiddenReason
		str      string
	}{
		{"gtpu_echo_request", 101, udpFrame(2152, []byte{0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0}), none, ""},
		{"gtpu_extension_overrun", 101, udpFrame(2152, []byte{0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 9, 0, 0, 0}),
			HiddenReason{HiddenUDPPort, 2152}, "UDP/2152 (GTP-U)"},
		{"gtpu_version_0", 101, udpFrame(2152, joinBytes([]byte{0x10, 0xff, 0, 0, 0, 0, 0, 1}, inner4(t))),
			HiddenReason{HiddenUDPPort, 2152}, "UDP/2152 (GTP-U)"},
		{"gtpu_ethernet_pdu", 101, udpFrame(2152, gtpuHeader(innerEther4(t))), HiddenReason{HiddenUDPPort, 2152}, "UDP/2152 (GTP-U)"},
		{"gtpu_carrying_dns", 101, udpFrame(2152, gtpuHeader(buildFrame(t, ipv4Layer(ip4A, ip4B, layers.IPProtocolUDP),
			&layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("dns")))), none, ""},
		{"l2tp_control", 101, udpFrame(1701, []byte{0xc8, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0}), none, ""},
		{"l2tpv3_unknown_pseudowire", 101, udpFrame(1701, joinBytes(u16(0x0003), u16(0), []byte{0, 0, 0, 1}, bytes.Repeat([]byte{0x77}, 60))),
			HiddenReason{HiddenUDPPort, 1701}, "UDP/1701 (L2TP)"},
		{"ayiya_heartbeat", 101, udpFrame(5072, joinBytes([]byte{0x41, 0x52, 0x12, 59, 0, 0, 0, 0}, make([]byte, 36))), none, ""},
		{"vxlan_without_i_flag", 101, udpFrame(4789, make([]byte, 30)), HiddenReason{HiddenUDPPort, 4789}, "UDP/4789 (VXLAN)"},
		{"wireguard", 101, buildFrame(t, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 51820, DstPort: 40000}, gopacket.Payload(make([]byte, 64))),
			HiddenReason{HiddenUDPPort, 51820}, "UDP/51820 (WireGuard)"},
		{"esp", 101, buildFrame(t, ip4(layers.IPProtocolESP), gopacket.Payload(make([]byte, 64))), HiddenReason{HiddenIPProto, 50}, "IP protocol 50 (ESP)"},
		{"dns", 101, udpFrame(53, []byte("dns query")), none, ""},
		{"macsec", 1, joinBytes(macB, macA, u16(0x88e5), make([]byte, 60)), HiddenReason{HiddenEtherType, 0x88e5}, "EtherType 0x88e5 (MACsec)"},
		{"unknown_ethertype", 1, joinBytes(macB, macA, u16(0x1234), make([]byte, 46)), HiddenReason{HiddenEtherType, 0x1234}, "EtherType 0x1234"},
		{"lldp", 1, joinBytes(macB, macA, u16(0x88cc), make([]byte, 46)), none, ""},
		{"arp_in_vlan", 1, joinBytes(macB, macA, u16(0x8100), u16(5), u16(0x0806), make([]byte, 46)), none, ""},
		{"unsupported_link_type", 147, inner4(t), HiddenReason{HiddenLinkType, 147}, "link type 147 (USER0)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			var p Packet
			err := d.Decode(c.linkType, c.frame, &p)
			if err == nil {
				t.Fatalf("got a TCP segment, want none")
			}
			if c.linkType != 147 && err != ErrNotTCP {
				t.Errorf("got error %v, want ErrNotTCP", err)
			}
			if d.hidden != c.want {
				t.Errorf("hidden got %+v, want %+v", d.hidden, c.want)
			}
			if c.want != none && d.hidden.String() != c.str {
				t.Errorf("reason got %q, want %q", d.hidden.String(), c.str)
			}
		})
	}
}

// fragmentRST splits inner4's TCP segment (an RST with options and
// testPayload) into IPv4 fragments whose TCP data start at the given byte
// offsets (multiples of 8), each with IP ID id.
func fragmentRST(t testing.TB, id uint16, cuts ...int) [][]byte {
	whole := inner4(t)
	seg := whole[20:]
	var out [][]byte
	for i, start := range cuts {
		end := len(seg)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		hdr := append([]byte(nil), whole[:20]...)
		binary.BigEndian.PutUint16(hdr[2:], uint16(20+end-start))
		binary.BigEndian.PutUint16(hdr[4:], id)
		flags := uint16(start / 8)
		if end < len(seg) {
			flags |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(hdr[6:], flags)
		out = append(out, joinBytes(hdr, seg[start:end]))
	}
	return out
}

// TestDecode_fragmentedTCPHeader: a TCP header split over IPv4 fragments
// (issue 14.13) is decoded from the fragment that completes it; the first
// fragments are held in a bounded table.
func TestDecode_fragmentedTCPHeader(t *testing.T) {
	want := wantV4()
	want.DF, want.IPID = false, 0x4242
	want.LinkType = 101
	for _, cuts := range [][]int{{0, 8}, {0, 16}, {0, 8, 16}, {0, 8, 48}} {
		frags := fragmentRST(t, 0x4242, cuts...)
		d := NewDecoder()
		var p Packet
		for i, f := range frags {
			err := d.Decode(101, f, &p)
			complete := cuts[i]+len(f)-20 >= 20 && (i == 0 || cuts[i] < 20)
			switch {
			case complete && err != nil:
				t.Fatalf("cuts %v: fragment %d: got error %v, want the RST", cuts, i+1, err)
			case complete:
				w := want
				w.Len = cuts[i] + len(f) - 20 - 40
				if i == len(frags)-1 {
					w.Len = len(testPayload)
				}
				w.Payload = []byte(testPayload)[:max(0, min(len(testPayload), cuts[i]+len(f)-20-40))]
				checkPacket(t, "fragmented", p, w)
				if !insideFrame(p.Payload, f) {
					t.Errorf("cuts %v: payload not inside the fragment", cuts)
				}
			case err != ErrNotTCP:
				t.Errorf("cuts %v: fragment %d: got %v, want ErrNotTCP", cuts, i+1, err)
			}
		}
	}
	// Bounded: the oldest of maxFragHeads+1 held fragments is forgotten.
	d := NewDecoder()
	var p Packet
	first := fragmentRST(t, 1, 0, 8)
	if err := d.Decode(101, first[0], &p); err != ErrNotTCP {
		t.Fatal(err)
	}
	for id := uint16(2); id <= maxFragHeads+1; id++ {
		if err := d.Decode(101, fragmentRST(t, id, 0, 8)[0], &p); err != ErrNotTCP {
			t.Fatal(err)
		}
	}
	if err := d.Decode(101, first[1], &p); err != ErrNotTCP {
		t.Errorf("tail of a forgotten first fragment: got %v, want ErrNotTCP", err)
	}
	last := fragmentRST(t, maxFragHeads+1, 0, 8)
	if err := d.Decode(101, last[1], &p); err != nil || !p.Flags.Has(RST) {
		t.Errorf("tail of the newest first fragment: got %v, flags %v, want the RST", err, p.Flags)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = d.Decode(101, first[0], &p)
		_ = d.Decode(101, first[1], &p)
	}); n != 0 {
		t.Errorf("fragments: %v allocations, want 0", n)
	}
	// An unfragmented segment's tail never matches: offsets must chain.
	if err := d.Decode(101, fragmentRST(t, 3, 0, 16)[1], &p); err != ErrNotTCP {
		t.Errorf("tail at 16 after a head of 8: got %v, want ErrNotTCP", err)
	}
}
