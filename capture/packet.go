package capture

import (
	"net/netip"
	"time"
)

// TCPFlags holds the TCP control bits as they sit in the header's 13th byte
// (FIN is bit 0, CWR bit 7), plus NS in bit 8. Reserved bits live in
// Packet.Reserved, not here.
type TCPFlags uint16

// TCP flag bits.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
	NS
)

// Has reports whether all bits in m are set.
func (f TCPFlags) Has(m TCPFlags) bool { return f&m == m }

// flagLetters in the order tcpdump prints them, so "SA", "RA", "PA", "FA".
var flagLetters = [...]struct {
	bit    TCPFlags
	letter byte
}{{SYN, 'S'}, {FIN, 'F'}, {RST, 'R'}, {PSH, 'P'}, {ACK, 'A'}, {URG, 'U'}, {ECE, 'E'}, {CWR, 'W'}, {NS, 'N'}}

// String gives the flags as letters: "S", "SA", "RA", "PA", "FA", "R".
// An empty flag set prints as "." (as tcpdump does).
func (f TCPFlags) String() string {
	if int(f) < len(flagNames) {
		return flagNames[f]
	}
	return f.letters()
}

// flagNames holds String of every set of the nine flags, so that a
// finding's ladder (a row's flags, each packet of each event) allocates
// none.
var flagNames = func() (n [1 << len(flagLetters)]string) {
	for i := range n {
		n[i] = TCPFlags(i).letters()
	}
	return n
}()

// letters builds String's letters.
func (f TCPFlags) letters() string {
	var b [len(flagLetters)]byte
	n := 0
	for _, fl := range flagLetters {
		if f&fl.bit != 0 {
			b[n] = fl.letter
			n++
		}
	}
	if n == 0 {
		return "."
	}
	return string(b[:n])
}

// Options is the decoded subset of TCP options that rstscope's rules use.
// It is fixed-size so that Packet stays a flat value.
type Options struct {
	MSS       uint16 // valid iff HasMSS
	WScale    uint8  // valid iff HasWScale
	HasMSS    bool
	HasWScale bool
	SACKPerm  bool // SACK permitted (SYN only)
	HasSACK   bool // a SACK block option is present
	HasTS     bool // timestamps option present
	TSVal     uint32
	TSEcr     uint32
	// Count is the number of options seen (NOPs and EOL excluded).
	Count uint8
	// Bad is set when the options area could not be walked to its end
	// (a length byte missing, below 2 or running past the header), or a
	// known option had the wrong length (it is then skipped). The fields
	// above hold what was read correctly.
	Bad bool
}

// Tunnel names the outermost encapsulation opened to reach the TCP segment.
type Tunnel uint8

// Tunnel kinds; zero means the TCP segment was not tunnelled.
const (
	TunnelNone Tunnel = iota
	TunnelGRE
	TunnelERSPAN
	TunnelVXLAN
	TunnelGeneve
	TunnelIPIP     // IPv4 or IPv6 in IPv4/IPv6 (includes 6in4)
	TunnelGTPU     // GTP-U v1 (UDP 2152), the mobile core's user plane
	TunnelAYIYA    // AYIYA, anything in anything (UDP 5072)
	TunnelL2TP     // L2TPv2 or v3 over UDP (1701), L2TPv3 over IP (protocol 115)
	TunnelVXLANGPE // VXLAN-GPE (UDP 4790), NSH inside it included
	TunnelTeredo   // Teredo, IPv6 in UDP (3544)
)

var tunnelNames = [...]string{"", "gre", "erspan", "vxlan", "geneve", "ipip", "gtp-u", "ayiya", "l2tp", "vxlan-gpe", "teredo"}

// String gives the lower-case tunnel name, or "" for TunnelNone.
func (t Tunnel) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// Packet is one decoded TCP segment. It is a flat value filled in place by
// Source.Next; the caller owns it and reuses it for the next call.
//
// Validity of fields:
//   - Index, Input, Time, CapLen, WireLen: always.
//   - Src, Dst, TTL, Flags, Seq, Ack, Window, Opts, DataOffset, Len: always
//     (Next only returns TCP packets).
//   - IPID, DF: only when Src.Addr().Is4(); zero for IPv6.
//   - FlowLabel: only for IPv6.
//   - SrcMAC: only when HasMAC: the source address of the innermost
//     Ethernet (or 802.11) header, or the SLL/NFLOG hardware address when
//     it is a 6-byte MAC.
//   - Payload: the captured part of the TCP payload, trimmed to the IP
//     length (Ethernet padding removed). It may be shorter than Len when the
//     capture's snaplen cut the frame. It aliases the Source's read buffer
//     and is valid only until the next call to Next: copy what you keep.
//   - Frame: the whole captured frame with LinkType, for pcap export; it
//     aliases the read buffer like Payload.
type Packet struct {
	// The fields are in the order of where a flow table reads them: the
	// first three cache lines hold what it reads of every packet, the
	// fourth what export and statistics read (TestPacket_layout).

	// FlowHash is FlowHash(Src, Dst) when the Source computed it, else 0:
	// Prefetch does for every packet, on its reading goroutine, off the
	// flow table's core; a file or live Source does when Decode's fast
	// path took the frame (it hashes the header bytes, a few ns where
	// FlowHash on the netip values costs up to 30 ns for IPv6).
	FlowHash uint64
	Index    uint64    // 1-based frame number within its input, as tshark's frame.number
	Input    int       // 0-based index of the input the frame came from
	Time     time.Time // capture time, UTC
	Len      int       // TCP payload length from the IP header (wire length)
	Flags    TCPFlags
	TTL      uint8  // IPv4 TTL or IPv6 hop limit (innermost IP header)
	HasMAC   bool   // SrcMAC is valid
	IPID     uint16 // IPv4 identification (innermost header)
	Window   uint16 // raw header value, not scaled

	Src, Dst netip.AddrPort // unmapped addresses

	Seq, Ack uint32
	Payload  []byte // captured payload; see above
	Opts     Options
	SrcMAC   [6]byte
	DF       bool   // IPv4 don't-fragment bit
	Reserved uint8  // the 3 reserved bits of the TCP header (normally 0)
	Tunnel   Tunnel // outermost tunnel opened, if any
	VLAN     uint16 // outermost 802.1Q VLAN ID, 0 if none

	CapLen     int    // captured frame length
	WireLen    int    // original frame length on the wire
	LinkType   int    // link type of Frame (pcap LINKTYPE_ value)
	Frame      []byte // the captured frame; see above
	FlowLabel  uint32 // IPv6 flow label
	DataOffset uint8  // TCP header length in bytes

	// RouteHash is RouteHash(Src, Dst) when the Source computed it (Decode's
	// fast path does, from the header bytes), else 0; a Sharded routes
	// packets by it.
	RouteHash uint64
}

// Truncated reports whether the snaplen cut part of the TCP payload.
func (p *Packet) Truncated() bool { return len(p.Payload) < p.Len }
