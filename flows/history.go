package flows

import "github.com/rstscope/rstscope/capture"

// Zeek-style connection history and conn_state (REFERENCE.md section 1),
// so that rstscope's view of a flow can be compared with a Zeek conn.log.
// Originator = our client (upper-case letters), responder = our server.
//
// Letters kept: S (SYN without ACK), H (SYN+ACK), A (pure ACK), D (payload),
// F (FIN), R (RST), T (retransmitted payload), W (zero window), I (FIN+RST),
// Q (SYN with FIN or RST). A, D, I, Q are recorded once per direction;
// S, H, F, R again when the sequence number differs from the previous
// packet with that flag; T and W logarithmically (after 1, 10, 100, ...
// occurrences). Not kept: C (checksums are not verified), G (content gaps),
// ^ (roles come from rstscope's own rules) and X. The history holds at most
// 32 letters.

// histState is a flow's Zeek-style history and endpoint end states.
type histState struct {
	histSeen   uint32 // bit per once-per-direction letter already recorded
	historyLen uint8
	histHas    [2]uint8  // bit per flag of histSeq that is valid
	zterm      [2]uint8  // Zeek endpoint end state per direction: 0 open, zTermClosed, zTermReset
	zprevClose [2]bool   // the endpoint was CLOSED before its RESET (Zeek's prev_state)
	histSeq    [2][4]Seq // last seq per direction of S, H, F, R (repeat only on a new seq)
	history    [32]byte
}

// once-per-direction letters, as bit positions within a direction's group.
const (
	histA = iota
	histD
	histI
	histQ
)

// repeat-on-new-seq letters, as histSeq indexes.
const (
	histS = iota
	histH
	histF
	histR
)

// historyAdd appends letter c (lower case) for direction d.
func (f *histState) historyAdd(d Dir, c byte) {
	if int(f.historyLen) >= len(f.history) {
		return
	}
	if d == FromClient {
		c -= 'a' - 'A'
	}
	f.history[f.historyLen] = c
	f.historyLen++
}

// historyOnce appends c for d unless it was recorded before for d.
func (f *histState) historyOnce(d Dir, bit uint, c byte) {
	m := uint32(1) << (bit + 4*uint(d-1))
	if f.histSeen&m != 0 {
		return
	}
	f.histSeen |= m
	f.historyAdd(d, c)
}

// historySeq appends c for d unless the previous packet of d with this
// flag had the same seq.
func (f *histState) historySeq(d Dir, k int, seq Seq, c byte) {
	i := d - 1
	if f.histHas[i]&(1<<k) != 0 && f.histSeq[i][k] == seq {
		return
	}
	f.histHas[i] |= 1 << k
	f.histSeq[i][k] = seq
	f.historyAdd(d, c)
}

// historyLog appends c for d when n (a count just incremented) is 1, 10,
// 100, ...
func (f *histState) historyLog(d Dir, n uint32, c byte) {
	v := uint64(1)
	for v < uint64(n) {
		v *= 10
	}
	if v == uint64(n) {
		f.historyAdd(d, c)
	}
}

// historyPacket records the letters of one packet of direction d; pr is
// the direction's state after the packet.
func (f *histState) historyPacket(d Dir, p *capture.Packet, retrans, zeroWin bool, pr *dirState) {
	fl := p.Flags
	if fl&(capture.FIN|capture.RST) != 0 { // nothing to do otherwise (a call a packet)
		f.zeekClose(d, fl)
	}
	seq := Seq(p.Seq)
	if fl&capture.SYN != 0 {
		if fl&(capture.FIN|capture.RST) != 0 {
			f.historyOnce(d, histQ, 'q')
		}
		if fl&capture.ACK != 0 {
			f.historySeq(d, histH, seq, 'h')
		} else {
			f.historySeq(d, histS, seq, 's')
		}
	}
	if fl&capture.FIN != 0 && fl&capture.RST != 0 {
		f.historyOnce(d, histI, 'i')
	}
	if p.Len > 0 {
		f.historyOnce(d, histD, 'd')
		if retrans {
			f.historyLog(d, pr.retrans, 't')
		}
	} else if fl&capture.ACK != 0 && fl&(capture.SYN|capture.FIN|capture.RST) == 0 {
		f.historyOnce(d, histA, 'a')
	}
	if fl&capture.FIN != 0 {
		f.historySeq(d, histF, seq.Add(uint32(p.Len)), 'f')
	}
	if fl&capture.RST != 0 {
		f.historySeq(d, histR, seq, 'r')
	}
	if zeroWin {
		f.historyLog(d, pr.zeroWindows, 'w')
	}
}

// Zeek's endpoint end states (zterm).
const (
	zTermOpen = iota
	zTermClosed
	zTermReset
)

