package capture

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNoInterface is wrapped by OpenLive's error for an unknown interface.
var ErrNoInterface = errors.New("no such interface")

// Source yields decoded TCP packets from a file or a live interface.
type Source interface {
	// Next fills p with the next TCP packet and returns nil, or returns
	// io.EOF at the end of input. Frames that are not TCP, or that do not
	// decode, are counted in Stats and skipped, never returned as errors.
	// A capture cut mid-record ends with ErrTruncated (wrapped, with the
	// file name); everything before the cut has been returned.
	Next(p *Packet) error
	// Stats returns the counters so far.
	Stats() Stats
	// Close releases the file or handle. It is safe to call twice.
	Close() error
}

// Stats counts what a Source has read. Fields map onto the JSON contract's
// "stats" object (packets, tcp_packets, undecodable, truncated_input,
// dropped_by_kernel).
type Stats struct {
	Packets     uint64 // frames read
	TCPPackets  uint64 // frames that carried a TCP segment (returned by Next)
	NonTCP      uint64 // frames that decoded but carried no TCP
	Undecodable uint64 // frames that claimed TCP (or an IP header) but did not decode
	SnapCut     uint64 // TCP frames whose payload the snaplen cut
	Filtered    uint64 // frames rejected by the BPF filter
	Truncated   bool   // the input ended in the middle of a record
	KernelDrops uint64 // live: libpcap ps_drop
	IfaceDrops  uint64 // live: libpcap ps_ifdrop
	FirstTime   time.Time
	LastTime    time.Time
	// FirstErrors keeps the first few per-frame problems, for -v.
	FirstErrors []FrameError
	// Hidden counts, by reason, the frames (among NonTCP and Undecodable)
	// that may carry TCP inside something Decode did not open: UDP to a
	// tunnel port whose header did not decode or that Decode cannot read
	// (IPsec NAT-T, WireGuard...), an unknown EtherType, an IP protocol
	// that encapsulates (ESP, EtherIP), a link type Decode cannot read. A
	// summary reads them as "27 UDP/2152 (GTP-U) not decoded". At most
	// maxHidden reasons are kept, in order of first appearance; later
	// reasons add to HiddenOther.
	Hidden      []HiddenCount
	HiddenOther uint64
}

// HiddenKind says what kind of header a frame that may hide TCP stopped at.
type HiddenKind uint8

// Hidden kinds; zero means none.
const (
	HiddenUDPPort   HiddenKind = iota + 1 // Value: the UDP port
	HiddenEtherType                       // Value: the EtherType
	HiddenIPProto                         // Value: the IP protocol number
	HiddenLinkType                        // Value: the pcap LINKTYPE_
)

// HiddenReason is where a frame that may hide TCP stopped.
type HiddenReason struct {
	Kind  HiddenKind
	Value uint32
}

// HiddenCount is how many frames stopped for one reason.
type HiddenCount struct {
	Reason HiddenReason
	Count  uint64
}

// maxHidden bounds Stats.Hidden.
const maxHidden = 16

// String names the reason as a summary prints it: "UDP/2152 (GTP-U)",
// "EtherType 0x88e5 (MACsec)", "IP protocol 50 (ESP)", "link type 147
// (USER0)".
func (r HiddenReason) String() string {
	v := strconv.FormatUint(uint64(r.Value), 10)
	var s, name string
	switch r.Kind {
	case HiddenUDPPort:
		s, name = "UDP/"+v, udpPortNames[r.Value]
	case HiddenEtherType:
		s, name = "EtherType 0x"+fmt.Sprintf("%04x", r.Value), etherTypeNames[r.Value]
	case HiddenIPProto:
		s, name = "IP protocol "+v, ipProtoNames[r.Value]
	case HiddenLinkType:
		s, name = "link type "+v, linkTypeName(int(r.Value))
	default:
		return "none"
	}
	if name != "" && name != "unknown" {
		s += " (" + name + ")"
	}
	return s
}

// addHidden counts one frame for reason r.
func (st *Stats) addHidden(r HiddenReason) { st.addHiddenN(r, 1) }

// addHiddenN counts n frames for reason r.
func (st *Stats) addHiddenN(r HiddenReason, n uint64) {
	for i := range st.Hidden {
		if st.Hidden[i].Reason == r {
			st.Hidden[i].Count += n
			return
		}
	}
	if len(st.Hidden) < maxHidden {
		st.Hidden = append(st.Hidden, HiddenCount{Reason: r, Count: n})
		return
	}
	st.HiddenOther += n
}

// FrameError is one per-frame decoding problem kept for diagnostics.
type FrameError struct {
	Input int
	Index uint64
	Err   string
}

// LinkTyper is implemented by Sources that know the pcap LINKTYPE_ values of
// the frames they return, so that an export can pick pcap (one link type) or
// pcapng (several). For a file the list is complete once Next has returned
// io.EOF; before that it holds the link types seen so far (a pcap file's
// header, a pcapng file's interfaces described before its first packet).
type LinkTyper interface {
	LinkTypes() []int
}

// MayAddLinkTypes reports whether src may return frames of a link type not
// yet in its LinkTypes: a pcapng input can describe a new interface at any
// point, while a live capture's and a classic pcap file's link type is
// fixed by its header. A Source that does not say may add them.
func MayAddLinkTypes(src Source) bool {
	f, ok := src.(interface{ addsLinkTypes() bool })
	return !ok || f.addsLinkTypes()
}

// LiveOptions tunes OpenLive. Start from DefaultLiveOptions: the zero value
// turns immediate mode off.
type LiveOptions struct {
	Snaplen int  // bytes kept per frame; 0 means 262144
	Promisc bool // promiscuous mode (not on "any")
	// Immediate delivers each frame as it arrives instead of when the
	// kernel buffer fills or the 150 ms read timeout expires.
	Immediate  bool
	Filter     string // BPF expression, compiled by libpcap into the kernel
	BufferSize int    // kernel buffer in bytes; 0 keeps libpcap's default (2 MiB)
}

// DefaultLiveOptions are tcpdump's defaults plus immediate mode: full
// frames, promiscuous, every frame delivered at once.
func DefaultLiveOptions() LiveOptions {
	return LiveOptions{Snaplen: 262144, Promisc: true, Immediate: true}
}
