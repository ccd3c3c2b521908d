package flows

import (
	"time"

	"github.com/rstscope/rstscope/capture"
)

// LadderEntry is one packet of a flow as kept for the ladder diagram.
type LadderEntry struct {
	Frame  uint64    // capture.Packet.Index (1-based within its input)
	Input  int       // capture.Packet.Input
	Time   time.Time // capture time
	Dir    Dir       // sender, in the roles of the flow (or event snapshot) holding the entry
	Flags  capture.TCPFlags
	Seq    Seq    // raw sequence number
	Ack    Seq    // raw acknowledgement number (meaningful iff Flags has ACK)
	Len    int    // TCP payload length (wire)
	TTL    uint8  // TTL or hop limit
	IPID   uint16 // IPv4 ID (0 for IPv6)
	Window uint16 // raw (unscaled) window field
	HasTS  bool   // timestamps option present
	TSVal  uint32 // its TSval; valid iff HasTS
}

// Ladder is a fixed ring of the last 16 packets of a flow (both directions).
// Entries are kept in a compact form (40 bytes instead of LadderEntry's
// 80): Push and At convert. Times come back as UTC.
type Ladder struct {
	buf [16]ladderSlot
	n   int // total entries ever pushed
}

// ladderSlot is a LadderEntry packed: the time as Unix nanoseconds (times
// outside 1678..2262 are clamped), Dir and HasTS in the top bits of the
// flags, the length saturated at 65535 (an IP packet holds no more), the
// input saturated at 65535.
type ladderSlot struct {
	frame  uint64
	ns     int64
	seq    Seq
	ack    Seq
	tsVal  uint32
	len    uint16
	ipID   uint16
	window uint16
	flags  uint16 // capture.TCPFlags | slotHasTS | Dir<<slotDirShift
	input  uint16
	ttl    uint8
}

const (
	slotHasTS    = 1 << 15
	slotDirShift = 13
	slotDirMask  = 3 << slotDirShift
	slotFlags    = 1<<slotDirShift - 1
)

func packSlot(e *LadderEntry) ladderSlot {
	fl := uint16(e.Flags)&slotFlags | uint16(e.Dir&3)<<slotDirShift
	if e.HasTS {
		fl |= slotHasTS
	}
	return ladderSlot{
		frame: e.Frame, ns: unixNano(e.Time), seq: e.Seq, ack: e.Ack, tsVal: e.TSVal,
		len: uint16(min(max(e.Len, 0), 1<<16-1)), ipID: e.IPID, window: e.Window, flags: fl,
		input: uint16(min(max(e.Input, 0), 1<<16-1)), ttl: e.TTL,
	}
}

func (s *ladderSlot) entry() LadderEntry {
	return LadderEntry{
		Frame: s.frame, Input: int(s.input), Time: time.Unix(0, s.ns).UTC(),
		Dir: Dir(s.flags & slotDirMask >> slotDirShift), Flags: capture.TCPFlags(s.flags & slotFlags),
		Seq: s.seq, Ack: s.ack, Len: int(s.len), TTL: s.ttl, IPID: s.ipID, Window: s.window,
		HasTS: s.flags&slotHasTS != 0, TSVal: s.tsVal,
	}
}

// unixNano gives t in Unix nanoseconds, clamped to what an int64 holds.
func unixNano(t time.Time) int64 {
	switch s := t.Unix(); {
	case s < -9e9:
		return -9e18
	case s > 9e9:
		return 9e18
	default:
		return s*1e9 + int64(t.Nanosecond()) // t.UnixNano(), without finding s again
	}
}

// reverseDir swaps FromClient and FromServer.
func (s *ladderSlot) reverseDir() {
	d := Dir(s.flags & slotDirMask >> slotDirShift).Reverse()
	s.flags = s.flags&^slotDirMask | uint16(d)<<slotDirShift
}

// dir gives the slot's direction.
func (s *ladderSlot) dir() Dir { return Dir(s.flags & slotDirMask >> slotDirShift) }

// Push appends e, overwriting the oldest entry when full.
func (l *Ladder) Push(e LadderEntry) {
	l.buf[l.n%len(l.buf)] = packSlot(&e)
	l.n++
}

// Len gives the number of entries held (at most 16).
func (l *Ladder) Len() int { return min(l.n, len(l.buf)) }

// Total gives the number of entries ever pushed.
func (l *Ladder) Total() int { return l.n }

// At gives the i-th held entry, oldest first (0 <= i < Len()).
func (l *Ladder) At(i int) LadderEntry {
	start := 0
	if l.n > len(l.buf) {
		start = l.n % len(l.buf)
	}
	return l.buf[(start+i)%len(l.buf)].entry()
}

// Entries returns the held entries, oldest first (allocates; not for the
// hot path).
func (l *Ladder) Entries() []LadderEntry {
	out := make([]LadderEntry, l.Len())
	for i := range out {
		out[i] = l.At(i)
	}
	return out
}