// zeekClose follows Zeek's FIN/RST transitions of the endpoint states
// (TCPSessionAdapter UpdateStateMachine/UpdateClosedState): a FIN closes
// the endpoint and turns a peer's "FIN then RST" back into CLOSED; an RST
// resets the endpoint, except that a closed endpoint whose peer is closed
// too stays closed.
func (f *histState) zeekClose(d Dir, fl capture.TCPFlags) {
	i, o := d-1, d.Reverse()-1
	if fl&capture.FIN != 0 && fl&capture.RST == 0 && f.zterm[i] == zTermOpen {
		f.zterm[i] = zTermClosed
		if f.zterm[o] == zTermReset && f.zprevClose[o] {
			f.zterm[o] = zTermClosed
		}
	}
	if fl&capture.RST == 0 {
		return
	}
	switch f.zterm[i] {
	case zTermOpen:
		f.zterm[i] = zTermReset
		f.zprevClose[i] = false
	case zTermClosed:
		if f.zterm[o] != zTermClosed {
			f.zterm[i] = zTermReset
			f.zprevClose[i] = true
		}
	}
}

// flipHistory swaps the case of every letter (roles were reversed).
func (f *histState) flipHistory() {
	for i := range f.historyLen {
		c := f.history[i]
		if c >= 'a' && c <= 'z' {
			f.history[i] = c - ('a' - 'A')
		} else if c >= 'A' && c <= 'Z' {
			f.history[i] = c + ('a' - 'A')
		}
	}
	f.histSeen = (f.histSeen>>4)&0xf | (f.histSeen&0xf)<<4
	f.histSeq[0], f.histSeq[1] = f.histSeq[1], f.histSeq[0]
	f.histHas[0], f.histHas[1] = f.histHas[1], f.histHas[0]
	f.zterm[0], f.zterm[1] = f.zterm[1], f.zterm[0]
	f.zprevClose[0], f.zprevClose[1] = f.zprevClose[1], f.zprevClose[0]
}

// History gives the Zeek-style history string, e.g. "ShADadFf" or
// "ShADadR" (allocates).
func (f *Flow) History() string { return f.hist.String() }

// String gives the history letters (allocates).
func (f *histState) String() string { return string(f.history[:f.historyLen]) }

// Zeek endpoint states, as far as conn_state needs them.
type zeekState uint8

const (
	zInactive zeekState = iota
	zSYNSent
	zSYNACKSent
	zPartial
	zEstablished
	zClosed
	zReset
)

// connDir is what conn_state reads of a direction.
type connDir struct {
	packets, bytes uint64
	synSeen        bool
}

func (f *histState) zeekState(d Dir, p connDir, established bool) zeekState {
	switch {
	case f.zterm[d-1] == zTermReset:
		return zReset
	case f.zterm[d-1] == zTermClosed:
		return zClosed
	case p.packets == 0:
		return zInactive
	case p.synSeen && !established:
		if d == FromServer {
			return zSYNACKSent
		}
		return zSYNSent
	case p.synSeen || established:
		return zEstablished
	}
	return zPartial
}

// ConnState gives Zeek's conn_state for the flow as seen so far: S0, S1,
// SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR or OTH. It follows
// Zeek's conn_state() over endpoint states derived from the profiles:
// RESET and CLOSED follow Zeek's FIN/RST transitions (see zeekClose), else
// INACTIVE without packets, SYN_SENT/SYN_ACK_SENT after its SYN until the
// handshake completes, ESTABLISHED after it, PARTIAL (midstream) otherwise.
func (f *Flow) ConnState() string {
	c, s := &f.Dirs[0], &f.Dirs[1]
	return f.hist.connState(connDir{c.Packets, c.Bytes, c.SYNSeen}, connDir{s.Packets, s.Bytes, s.SYNSeen}, f.Established)
}

// connState is ConnState of the held flow f.
func (f *flowState) connState() string {
	c, s := &f.dirs[0], &f.dirs[1]
	return f.hist.connState(connDir{c.packets, c.bytes, c.synSeen}, connDir{s.packets, s.bytes, s.synSeen}, f.established)
}

// connState gives conn_state from the history's end states and what the
// client (c) and server (s) directions showed.
func (f *histState) connState(c, s connDir, established bool) string {
	os, rs := f.zeekState(FromClient, c, established), f.zeekState(FromServer, s, established)
	oInactive := os == zInactive || os == zPartial
	rInactive := rs == zInactive || rs == zPartial
	switch {
	case rs == zReset:
		if os == zSYNSent || os == zSYNACKSent ||
			(os == zReset && c.bytes == 0 && s.bytes == 0) {
			return "REJ"
		}
		if oInactive {
			return "RSTRH"
		}
		return "RSTR"
	case os == zReset:
		if rInactive {
			if f.historyRSTOS0() {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case os == zClosed && rs == zClosed:
		return "SF"
	case os == zClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == zClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == zSYNSent && rs == zInactive:
		return "S0"
	case os == zEstablished && rs == zEstablished:
		return "S1"
	}
	return "OTH"
}

// historyRSTOS0 matches Zeek's /^\^?S[^HAFGIQ]*R.*/ on the history.
func (f *histState) historyRSTOS0() bool {
	h := f.history[:f.historyLen]
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for _, c := range h[1:] {
		switch c {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}
