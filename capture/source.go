package capture

import (
	"errors"
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
